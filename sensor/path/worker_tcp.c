/*
 * worker_tcp.c - the worker's TCP path: both stream directions reassembled
 * (stream.c), the client stream's protocol told from its first bytes
 * through the table of TCP protocols (TLS record, HTTP request line, DNS
 * over TCP by port 53, SOCKS greeting), each then parsed and reported:
 * ClientHello names and fingerprints, HTTP Host/User-Agent/target, SOCKS
 * targets, DNS messages. The server stream is read by the same row, where
 * it has a server part: the TLS ServerHello and certificate, DNS answers
 * (also before the client has spoken, by port 53). After an HTTP CONNECT
 * or a SOCKS request the client stream is probed again (RFC 9110 9.3.6,
 * RFC 1928). What it does not do: judge evidence (worker.c does).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "dissectors/ksd.h"
#include "dissectors/socks.h"
#include "sensor/path/worker_int.h"
#include "signatures/sig.h"

/* ---- TLS ----------------------------------------------------------------- */

void ksd_worker_report_hello(struct ksd_worker *w, struct ksd_flow *f, struct ksd_tls_hello *h)
{
    int quic = h->transport == 'q';
    f->evmask |= FL_HELLO;
    if (f->evmask & FL_NDPI_HELD)
        ksd_worker_label_from_name(w, f, quic ? KSD_CLASSIFY_QUIC : KSD_CLASSIFY_TLS,
                                   h->ech ? NULL : h->sni);
    if (h->sni[0]) {
        ksd_worker_fact(w, quic ? "quic_sni" : "tls_sni", h->sni, NULL);
        if (h->ech)
            ksd_worker_fact(w, "tls_ech_outer", h->sni, NULL);
        ksd_worker_match_name(w, f, quic ? KSD_EV_QUIC_SNI : KSD_EV_SNI, h->sni);
    }
    /* JA3/JA4 only when something takes them: --facts, or JA rules loaded */
    int want_ja =
        w->sink->facts != NULL ||
        (w->sigs && (ksd_sig_count(w->sigs, KSD_RULE_JA3) || ksd_sig_count(w->sigs, KSD_RULE_JA4)));
    if (want_ja && ksd_tls_hello_ja(h)) {
        if (!quic)
            ksd_worker_fact(w, "ja3", h->ja3, NULL);
        ksd_worker_fact(w, quic ? "quic_ja4" : "ja4", h->ja4, NULL);
        if (w->sigs) {
            const struct ksd_rule *r = ksd_sig_match_ja3(w->sigs, h->ja3);
            if (r && !quic)
                ksd_worker_detect(w, f, f->client, KSD_EV_JA3, h->ja3, r, NULL);
            r = ksd_sig_match_ja4(w->sigs, h->ja4);
            if (r)
                ksd_worker_detect(w, f, f->client, KSD_EV_JA4, h->ja4, r, NULL);
        }
    }
    if (!h->sni[0] || h->ech || h->esni)
        nosni_set(f, (h->ech || h->esni) ? KSD_NOSNI_ECH : KSD_NOSNI_ABSENT);
}

static void report_server(struct ksd_worker *w, struct ksd_flow *f, struct ksd_tls_server *s)
{
    w->st.tls_server_hellos++;
    if (w->sink->facts && ksd_tls_server_ja3s(s))
        ksd_worker_fact(w, "ja3s", s->ja3s, NULL);
    if (!s->has_cert)
        return;
    w->st.tls_certs++;
    ksd_worker_fact(w, "cert_subject", s->subject, NULL);
    ksd_worker_fact(w, "cert_issuer", s->issuer, NULL);
    for (int i = 0; i < s->n_sans; i++)
        ksd_worker_fact(w, "cert_san", s->sans[i], NULL);
    if (!w->sigs)
        return;
    const struct ksd_rule *r = ksd_sig_match_cert(w->sigs, s->subject, s->issuer);
    if (r) {
        ksd_worker_detect(w, f, f->client, KSD_EV_CERT, s->issuer[0] ? s->issuer : s->subject, r,
                          NULL);
        return;
    }
    /* A name in the certificate of the server is evidence too (TLS <= 1.2). */
    if (s->subject_cn[0]) {
        r = ksd_sig_match_domain(w->sigs, s->subject_cn, strlen(s->subject_cn));
        if (r) {
            ksd_worker_detect(w, f, f->client, KSD_EV_CERT, s->subject_cn, r, NULL);
            return;
        }
    }
    for (int i = 0; i < s->n_sans; i++) {
        r = ksd_sig_match_domain(w->sigs, s->sans[i], strlen(s->sans[i]));
        if (r) {
            ksd_worker_detect(w, f, f->client, KSD_EV_CERT, s->sans[i], r, NULL);
            return;
        }
    }
}

