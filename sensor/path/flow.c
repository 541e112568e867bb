/*
 * flow.c - bidirectional flow table (see flow.h for the model).
 *
 * Records come from a slab with a free list, so steady-state traffic does not
 * call malloc per flow. The bucket array is sized once from max_flows. All
 * times are capture times in microseconds.
 */
#include "sensor/path/flow.h"

#include "sensor/path/budget.h"
#include "sensor/path/lines.h"
#include "sensor/path/mix.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_SZ ((size_t)2 << 20)
/* records allocated at once: as many as fit, with the link, in one 2 MiB page
 * (table_alloc rounds up to whole 2 MiB pages: one record too many would
 * double the slab) */
#define KSD_FLOW_SLAB ((HUGE_SZ - sizeof(void *)) / sizeof(struct ksd_flow))

/* The records first: from the start of the 2 MiB page, each 128-byte record
 * fills exactly two cache lines (one adjacent pair) instead of straddling three. */
struct slab {
    struct ksd_flow recs[KSD_FLOW_SLAB];
    struct slab *next;
};
_Static_assert(sizeof(struct ksd_flow) % 64 == 0, "a flow record fills whole cache lines");

struct lru {
    struct ksd_flow *head; /* oldest */
    struct ksd_flow *tail; /* newest */
    int64_t timeout;
};

struct ksd_flow_table {
    struct ksd_flow **buckets;
    uint32_t mask;
    size_t max_flows;
    struct lru lists[KSD_FLOW__CLASSES];
    struct ksd_flow *free_list;
    struct slab *slabs;
    ksd_flow_release_fn release;
    void *arg;
    struct ksd_budget *shared; /* the global cap over all workers' tables, or NULL */
    uint64_t seed;             /* of the key hash: random per table */
    struct ksd_flow_stats st;
};

int ksd_flow_is_service_port(uint8_t proto, uint16_t port)
{
    static const uint16_t known[] = {1080,  1433,  3128,  3306,  3389,  5060,  5353,  5355,
                                     5432,  6379,  8000,  8060,  8061,  8080,  8443,  8888,
                                     13000, 13111, 13291, 13292, 13295, 13299, 14000, 15000,
                                     15001, 15111, 17000, 17100, 17111};
    (void)proto;
    if (port == 0)
        return 0;
    if (port < 1024)
        return 1;
    if (port < known[0] || port > known[sizeof(known) / sizeof(known[0]) - 1])
        return 0; /* most ephemeral ports */
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (known[i] == port)
            return 1;
    return 0;
}

/*
 * The key's hash: the address words and the ports are multiplied into 64
 * bits (independent products, so they overlap in the pipeline), then
 * finished with MurmurHash3's fmix64 so that the low bits the bucket index
 * uses depend on every input bit. The table's random seed keeps a flood of
 * crafted tuples from landing in one bucket.
 */
static uint32_t key_hash(const struct ksd_flow_table *ft, const struct ksd_flow_key *k)
{
    uint64_t h = ft->seed ^ ((uint64_t)k->ctx << 32 | (uint32_t)k->family << 8 | k->proto);
    uint64_t ports = (uint64_t)k->port[0] << 16 | k->port[1];
    h += (ports + 0x632be59bd9b4e019ull) * 0x9e3779b97f4a7c15ull;
    if (k->family == 4) {
        uint32_t a, b;
        memcpy(&a, k->addr[0], 4);
        memcpy(&b, k->addr[1], 4);
        h += ((uint64_t)a << 32 | b) * 0xc2b2ae3d27d4eb4full;
    } else {
        uint64_t w[4];
        memcpy(w, k->addr[0], 16);
        memcpy(w + 2, k->addr[1], 16);
        h += w[0] * 0xc2b2ae3d27d4eb4full + w[1] * 0x165667b19e3779f9ull +
             (w[2] ^ 0x27d4eb2f165667c5ull) * 0x85ebca77c2b2ae63ull + w[3] * 0x9e3779b97f4a7c15ull;
    }
    return (uint32_t)ksd_mix_fmix64(h);
}

