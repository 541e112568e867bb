/*
 * hosttable.c - `ksd --hosts`: one definition of a flagged host for the
 * table ksd prints and the one `ksd report` prints from Redis. The packet
 * path counts a host per event emitted (sensor/path/correlate.c, as the
 * Redis writer does), this file turns each record into a struct
 * ksd_report_host (site and known-hosts label, the machine's latest MAC
 * and name, verdict from the categories, first and last event, events per
 * evidence kind, top indicators weighted by the detections each event folds) and prints them with
 * ksd_report_write, in the report's order: newest last event first, then client address
 * (descending, as Redis orders equal scores).
 *
 * It does not read Redis and keeps nothing between runs.
 */
#include "sensor/hosttable.h"

#include <stdlib.h>
#include <string.h>

#include "sensor/analyst/report.h"
#include "sensor/path/correlate.h"
#include "sensor/path/pool.h"
#include "signatures/sig.h"

struct pair {
    struct ksd_addr client; /* the host */
    char ind[128];          /* indicator */
    uint64_t n;             /* its detections */
};

struct collect {
    struct ksd_report_host *h; /* records */
    size_t n;                  /* used */
    size_t cap;                /* allocated */
    struct pair *p;            /* (host, indicator) counters */
    size_t np;                 /* used */
    size_t pcap;               /* allocated */
    int oom;                   /* an allocation failed */
};

/* Room for one more element of size sz in *v (n used, *cap allocated). */
static int grow(void **v, size_t n, size_t *cap, size_t sz)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 64;
    void *p = realloc(*v, ncap * sz);
    if (!p)
        return -1;
    *v = p;
    *cap = ncap;
    return 0;
}

static int64_t seconds(int64_t us)
{
    return us >= 0 ? us / 1000000 : -((999999 - us) / 1000000);
}

static void convert(const struct ksd_corr_host *c, struct ksd_report_host *h)
{
    struct ksd_report_count ev[KSD_CORR_NEVIDENCE];
    size_t nev = 0, ncat, l = 0;
    memset(h, 0, sizeof(*h));
    ksd_addr_str(&c->addr, h->client, sizeof(h->client));
    snprintf(h->site, sizeof(h->site), "%s", c->site);
    snprintf(h->managed, sizeof(h->managed), "%s", c->managed);
    snprintf(h->mac, sizeof(h->mac), "%s", c->mac);
    snprintf(h->name, sizeof(h->name), "%s", c->name);
    snprintf(h->name_source, sizeof(h->name_source), "%s", c->name_source);
    const char *const *cats = ksd_sig_categories(&ncat);
    for (size_t i = 0; i < ncat && i < 32; i++) {
        if (!(c->catmask & (1u << i)))
            continue;
        int w =
            snprintf(h->categories + l, sizeof(h->categories) - l, "%s%s", l ? "," : "", cats[i]);
        if (w < 0 || (size_t)w >= sizeof(h->categories) - l)
            break;
        l += (size_t)w;
    }
    for (size_t i = 0; i < KSD_CORR_NEVIDENCE; i++) {
        if (!c->ev_n[i])
            continue;
        snprintf(ev[nev].name, sizeof(ev[nev].name), "%s", ksd_corr_evidence_name(i));
        ev[nev++].n = c->ev_n[i];
    }
    ksd_report_set_evidence(h, ev, nev);
    h->first_seen = seconds(c->first_us);
    h->last_seen = seconds(c->last_us);
    h->events = c->events;
    h->verdict = ksd_sig_verdict_of(h->categories);
}

static void add_host(void *arg, const struct ksd_corr_host *c)
{
    struct collect *k = arg;
    if (k->oom || grow((void **)&k->h, k->n, &k->cap, sizeof(k->h[0])) != 0) {
        k->oom = 1;
        return;
    }
    convert(c, &k->h[k->n++]);
}

static void add_indicator(void *arg, const struct ksd_addr *client, const char *ind, uint64_t n)
{
    struct collect *k = arg;
    if (k->oom || grow((void **)&k->p, k->np, &k->pcap, sizeof(k->p[0])) != 0) {
        k->oom = 1;
        return;
    }
    struct pair *x = &k->p[k->np++];
    x->client = *client;
    snprintf(x->ind, sizeof(x->ind), "%s", ind);
    x->n = n;
}

static int by_client(const void *a, const void *b)
{
    return strcmp(((const struct ksd_report_host *)a)->client,
                  ((const struct ksd_report_host *)b)->client);
}

/* Each host's top indicators from the counters (hosts sorted by client). */
static void fill_top(struct collect *k)
{
    struct ksd_report_host key;
    for (size_t i = 0; i < k->np; i++) {
        ksd_addr_str(&k->p[i].client, key.client, sizeof(key.client));
        struct ksd_report_host *h = bsearch(&key, k->h, k->n, sizeof(k->h[0]), by_client);
        if (h) /* else the host record was evicted */
            ksd_report_top_add(h, k->p[i].ind, k->p[i].n);
    }
}

static int newest_first(const void *a, const void *b)
{
    const struct ksd_report_host *x = a, *y = b;
    if (x->last_seen != y->last_seen)
        return x->last_seen < y->last_seen ? 1 : -1;
    return -strcmp(x->client, y->client);
}

long ksd_hosttable_write(struct ksd_pool *p, int fmt, FILE *out)
{
    struct collect k;
    memset(&k, 0, sizeof(k));
    struct ksd_corr_host_visit v = {add_host, add_indicator, &k};
    ksd_pool_hosts_each(p, &v);
    if (k.n && !k.oom) {
        qsort(k.h, k.n, sizeof(k.h[0]), by_client);
        fill_top(&k);
        qsort(k.h, k.n, sizeof(k.h[0]), newest_first);
    }
    long rc = k.oom ? -1 : (long)k.n;
    if (rc >= 0 && out &&
        ksd_report_write(out, (enum ksd_report_format)fmt, KSD_REPORT_PART_HOSTS, k.h, k.n, NULL,
                         0) != 0)
        rc = -1;
    free(k.h);
    free(k.p);
    return rc;
}
