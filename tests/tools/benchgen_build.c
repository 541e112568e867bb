/*
 * benchgen_build.c - the builders of the benchmark traffic generator
 * (benchgen.c has the overview): the real handshake templates read from hex
 * files, the generated host names and their addresses, Ethernet/IPv4/TCP/UDP
 * framing with valid checksums, and the payloads (ClientHello with SNI,
 * random, session id and key shares replaced; server flight; client finish;
 * HTTP request and response header; DNS query and answer with CNAME chains;
 * QUIC v1 Initial protected per RFC 9001 section 5). Each payload is a
 * function of the flow's seed only.
 */
#include "tests/tools/benchgen.h"

/* ---- templates ------------------------------------------------------------ */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Read DIR/NAME.hex: '#' lines are comments, the rest is hex. */
int ksd_bg_load_hex(const char *dir, const char *name, uint8_t **out, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.hex", dir, name);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "benchgen: %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *b = malloc(BG_MAX_TMPL);
    size_t n = 0;
    char line[1024];
    int hi = -1;
    while (b != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (line[0] == '#')
            continue;
        for (const char *p = line; *p != '\0'; p++) {
            int v = hexval((unsigned char)*p);
            if (v < 0)
                continue;
            if (hi < 0) {
                hi = v;
            } else if (n < BG_MAX_TMPL) {
                b[n++] = (uint8_t)(hi << 4 | v);
                hi = -1;
            }
        }
    }
    fclose(f);
    if (b == NULL || n == 0 || hi >= 0) {
        fprintf(stderr, "benchgen: %s: no hex bytes\n", path);
        free(b);
        return -1;
    }
    *out = b;
    *len = n;
    return 0;
}

int ksd_bg_parse_ch(struct bg_ch *t)
{
    struct ksd_rd r = rd_make(t->raw, t->raw_len);
    if (t->tcp) {
        if (rd_u8(&r) != 0x16)
            return -1;
        rd_skip(&r, 2);
        uint16_t rl = rd_be16(&r);
        if (rl != rd_left(&r))
            return -1;
    }
    if (rd_u8(&r) != 1)
        return -1;
    uint32_t hl = rd_be24(&r);
    if (rd_err(&r) || hl != rd_left(&r) || hl + 300 > BG_MAX_HELLO)
        return -1;
    t->version = rd_be16(&r);
    rd_skip(&r, 32);
    t->sid_len = rd_u8(&r);
    rd_skip(&r, t->sid_len);
    t->mid = rd_ptr(&r);
    size_t start = rd_off(&r);
    rd_skip(&r, rd_be16(&r));
    rd_skip(&r, rd_u8(&r));
    t->mid_len = rd_off(&r) - start;
    uint16_t el = rd_be16(&r);
    struct ksd_rd e = rd_sub(&r, el);
    while (rd_left(&e) > 0 && t->next < BG_MAX_EXT) {
        uint16_t ty = rd_be16(&e);
        uint16_t l = rd_be16(&e);
        const uint8_t *d = rd_bytes(&e, l);
        if (rd_err(&e))
            return -1;
        t->ext_type[t->next] = ty;
        t->ext_data[t->next] = d;
        t->ext_len[t->next] = l;
        t->next++;
        if (ty == 51) {
            struct ksd_rd k = rd_make(d, l);
            struct ksd_rd ks = rd_sub(&k, rd_be16(&k));
            while (rd_left(&ks) > 0 && t->nkey < BG_MAX_KEYS) {
                uint16_t g = rd_be16(&ks);
                uint16_t kl = rd_be16(&ks);
                t->key_grp[t->nkey] = g;
                t->key_off[t->nkey] = (uint16_t)(rd_off(&ks) + 2);
                t->key_len[t->nkey] = kl;
                rd_skip(&ks, kl);
                if (rd_err(&ks))
                    return -1;
                t->nkey++;
            }
        }
    }
    return rd_err(&r) || rd_err(&e) ? -1 : 0;
}

