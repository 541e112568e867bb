/*
 * domain.c - the key hash table and the domain-name matcher.
 *
 * One open-addressing table holds every string key that is looked up by
 * equality: exact names, suffix names, the fixed tail of wildcard patterns
 * (the labels after the last label that holds a '*'), JA3 and JA4 strings.
 * The hash is FNV-1a taken over the key from its last byte to its first, so
 * that hashing a name once from the right yields the hash of every
 * label-boundary suffix on the way: matching a name costs one pass over its
 * bytes plus one probe per label and key type, whatever the number of rules.
 *
 * Precedence (documented in signatures/README.md): an exact rule beats a
 * wildcard rule, which beats a suffix rule; among suffix rules the longest
 * wins; among wildcard rules the longest fixed tail, then the most literal
 * characters, then the earliest line. A '*' matches one or more characters
 * of one label and never a dot.
 *
 * What it does not do: IDNA/punycode conversion (names are compared as the
 * ASCII bytes seen on the wire), or any packet parsing.
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "dissectors/ksd.h"
#include "signatures/sig_int.h"

uint32_t ksd_sig_hash(const char *s, size_t n)
{
    uint32_t h = KSD_FNV1A_BASIS;
    while (n > 0) {
        n--;
        h = ksd_fnv1a_byte(h, (uint8_t)s[n]);
    }
    return h;
}

/* Mix the key type in and spread the bits (murmur3 finaliser). */
static uint32_t hfinal(uint32_t h, int ktype)
{
    h ^= (uint32_t)ktype * 0x9e3779b1u;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

int ksd_sig_rule_ktype(const struct ksd_rule *r)
{
    switch (r->kind) {
        case KSD_RULE_DOMAIN:
            if (r->match == KSD_SIG_EXACT)
                return KSD_SIG_K_EXACT;
            if (r->match == KSD_SIG_SUFFIX)
                return KSD_SIG_K_SUFFIX;
            return KSD_SIG_K_WILD;
        case KSD_RULE_JA3:
            return KSD_SIG_K_JA3;
        case KSD_RULE_JA4:
            return KSD_SIG_K_JA4;
        default:
            return 0;
    }
}

/* The fixed tail of a wildcard pattern: the text after the first dot that
 * follows the last '*'. The loader guarantees such a dot exists. */
static const char *wild_tail(const char *pat)
{
    const char *star = strrchr(pat, '*');
    const char *dot = star ? strchr(star, '.') : NULL;
    return dot ? dot + 1 : pat;
}

static const char *rule_key(const struct ksd_rule *r, int ktype)
{
    switch (ktype) {
        case KSD_SIG_K_ID:
            return r->id;
        case KSD_SIG_K_WILD:
            return wild_tail(r->pattern);
        default:
            return r->pattern;
    }
}

/* key[0..klen) equals the NUL-terminated stored string. */
static bool key_eq(const char *stored, const char *key, size_t klen)
{
    for (size_t i = 0; i < klen; i++) {
        if (stored[i] != key[i] || stored[i] == '\0')
            return false;
    }
    return stored[klen] == '\0';
}

static uint32_t slot_pos(uint32_t f, uint32_t n)
{
    return (uint32_t)(((uint64_t)f * n) >> 32);
}

static void raw_insert(uint32_t *slots, uint32_t n, uint32_t idx, uint32_t f)
{
    uint32_t pos = slot_pos(f, n);
    while (slots[pos] != 0)
        pos = (pos + 1 == n) ? 0 : pos + 1;
    slots[pos] = ((idx + 1) << 8) | (f & 0xffu);
}

static int entry_ktype(const struct ksd_sig_tab *t, const struct ksd_rule *r)
{
    return t->ktype ? t->ktype : ksd_sig_rule_ktype(r);
}

static uint32_t entry_hash(const struct ksd_sig_tab *t, const struct ksd_rule *r)
{
    int kt = entry_ktype(t, r);
    const char *k = rule_key(r, kt);
    return hfinal(ksd_sig_hash(k, strlen(k)), kt);
}

static int resize(struct ksd_sig_tab *t, const struct ksd_rule *rules, uint32_t n)
{
    uint32_t *ns = calloc(n, sizeof(*ns));
    if (ns == NULL)
        return KSD_ENOMEM;
    for (uint32_t i = 0; i < t->n; i++) {
        uint32_t v = t->slots[i];
        if (v == 0)
            continue;
        uint32_t idx = (v >> 8) - 1;
        raw_insert(ns, n, idx, entry_hash(t, &rules[idx]));
    }
    free(t->slots);
    t->slots = ns;
    t->n = n;
    return KSD_OK;
}

int ksd_sig_tab_insert(struct ksd_sig_tab *t, const struct ksd_rule *rules, uint32_t idx)
{
    if ((uint64_t)(t->used + 1) * 2 > t->n) {
        uint32_t n = t->n ? t->n * 2 : 64;
        int rc = resize(t, rules, n);
        if (rc != KSD_OK)
            return rc;
    }
    raw_insert(t->slots, t->n, idx, entry_hash(t, &rules[idx]));
    t->used++;
    return KSD_OK;
}

int ksd_sig_tab_rebuild(struct ksd_sig_tab *t, const struct ksd_rule *rules, double load)
{
    uint64_t n = (uint64_t)((double)t->used / load) + 1;
    if (n < 8)
        n = 8;
    if (n > UINT32_MAX)
        return KSD_ENOMEM;
    return resize(t, rules, (uint32_t)n);
}

void ksd_sig_tab_free(struct ksd_sig_tab *t)
{
    free(t->slots);
    t->slots = NULL;
    t->n = t->used = 0;
}

/* Probe from *pos for the next entry of ktype whose key is key[0..klen);
 * returns its rule index or -1. `f` is hfinal(hash, ktype). */
static long probe_next(const struct ksd_sig_tab *t, const struct ksd_rule *rules, int ktype,
                       const char *key, size_t klen, uint32_t f, uint32_t *pos)
{
    uint32_t tag = f & 0xffu;
    for (uint32_t steps = 0; steps < t->n; steps++) {
        uint32_t v = t->slots[*pos];
        if (v == 0)
            return -1;
        *pos = (*pos + 1 == t->n) ? 0 : *pos + 1;
        if ((v & 0xffu) != tag)
            continue;
        const struct ksd_rule *r = &rules[(v >> 8) - 1];
        if (entry_ktype(t, r) == ktype && key_eq(rule_key(r, ktype), key, klen))
            return (long)((v >> 8) - 1);
    }
    return -1;
}

static long find_h(const struct ksd_sig_tab *t, const struct ksd_rule *rules, int ktype,
                   const char *key, size_t klen, uint32_t h)
{
    if (t->n == 0)
        return -1;
    uint32_t f = hfinal(h, ktype);
    uint32_t pos = slot_pos(f, t->n);
    return probe_next(t, rules, ktype, key, klen, f, &pos);
}

long ksd_sig_tab_find(const struct ksd_sig_tab *t, const struct ksd_rule *rules, int ktype,
                      const char *key, size_t klen)
{
    return find_h(t, rules, ktype, key, klen, ksd_sig_hash(key, klen));
}

/* ------------------------------------------------------------------------ */
/* Pattern validation                                                        */

static bool name_char(uint8_t c)
{
    return ksd_is_ldh(c) || c == '_';
}

int ksd_sig_check_name(char *name, size_t len, int dmatch, char *why, size_t cap)
{
    size_t labels = 0, stars = 0, last_star_label = 0;
    if (len == 0) {
        snprintf(why, cap, "empty domain name");
        return -1;
    }
    if (len > KSD_SIG_MAX_NAME) {
        snprintf(why, cap, "domain name longer than %d bytes", KSD_SIG_MAX_NAME);
        return -1;
    }
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || name[i] == '.') {
            size_t ll = i - start;
            size_t star_here = 0;
            if (ll == 0) {
                snprintf(why, cap, "empty label in domain name (leading, trailing or double dot)");
                return -1;
            }
            if (ll > 63) {
                snprintf(why, cap, "label longer than 63 bytes in domain name");
                return -1;
            }
            for (size_t j = start; j < i; j++)
                star_here += name[j] == '*';
            labels++;
            if (star_here > 1) {
                snprintf(why, cap, "more than one '*' in one label");
                return -1;
            }
            if (star_here) {
                stars++;
                last_star_label = labels;
            }
            start = i + 1;
            continue;
        }
        uint8_t c = ksd_ascii_lower((uint8_t)name[i]);
        name[i] = (char)c;
        if (c == '*') {
            if (dmatch != KSD_SIG_WILD) {
                snprintf(why, cap, "'*' is only allowed in wild: patterns");
                return -1;
            }
            continue;
        }
        if (!name_char(c)) {
            if (ksd_is_print(c))
                snprintf(why, cap, "bad character '%c' in domain name", c);
            else
                snprintf(why, cap, "bad byte 0x%02x in domain name", c);
            return -1;
        }
    }
    if (labels > KSD_SIG_MAX_LABELS) {
        snprintf(why, cap, "more than %d labels in domain name", KSD_SIG_MAX_LABELS);
        return -1;
    }
    if (dmatch == KSD_SIG_WILD) {
        if (stars == 0) {
            snprintf(why, cap, "wild: pattern without '*' (use exact: or suffix:)");
            return -1;
        }
        if (labels - last_star_label < 2) {
            snprintf(why, cap,
                     "'*' in the last two labels (a wildcard needs a fixed parent "
                     "domain of at least two labels)");
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Matching                                                                  */

/* Label-by-label wildcard match; both strings lower-case, name of n bytes. */
static bool wild_match(const char *pat, const char *name, size_t n)
{
    size_t i = 0;
    for (;;) {
        const char *pe = strchr(pat, '.');
        size_t pl = pe ? (size_t)(pe - pat) : strlen(pat);
        size_t j = i;
        while (j < n && name[j] != '.')
            j++;
        size_t sl = j - i;
        const char *s = name + i;
        const char *star = memchr(pat, '*', pl);
        if (star == NULL) {
            if (sl != pl || memcmp(pat, s, pl) != 0)
                return false;
        } else {
            size_t pre = (size_t)(star - pat), post = pl - pre - 1;
            if (sl < pre + post + 1 || memcmp(pat, s, pre) != 0 ||
                memcmp(star + 1, s + sl - post, post) != 0)
                return false;
        }
        if (pe == NULL)
            return j == n;
        if (j == n)
            return false;
        pat = pe + 1;
        i = j + 1;
    }
}

/* Literal characters of a wildcard pattern (tie-break: more is more specific). */
static size_t literal_len(const char *pat)
{
    size_t n = 0;
    for (; *pat; pat++)
        n += *pat != '*';
    return n;
}

bool ksd_sig_domain_rule_matches(const struct ksd_rule *r, const char *name, size_t len)
{
    char buf[KSD_SIG_MAX_NAME + 1];
    if (r == NULL || r->kind != KSD_RULE_DOMAIN || name == NULL)
        return false;
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > KSD_SIG_MAX_NAME)
        return false;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)name[i];
        if (c < 0x21 || c > 0x7e)
            return false;
        buf[i] = (char)ksd_ascii_lower(c);
    }
    buf[len] = '\0';
    size_t pl = strlen(r->pattern);
    switch (r->match) {
        case KSD_SIG_EXACT:
            return pl == len && memcmp(r->pattern, buf, len) == 0;
        case KSD_SIG_SUFFIX:
            if (pl == len)
                return memcmp(r->pattern, buf, len) == 0;
            return pl < len && buf[len - pl - 1] == '.' &&
                   memcmp(r->pattern, buf + len - pl, pl) == 0;
        case KSD_SIG_WILD:
            return wild_match(r->pattern, buf, len);
        default:
            return false;
    }
}

