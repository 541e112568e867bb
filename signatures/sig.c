/*
 * sig.c - the parts of the signature set that are neither loading nor
 * domain/CIDR matching: the category table, the string arena, port-range
 * segments, the substring/path matchers, counters and teardown.
 *
 * Port rules are compiled per protocol into disjoint elementary intervals,
 * each labelled with the narrowest rule covering it (earliest line on a
 * tie), so a lookup is one binary search. Certificate, path and User-Agent
 * rules are few (KSD_SIG_MAX_SCAN_RULES each) and are scanned linearly; the
 * longest matching pattern wins.
 *
 * What it does not do: I/O, logging, or any packet parsing.
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "dissectors/ksd.h"
#include "signatures/sig_int.h"

#define ARENA_CHUNK 65536

/* Keep in sync with signatures/README.md ("Categories"). */
static const char *const categories[KSD_SIG_NCAT] = {
    "update",   "telemetry", "activation", "revocation", "management",     "product",
    "download", "website",   "oem",        "proxy",      "infrastructure",
};

bool ksd_sig_category_is_product(const char *name, size_t len)
{
    static const char *const product[] = {"update",     "telemetry", "activation", "revocation",
                                          "management", "product",   "oem"};
    for (size_t i = 0; i < sizeof(product) / sizeof(product[0]); i++)
        if (strlen(product[i]) == len && memcmp(product[i], name, len) == 0)
            return true;
    return false;
}

/* What one category says about a host: 0 a running product, 1 a website
 * visit, 2 anything else (addresses, downloads, proxies, unknown names). */
static int category_class(const char *name, size_t len)
{
    if (ksd_sig_category_is_product(name, len))
        return 0;
    if (len == 7 && memcmp(name, "website", 7) == 0)
        return 1;
    return 2;
}

/* The verdict rule: product evidence wins; website evidence alone is
 * website-only; anything else (or nothing) is suspected. */
static enum ksd_sig_verdict verdict_fold(int seen[3])
{
    if (seen[0])
        return KSD_SIG_VERDICT_PRODUCT;
    if (seen[1] && !seen[2])
        return KSD_SIG_VERDICT_WEBSITE_ONLY;
    return KSD_SIG_VERDICT_SUSPECTED;
}

enum ksd_sig_verdict ksd_sig_verdict_of(const char *list)
{
    int seen[3] = {0, 0, 0};
    const char *p = list ? list : "";
    for (size_t guard = 0; *p && guard < KSD_SIG_MAX_VERDICT_CATS; guard++) {
        while (*p == ',' || *p == ' ')
            p++;
        const char *s = p;
        while (*p && *p != ',')
            p++;
        size_t n = (size_t)(p - s);
        while (n && s[n - 1] == ' ')
            n--;
        if (n)
            seen[category_class(s, n)] = 1;
    }
    return verdict_fold(seen);
}

enum ksd_sig_verdict ksd_sig_verdict_of_mask(uint32_t catmask)
{
    int seen[3] = {0, 0, 0};
    for (size_t i = 0; i < KSD_SIG_NCAT && i < 32; i++)
        if (catmask & (1u << i))
            seen[category_class(categories[i], strlen(categories[i]))] = 1;
    return verdict_fold(seen);
}

const char *ksd_sig_verdict_name(enum ksd_sig_verdict v)
{
    switch (v) {
        case KSD_SIG_VERDICT_PRODUCT:
            return "product";
        case KSD_SIG_VERDICT_WEBSITE_ONLY:
            return "website-only";
        case KSD_SIG_VERDICT_SUSPECTED:
            break;
    }
    return "suspected";
}

int ksd_sig_verdict_parse(const char *s, enum ksd_sig_verdict *out)
{
    static const enum ksd_sig_verdict all[] = {
        KSD_SIG_VERDICT_PRODUCT, KSD_SIG_VERDICT_WEBSITE_ONLY, KSD_SIG_VERDICT_SUSPECTED};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (s && strcmp(s, ksd_sig_verdict_name(all[i])) == 0) {
            *out = all[i];
            return KSD_OK;
        }
    }
    return KSD_EINVAL;
}