/* ---- HTTP ---------------------------------------------------------------- */

static void report_http(struct ksd_worker *w, struct ksd_flow *f, const struct ksd_http_req *q)
{
    w->st.http_requests++;
    if (q->has_host) {
        ksd_worker_fact(w, "http_host", q->host, NULL);
        ksd_worker_match_name(w, f, KSD_EV_HTTP_HOST, q->host);
    }
    if (q->has_target_host) {
        ksd_worker_fact(w, q->is_connect ? "http_connect" : "http_target", q->target_host, NULL);
        f->app = APP_HTTP_PROXY;
        if (!q->has_host || strcmp(q->host, q->target_host) != 0)
            ksd_worker_match_name(w, f, KSD_EV_HTTP_HOST, q->target_host);
    }
    if (q->has_ua) {
        ksd_worker_fact(w, "http_ua", q->user_agent, NULL);
        if (w->sigs) {
            const struct ksd_rule *r = ksd_sig_match_http_ua(w->sigs, q->user_agent);
            if (r)
                ksd_worker_detect(w, f, f->client, KSD_EV_HTTP_UA, q->user_agent, r, NULL);
        }
    }
    if (q->path[0] && w->sigs) {
        const char *host = q->has_host ? q->host : q->has_target_host ? q->target_host : "";
        const struct ksd_rule *r = ksd_sig_match_http_path(w->sigs, host, q->path);
        if (r)
            ksd_worker_detect(w, f, f->client, KSD_EV_HTTP_PATH, q->path, r, NULL);
    }
}

/* ---- TCP ----------------------------------------------------------------- */

static void server_done(struct flow_ext *x, struct ksd_flow *f)
{
    f->evmask |= FL_SDONE;
    ksd_stream_done(&x->st[1]);
}

/* The client stream is finished; so is the server's, but for TLS, whose
 * certificate flight may still be on its way. */
static void client_done(struct ksd_worker *w, struct flow_ext *x, struct ksd_flow *f)
{
    (void)w;
    f->evmask |= FL_CDONE;
    ksd_stream_done(&x->st[0]);
    if (x->cp != CP_TLS)
        server_done(x, f);
}

static void dir_done(struct ksd_worker *w, struct flow_ext *x, struct ksd_flow *f, int dir)
{
    if (dir == 0)
        client_done(w, x, f);
    else
        server_done(x, f);
}

int ksd_worker_is_tls_port(uint16_t port)
{
    return port == 443 || port == 8443 || port == 993 || port == 995 || port == 465 ||
           port == 853 || port == 13000 || port == 13291 || port == 13292 || port == 13295 ||
           port == 13299 || port == 17000 || port == 17100;
}

/*
 * A ClientHello that will never be complete (a missing segment, a stream cut
 * short): its server name is often in the part that arrived. Parse what is
 * there; a name found is reported (without JA3/JA4, which need the whole
 * hello) and counted as tls.partial.
 */
int ksd_worker_partial_hello(struct ksd_worker *w, struct ksd_flow *f, struct flow_ext *x)
{
    size_t len;
    const uint8_t *p = ksd_stream_data(&x->st[0], &len);
    if (x->cp != CP_TLS || x->hellos || !p || len < 10 || p[0] != 0x16 || p[5] != 0x01)
        return 0;
    size_t rec = ((size_t)p[3] << 8) | p[4];
    size_t n = len - 5 < rec ? len - 5 : rec;
    ksd_tls_parse_hello(p + 5, n, 't', &w->hello);
    if (!w->hello.sni[0])
        return 0;
    w->hello.ja_ok = w->hello.has_ja = 0; /* a cut hello has no fingerprint */
    w->st.tls_partial++;
    x->hellos++;
    ksd_worker_report_hello(w, f, &w->hello);
    return 1;
}

/*
 * Decoys: when overlapping segments disagreed, the stream holds a second
 * version of the client bytes (stream.c). Parse the ClientHello from it too
 * and report its name when it differs from the one the first version gave
 * (`seen`, "" for none): a decoy must never hide a name.
 */