int ksd_bg_parse_sh(struct bg_sh *t)
{
    struct ksd_rd r = rd_make(t->raw, t->raw_len);
    if (rd_u8(&r) != 0x16)
        return -1;
    rd_skip(&r, 2);
    struct ksd_rd rec = rd_sub(&r, rd_be16(&r));
    if (rd_u8(&rec) != 2)
        return -1;
    struct ksd_rd hs = rd_sub(&rec, rd_be24(&rec));
    rd_skip(&hs, 2);
    t->rand_off = (size_t)(rd_ptr(&hs) - t->raw);
    const uint8_t *rand = rd_bytes(&hs, 32);
    t->rand_len = 32;
    if (rand != NULL && memcmp(rand + 24, "DOWNGRD", 7) == 0)
        t->rand_len = 24;
    t->sid_len = rd_u8(&hs);
    t->sid_off = (size_t)(rd_ptr(&hs) - t->raw);
    rd_skip(&hs, t->sid_len);
    rd_skip(&hs, 3);
    if (rd_left(&hs) > 0) {
        struct ksd_rd e = rd_sub(&hs, rd_be16(&hs));
        while (rd_left(&e) > 0) {
            uint16_t ty = rd_be16(&e);
            struct ksd_rd d = rd_sub(&e, rd_be16(&e));
            if (ty == 51 && rd_left(&d) > 4 && t->nkey < BG_MAX_KEYS) {
                rd_skip(&d, 2);
                t->key_len[t->nkey] = rd_be16(&d);
                t->key_off[t->nkey] = (size_t)(rd_ptr(&d) - t->raw);
                t->nkey++;
            }
            if (rd_err(&e))
                return -1;
        }
    }
    return rd_err(&r) || rd_err(&hs) ? -1 : 0;
}

/*
 * Build the ClientHello of template t for host name sni: a TLS record for a
 * TCP template, the bare handshake message for a QUIC one. Random, session
 * id and key shares come from r. Returns the length written to out.
 */
static size_t ch_build(const struct bg_ch *t, struct bg_rng *r, const char *sni, uint8_t *out,
                       uint8_t *sid_out)
{
    size_t o = t->tcp ? 5 : 0;
    size_t hs = o;
    o += 4;
    put16(out + o, t->version);
    o += 2;
    rng_fill(r, out + o, 32);
    o += 32;
    out[o++] = (uint8_t)t->sid_len;
    rng_fill(r, out + o, t->sid_len);
    if (sid_out != NULL)
        memcpy(sid_out, out + o, t->sid_len);
    o += t->sid_len;
    memcpy(out + o, t->mid, t->mid_len);
    o += t->mid_len;
    size_t el = o;
    o += 2;
    size_t n = strlen(sni);
    for (size_t i = 0; i < t->next; i++) {
        put16(out + o, t->ext_type[i]);
        if (t->ext_type[i] == 0) {
            put16(out + o + 2, (uint32_t)n + 5); /* extension length */
            put16(out + o + 4, (uint32_t)n + 3); /* server_name_list length */
            out[o + 6] = 0;                      /* host_name */
            put16(out + o + 7, (uint32_t)n);
            memcpy(out + o + 9, sni, n);
            o += 9 + n;
            continue;
        }
        put16(out + o + 2, t->ext_len[i]);
        memcpy(out + o + 4, t->ext_data[i], t->ext_len[i]);
        if (t->ext_type[i] == 51) {
            for (size_t k = 0; k < t->nkey; k++) {
                uint8_t *kp = out + o + 4 + t->key_off[k];
                size_t kl = t->key_len[k];
                if (kl <= 1)
                    continue; /* GREASE share */
                if (t->key_grp[k] >= 23 && t->key_grp[k] <= 25)
                    rng_fill(r, kp + 1, kl - 1); /* keep the 0x04 point format */
                else
                    rng_fill(r, kp, kl);
            }
        }
        o += 4 + t->ext_len[i];
    }
    put16(out + el, (uint32_t)(o - el - 2));
    out[hs] = 1;
    put24(out + hs + 1, (uint32_t)(o - hs - 4));
    if (t->tcp) {
        out[0] = 0x16;
        out[1] = t->raw[1];
        out[2] = t->raw[2];
        put16(out + 3, (uint32_t)(o - 5));
    }
    return o;
}

