/*
 * ipfrag.c - bounded IPv4 and IPv6 fragment reassembly.
 *
 * What it does: keeps the fragments of at most KSD_MAX_FRAG_DATAGRAMS
 * datagrams, each identified by (family, source, destination, identification,
 * protocol / next header, ctx) as RFC 791 section 3.2 and RFC 8200 section
 * 4.5 say (ctx keeps apart the same addresses under different tunnels or
 * VLANs). When the last hole is filled it builds the whole datagram: the
 * header of the offset-0 fragment, rewritten (IPv4: flags and offset
 * cleared, total length and header checksum recomputed; IPv6: the fragment
 * header removed, the next-header byte that named it and the payload length
 * fixed), followed by the reassembled payload.
 *
 * Policy:
 *  - overlaps: "first data wins". Data is tracked in 8-byte blocks (the
 *    fragment offset unit); a block already received is never overwritten,
 *    so a later overlapping or duplicate fragment only fills holes. This is
 *    the BSD-style choice for the common case and cannot be steered by a
 *    late rewrite (RFC 5722 makes overlap fatal for IPv6; we keep the
 *    datagram but count the overlap).
 *  - timeouts: capture time; a datagram not complete KSD_FRAG_TIMEOUT_US
 *    after its first fragment is dropped.
 *  - limits: at most KSD_MAX_FRAGS_PER_DGRAM fragments and
 *    KSD_MAX_FRAG_BYTES payload bytes per datagram (else it is dropped);
 *    when the table is full the oldest datagram is evicted.
 *  - a non-last fragment whose length is not a multiple of 8, a last
 *    fragment that disagrees with an earlier last one, or data past the
 *    end drops the datagram (counted as invalid).
 *
 * What it does not do: decode anything (the output goes back through
 * ksd_decode_ip()), keep fragments the capture cut short, or handle IPv6
 * jumbograms.
 */
#include <stdlib.h>
#include <string.h>

#include "dissectors/ipfrag.h"
#include "dissectors/ksd.h"
#include "dissectors/rd.h"

#define FRAG_BLOCKS ((KSD_MAX_FRAG_BYTES + 7) / 8)

struct frag_dg {
    struct frag_dg *hnext;               /* hash chain */
    struct frag_dg *older, *newer;       /* age list, oldest first */
    uint8_t family;                      /* key: 4 or 6 */
    uint8_t proto;                       /* key: protocol / next header */
    uint8_t src[16];                     /* key */
    uint8_t dst[16];                     /* key */
    uint32_t id;                         /* key */
    uint32_t ctx;                        /* key */
    uint32_t bucket;                     /* hash bucket index */
    uint64_t first_us;                   /* capture time of the first fragment seen */
    uint8_t *data;                       /* reassembly buffer (owned) */
    size_t cap;                          /* bytes allocated in data */
    size_t total;                        /* payload length, known once the last fragment came */
    size_t max_end;                      /* highest fragment end seen */
    size_t nblocks;                      /* 8-byte blocks received */
    unsigned nfrags;                     /* fragments accepted */
    uint8_t have_first;                  /* offset-0 fragment seen: hdr valid */
    uint8_t have_last;                   /* MF=0 fragment seen: total valid */
    uint16_t nh_off;                     /* IPv6: next-header byte in hdr */
    size_t hdr_len;                      /* bytes in hdr */
    uint8_t hdr[KSD_MAX_FRAG_HDR];       /* header of the offset-0 fragment */
    uint8_t blocks[FRAG_BLOCKS / 8 + 1]; /* bitmap of received 8-byte blocks */
};

struct ksd_ipfrag {
    struct frag_dg *buckets[KSD_FRAG_BUCKETS];          /* hash table */
    struct frag_dg *oldest, *newest;                    /* age list */
    size_t count;                                       /* datagrams in the table */
    size_t mem;                                         /* heap bytes of the datagrams */
    struct ksd_ipfrag_stats st;                         /* counters */
    uint8_t out[KSD_MAX_FRAG_HDR + KSD_MAX_FRAG_BYTES]; /* last reassembled datagram */
};

struct ksd_ipfrag *ksd_ipfrag_new(void)
{
    return calloc(1, sizeof(struct ksd_ipfrag));
}

static void dg_free(struct frag_dg *g)
{
    free(g->data);
    free(g);
}

void ksd_ipfrag_free(struct ksd_ipfrag *f)
{
    if (!f)
        return;
    struct frag_dg *g = f->oldest;
    while (g) {
        struct frag_dg *n = g->newer;
        dg_free(g);
        g = n;
    }
    free(f);
}

const struct ksd_ipfrag_stats *ksd_ipfrag_stats(const struct ksd_ipfrag *f)
{
    return &f->st;
}