const char *const *ksd_sig_categories(size_t *n)
{
    if (n != NULL)
        *n = KSD_SIG_NCAT;
    return categories;
}

const char *ksd_sig_category_lookup(const char *name, size_t *idx)
{
    for (size_t i = 0; i < KSD_SIG_NCAT; i++) {
        if (strcmp(categories[i], name) == 0) {
            if (idx != NULL)
                *idx = i;
            return categories[i];
        }
    }
    return NULL;
}

char *ksd_sig_arena_dup(struct ksd_sigset *s, const char *str, size_t n)
{
    struct ksd_sig_chunk *c = s->arena;
    if (c == NULL || c->cap - c->used < n + 1) {
        /* chunks grow with the arena (small sets stay small), up to ARENA_CHUNK */
        size_t cap = s->arena_bytes < 1024 ? 1024 : s->arena_bytes;
        if (cap > ARENA_CHUNK)
            cap = ARENA_CHUNK;
        if (cap < n + 1)
            cap = n + 1;
        c = malloc(sizeof(*c) + cap);
        if (c == NULL)
            return NULL;
        c->next = s->arena;
        c->cap = cap;
        c->used = 0;
        s->arena = c;
        s->arena_bytes += sizeof(*c) + cap;
    }
    char *p = c->data + c->used;
    memcpy(p, str, n);
    p[n] = '\0';
    c->used += n + 1;
    return p;
}

void ksd_sig_reset(struct ksd_sigset *s)
{
    free(s->rules);
    ksd_sig_tab_free(&s->tab);
    for (int f = 0; f < 2; f++) {
        free(s->pfx[f]);
        free(s->pgrp[f]);
        free(s->pseg[f]);
    }
    for (int k = 0; k < KSD_RULE__COUNT; k++)
        free(s->scan[k]);
    while (s->arena != NULL) {
        struct ksd_sig_chunk *next = s->arena->next;
        free(s->arena);
        s->arena = next;
    }
    memset(s, 0, sizeof(*s));
}

void ksd_sig_free(struct ksd_sigset *s)
{
    if (s == NULL)
        return;
    ksd_sig_reset(s);
    free(s);
}

const char *ksd_sig_version(const struct ksd_sigset *s)
{
    return s ? s->version : NULL;
}

size_t ksd_sig_count(const struct ksd_sigset *s, int kind)
{
    if (s == NULL)
        return 0;
    if (kind == -1)
        return s->n;
    if (kind < 0 || kind >= KSD_RULE__COUNT)
        return 0;
    return s->count[kind];
}

size_t ksd_sig_count_category(const struct ksd_sigset *s, const char *category)
{
    size_t idx;
    if (s == NULL || category == NULL || ksd_sig_category_lookup(category, &idx) == NULL)
        return 0;
    return s->catcount[idx];
}

const struct ksd_rule *ksd_sig_rule_at(const struct ksd_sigset *s, size_t i)
{
    return (s != NULL && i < s->n) ? &s->rules[i] : NULL;
}

size_t ksd_sig_memory(const struct ksd_sigset *s)
{
    if (s == NULL)
        return 0;
    size_t m = sizeof(*s) + s->n * sizeof(*s->rules) + s->arena_bytes;
    m += (size_t)s->tab.n * sizeof(*s->tab.slots);
    for (int f = 0; f < 2; f++) {
        m += s->npfx[f] * sizeof(*s->pfx[f]);
        m += (s->pgrp[f] ? (f ? 128 : 32) : 0) * sizeof(*s->pgrp[f]);
        m += s->npseg[f] * sizeof(*s->pseg[f]);
    }
    for (int k = 0; k < KSD_RULE__COUNT; k++)
        m += s->nscan[k] * sizeof(*s->scan[k]);
    return m;
}

/* ------------------------------------------------------------------------ */
/* Ports                                                                     */