static void alt_hello(struct ksd_worker *w, struct ksd_flow *f, struct flow_ext *x,
                      const char *seen)
{
    size_t alen, used = 0;
    const uint8_t *a = ksd_stream_alt_data(&x->st[0], &alen);
    char first[KSD_TLS_NAME_MAX];
    if (!a)
        return;
    snprintf(first, sizeof(first), "%s", seen);
    int rc = ksd_tls_client_stream(a, alen, &used, &w->hello);
    if ((rc == KSD_OK || rc == KSD_ETRUNC) && w->hello.sni[0] && strcmp(w->hello.sni, first)) {
        w->st.tls_alt_names++;
        ksd_worker_report_hello(w, f, &w->hello);
    }
}

static void stream_trouble(struct ksd_worker *w, struct ksd_flow *f, struct flow_ext *x, int st)
{
    if (x->hellos == 0 && x->cp == CP_TLS && !ksd_worker_partial_hello(w, f, x))
        nosni_set(f, st == KSD_STREAM_GAP ? KSD_NOSNI_GAP : KSD_NOSNI_TRUNCATED);
}

/*
 * The start of a client stream that is not a TLS record but holds a
 * ClientHello record header (16 03 0x LL LL 01) within its first
 * KSD_TLS_MAX_RESYNC bytes: the number of stray bytes before it, else 0.
 * tshark restarts TLS at every segment; ksd reads streams, and allows this
 * little slack at the very start only, with the handshake type checked, so
 * random payload does not turn into fingerprints.
 */
#define KSD_TLS_MAX_RESYNC   4
#define KSD_MAX_STREAM_STEPS 64 /* messages or protocol changes handled per stream call */
static size_t tls_resync(const uint8_t *p, size_t len)
{
    if (len < 6 || ksd_tls_probe(p, len))
        return 0;
    for (size_t k = 1; k <= KSD_TLS_MAX_RESYNC && k + 6 <= len; k++)
        if (p[k] == 0x16 && p[k + 1] == 0x03 && p[k + 2] <= 0x04 && p[k + 5] == 0x01 &&
            ((p[k + 3] << 8) | p[k + 4]) >= 4)
            return k;
    return 0;
}

/* ---- the table of TCP protocols ------------------------------------------- */

enum { STEP_NEXT, STEP_WAIT }; /* a parse step: look at the stream again / wait for bytes */

struct tcp_proto;
typedef int (*tcp_parse_fn)(struct ksd_worker *w, const struct tcp_proto *r, struct ksd_flow *f,
                            struct flow_ext *x, const uint8_t *p, size_t len, int sst);

/*
 * One row per protocol ksd reads in a TCP connection: probe tells it from
 * the client stream's first bytes (in table order), parse consumes messages
 * from the client stream and hands each to report (facts and evidence).
 * server_parse and server_report do the same for the server stream, once
 * the client stream has been told (or before, for a row with server_first,
 * when its probe says yes); a row without them leaves the server stream
 * unread. cp names the flow's state, app the label set when it is
 * recognised (only when the flow has none, unless app_force), evflags flow
 * bits set with it. A new TCP dissector is its own files and one row here.
 */
struct tcp_proto {
    const char *name;
    uint8_t cp, app, app_force, server_first;
    uint32_t evflags;
    int (*probe)(const struct ksd_flow *f, const struct flow_ext *x, const uint8_t *p, size_t len);
    tcp_parse_fn parse, server_parse;
    void (*report)(struct ksd_worker *w, struct ksd_flow *f, void *msg);
    void (*server_report)(struct ksd_worker *w, struct ksd_flow *f, void *msg);
};

struct dns_frame {
    const uint8_t *p;
    size_t len;
};

static int tls_probe(const struct ksd_flow *f, const struct flow_ext *x, const uint8_t *p,
                     size_t len)
{
    (void)f;
    (void)x;
    return ksd_tls_probe(p, len);
}

static int http_probe(const struct ksd_flow *f, const struct flow_ext *x, const uint8_t *p,
                      size_t len)
{
    (void)f;
    (void)x;
    return ksd_http_probe(p, len);
}

static int dns_probe(const struct ksd_flow *f, const struct flow_ext *x, const uint8_t *p,
                     size_t len)
{
    (void)x;
    (void)p;
    (void)len;
    return ksd_flow_port(f, !f->client) == 53;
}