static void dg_drop(struct ksd_ipfrag *f, struct frag_dg *g);

size_t ksd_ipfrag_mem(const struct ksd_ipfrag *f)
{
    return f->mem;
}

int ksd_ipfrag_oldest(const struct ksd_ipfrag *f, uint64_t *first_us)
{
    if (!f->oldest)
        return 0;
    *first_us = f->oldest->first_us;
    return 1;
}

void ksd_ipfrag_drop_oldest(struct ksd_ipfrag *f)
{
    if (f->oldest) {
        f->st.evicted++;
        dg_drop(f, f->oldest);
    }
}

static uint32_t key_hash(const struct ksd_pkt *pkt)
{
    uint32_t h = KSD_FNV1A_BASIS;
    size_t n = pkt->family == 6 ? 16 : 4;
    h = ksd_fnv1a_byte(h, pkt->family);
    h = ksd_fnv1a_byte(h, pkt->frag.next);
    for (size_t i = 0; i < n; i++) {
        h = ksd_fnv1a_byte(h, pkt->src[i]);
        h = ksd_fnv1a_byte(h, pkt->dst[i]);
    }
    h ^= pkt->frag.id * 0x9e3779b9u;
    h ^= pkt->ctx * 0x85ebca6bu;
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    return h % KSD_FRAG_BUCKETS;
}

static int key_eq(const struct frag_dg *g, const struct ksd_pkt *pkt)
{
    return g->family == pkt->family && g->proto == pkt->frag.next && g->id == pkt->frag.id &&
           g->ctx == pkt->ctx && memcmp(g->src, pkt->src, 16) == 0 &&
           memcmp(g->dst, pkt->dst, 16) == 0;
}

/* Unlink g from the table and the age list, and free it. */
static void dg_drop(struct ksd_ipfrag *f, struct frag_dg *g)
{
    struct frag_dg **pp = &f->buckets[g->bucket];
    while (*pp && *pp != g)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = g->hnext;
    if (g->older)
        g->older->newer = g->newer;
    else
        f->oldest = g->newer;
    if (g->newer)
        g->newer->older = g->older;
    else
        f->newest = g->older;
    f->count--;
    f->mem -= sizeof(*g) + g->cap;
    dg_free(g);
}

static int expired(const struct frag_dg *g, uint64_t now_us)
{
    return now_us > g->first_us && now_us - g->first_us > KSD_FRAG_TIMEOUT_US;
}

void ksd_ipfrag_expire(struct ksd_ipfrag *f, uint64_t now_us)
{
    /* The age list is in arrival order; stop at the first one still young. */
    while (f->oldest && expired(f->oldest, now_us)) {
        f->st.timeouts++;
        dg_drop(f, f->oldest);
    }
}

static struct frag_dg *dg_new(struct ksd_ipfrag *f, const struct ksd_pkt *pkt, uint32_t bucket,
                              uint64_t now_us)
{
    if (f->count >= KSD_MAX_FRAG_DATAGRAMS && f->oldest) {
        f->st.evicted++;
        dg_drop(f, f->oldest);
    }
    struct frag_dg *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->family = pkt->family;
    g->proto = pkt->frag.next;
    memcpy(g->src, pkt->src, 16);
    memcpy(g->dst, pkt->dst, 16);
    g->id = pkt->frag.id;
    g->ctx = pkt->ctx;
    g->bucket = bucket;
    g->first_us = now_us;
    g->hnext = f->buckets[bucket];
    f->buckets[bucket] = g;
    g->older = f->newest;
    if (f->newest)
        f->newest->newer = g;
    else
        f->oldest = g;
    f->newest = g;
    f->count++;
    f->mem += sizeof(*g);
    return g;
}

static int dg_reserve(struct ksd_ipfrag *f, struct frag_dg *g, size_t end)
{
    if (end <= g->cap)
        return KSD_OK;
    size_t n = g->cap ? g->cap * 2 : 2048;
    if (n < end)
        n = end;
    if (n > KSD_MAX_FRAG_BYTES)
        n = KSD_MAX_FRAG_BYTES;
    uint8_t *p = realloc(g->data, n);
    if (!p)
        return KSD_ENOMEM;
    g->data = p;
    f->mem += n - g->cap;
    g->cap = n;
    return KSD_OK;
}

/* Copy the blocks of [off, end) not received yet; returns 1 if any byte of
 * the fragment was already there (overlap or duplicate). */