/* ---- names and addresses -------------------------------------------------- */

void ksd_bg_make_names(struct bg_gen *g)
{
    static const char *const pre[] = {"www",  "api",    "cdn",  "static", "img",   "login", "mail",
                                      "app",  "assets", "edge", "m",      "news",  "shop",  "video",
                                      "auth", "gw",     "docs", "portal", "files", "media"};
    static const char *const syl[] = {"ba",  "lo", "mi",  "ra",  "ven", "tor", "qui", "del",
                                      "sa",  "no", "ri",  "fa",  "zen", "pol", "mar", "tu",
                                      "lin", "go", "ex",  "vi",  "sol", "nu",  "par", "den",
                                      "cor", "ly", "bri", "ton", "ma",  "fe"};
    static const char *const tld[] = {"com",   "net",   "org", "io", "de",
                                      "co.uk", "cloud", "app", "fr", "nl"};
    struct bg_rng r = rng_make(g->seed, 1);
    for (size_t i = 0; i < BG_NNAMES; i++) {
        char body[40] = "";
        unsigned ns = 2 + rng_below(&r, 2);
        for (unsigned k = 0; k < ns; k++)
            strcat(body, syl[rng_below(&r, KSD_ARRAY_LEN(syl))]);
        char num[8] = "";
        if (rng_below(&r, 4) == 0)
            snprintf(num, sizeof(num), "%u", rng_below(&r, 100));
        snprintf(g->names[i], BG_NAME_MAX, "%s.%s%s.%s", pre[rng_below(&r, KSD_ARRAY_LEN(pre))],
                 body, num, tld[rng_below(&r, KSD_ARRAY_LEN(tld))]);
    }
}

static uint32_t mix32(uint64_t x)
{
    struct bg_rng r = {x};
    return (uint32_t)rng_next(&r);
}

/* Server of a generated name: 198.18.0.0 - 198.19.253.255 (198.19.254/23 is Kaspersky's). */
uint32_t ksd_bg_name_addr(const struct bg_gen *g, uint32_t name)
{
    return 0xc6120000u + mix32(g->seed ^ ((uint64_t)name << 20) ^ 0x5eed) % (131072u - 512u);
}

/* Server of a Kaspersky name: the real prefix 77.74.176.0/21 or 198.19.254.0/24. */
uint32_t ksd_bg_kname_addr(uint32_t k)
{
    if (k % 2 == 0)
        return (77u << 24) | (74u << 16) | ((176u + k % 8) << 8) | (10u + k);
    return 0xc613fe00u | (10u + k);
}

static const char *flow_name(const struct bg_gen *g, const struct bg_flow *f)
{
    return f->kasp ? bg_knames[f->name] : g->names[f->name];
}