/* SOCKS only at the very start: never inside a tunnel it opened. */
static int socks_probe(const struct ksd_flow *f, const struct flow_ext *x, const uint8_t *p,
                       size_t len)
{
    (void)f;
    return x->hellos == 0 && x->http_reqs == 0 && ksd_socks_probe(p, len);
}

static void tls_report(struct ksd_worker *w, struct ksd_flow *f, void *msg)
{
    ksd_worker_report_hello(w, f, msg);
}

static void http_report(struct ksd_worker *w, struct ksd_flow *f, void *msg)
{
    report_http(w, f, msg);
}

static void socks_report(struct ksd_worker *w, struct ksd_flow *f, void *msg)
{
    const struct ksd_socks_req *sr = msg;
    ksd_worker_fact(w, "socks_target", sr->target, NULL);
    if (sr->is_name)
        ksd_worker_match_name(w, f, KSD_EV_SOCKS, sr->target);
}

static void dns_report(struct ksd_worker *w, struct ksd_flow *f, void *msg)
{
    const struct dns_frame *m = msg;
    ksd_worker_dns(w, f, 0, m->p, m->len, APP_DNS);
}

static void tls_server_report(struct ksd_worker *w, struct ksd_flow *f, void *msg)
{
    report_server(w, f, msg);
}

static void dns_server_report(struct ksd_worker *w, struct ksd_flow *f, void *msg)
{
    const struct dns_frame *m = msg;
    f->app = APP_DNS;
    ksd_worker_dns(w, f, 1, m->p, m->len, APP_DNS);
}

static int tls_parse(struct ksd_worker *w, const struct tcp_proto *r, struct ksd_flow *f,
                     struct flow_ext *x, const uint8_t *p, size_t len, int sst)
{
    size_t consumed = 0;
    w->hello.nosni = KSD_TLS_NOSNI_NONE;
    int rc = ksd_tls_client_stream(p, len, &consumed, &w->hello);
    if (rc == KSD_EINVAL && w->hello.nosni == KSD_TLS_NOSNI_MALFORMED)
        w->st.tls_malformed++;
    if (rc == KSD_OK) {
        w->st.tls_client_hellos++;
        x->hellos++;
        r->report(w, f, &w->hello);
        alt_hello(w, f, x, w->hello.sni);
        ksd_stream_consume(&x->st[0], consumed);
        if (x->hellos >= KSD_MAX_TLS_HELLOS)
            client_done(w, x, f);
        return STEP_NEXT;
    }
    if (rc == KSD_EAGAIN) {
        if (sst == KSD_STREAM_GAP || sst == KSD_STREAM_FULL) {
            stream_trouble(w, f, x, sst);
            client_done(w, x, f);
        }
        return STEP_WAIT;
    }
    if (rc == KSD_ETRUNC && w->hello.sni[0]) {
        /* oversized ClientHello: the name is in its first 64 KiB */
        w->st.tls_client_hellos++;
        x->hellos++;
        r->report(w, f, &w->hello);
    } else if (x->hellos == 0) {
        nosni_set(f, rc == KSD_ETRUNC ? KSD_NOSNI_TRUNCATED : KSD_NOSNI_NOT_TLS);
    }
    alt_hello(w, f, x, rc == KSD_ETRUNC ? w->hello.sni : "");
    client_done(w, x, f);
    return STEP_WAIT;
}

static int http_parse(struct ksd_worker *w, const struct tcp_proto *r, struct ksd_flow *f,
                      struct flow_ext *x, const uint8_t *p, size_t len, int sst)
{
    if (x->skip_body) {
        size_t n = len < x->skip_body ? len : (size_t)x->skip_body;
        ksd_stream_consume(&x->st[0], n);
        x->skip_body -= n;
        return STEP_NEXT;
    }
    size_t consumed = 0;
    int rc = ksd_http_parse_request(p, len, &w->req, &consumed);
    if (rc == KSD_OK) {
        x->http_reqs++;
        if (w->req.host_bad)
            w->st.http_bad_host++;
        r->report(w, f, &w->req);
        ksd_stream_consume(&x->st[0], consumed);
        if (w->req.is_connect) {
            x->cp = CP_UNKNOWN; /* the tunnel follows: probe again */
            return STEP_NEXT;
        }
        if (w->req.chunked || x->http_reqs >= KSD_MAX_HTTP_REQUESTS) {
            client_done(w, x, f);
            return STEP_WAIT;
        }
        x->skip_body = w->req.content_length;
        return STEP_NEXT;
    }
    if (rc == KSD_EAGAIN && sst != KSD_STREAM_FULL && sst != KSD_STREAM_GAP)
        return STEP_WAIT;
    if (rc != KSD_EAGAIN && x->http_reqs == 0)
        w->st.http_not_http++;
    client_done(w, x, f);
    return STEP_WAIT;
}