static int dg_fill(struct frag_dg *g, size_t off, const uint8_t *src, size_t end)
{
    int overlap = 0;
    for (size_t b = off / 8; b * 8 < end && b < FRAG_BLOCKS; b++) {
        uint8_t bit = (uint8_t)(1u << (b % 8));
        if (g->blocks[b / 8] & bit) {
            overlap = 1;
            continue;
        }
        size_t s = b * 8, e = s + 8 < end ? s + 8 : end;
        memcpy(g->data + s, src + (s - off), e - s);
        g->blocks[b / 8] |= bit;
        g->nblocks++;
    }
    return overlap;
}

static uint16_t ip4_checksum(const uint8_t *h, size_t len)
{
    struct ksd_rd r = rd_make(h, len);
    uint32_t sum = 0;
    while (rd_has(&r, 2))
        sum += rd_be16(&r);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void put_be16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Build the datagram into f->out. */
static size_t dg_build(struct ksd_ipfrag *f, const struct frag_dg *g, uint8_t next)
{
    uint8_t *o = f->out;
    memcpy(o, g->hdr, g->hdr_len);
    memcpy(o + g->hdr_len, g->data, g->total);
    if (g->family == 4) {
        put_be16(o + 2, g->hdr_len + g->total);
        put_be16(o + 6, 0);
        put_be16(o + 10, 0);
        put_be16(o + 10, ip4_checksum(o, g->hdr_len));
    } else {
        o[g->nh_off] = next;
        put_be16(o + 4, g->hdr_len - 40 + g->total);
    }
    return g->hdr_len + g->total;
}

int ksd_ipfrag_add(struct ksd_ipfrag *f, const struct ksd_pkt *pkt, uint64_t now_us,
                   const uint8_t **out, size_t *out_len)
{
    const struct ksd_frag *fr = &pkt->frag;
    f->st.fragments++;
    ksd_ipfrag_expire(f, now_us);

    size_t min_hdr = pkt->family == 6 ? 40 : 20;
    if ((pkt->family != 4 && pkt->family != 6) || !fr->hdr || fr->hdr_len < min_hdr ||
        (pkt->family == 6 && (fr->nh_off < 6 || fr->nh_off >= fr->hdr_len))) {
        f->st.invalid++;
        return KSD_EINVAL;
    }
    if (fr->data_len < fr->wire_len) { /* cut by the capture: unusable */
        f->st.invalid++;
        return KSD_ETRUNC;
    }
    size_t len = fr->wire_len, off = fr->offset, end = off + len;
    if (fr->more && (len == 0 || len % 8 != 0)) {
        f->st.invalid++;
        return KSD_EINVAL;
    }
    /* the rebuilt IPv4 total length / IPv6 payload length must fit 16 bits */
    size_t hdr_extra = pkt->family == 4 ? fr->hdr_len : fr->hdr_len - 40;
    int too_big = end > KSD_MAX_FRAG_BYTES || hdr_extra + end > 0xffff ||
                  (off == 0 && fr->hdr_len > KSD_MAX_FRAG_HDR);

    uint32_t bucket = key_hash(pkt);
    struct frag_dg *g = f->buckets[bucket];
    while (g && !key_eq(g, pkt))
        g = g->hnext;
    if (g && expired(g, now_us)) {
        f->st.timeouts++;
        dg_drop(f, g);
        g = NULL;
    }
    if (too_big) {
        f->st.too_big++;
        if (g)
            dg_drop(f, g);
        return KSD_ELIMIT;
    }
    if (!g) {
        g = dg_new(f, pkt, bucket, now_us);
        if (!g)
            return KSD_ENOMEM;
    }
    if (g->nfrags >= KSD_MAX_FRAGS_PER_DGRAM) {
        f->st.too_big++;
        dg_drop(f, g);
        return KSD_ELIMIT;
    }
    if ((!fr->more && ((g->have_last && g->total != end) || g->max_end > end)) ||
        (fr->more && g->have_last && end > g->total)) {
        f->st.invalid++;
        dg_drop(f, g);
        return KSD_EINVAL;
    }
    if (dg_reserve(f, g, end) != KSD_OK) {
        dg_drop(f, g);
        return KSD_ENOMEM;
    }
    g->nfrags++;
    if (!fr->more) {
        g->have_last = 1;
        g->total = end;
    }
    if (end > g->max_end)
        g->max_end = end;
    if (len && dg_fill(g, off, fr->data, end))
        f->st.overlaps++;
    if (off == 0 && !g->have_first) {
        memcpy(g->hdr, fr->hdr, fr->hdr_len);
        g->hdr_len = fr->hdr_len;
        g->nh_off = fr->nh_off;
        g->have_first = 1;
    }
    if (!g->have_first || !g->have_last || g->nblocks != (g->total + 7) / 8)
        return 0;

    *out_len = dg_build(f, g, g->proto);
    *out = f->out;
    f->st.reassembled++;
    dg_drop(f, g);
    return 1;
}