void ksd_bg_fmt_ip(uint32_t a, char *s, size_t n)
{
    snprintf(s, n, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

/* ---- output ---------------------------------------------------------------- */

static void write_frame(struct bg_gen *g, const struct bg_flow *f, size_t len)
{
    int64_t t = f->t;
    uint32_t hdr[4] = {BG_BASE_TS + (uint32_t)(t / 1000000), (uint32_t)(t % 1000000), (uint32_t)len,
                       (uint32_t)len};
    fwrite(hdr, sizeof(hdr), 1, g->out);
    fwrite(g->frame, len, 1, g->out);
    g->pkts++;
    g->bytes += len;
}

/* Ethernet + IPv4 header into g->frame; returns 34. */
static size_t put_l2l3(struct bg_gen *g, struct bg_flow *f, int dir, uint8_t proto, size_t l4len)
{
    static const uint8_t gw[6] = {0x00, 0x1b, 0x21, 0x3a, 0x4c, 0x5e};
    uint8_t cm[6] = {0x02,
                     0x42,
                     (uint8_t)(f->cli >> 24),
                     (uint8_t)(f->cli >> 16),
                     (uint8_t)(f->cli >> 8),
                     (uint8_t)f->cli};
    uint8_t *p = g->frame;
    memcpy(p, dir == BG_C ? gw : cm, 6);
    memcpy(p + 6, dir == BG_C ? cm : gw, 6);
    p[12] = 0x08;
    p[13] = 0x00;
    uint8_t *ip = p + 14;
    ip[0] = 0x45;
    ip[1] = 0;
    put16(ip + 2, (uint32_t)(20 + l4len));
    put16(ip + 4, dir == BG_C ? f->cipid++ : f->sipid++);
    put16(ip + 6, proto == 6 ? 0x4000 : 0);
    ip[8] = dir == BG_C ? f->cttl : f->sttl;
    ip[9] = proto;
    put16(ip + 10, 0);
    put32(ip + 12, dir == BG_C ? f->cli : f->srv);
    put32(ip + 16, dir == BG_C ? f->srv : f->cli);
    put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
    return 34;
}

static uint32_t pseudo_sum(const uint8_t *ip, uint8_t proto, size_t l4len)
{
    uint32_t s = csum_add(0, ip + 12, 8);
    return s + proto + (uint32_t)l4len;
}

void ksd_bg_tcp_out(struct bg_gen *g, struct bg_flow *f, int dir, uint8_t flags, const uint8_t *pl,
                    size_t len)
{
    static const uint8_t synopt[12] = {2, 4, 0x05, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2};
    size_t hl = (flags & BG_TF_SYN) ? 32 : 20;
    size_t o = put_l2l3(g, f, dir, 6, hl + len);
    uint8_t *t = g->frame + o;
    uint32_t *seq = dir == BG_C ? &f->cseq : &f->sseq;
    put16(t, dir == BG_C ? f->cport : f->sport);
    put16(t + 2, dir == BG_C ? f->sport : f->cport);
    put32(t + 4, *seq);
    put32(t + 8, (flags & BG_TF_ACK) ? (dir == BG_C ? f->sseq : f->cseq) : 0);
    t[12] = (uint8_t)(hl / 4) << 4;
    t[13] = flags;
    put16(t + 14, (flags & BG_TF_SYN) ? (dir == BG_C ? 64240 : 65160) : (dir == BG_C ? 1026 : 501));
    put16(t + 16, 0);
    put16(t + 18, 0);
    if (hl == 32)
        memcpy(t + 20, synopt, 12);
    if (len > 0)
        memcpy(t + hl, pl, len);
    put16(t + 16, csum_fold(csum_add(pseudo_sum(g->frame + 14, 6, hl + len), t, hl + len)));
    *seq += (uint32_t)len + ((flags & (BG_TF_SYN | BG_TF_FIN)) ? 1 : 0);
    write_frame(g, f, o + hl + len);
}

void ksd_bg_udp_out(struct bg_gen *g, struct bg_flow *f, int dir, const uint8_t *pl, size_t len)
{
    size_t o = put_l2l3(g, f, dir, 17, 8 + len);
    uint8_t *u = g->frame + o;
    put16(u, dir == BG_C ? f->cport : f->sport);
    put16(u + 2, dir == BG_C ? f->sport : f->cport);
    put16(u + 4, (uint32_t)(8 + len));
    put16(u + 6, 0);
    memcpy(u + 8, pl, len);
    uint16_t c = csum_fold(csum_add(pseudo_sum(g->frame + 14, 17, 8 + len), u, 8 + len));
    put16(u + 6, c == 0 ? 0xffff : c);
    write_frame(g, f, o + 8 + len);
}

/* ---- payload builders (deterministic from the flow seed) ------------------------ */

size_t ksd_bg_build_hello(struct bg_gen *g, const struct bg_flow *f, uint8_t *out, uint8_t *sid)
{
    struct bg_rng r = rng_make(f->seed, BG_ST_HELLO);
    return ch_build(&g->ch[f->ch], &r, flow_name(g, f), out, sid);
}

/* Server flight: ServerHello (+ TLS 1.3: CCS and one encrypted record of f->body bytes). */
size_t ksd_bg_build_flight(struct bg_gen *g, const struct bg_flow *f, uint8_t *out)
{
    const struct bg_ch *c = &g->ch[f->ch];
    const struct bg_sh *s = &g->sh[c->sh];
    uint8_t sid[32];
    ksd_bg_build_hello(g, f, g->buf2, sid);
    struct bg_rng r = rng_make(f->seed, BG_ST_FLIGHT);
    memcpy(out, s->raw, s->raw_len);
    rng_fill(&r, out + s->rand_off, s->rand_len);
    if (s->sid_len == c->sid_len && s->sid_len > 0)
        memcpy(out + s->sid_off, sid, s->sid_len);
    for (size_t k = 0; k < s->nkey; k++)
        rng_fill(&r, out + s->key_off[k], s->key_len[k]);
    size_t o = s->raw_len;
    if (!c->tls12) {
        static const uint8_t ccs[6] = {0x14, 3, 3, 0, 1, 1};
        memcpy(out + o, ccs, 6);
        o += 6;
        out[o] = 0x17;
        out[o + 1] = 3;
        out[o + 2] = 3;
        put16(out + o + 3, f->body);
        rng_fill(&r, out + o + 5, f->body);
        o += 5 + f->body;
    }
    return o;
}

size_t ksd_bg_flight_len(const struct bg_gen *g, const struct bg_flow *f)
{
    const struct bg_ch *c = &g->ch[f->ch];
    return g->sh[c->sh].raw_len + (c->tls12 ? 0 : 11 + (size_t)f->body);
}

/* Client second flight: TLS 1.3 CCS + Finished + request; TLS 1.2 CKE + CCS + Finished. */
size_t ksd_bg_build_cfin(const struct bg_gen *g, const struct bg_flow *f, uint8_t *out)
{
    struct bg_rng r = rng_make(f->seed, BG_ST_MISC);
    size_t o = 0;
    if (g->ch[f->ch].tls12) {
        static const uint8_t cke[9] = {0x16, 3, 3, 0, 0x25, 0x10, 0, 0, 0x21};
        memcpy(out, cke, 9);
        out[9] = 0x20;
        rng_fill(&r, out + 10, 32);
        o = 42;
    }
    static const uint8_t ccs[6] = {0x14, 3, 3, 0, 1, 1};
    memcpy(out + o, ccs, 6);
    o += 6;
    int t12 = g->ch[f->ch].tls12;
    out[o] = t12 ? 0x16 : 0x17;
    out[o + 1] = 3;
    out[o + 2] = 3;
    put16(out + o + 3, t12 ? 40 : 53);
    rng_fill(&r, out + o + 5, t12 ? 40 : 53);
    o += t12 ? 45 : 58;
    out[o] = 0x17;
    out[o + 1] = 3;
    out[o + 2] = 3;
    put16(out + o + 3, f->req);
    rng_fill(&r, out + o + 5, f->req);
    return o + 5 + f->req;
}

size_t ksd_bg_cfin_len(const struct bg_gen *g, const struct bg_flow *f)
{
    return (g->ch[f->ch].tls12 ? 42 + 6 + 45 : 6 + 58) + 5 + (size_t)f->req;
}

static const char *const bg_uas[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Microsoft-Delivery-Optimization/10.0",
    "curl/7.88.1",
};

size_t ksd_bg_build_hreq(const struct bg_gen *g, const struct bg_flow *f, uint8_t *out)
{
    struct bg_rng r = rng_make(f->seed, BG_ST_HTTP);
    char path[96];
    uint32_t v = rng_below(&r, 100000);
    switch (rng_below(&r, 6)) {
        case 0:
            snprintf(path, sizeof(path), "/");
            break;
        case 1:
            snprintf(path, sizeof(path), "/index.html");
            break;
        case 2:
            snprintf(path, sizeof(path), "/api/v2/items/%u", v);
            break;
        case 3:
            snprintf(path, sizeof(path), "/static/js/app.%x.js", v * 2654435761u);
            break;
        case 4:
            snprintf(path, sizeof(path), "/images/p%u.jpg", v);
            break;
        default:
            snprintf(path, sizeof(path), "/downloads/pkg-%u.bin", v);
            break;
    }
    int n = snprintf((char *)out, BG_MAX_FLIGHT,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\n"
                     "Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n",
                     path, flow_name(g, f), bg_uas[rng_below(&r, KSD_ARRAY_LEN(bg_uas))]);
    return (size_t)n;
}

size_t ksd_bg_build_hresp_hdr(const struct bg_flow *f, uint8_t *out)
{
    int n = snprintf((char *)out, 512,
                     "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Thu, 26 Nov 2026 08:00:00 GMT\r\n"
                     "Content-Type: application/octet-stream\r\nContent-Length: %u\r\n"
                     "Connection: keep-alive\r\n\r\n",
                     f->body);
    return (size_t)n;
}

static size_t dns_name(uint8_t *p, const char *name)
{
    size_t o = 0;
    while (*name != '\0') {
        const char *dot = strchr(name, '.');
        size_t l = dot != NULL ? (size_t)(dot - name) : strlen(name);
        p[o++] = (uint8_t)l;
        memcpy(p + o, name, l);
        o += l;
        name += l;
        if (*name == '.')
            name++;
    }
    p[o++] = 0;
    return o;
}

size_t ksd_bg_build_dns(const struct bg_gen *g, const struct bg_flow *f, int resp, uint8_t *out)
{
    struct bg_rng r = rng_make(f->seed, BG_ST_DNS);
    uint16_t id = (uint16_t)rng_next(&r);
    int aaaa = !f->kasp && rng_below(&r, 4) == 0;
    int cname = !f->kasp && rng_below(&r, 3) == 0;
    int edns = rng_below(&r, 2);
    unsigned nans = f->kasp ? 1 : 1 + rng_below(&r, 3);
    put16(out, id);
    put16(out + 2, resp ? 0x8180 : 0x0100);
    put16(out + 4, 1);
    put16(out + 6, resp ? nans + (unsigned)cname : 0);
    put16(out + 8, 0);
    put16(out + 10, (uint32_t)edns);
    size_t o = 12;
    o += dns_name(out + o, flow_name(g, f));
    put16(out + o, aaaa ? 28 : 1);
    put16(out + o + 2, 1);
    o += 4;
    if (resp) {
        uint16_t ptr = 0xc00c;
        uint32_t addr = f->kasp ? ksd_bg_kname_addr(f->name) : ksd_bg_name_addr(g, f->name);
        if (cname) {
            static const char *const cdn[] = {"edgebench-cdn.net", "fastedge.example.net",
                                              "akam-bench.net"};
            char target[BG_NAME_MAX + 32];
            snprintf(target, sizeof(target), "e%u.edge%u.%s", rng_below(&r, 9999),
                     rng_below(&r, 64), cdn[rng_below(&r, KSD_ARRAY_LEN(cdn))]);
            put16(out + o, ptr);
            put16(out + o + 2, 5);
            put16(out + o + 4, 1);
            put32(out + o + 6, 300);
            size_t nl = dns_name(out + o + 12, target);
            put16(out + o + 10, (uint32_t)nl);
            ptr = (uint16_t)(0xc000 | (o + 12));
            o += 12 + nl;
        }
        for (unsigned i = 0; i < nans; i++) {
            put16(out + o, ptr);
            put16(out + o + 2, aaaa ? 28 : 1);
            put16(out + o + 4, 1);
            put32(out + o + 6, 60 + rng_below(&r, 3600));
            put16(out + o + 10, aaaa ? 16 : 4);
            o += 12;
            if (aaaa) {
                static const uint8_t pfx[6] = {0x20, 0x01, 0x0d, 0xb8, 0x0b, 0xe0};
                memcpy(out + o, pfx, 6);
                put32(out + o + 6, 0);
                put16(out + o + 10, i);
                put32(out + o + 12, addr);
                o += 16;
            } else {
                /* a Kaspersky name only ever maps to its own server */
                put32(out + o, f->kasp ? addr : addr + i * 7919u % 509u);
                o += 4;
            }
        }
    }
    if (edns) {
        static const uint8_t opt[11] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};
        memcpy(out + o, opt, 11);
        o += 11;
    }
    return o;
}

static size_t varint(uint8_t *p, uint64_t v, size_t want)
{
    if (want == 1) {
        p[0] = (uint8_t)v;
        return 1;
    }
    put16(p, 0x4000 | (uint32_t)v);
    return 2;
}

/* One protected client Initial (RFC 9000 17.2.2, RFC 9001 5.3-5.4) of packet number pn. */
size_t ksd_bg_build_qinit(struct bg_gen *g, const struct bg_flow *f, uint32_t pn, uint8_t *out)
{
    size_t hl = ksd_bg_build_hello(g, f, g->buf2, NULL);
    size_t off = (size_t)pn * BG_QUIC_DATA;
    size_t n = hl - off < BG_QUIC_DATA ? hl - off : BG_QUIC_DATA;
    uint8_t pt[BG_QUIC_DGRAM];
    size_t ptlen = BG_QUIC_DGRAM - BG_QUIC_HDR - 16;
    memset(pt, 0, ptlen);
    size_t o = 0;
    pt[o++] = 0x06;
    o += varint(pt + o, off, off < 64 ? 1 : 2);
    o += varint(pt + o, n, 2);
    memcpy(pt + o, g->buf2 + off, n);

    size_t h = 0;
    out[h++] = 0xc1; /* long header, Initial, 2-byte packet number */
    put32(out + h, 1);
    h += 4;
    out[h++] = 8;
    memcpy(out + h, f->dcid, 8);
    h += 8;
    out[h++] = 0; /* SCID length (Chrome sends none) */
    out[h++] = 0; /* token length */
    put16(out + h, 0x4000 | (uint32_t)(2 + ptlen + 16));
    h += 2;
    size_t pn_off = h;
    put16(out + h, pn);
    h += 2;

    struct ksd_quic_keys k;
    if (ksd_quic_initial_keys(1, f->dcid, 8, 0, &k) != KSD_OK) {
        fprintf(stderr, "benchgen: ksd_quic_initial_keys failed\n");
        exit(1);
    }
    uint8_t nonce[12];
    memcpy(nonce, k.iv, 12);
    nonce[10] ^= (uint8_t)(pn >> 8);
    nonce[11] ^= (uint8_t)pn;
    int l = 0;
    if (EVP_EncryptInit_ex(g->gcm, EVP_aes_128_gcm(), NULL, k.key, nonce) != 1 ||
        EVP_EncryptUpdate(g->gcm, NULL, &l, out, (int)h) != 1 ||
        EVP_EncryptUpdate(g->gcm, out + h, &l, pt, (int)ptlen) != 1 ||
        EVP_EncryptFinal_ex(g->gcm, out + h + l, &l) != 1 ||
        EVP_CIPHER_CTX_ctrl(g->gcm, EVP_CTRL_GCM_GET_TAG, 16, out + h + ptlen) != 1) {
        fprintf(stderr, "benchgen: AES-128-GCM failed\n");
        exit(1);
    }
    uint8_t mask[32];
    if (EVP_EncryptInit_ex(g->ecb, EVP_aes_128_ecb(), NULL, k.hp, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(g->ecb, 0) != 1 ||
        EVP_EncryptUpdate(g->ecb, mask, &l, out + pn_off + 4, 16) != 1) {
        fprintf(stderr, "benchgen: AES-128-ECB failed\n");
        exit(1);
    }
    out[0] ^= mask[0] & 0x0f;
    out[pn_off] ^= mask[1];
    out[pn_off + 1] ^= mask[2];
    return h + ptlen + 16;
}