static int socks_parse(struct ksd_worker *w, const struct tcp_proto *r, struct ksd_flow *f,
                       struct flow_ext *x, const uint8_t *p, size_t len, int sst)
{
    struct ksd_socks_req sr;
    size_t consumed = 0;
    int rc = ksd_socks_parse_client(p, len, &sr, &consumed);
    if (rc == KSD_EAGAIN && sst != KSD_STREAM_FULL && sst != KSD_STREAM_GAP)
        return STEP_WAIT;
    if (rc != KSD_OK) {
        client_done(w, x, f);
        return STEP_WAIT;
    }
    r->report(w, f, &sr);
    ksd_stream_consume(&x->st[0], consumed);
    x->cp = CP_UNKNOWN; /* the tunnelled protocol follows */
    x->http_reqs = 1;   /* never a second SOCKS request */
    return STEP_NEXT;
}

/* One DNS message framed by its length (RFC 1035 4.2.2) from stream dir;
 * both directions count towards one cap. */
static int dns_step(struct ksd_worker *w,
                    void (*report)(struct ksd_worker *, struct ksd_flow *, void *),
                    struct ksd_flow *f, struct flow_ext *x, int dir, const uint8_t *p, size_t len,
                    int sst)
{
    size_t off, mlen;
    if (ksd_dns_tcp_frame(p, len, &off, &mlen) != KSD_OK) {
        if (sst == KSD_STREAM_FULL || sst == KSD_STREAM_GAP)
            dir_done(w, x, f, dir);
        return STEP_WAIT;
    }
    report(w, f, &(struct dns_frame){p + off, mlen});
    ksd_stream_consume(&x->st[dir], off + mlen);
    if (++x->dns_msgs >= KSD_MAX_DNS_TCP_MSGS)
        dir_done(w, x, f, dir);
    return STEP_NEXT;
}

static int dns_parse(struct ksd_worker *w, const struct tcp_proto *r, struct ksd_flow *f,
                     struct flow_ext *x, const uint8_t *p, size_t len, int sst)
{
    return dns_step(w, r->report, f, x, 0, p, len, sst);
}

static int dns_server_parse(struct ksd_worker *w, const struct tcp_proto *r, struct ksd_flow *f,
                            struct flow_ext *x, const uint8_t *p, size_t len, int sst)
{
    return dns_step(w, r->server_report, f, x, 1, p, len, sst);
}

/* The server's flight: ServerHello (JA3S) and certificate, read once. */
static int tls_server_parse(struct ksd_worker *w, const struct tcp_proto *r, struct ksd_flow *f,
                            struct flow_ext *x, const uint8_t *p, size_t len, int sst)
{
    int rc = ksd_tls_server_stream(p, len, &w->server);
    if (rc == KSD_EAGAIN && sst != KSD_STREAM_FULL && sst != KSD_STREAM_GAP)
        return STEP_WAIT;
    if (rc == KSD_OK)
        r->server_report(w, f, &w->server);
    server_done(x, f);
    return STEP_WAIT;
}

static const struct tcp_proto tcp_protos[] = {
    {.name = "tls",
     .cp = CP_TLS,
     .app = APP_TLS,
     .evflags = FL_TLSPORT,
     .probe = tls_probe,
     .parse = tls_parse,
     .report = tls_report,
     .server_parse = tls_server_parse,
     .server_report = tls_server_report},
    {.name = "http",
     .cp = CP_HTTP,
     .app = APP_HTTP,
     .probe = http_probe,
     .parse = http_parse,
     .report = http_report},
    {.name = "dns",
     .cp = CP_DNS,
     .app = APP_DNS,
     .app_force = 1,
     .server_first = 1,
     .probe = dns_probe,
     .parse = dns_parse,
     .report = dns_report,
     .server_parse = dns_server_parse,
     .server_report = dns_server_report},
    {.name = "socks",
     .cp = CP_SOCKS,
     .app = APP_NONE,
     .probe = socks_probe,
     .parse = socks_parse,
     .report = socks_report},
};

