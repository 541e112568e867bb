/*
 * sig_int.h - what the files of signatures/ share and nobody else sees: the
 * layout of struct ksd_sigset, the key hash table, the string arena and the
 * per-kind build steps. Not installed, not included outside signatures/.
 */
#ifndef KSD_SIG_INT_H
#define KSD_SIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "signatures/sig.h"

#define KSD_SIG_NCAT 11 /* entries of the category table in sig.c */

/* Key types of the hash table. The first five live in the final table; the
 * last two only in the loader's duplicate checks. */
enum ksd_sig_ktype {
    KSD_SIG_K_EXACT = 1, /* domain exact: key = name */
    KSD_SIG_K_SUFFIX,    /* domain suffix: key = name */
    KSD_SIG_K_WILD,      /* domain wild: key = fixed labels after the last '*' label */
    KSD_SIG_K_JA3,       /* key = md5 hex */
    KSD_SIG_K_JA4,       /* key = JA4 string */
    KSD_SIG_K_ID,        /* loader only: key = rule id */
    KSD_SIG_K_WILDFULL,  /* loader only: key = whole wild pattern */
};

/*
 * Open-addressing table of rule indices, linear probing. A slot is 0 (empty)
 * or ((rule index + 1) << 8 | 8-bit hash tag), so a probe rarely touches a
 * rule whose key differs. `ktype` is the fixed key type of every entry, or 0
 * when the type follows from the rule (ksd_sig_rule_ktype).
 */
struct ksd_sig_tab {
    uint32_t *slots; /* n slots */
    uint32_t n;      /* slot count, 0 when empty */
    uint32_t used;   /* filled slots */
    int ktype;       /* fixed enum ksd_sig_ktype, or 0 */
};

struct ksd_sig_chunk {
    struct ksd_sig_chunk *next; /* older chunk */
    size_t cap;                 /* bytes in data */
    size_t used;                /* bytes handed out */
    char data[];                /* the strings */
};

struct ksd_sig_pfx {
    uint8_t addr[16]; /* prefix, host bits zero; IPv4 uses the first 4 */
    uint8_t len;      /* prefix length */
    uint32_t rule;    /* rule index */
};

struct ksd_sig_pgrp {
    uint8_t len;    /* prefix length of this run */
    uint32_t start; /* first entry in the sorted prefix array */
    uint32_t end;   /* one past the last */
};

struct ksd_sig_pseg {
    uint16_t lo, hi; /* inclusive elementary port interval */
    uint32_t rule;   /* best (narrowest, then earliest) rule covering it */
};

struct ksd_sigset {
    struct ksd_rule *rules;                /* n rules, file order */
    size_t n;                              /* rule count */
    char version[KSD_SIG_MAX_VERSION + 1]; /* the version line's value */
    struct ksd_sig_tab tab;                /* domain, ja3, ja4 keys */
    size_t nwild;                          /* wild domain rules (0: skip wild probes) */
    struct ksd_sig_pfx *pfx[2];            /* [0] IPv4, [1] IPv6; by len desc, addr */
    size_t npfx[2];                        /* entries */
    struct ksd_sig_pgrp *pgrp[2];          /* one run per prefix length present */
    size_t npgrp[2];                       /* runs */
    struct ksd_sig_pseg *pseg[2];          /* [0] tcp, [1] udp; sorted, disjoint */
    size_t npseg[2];                       /* segments */
    uint32_t *scan[KSD_RULE__COUNT];       /* cert, http_path, http_ua rule indices */
    size_t nscan[KSD_RULE__COUNT];         /* entries */
    size_t count[KSD_RULE__COUNT];         /* rules per kind */
    size_t catcount[KSD_SIG_NCAT];         /* rules per category */
    struct ksd_sig_chunk *arena;           /* interned strings */
    size_t arena_bytes;                    /* bytes allocated for the arena */
};

/* ---- sig.c ---- */
const char *ksd_sig_category_lookup(const char *name, size_t *idx); /* static name or NULL */
void ksd_sig_reset(struct ksd_sigset *s); /* frees everything the set owns */
char *ksd_sig_arena_dup(struct ksd_sigset *s, const char *str, size_t n);
int ksd_sig_build_ports(struct ksd_sigset *s, int *bad_line, char *why, size_t cap);
int ksd_sig_parse_portspec(const char *p, uint8_t *proto, uint16_t *lo, uint16_t *hi);

/* ---- domain.c ---- */
uint32_t ksd_sig_hash(const char *s, size_t n); /* FNV-1a over the bytes, last byte first */
int ksd_sig_rule_ktype(const struct ksd_rule *r);
int ksd_sig_tab_insert(struct ksd_sig_tab *t, const struct ksd_rule *rules, uint32_t idx);
long ksd_sig_tab_find(const struct ksd_sig_tab *t, const struct ksd_rule *rules, int ktype,
                      const char *key, size_t klen);
int ksd_sig_tab_rebuild(struct ksd_sig_tab *t, const struct ksd_rule *rules, double load);
void ksd_sig_tab_free(struct ksd_sig_tab *t);
/* Validate and lower-case a domain pattern body in place; 0 or -1 with why. */
int ksd_sig_check_name(char *name, size_t len, int dmatch, char *why, size_t cap);
bool ksd_sig_domain_rule_matches(const struct ksd_rule *r, const char *name, size_t len);

/* ---- cidr.c ---- */
/* Parse "addr[/len]"; 0 or -1 with why. family gets 4 or 6. */
int ksd_sig_parse_cidr(const char *p, uint8_t addr[16], int *family, int *plen, char *why,
                       size_t cap);
int ksd_sig_build_cidr(struct ksd_sigset *s, int *bad_line, char *why, size_t cap);

#endif