static int parse_u16(const char *p, size_t n, uint16_t *out)
{
    uint32_t v = 0;
    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!ksd_is_digit((uint8_t)p[i]))
            return -1;
        v = v * 10 + (uint32_t)(p[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

/* "tcp/13000" or "udp/23100-23199" -> proto 6/17 and inclusive range. */
int ksd_sig_parse_portspec(const char *p, uint8_t *proto, uint16_t *lo, uint16_t *hi)
{
    if (strncmp(p, "tcp/", 4) == 0)
        *proto = 6;
    else if (strncmp(p, "udp/", 4) == 0)
        *proto = 17;
    else
        return -1;
    p += 4;
    const char *dash = strchr(p, '-');
    if (dash == NULL) {
        if (parse_u16(p, strlen(p), lo) != 0)
            return -1;
        *hi = *lo;
        return 0;
    }
    if (parse_u16(p, (size_t)(dash - p), lo) != 0 || parse_u16(dash + 1, strlen(dash + 1), hi))
        return -1;
    return *lo <= *hi ? 0 : -1;
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : (x > y);
}

/* Rule a is a better port match than b: narrower, then earlier. */
static bool port_better(const struct ksd_rule *a, const struct ksd_rule *b)
{
    unsigned wa = (unsigned)a->port_hi - a->port_lo, wb = (unsigned)b->port_hi - b->port_lo;
    return wa != wb ? wa < wb : a->line < b->line;
}

int ksd_sig_build_ports(struct ksd_sigset *s, int *bad_line, char *why, size_t cap)
{
    uint32_t *idx = s->scan[KSD_RULE_PORT];
    size_t n = s->nscan[KSD_RULE_PORT];
    uint32_t *bounds = NULL;
    int rc = KSD_OK;

    /* Identical ranges on one protocol make the answer depend on file order. */
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            const struct ksd_rule *a = &s->rules[idx[i]], *b = &s->rules[idx[j]];
            if (a->proto == b->proto && a->port_lo == b->port_lo && a->port_hi == b->port_hi) {
                *bad_line = a->line;
                snprintf(why, cap, "duplicate port range %s (also rule '%s' at line %d)",
                         a->pattern, b->id, b->line);
                return KSD_EINVAL;
            }
        }
    }
    if (n == 0)
        return KSD_OK;
    bounds = malloc(2 * n * sizeof(*bounds));
    if (bounds == NULL)
        return KSD_ENOMEM;
    for (int f = 0; f < 2; f++) {
        uint8_t proto = f ? 17 : 6;
        size_t nb = 0;
        for (size_t i = 0; i < n; i++) {
            const struct ksd_rule *r = &s->rules[idx[i]];
            if (r->proto != proto)
                continue;
            bounds[nb++] = r->port_lo;
            bounds[nb++] = (uint32_t)r->port_hi + 1;
        }
        if (nb == 0)
            continue;
        qsort(bounds, nb, sizeof(*bounds), u32_cmp);
        s->pseg[f] = calloc(nb, sizeof(*s->pseg[f]));
        if (s->pseg[f] == NULL) {
            rc = KSD_ENOMEM;
            goto out;
        }
        for (size_t b = 0; b + 1 < nb; b++) {
            uint32_t lo = bounds[b], hi = bounds[b + 1];
            if (lo == hi)
                continue;
            const struct ksd_rule *best = NULL;
            uint32_t best_i = 0;
            for (size_t i = 0; i < n; i++) {
                const struct ksd_rule *r = &s->rules[idx[i]];
                if (r->proto != proto || r->port_lo > lo || r->port_hi < hi - 1)
                    continue;
                if (best == NULL || port_better(r, best)) {
                    best = r;
                    best_i = idx[i];
                }
            }
            if (best == NULL)
                continue;
            struct ksd_sig_pseg *seg = &s->pseg[f][s->npseg[f]++];
            seg->lo = (uint16_t)lo;
            seg->hi = (uint16_t)(hi - 1);
            seg->rule = best_i;
        }
    }
out:
    free(bounds);
    return rc;
}