static const struct tcp_proto *tcp_proto_of(int cp)
{
    for (size_t i = 0; i < sizeof(tcp_protos) / sizeof(tcp_protos[0]); i++)
        if (tcp_protos[i].cp == cp)
            return &tcp_protos[i];
    return NULL;
}

static void tcp_client(struct ksd_worker *w, struct ksd_flow *f, struct flow_ext *x)
{
    for (int guard = 0; guard < KSD_MAX_STREAM_STEPS && !(f->evmask & FL_CDONE); guard++) {
        size_t len;
        const uint8_t *p = ksd_stream_data(&x->st[0], &len);
        int sst = ksd_stream_state(&x->st[0]);
        if (!p || len == 0) {
            if (sst == KSD_STREAM_GAP || sst == KSD_STREAM_FULL) {
                stream_trouble(w, f, x, sst);
                client_done(w, x, f);
            }
            return;
        }
        if (x->cp == CP_UNKNOWN) {
            uint16_t sport = ksd_flow_port(f, !f->client);
            size_t junk = x->hellos == 0 && x->http_reqs == 0 ? tls_resync(p, len) : 0;
            if (junk) {
                /* a few stray bytes before a ClientHello record: skip them */
                w->st.tls_resync++;
                ksd_stream_consume(&x->st[0], junk);
                continue;
            }
            const struct tcp_proto *r = NULL;
            for (size_t i = 0; i < sizeof(tcp_protos) / sizeof(tcp_protos[0]) && !r; i++)
                if (tcp_protos[i].probe(f, x, p, len))
                    r = &tcp_protos[i];
            if (!r) {
                if (len < 8)
                    return; /* too little to tell yet */
                if (f->evmask & FL_TLSPORT)
                    nosni_set(f, KSD_NOSNI_NOT_TLS);
                if (ksd_worker_is_tls_port(sport))
                    w->st.tls_not_tls++;
                x->cp = CP_NONE;
                client_done(w, x, f);
                return;
            }
            x->cp = r->cp;
            f->evmask |= r->evflags;
            if (r->app != APP_NONE && (r->app_force || f->app == APP_NONE))
                f->app = r->app;
        }
        const struct tcp_proto *r = tcp_proto_of(x->cp);
        if (!r || r->parse(w, r, f, x, p, len, sst) == STEP_WAIT)
            return;
    }
}

/*
 * The server stream, read by the row of the client's protocol; before the
 * client has been told, only by a server_first row whose probe says yes
 * (else wait for the client). A protocol without a server part, or none,
 * ends the server stream.
 */
static void tcp_server(struct ksd_worker *w, struct ksd_flow *f, struct flow_ext *x)
{
    for (int guard = 0; guard < KSD_MAX_STREAM_STEPS && !(f->evmask & FL_SDONE); guard++) {
        size_t len;
        const uint8_t *p = ksd_stream_data(&x->st[1], &len);
        int sst = ksd_stream_state(&x->st[1]);
        if (!p || len == 0)
            return;
        const struct tcp_proto *r = NULL;
        if (x->cp != CP_UNKNOWN) {
            r = tcp_proto_of(x->cp);
        } else {
            for (size_t i = 0; i < sizeof(tcp_protos) / sizeof(tcp_protos[0]) && !r; i++)
                if (tcp_protos[i].server_first && tcp_protos[i].probe(f, x, p, len))
                    r = &tcp_protos[i];
            if (!r)
                return; /* wait until the client side says what this is */
        }
        if (!r || !r->server_parse) {
            server_done(x, f);
            return;
        }
        if (r->server_parse(w, r, f, x, p, len, sst) == STEP_WAIT)
            return;
    }
}

static int looks_like_client(const uint8_t *p, size_t len)
{
    if (len >= 6 && p[0] == 0x16 && p[1] == 0x03 && p[5] == 0x01)
        return 1;
    return ksd_http_probe(p, len);
}

/* One segment into the stream of its direction, then dissect what grew. */
static void seg_add(struct ksd_worker *w, struct ksd_flow *f, struct flow_ext *x, int dir,
                    uint32_t seq, const uint8_t *p, size_t n, int weak)
{
    if (f->evmask & (dir == 0 ? FL_CDONE : FL_SDONE))
        return;
    if (ksd_stream_add_seg(&x->st[dir], seq, p, n, weak, &w->st.stream) > 0 ||
        ksd_stream_state(&x->st[dir]) >= KSD_STREAM_DONE) {
        if (dir == 0)
            tcp_client(w, f, x);
        else
            tcp_server(w, f, x);
    }
}

