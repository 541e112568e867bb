/*
 * correlate.c - DNS answer cache, event suppression and the host table (see
 * correlate.h). All three are one bounded map with LRU eviction: a chained
 * hash over fixed-size keys plus an insertion/use-ordered list, so the
 * oldest entry goes first when a table is full.
 *
 * The DNS cache is keyed by (resolving client, address): a flow counts as
 * `dns_ip` only from the host that resolved the name. Kaspersky update
 * hosts sit on shared CDNs, so an address learned from one host's answer
 * says nothing about an unrelated host that talks to the same CDN node.
 */
#include "sensor/path/correlate.h"
#include "sensor/path/lines.h"
#include "dissectors/ksd.h"
#include "signatures/sig.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

struct lent {
    struct lent *hnext;
    struct lent *prev;
    struct lent *next;
    uint32_t h;
    _Alignas(8) unsigned char data[]; /* key, then value (at an 8-aligned offset) */
};

struct lmap {
    struct lent **b;
    uint32_t mask;
    size_t n, max, ksz, vsz;
    size_t voff;       /* value offset: ksz rounded up so values are 8-aligned */
    struct lent *head; /* least recently used */
    struct lent *tail;
};

static int lmap_init(struct lmap *m, size_t max, size_t ksz, size_t vsz)
{
    size_t nb = 256;
    while (nb < max)
        nb <<= 1;
    m->b = calloc(nb, sizeof(*m->b));
    if (!m->b)
        return -1;
    m->mask = (uint32_t)(nb - 1);
    m->n = 0;
    m->max = max;
    m->ksz = ksz;
    m->vsz = vsz;
    m->voff = (ksz + 7) & ~(size_t)7;
    m->head = m->tail = NULL;
    return 0;
}

static uint32_t hash_bytes(const unsigned char *p, size_t n)
{
    uint32_t h = ksd_fnv1a(KSD_FNV1A_BASIS, p, n);
    return h ^ (h >> 15);
}

static void list_unlink(struct lmap *m, struct lent *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        m->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        m->tail = e->prev;
    e->prev = e->next = NULL;
}

static void list_append(struct lmap *m, struct lent *e)
{
    e->prev = m->tail;
    e->next = NULL;
    if (m->tail)
        m->tail->next = e;
    else
        m->head = e;
    m->tail = e;
}

static void lmap_remove(struct lmap *m, struct lent *e)
{
    struct lent **pp = &m->b[e->h & m->mask];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    list_unlink(m, e);
    free(e);
    m->n--;
}

/* Value of key, moved to the most-recent end; NULL when absent. */
static void *lmap_find(struct lmap *m, const void *key)
{
    uint32_t h = hash_bytes(key, m->ksz);
    for (struct lent *e = m->b[h & m->mask]; e; e = e->hnext) {
        if (e->h == h && memcmp(e->data, key, m->ksz) == 0) {
            list_unlink(m, e);
            list_append(m, e);
            return e->data + m->voff;
        }
    }
    return NULL;
}

/* Value of key, created zeroed when absent; *evicted counts a dropped entry. */
static void *lmap_get(struct lmap *m, const void *key, int *created, uint64_t *evicted)
{
    void *v = lmap_find(m, key);
    *created = 0;
    if (v)
        return v;
    if (m->n >= m->max && m->head) {
        lmap_remove(m, m->head);
        (*evicted)++;
    }
    struct lent *e = calloc(1, sizeof(*e) + m->voff + m->vsz);
    if (!e)
        return NULL;
    e->h = hash_bytes(key, m->ksz);
    memcpy(e->data, key, m->ksz);
    e->hnext = m->b[e->h & m->mask];
    m->b[e->h & m->mask] = e;
    list_append(m, e);
    m->n++;
    *created = 1;
    return e->data + m->voff;
}

static void lmap_free(struct lmap *m)
{
    while (m->head)
        lmap_remove(m, m->head);
    free(m->b);
}

/* ---- keys and values ---------------------------------------------------- */

struct dns_key {
    struct ksd_addr client;
    struct ksd_addr addr;
};

struct dns_val {
    int64_t expires_us;
    char name[256];
};

struct dedup_key {
    struct ksd_addr client;
    char rule[64];
    uint8_t evidence; /* enum ksd_evidence */
};

struct dedup_val {
    int64_t last_us;  /* time of the last event emitted */
    uint32_t pending; /* detections folded since then */
};

static const char *const evidence_names[KSD_EV__COUNT] = {[KSD_EV_DNS] = "dns",
                                                          [KSD_EV_SNI] = "sni",
                                                          [KSD_EV_QUIC_SNI] = "quic_sni",
                                                          [KSD_EV_HTTP_HOST] = "http_host",
                                                          [KSD_EV_HTTP_UA] = "http_ua",
                                                          [KSD_EV_CERT] = "cert",
                                                          [KSD_EV_JA3] = "ja3",
                                                          [KSD_EV_JA4] = "ja4",
                                                          [KSD_EV_IP] = "ip",
                                                          [KSD_EV_DNS_IP] = "dns_ip",
                                                          [KSD_EV_PORT] = "port",
                                                          [KSD_EV_HTTP_PATH] = "http_path",
                                                          [KSD_EV_SOCKS] = "socks"};