const struct ksd_rule *ksd_sig_match_port(const struct ksd_sigset *s, uint8_t proto, uint16_t port)
{
    if (s == NULL || (proto != 6 && proto != 17))
        return NULL;
    int f = proto == 17;
    size_t lo = 0, hi = s->npseg[f];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct ksd_sig_pseg *seg = &s->pseg[f][mid];
        if (port < seg->lo)
            hi = mid;
        else if (port > seg->hi)
            lo = mid + 1;
        else
            return &s->rules[seg->rule];
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Substring and path matchers                                               */

/* ASCII case-insensitive: does hay contain needle? */
static bool icontains(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    if (nl == 0)
        return false;
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < nl && hay[i] != '\0' &&
               ksd_ascii_lower((uint8_t)hay[i]) == ksd_ascii_lower((uint8_t)needle[i]))
            i++;
        if (i == nl)
            return true;
        if (hay[i] == '\0')
            return false;
    }
    return false;
}

static bool iequal_n(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ksd_ascii_lower((uint8_t)a[i]) != ksd_ascii_lower((uint8_t)b[i]))
            return false;
    }
    return true;
}

/* Longer pattern wins, then the earlier line. */
static bool longer(const struct ksd_rule *a, const struct ksd_rule *b)
{
    size_t la = strlen(a->pattern), lb = strlen(b->pattern);
    return la != lb ? la > lb : a->line < b->line;
}

const struct ksd_rule *ksd_sig_match_cert(const struct ksd_sigset *s, const char *subject,
                                          const char *issuer)
{
    const struct ksd_rule *best = NULL;
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < s->nscan[KSD_RULE_CERT]; i++) {
        const struct ksd_rule *r = &s->rules[s->scan[KSD_RULE_CERT][i]];
        bool hit = false;
        if (subject != NULL && r->match != KSD_SIG_CERT_ISSUER)
            hit = icontains(subject, r->pattern);
        if (!hit && issuer != NULL && r->match != KSD_SIG_CERT_SUBJECT)
            hit = icontains(issuer, r->pattern);
        if (hit && (best == NULL || longer(r, best)))
            best = r;
    }
    return best;
}

const struct ksd_rule *ksd_sig_match_http_ua(const struct ksd_sigset *s, const char *ua)
{
    const struct ksd_rule *best = NULL;
    if (s == NULL || ua == NULL)
        return NULL;
    for (size_t i = 0; i < s->nscan[KSD_RULE_HTTP_UA]; i++) {
        const struct ksd_rule *r = &s->rules[s->scan[KSD_RULE_HTTP_UA][i]];
        if (icontains(ua, r->pattern) && (best == NULL || longer(r, best)))
            best = r;
    }
    return best;
}

const struct ksd_rule *ksd_sig_match_http_path(const struct ksd_sigset *s, const char *host,
                                               const char *path)
{
    const struct ksd_rule *best = NULL;
    if (s == NULL || path == NULL)
        return NULL;
    size_t plen = strlen(path);
    size_t bare = strcspn(path, "?#"); /* suffix rules look at the path without query */
    size_t hlen = host ? strlen(host) : 0;
    for (size_t i = 0; i < s->nscan[KSD_RULE_HTTP_PATH]; i++) {
        const struct ksd_rule *r = &s->rules[s->scan[KSD_RULE_HTTP_PATH][i]];
        size_t n = strlen(r->pattern);
        bool hit;
        if (r->match == KSD_SIG_PATH_PREFIX)
            hit = n <= plen && iequal_n(path, r->pattern, n);
        else
            hit = n <= bare && iequal_n(path + bare - n, r->pattern, n);
        if (!hit || (best != NULL && !longer(r, best)))
            continue;
        if (r->host != NULL && (host == NULL || !ksd_sig_host_allowed(r, host, hlen)))
            continue;
        best = r;
    }
    return best;
}