static int weak_hold(struct flow_ext *x, int dir, uint32_t seq, const uint8_t *p, size_t n)
{
    if (n > KSD_STREAM_MAX_BYTES || !(x->weak = malloc(n)))
        return 0;
    memcpy(x->weak, p, n);
    x->weak_seq = seq;
    x->weak_len = (uint32_t)n;
    x->weak_dir = (uint8_t)dir;
    return 1;
}

void ksd_worker_weak_flush(struct ksd_worker *w, struct ksd_flow *f, struct flow_ext *x)
{
    uint8_t *d = x->weak;
    if (!d)
        return;
    x->weak = NULL;
    seg_add(w, f, x, x->weak_dir, x->weak_seq, d, x->weak_len, 1);
    x->weak_len = 0;
    free(d);
}

void ksd_worker_tcp(struct ksd_worker *w, struct ksd_flow *f, int *dirp, const struct ksd_pkt *p)
{
    int dir = *dirp;
    /* Picked up mid-stream and the port guess was wrong: the first payload
     * decides, as long as nothing has been dissected yet. */
    struct flow_ext *x0 = f->ext;
    if (dir == 1 && (f->flags & KSD_FLOW_F_MIDSTREAM) && p->payload_len &&
        (!x0 || (x0->cp == CP_UNKNOWN && x0->st[0].state == KSD_STREAM_INIT)) &&
        !(f->flags & (KSD_FLOW_F_SYN | KSD_FLOW_F_SYNACK)) &&
        looks_like_client(p->payload, p->payload_len)) {
        uint32_t t = f->pkts[0];
        f->pkts[0] = f->pkts[1];
        f->pkts[1] = t;
        f->client = (uint8_t)!f->client;
        dir = *dirp = 0;
        if (x0) { /* what the "server" sent so far was the client's */
            struct ksd_stream s0 = x0->st[0];
            x0->st[0] = x0->st[1];
            x0->st[1] = s0;
        }
    }
    ksd_flow_tcp_update(w->ft, f, p->tcp_flags, dir);
    if ((f->evmask & (FL_CDONE | FL_SDONE)) == (FL_CDONE | FL_SDONE))
        return;
    uint32_t seq = p->seq;
    if (p->tcp_flags & 0x02) {
        /* kept in the record; the streams (and their memory) wait for data */
        f->isn[dir] = p->seq;
        if (f->ext)
            ksd_stream_syn(&((struct flow_ext *)f->ext)->st[dir], p->seq);
        seq = p->seq + 1;
    }
    if (p->payload_len == 0)
        return;
    struct flow_ext *x = ksd_worker_ext(f);
    if (!x)
        return;
    if (f->pkts[0] > KSD_MAX_CLIENT_PKTS && !(f->evmask & FL_CDONE))
        client_done(w, x, f);
    if (dir == 0 && !(f->evmask & FL_CDONE) && !x->hellos && !x->http_reqs &&
        ksd_stream_tcp_checksum(p) == 0) {
        /* a client segment before its first ClientHello or request, with a
         * bad checksum where the capture has the whole segment: held back
         * until the next segment, then let in only where no good one covers
         * those bytes (a decoy the receiver dropped; or checksum offload) */
        w->st.tcp_bad_checksum++;
        ksd_worker_weak_flush(w, f, x);
        if (!weak_hold(x, dir, seq, p->payload, p->payload_len))
            seg_add(w, f, x, dir, seq, p->payload, p->payload_len, 1);
    } else {
        seg_add(w, f, x, dir, seq, p->payload, p->payload_len, 0);
        ksd_worker_weak_flush(w, f, x);
    }
    /* A server that answers before the client has been classified: look again. */
    if (dir == 0 && x->cp != CP_UNKNOWN && !(f->evmask & FL_SDONE))
        tcp_server(w, f, x);
    if ((f->evmask & (FL_CDONE | FL_SDONE)) == (FL_CDONE | FL_SDONE)) {
        ksd_worker_settle_dns_ip(w, f);
        ksd_worker_ext_release(w, f);
    }
}