const char *ksd_evidence_name(int evidence)
{
    return evidence >= 0 && evidence < KSD_EV__COUNT ? evidence_names[evidence] : "";
}

struct hostind_key {
    struct ksd_addr client;
    char ind[128]; /* NUL-padded, so the whole key compares */
};

struct hostind_val {
    uint64_t n; /* detections */
};

struct pair_key {
    struct ksd_addr client;
    struct ksd_addr server;
    uint16_t port;
    uint8_t proto;
};

struct pair_val {
    int64_t last_us;
};

struct ksd_corr {
    struct lmap pairs;
    struct lmap dns;
    struct lmap dedup;
    struct lmap hosts;
    struct lmap hostinds;
    struct ksd_corr_stats st;
};

struct ksd_corr *ksd_corr_new(void)
{
    struct ksd_corr *c = ksd_zalloc_lines(sizeof(*c));
    if (!c)
        return NULL;
    if (lmap_init(&c->pairs, KSD_PAIRS_MAX, sizeof(struct pair_key), sizeof(struct pair_val)) ||
        lmap_init(&c->dns, KSD_DNSCACHE_MAX, sizeof(struct dns_key), sizeof(struct dns_val)) ||
        lmap_init(&c->dedup, KSD_DEDUP_MAX, sizeof(struct dedup_key), sizeof(struct dedup_val)) ||
        lmap_init(&c->hosts, KSD_HOSTS_MAX, sizeof(struct ksd_addr),
                  sizeof(struct ksd_corr_host)) ||
        lmap_init(&c->hostinds, KSD_HOST_INDICATORS_MAX, sizeof(struct hostind_key),
                  sizeof(struct hostind_val))) {
        ksd_corr_free(c);
        return NULL;
    }
    return c;
}

void ksd_corr_free(struct ksd_corr *c)
{
    if (!c)
        return;
    if (c->pairs.b)
        lmap_free(&c->pairs);
    if (c->dns.b)
        lmap_free(&c->dns);
    if (c->dedup.b)
        lmap_free(&c->dedup);
    if (c->hosts.b)
        lmap_free(&c->hosts);
    if (c->hostinds.b)
        lmap_free(&c->hostinds);
    free(c);
}

const struct ksd_corr_stats *ksd_corr_stats(const struct ksd_corr *c)
{
    return &c->st;
}

static void addr_norm(struct ksd_addr *dst, const struct ksd_addr *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->family = src->family;
    memcpy(dst->a, src->a, src->family == 4 ? 4 : 16);
}

void ksd_corr_dns_learn(struct ksd_corr *c, const struct ksd_addr *client,
                        const struct ksd_addr *addr, const char *name, uint32_t ttl, int64_t now_us)
{
    struct dns_key k;
    int created;
    addr_norm(&k.client, client);
    addr_norm(&k.addr, addr);
    struct dns_val *v = lmap_get(&c->dns, &k, &created, &c->st.dns_evicted);
    if (!v)
        return;
    if (ttl > KSD_DNSCACHE_MAX_TTL_S)
        ttl = KSD_DNSCACHE_MAX_TTL_S;
    if (ttl < KSD_DNSCACHE_MIN_TTL_S)
        ttl = KSD_DNSCACHE_MIN_TTL_S;
    v->expires_us = now_us + (int64_t)ttl * 1000000;
    snprintf(v->name, sizeof(v->name), "%s", name);
    if (created)
        c->st.dns_learned++;
}

const char *ksd_corr_dns_lookup(struct ksd_corr *c, const struct ksd_addr *client,
                                const struct ksd_addr *addr, int64_t now_us)
{
    struct dns_key k;
    addr_norm(&k.client, client);
    addr_norm(&k.addr, addr);
    struct dns_val *v = lmap_find(&c->dns, &k);
    if (!v || v->expires_us < now_us)
        return NULL;
    c->st.dns_hits++;
    return v->name;
}

static void pair_key_make(struct pair_key *k, const struct ksd_addr *client,
                          const struct ksd_addr *server, uint8_t proto, uint16_t port)
{
    memset(k, 0, sizeof(*k));
    addr_norm(&k->client, client);
    addr_norm(&k->server, server);
    k->proto = proto;
    k->port = port;
}