bool ksd_sig_host_allowed(const struct ksd_rule *rule, const char *host, size_t len)
{
    if (rule == NULL)
        return false;
    if (rule->host == NULL)
        return true;
    return ksd_sig_domain_rule_matches(rule->host, host, len);
}

/* Best wildcard rule whose fixed tail is key[0..klen) and that matches the
 * whole name; -1 if none. */
static long best_wild(const struct ksd_sigset *s, const char *name, size_t len, size_t off,
                      uint32_t h)
{
    const struct ksd_sig_tab *t = &s->tab;
    uint32_t f = hfinal(h, KSD_SIG_K_WILD);
    uint32_t pos = slot_pos(f, t->n);
    long best = -1;
    size_t best_lit = 0;
    long idx;
    while ((idx = probe_next(t, s->rules, KSD_SIG_K_WILD, name + off, len - off, f, &pos)) >= 0) {
        const struct ksd_rule *r = &s->rules[idx];
        if (!wild_match(r->pattern, name, len))
            continue;
        size_t lit = literal_len(r->pattern);
        if (best < 0 || lit > best_lit || (lit == best_lit && r->line < s->rules[best].line)) {
            best = idx;
            best_lit = lit;
        }
    }
    return best;
}

const struct ksd_rule *ksd_sig_match_domain(const struct ksd_sigset *s, const char *name,
                                            size_t len)
{
    char buf[KSD_SIG_MAX_NAME + 1];
    uint32_t hs[KSD_SIG_MAX_LABELS + 1];
    uint16_t at[KSD_SIG_MAX_LABELS + 1];
    size_t nb = 0;

    if (s == NULL || name == NULL || s->tab.n == 0)
        return NULL;
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > KSD_SIG_MAX_NAME)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)name[i];
        if (c < 0x21 || c > 0x7e)
            return NULL;
        buf[i] = (char)ksd_ascii_lower(c);
    }
    buf[len] = '\0';

    /* Hash from the right; record the hash at every label start. */
    uint32_t h = KSD_FNV1A_BASIS;
    for (size_t i = len; i > 0; i--) {
        h = ksd_fnv1a_byte(h, (uint8_t)buf[i - 1]);
        if (i - 1 == 0 || buf[i - 2] == '.') {
            if (nb == KSD_ARRAY_LEN(hs))
                return NULL; /* more labels than any name may have */
            at[nb] = (uint16_t)(i - 1);
            hs[nb] = h;
            nb++;
        }
    }
    /* at[nb-1] == 0 is the whole name; at[0] is the last label. */
    long idx = find_h(&s->tab, s->rules, KSD_SIG_K_EXACT, buf, len, hs[nb - 1]);
    if (idx >= 0)
        return &s->rules[idx];

    long suffix = -1;
    for (size_t k = nb; k > 0; k--) {
        size_t off = at[k - 1];
        if (s->nwild > 0 && off > 0) {
            long w = best_wild(s, buf, len, off, hs[k - 1]);
            if (w >= 0)
                return &s->rules[w];
        }
        if (suffix < 0)
            suffix = find_h(&s->tab, s->rules, KSD_SIG_K_SUFFIX, buf + off, len - off, hs[k - 1]);
        if (suffix >= 0 && s->nwild == 0)
            break;
    }
    return suffix >= 0 ? &s->rules[suffix] : NULL;
}

/* JA3/JA4: lower-case copy, then one probe. */
static const struct ksd_rule *match_fp(const struct ksd_sigset *s, int ktype, const char *fp)
{
    char buf[64];
    size_t n = 0;
    if (s == NULL || fp == NULL || s->tab.n == 0)
        return NULL;
    for (; fp[n] != '\0'; n++) {
        if (n == sizeof(buf))
            return NULL;
        buf[n] = (char)ksd_ascii_lower((uint8_t)fp[n]);
    }
    long idx = ksd_sig_tab_find(&s->tab, s->rules, ktype, buf, n);
    return idx >= 0 ? &s->rules[idx] : NULL;
}

const struct ksd_rule *ksd_sig_match_ja3(const struct ksd_sigset *s, const char *md5hex)
{
    return match_fp(s, KSD_SIG_K_JA3, md5hex);
}

const struct ksd_rule *ksd_sig_match_ja4(const struct ksd_sigset *s, const char *ja4)
{
    return match_fp(s, KSD_SIG_K_JA4, ja4);
}