static int key_eq(const struct ksd_flow_key *a, const struct ksd_flow_key *b)
{
    return a->family == b->family && a->proto == b->proto && a->port[0] == b->port[0] &&
           a->port[1] == b->port[1] && a->ctx == b->ctx &&
           memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/* Build the canonical key; returns which key side the packet's source is. */
static int make_key(const struct ksd_pkt *p, struct ksd_flow_key *k)
{
    memset(k, 0, sizeof(*k));
    k->family = p->family;
    k->proto = p->proto;
    k->ctx = p->ctx;
    size_t alen = p->family == 4 ? 4 : 16;
    int c;
    if (alen == 4) { /* the addresses as big-endian numbers: memcmp's order, no call */
        uint32_t a = (uint32_t)p->src[0] << 24 | (uint32_t)p->src[1] << 16 |
                     (uint32_t)p->src[2] << 8 | p->src[3];
        uint32_t b = (uint32_t)p->dst[0] << 24 | (uint32_t)p->dst[1] << 16 |
                     (uint32_t)p->dst[2] << 8 | p->dst[3];
        c = a < b ? -1 : a > b;
    } else {
        c = memcmp(p->src, p->dst, alen);
    }
    int src_side = (c < 0 || (c == 0 && p->sport <= p->dport)) ? 0 : 1;
    memcpy(k->addr[src_side], p->src, alen);
    memcpy(k->addr[!src_side], p->dst, alen);
    k->port[src_side] = p->sport;
    k->port[!src_side] = p->dport;
    return src_side;
}

/*
 * Memory for the bucket array and the record slabs: every packet touches a
 * random bucket and a random record, so these are the table's TLB misses.
 * n bytes in whole 2 MiB pages, 2 MiB-aligned and offered to transparent
 * huge pages (a hint; with THP off or unavailable the pages are ordinary
 * ones), zero: fresh anonymous memory, which the kernel zeroes page by page
 * on first touch rather than a memset of the whole table up front. NULL
 * when out of memory.
 */
static void *table_alloc(size_t n)
{
    size_t sz = (n + HUGE_SZ - 1) & ~(HUGE_SZ - 1);
    uint8_t *m =
        mmap(NULL, sz + HUGE_SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    /* one page more than needed, then the unaligned head and the rest of
     * the tail (never empty: p - m < HUGE_SZ) handed back */
    uint8_t *p = (uint8_t *)(((uintptr_t)m + HUGE_SZ - 1) & ~(uintptr_t)(HUGE_SZ - 1));
    if (p > m)
        munmap(m, (size_t)(p - m));
    munmap(p + sz, (size_t)(m + HUGE_SZ - p));
#ifdef MADV_HUGEPAGE
    (void)madvise(p, sz, MADV_HUGEPAGE);
#endif
    return p;
}

static void table_free(void *p, size_t n)
{
    if (p)
        munmap(p, (n + HUGE_SZ - 1) & ~(HUGE_SZ - 1));
}

static void lru_unlink(struct lru *l, struct ksd_flow *f)
{
    if (f->prev)
        f->prev->next = f->next;
    else
        l->head = f->next;
    if (f->next)
        f->next->prev = f->prev;
    else
        l->tail = f->prev;
    f->prev = f->next = NULL;
}

static void lru_append(struct lru *l, struct ksd_flow *f)
{
    f->next = NULL;
    f->prev = l->tail;
    if (l->tail)
        l->tail->next = f;
    else
        l->head = f;
    l->tail = f;
}

struct ksd_flow_table *ksd_flow_table_new(size_t max_flows, const struct ksd_flow_timeouts *t,
                                          ksd_flow_release_fn release, void *arg)
{
    struct ksd_flow_table *ft = ksd_zalloc_lines(sizeof(*ft)); /* LRU heads: written per packet */
    if (!ft)
        return NULL;
    if (max_flows < 16)
        max_flows = 16;
    size_t nb = 1024;
    while (nb < max_flows / 2 && nb < ((size_t)1 << 30))
        nb <<= 1;
    ft->buckets = table_alloc(nb * sizeof(*ft->buckets));
    if (!ft->buckets) {
        free(ft);
        return NULL;
    }
    ft->mask = (uint32_t)(nb - 1);
    ft->seed = ksd_mix_seed(ft);
    ft->max_flows = max_flows;
    ft->lists[KSD_FLOW_SHORT].timeout = t && t->short_us ? t->short_us : 30 * 1000000LL;
    ft->lists[KSD_FLOW_UDP].timeout = t && t->udp_us ? t->udp_us : 120 * 1000000LL;
    ft->lists[KSD_FLOW_LONG].timeout = t && t->long_us ? t->long_us : 600 * 1000000LL;
    ft->release = release;
    ft->arg = arg;
    return ft;
}

static struct ksd_flow *flow_alloc(struct ksd_flow_table *ft)
{
    if (!ft->free_list) {
        struct slab *s = table_alloc(sizeof(*s));
        if (!s)
            return NULL;
        s->next = ft->slabs;
        ft->slabs = s;
        for (size_t i = 0; i < KSD_FLOW_SLAB; i++) {
            s->recs[i].hnext = ft->free_list;
            ft->free_list = &s->recs[i];
        }
    }
    struct ksd_flow *f = ft->free_list;
    ft->free_list = f->hnext;
    if (ft->free_list) { /* the next new flow's record, a freed one anywhere: fetched now */
        __builtin_prefetch(ft->free_list, 1);
        __builtin_prefetch((const char *)ft->free_list + 64, 1);
    }
    memset(f, 0, sizeof(*f));
    return f;
}

/* f, out of its bucket and list: released to its owner, its record free. */
static void recycle(struct ksd_flow_table *ft, struct ksd_flow *f, int reason)
{
    if (ft->release)
        ft->release(f, reason, ft->arg);
    f->ext = NULL;
    f->hnext = ft->free_list;
    ft->free_list = f;
}

static void flow_remove(struct ksd_flow_table *ft, struct ksd_flow *f, int reason)
{
    struct ksd_flow **pp = &ft->buckets[f->hash & ft->mask];
    while (*pp && *pp != f)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = f->hnext;
    lru_unlink(&ft->lists[f->cls], f);
    recycle(ft, f, reason);
    ft->st.active--;
    if (ft->shared)
        ksd_budget_flows_add(ft->shared, -1);
    if (reason == KSD_FLOW_GONE_EXPIRED)
        ft->st.expired++;
    else if (reason == KSD_FLOW_GONE_EVICTED)
        ft->st.evicted++;
}

void ksd_flow_table_free(struct ksd_flow_table *ft)
{
    if (!ft)
        return;
    for (int c = 0; c < KSD_FLOW__CLASSES; c++)
        while (ft->lists[c].head)
            flow_remove(ft, ft->lists[c].head, KSD_FLOW_GONE_SHUTDOWN);
    while (ft->slabs) {
        struct slab *s = ft->slabs;
        ft->slabs = s->next;
        table_free(s, sizeof(*s));
    }
    table_free(ft->buckets, ((size_t)ft->mask + 1) * sizeof(*ft->buckets));
    free(ft);
}

static void evict_oldest(struct ksd_flow_table *ft)
{
    struct ksd_flow *victim = NULL;
    for (int c = 0; c < KSD_FLOW__CLASSES; c++) {
        struct ksd_flow *h = ft->lists[c].head;
        if (h && (!victim || h->last_us < victim->last_us))
            victim = h;
    }
    if (victim)
        flow_remove(ft, victim, KSD_FLOW_GONE_EVICTED);
}

static int choose_client(const struct ksd_pkt *p, int src_side)
{
    if (p->proto == 6) {
        uint8_t fl = p->tcp_flags;
        if ((fl & 0x02) && !(fl & 0x10))
            return src_side; /* SYN: the sender is the client */
        if ((fl & 0x02) && (fl & 0x10))
            return !src_side; /* SYN-ACK: the sender is the server */
    }
    int s_svc = ksd_flow_is_service_port(p->proto, p->sport);
    int d_svc = ksd_flow_is_service_port(p->proto, p->dport);
    if (d_svc && !s_svc)
        return src_side;
    if (s_svc && !d_svc)
        return !src_side;
    if (p->proto == 6 && s_svc && d_svc && p->sport != p->dport)
        return p->sport > p->dport ? src_side : !src_side;
    return src_side; /* the first sender */
}

void ksd_flow_prefetch(const struct ksd_flow_table *ft, const struct ksd_pkt *pkt,
                       struct ksd_flow_hint *hint)
{
    hint->side = make_key(pkt, &hint->key);
    hint->hash = key_hash(ft, &hint->key);
    __builtin_prefetch(&ft->buckets[hint->hash & ft->mask]);
}

void ksd_flow_prefetch_record(const struct ksd_flow_table *ft, const struct ksd_flow_hint *hint)
{
    const struct ksd_flow *f = ft->buckets[hint->hash & ft->mask];
    if (f) { /* a record is two cache lines (flow.c: the slab) */
        __builtin_prefetch(f);
        __builtin_prefetch((const char *)f + 64);
    }
}

struct ksd_flow *ksd_flow_lookup(struct ksd_flow_table *ft, const struct ksd_pkt *pkt, int64_t now,
                                 int *dir)
{
    return ksd_flow_lookup_hint(ft, pkt, now, dir, NULL);
}

struct ksd_flow *ksd_flow_lookup_hint(struct ksd_flow_table *ft, const struct ksd_pkt *pkt,
                                      int64_t now, int *dir, const struct ksd_flow_hint *hint)
{
    struct ksd_flow_key k;
    int src_side;
    uint32_t h;
    if (hint) {
        k = hint->key;
        src_side = hint->side;
        h = hint->hash;
    } else {
        src_side = make_key(pkt, &k);
        h = key_hash(ft, &k);
    }
    struct ksd_flow *f;
    for (f = ft->buckets[h & ft->mask]; f; f = f->hnext)
        if (f->hash == h && key_eq(&f->key, &k))
            break;
    if (f) {
        lru_unlink(&ft->lists[f->cls], f);
        lru_append(&ft->lists[f->cls], f);
        f->last_us = now;
        *dir = src_side == f->client ? 0 : 1;
        return f;
    }
    if (ft->shared ? ksd_budget_flows_full(ft->shared) : ft->st.active >= ft->max_flows)
        evict_oldest(ft); /* shared cap: this worker's own oldest (none: admitted anyway) */
    f = flow_alloc(ft);
    if (!f)
        return NULL;
    f->key = k;
    f->hash = h;
    f->first_us = f->last_us = now;
    f->client = (uint8_t)choose_client(pkt, src_side);
    f->cls = pkt->proto == 6 ? KSD_FLOW_SHORT : KSD_FLOW_UDP;
    if (pkt->proto == 6 && !(pkt->tcp_flags & 0x02))
        f->flags |= KSD_FLOW_F_MIDSTREAM;
    f->hnext = ft->buckets[h & ft->mask];
    ft->buckets[h & ft->mask] = f;
    lru_append(&ft->lists[f->cls], f);
    ft->st.created++;
    ft->st.active++;
    if (ft->shared)
        ksd_budget_flows_add(ft->shared, 1);
    if (ft->st.active > ft->st.peak)
        ft->st.peak = ft->st.active;
    *dir = src_side == f->client ? 0 : 1;
    return f;
}

static void set_class(struct ksd_flow_table *ft, struct ksd_flow *f, uint8_t cls)
{
    if (f->cls == cls)
        return;
    lru_unlink(&ft->lists[f->cls], f);
    f->cls = cls;
    lru_append(&ft->lists[cls], f);
}

void ksd_flow_tcp_update(struct ksd_flow_table *ft, struct ksd_flow *f, uint8_t fl, int dir)
{
    if (fl & 0x02)
        f->flags |= (fl & 0x10) ? KSD_FLOW_F_SYNACK : KSD_FLOW_F_SYN;
    if (fl & 0x01)
        f->flags |= dir == 0 ? KSD_FLOW_F_FIN_C : KSD_FLOW_F_FIN_S;
    if (fl & 0x04)
        f->flags |= KSD_FLOW_F_RST;
    uint8_t closing = (f->flags & KSD_FLOW_F_RST) ||
                      ((f->flags & KSD_FLOW_F_FIN_C) && (f->flags & KSD_FLOW_F_FIN_S));
    if (closing)
        set_class(ft, f, KSD_FLOW_SHORT);
    else if ((fl & 0x10) && !(fl & 0x02) && (f->pkts[0] + f->pkts[1]) >= 2)
        set_class(ft, f, KSD_FLOW_LONG);
}

void ksd_flow_expire(struct ksd_flow_table *ft, int64_t now)
{
    for (int c = 0; c < KSD_FLOW__CLASSES; c++) {
        struct lru *l = &ft->lists[c];
        while (l->head && l->head->last_us + l->timeout < now)
            flow_remove(ft, l->head, KSD_FLOW_GONE_EXPIRED);
    }
}

void ksd_flow_table_share(struct ksd_flow_table *ft, struct ksd_budget *b)
{
    ft->shared = b;
}

const struct ksd_flow_stats *ksd_flow_table_stats(const struct ksd_flow_table *ft)
{
    return &ft->st;
}

/*
 * Every flow goes, in the order flow_remove one by one would take them
 * (class, then least recently used first): each is released, then the
 * buckets are cleared at once instead of every chain walked (a cache miss
 * per flow at the end of a capture).
 */
void ksd_flow_flush(struct ksd_flow_table *ft)
{
    if (ft->st.active < ((uint64_t)ft->mask + 1) / 16) { /* a few: clearing all costs more */
        for (int c = 0; c < KSD_FLOW__CLASSES; c++)
            while (ft->lists[c].head)
                flow_remove(ft, ft->lists[c].head, KSD_FLOW_GONE_SHUTDOWN);
        return;
    }
    uint64_t gone = 0;
    for (int c = 0; c < KSD_FLOW__CLASSES; c++) {
        struct ksd_flow *f = ft->lists[c].head;
        ft->lists[c].head = ft->lists[c].tail = NULL;
        while (f) {
            struct ksd_flow *next = f->next;
            if (next)
                __builtin_prefetch(next);
            f->prev = f->next = NULL;
            recycle(ft, f, KSD_FLOW_GONE_SHUTDOWN);
            gone++;
            f = next;
        }
    }
    if (!gone)
        return;
    memset(ft->buckets, 0, ((size_t)ft->mask + 1) * sizeof(*ft->buckets));
    ft->st.active -= gone;
    if (ft->shared)
        ksd_budget_flows_add(ft->shared, -(int64_t)gone);
}

void ksd_flow_foreach(struct ksd_flow_table *ft, void (*fn)(struct ksd_flow *f, void *arg),
                      void *arg)
{
    for (int c = 0; c < KSD_FLOW__CLASSES; c++)
        for (struct ksd_flow *f = ft->lists[c].head; f; f = f->next)
            fn(f, arg);
}