void ksd_corr_pair_note(struct ksd_corr *c, const struct ksd_addr *client,
                        const struct ksd_addr *server, uint8_t proto, uint16_t port, int64_t now_us)
{
    struct pair_key k;
    int created;
    pair_key_make(&k, client, server, proto, port);
    struct pair_val *v = lmap_get(&c->pairs, &k, &created, &c->st.pairs_evicted);
    if (v)
        v->last_us = now_us;
}

int ksd_corr_pair_seen(struct ksd_corr *c, const struct ksd_addr *client,
                       const struct ksd_addr *server, uint8_t proto, uint16_t port, int64_t now_us)
{
    struct pair_key k;
    pair_key_make(&k, client, server, proto, port);
    struct pair_val *v = lmap_find(&c->pairs, &k);
    return v && now_us - v->last_us <= KSD_PAIR_WINDOW_US;
}

uint32_t ksd_corr_dedup(struct ksd_corr *c, const struct ksd_addr *client, const char *rule,
                        int evidence, int64_t now_us, int64_t window_us)
{
    struct dedup_key k;
    int created;
    memset(&k, 0, sizeof(k));
    addr_norm(&k.client, client);
    snprintf(k.rule, sizeof(k.rule), "%s", rule);
    k.evidence = (uint8_t)evidence;
    struct dedup_val *v = lmap_get(&c->dedup, &k, &created, &c->st.dedup_evicted);
    if (!v)
        return 1; /* no memory: report rather than lose */
    if (created || now_us - v->last_us >= window_us || now_us < v->last_us) {
        uint32_t n = v->pending + 1;
        v->last_us = now_us;
        v->pending = 0;
        return n;
    }
    v->pending++;
    c->st.suppressed++;
    return 0;
}

static int name_index(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

void ksd_corr_host_add(struct ksd_corr *c, const struct ksd_addr *client, int64_t ts_us,
                       int evidence, const char *category, const char *indicator, const char *site,
                       const char *managed, uint32_t count)
{
    struct ksd_addr k;
    int created;
    addr_norm(&k, client);
    struct ksd_corr_host *h = lmap_get(&c->hosts, &k, &created, &c->st.hosts_evicted);
    if (!h)
        return;
    if (created) {
        h->addr = k;
        h->first_us = ts_us;
    }
    if (ts_us < h->first_us)
        h->first_us = ts_us;
    if (ts_us >= h->last_us)
        h->last_us = ts_us;
    h->events++;
    /* as the Redis host record: a label is kept until a non-empty one replaces it */
    if (site && site[0])
        snprintf(h->site, sizeof(h->site), "%s", site);
    if (managed && managed[0])
        snprintf(h->managed, sizeof(h->managed), "%s", managed);
    if (evidence >= 0 && evidence < KSD_EV__COUNT)
        h->ev_n[evidence]++;
    size_t ncat;
    const char *const *cats = ksd_sig_categories(&ncat); /* sets ncat: call it first */
    int cat = name_index(cats, ncat, category);
    if (cat >= 0)
        h->catmask |= 1u << cat;
    struct hostind_key ik;
    memset(&ik, 0, sizeof(ik));
    ik.client = k;
    snprintf(ik.ind, sizeof(ik.ind), "%s", indicator ? indicator : "");
    struct hostind_val *iv = lmap_get(&c->hostinds, &ik, &created, &c->st.host_indicators_evicted);
    if (iv)
        iv->n += count;
}

void ksd_corr_host_machine(struct ksd_corr *c, const struct ksd_addr *client, const char *mac,
                           const char *name, const char *name_source)
{
    struct ksd_addr k;
    addr_norm(&k, client);
    struct ksd_corr_host *h = lmap_find(&c->hosts, &k);
    if (!h)
        return;
    if (mac && mac[0])
        snprintf(h->mac, sizeof(h->mac), "%s", mac);
    if (name && name[0]) {
        snprintf(h->name, sizeof(h->name), "%s", name);
        snprintf(h->name_source, sizeof(h->name_source), "%s", name_source ? name_source : "");
    }
}

const char *ksd_corr_evidence_name(size_t i)
{
    return i < KSD_CORR_NEVIDENCE ? evidence_names[i] : NULL;
}

size_t ksd_corr_hosts_count(const struct ksd_corr *c)
{
    return c->hosts.n;
}

void ksd_addr_str(const struct ksd_addr *a, char *buf, size_t len)
{
    if (!inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->a, buf, (socklen_t)len))
        snprintf(buf, len, "?");
}

void ksd_corr_hosts_each(const struct ksd_corr *c, const struct ksd_corr_host_visit *v)
{
    for (const struct lent *e = c->hosts.head; e; e = e->next)
        v->host(v->arg, (const void *)(e->data + c->hosts.voff));
    for (const struct lent *e = c->hostinds.head; e; e = e->next) {
        const struct hostind_key *k = (const void *)e->data;
        const struct hostind_val *x = (const void *)(e->data + c->hostinds.voff);
        v->indicator(v->arg, &k->client, k->ind, x->n);
    }
}
