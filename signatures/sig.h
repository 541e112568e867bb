/*
 * sig.h - indicator rules: the line-oriented rule file (signatures/README.md
 * documents the format), its loader, and the compiled matchers.
 *
 * A struct ksd_sigset is built once by ksd_sig_load_file/ksd_sig_load_buf and
 * is immutable afterwards: worker threads share it read-only and call the
 * match functions concurrently without locks. A reload builds a new set and
 * swaps a pointer; the old set is freed with ksd_sig_free once no thread
 * uses it any more. Every `const struct ksd_rule *` and every string a rule
 * points to lives exactly as long as its set.
 *
 * This module knows nothing about packets; the only I/O it does is reading
 * the rule file in ksd_sig_load_file. It never logs: errors come back in a
 * struct ksd_sig_error that the caller prints as "FILE:LINE: reason".
 */
#ifndef KSD_SIG_H
#define KSD_SIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KSD_SIG_MAX_RULES      (1u << 22)   /* rules per set (slot encoding holds 24 bits) */
#define KSD_SIG_MAX_LINE       65536        /* bytes per rule-file line, CR/LF excluded */
#define KSD_SIG_MAX_FILE       (256u << 20) /* bytes per rule file */
#define KSD_SIG_MAX_SCAN_RULES 1024 /* port, cert, http_path, http_ua rules each (linear scans) */
#define KSD_SIG_MAX_NAME       253  /* domain name length, no trailing dot */
#define KSD_SIG_MAX_LABELS     127  /* labels in a domain name */
#define KSD_SIG_MAX_ID         63   /* rule id length (events carry 64 bytes) */
#define KSD_SIG_MAX_VERSION    63   /* version string length */

enum ksd_rule_kind {
    KSD_RULE_DOMAIN,    /* DNS qname, SNI, HTTP Host: exact / suffix / wildcard name */
    KSD_RULE_CIDR,      /* server address in an IPv4/IPv6 prefix (longest prefix wins) */
    KSD_RULE_PORT,      /* proto + port range + direction, optional prerequisite flow */
    KSD_RULE_JA3,       /* JA3 md5, 32 lower-case hex digits */
    KSD_RULE_JA4,       /* FoxIO JA4 a_b_c string */
    KSD_RULE_CERT,      /* substring of a certificate subject and/or issuer DN */
    KSD_RULE_HTTP_PATH, /* HTTP request path prefix or suffix, optionally bound to a host */
    KSD_RULE_HTTP_UA,   /* substring of the User-Agent header */
    KSD_RULE__COUNT,
};

/* rule->match for domain rules */
enum ksd_sig_dmatch {
    KSD_SIG_EXACT = 1,  /* the name itself */
    KSD_SIG_SUFFIX = 2, /* the name and every name below it (label boundary) */
    KSD_SIG_WILD = 3,   /* '*' stands for one or more characters inside one label */
};

/* rule->match for http_path rules */
enum ksd_sig_pmatch {
    KSD_SIG_PATH_PREFIX = 1, /* path starts with the pattern */
    KSD_SIG_PATH_SUFFIX = 2, /* path (before '?' or '#') ends with the pattern */
};

/* rule->match for cert rules */
enum ksd_sig_cfield {
    KSD_SIG_CERT_ANY = 1,     /* subject or issuer */
    KSD_SIG_CERT_SUBJECT = 2, /* subject DN only */
    KSD_SIG_CERT_ISSUER = 3,  /* issuer DN only */
};

/* rule->dir for port rules: which end of the flow is the Kaspersky host. */
enum ksd_sig_dir {
    KSD_SIG_TO_SERVER = 1,   /* the side that sends TO the port (the connecting client) */
    KSD_SIG_FROM_SERVER = 2, /* the side that receives on the port (server pushes to it) */
};

/*
 * One rule. 56 bytes: the small fields are uint8_t so that a domain rule,
 * with its interned strings and hash slot, costs under 100 bytes.
 */
struct ksd_rule {
    const char *id;              /* unique rule id, e.g. "kl-upd-s07" */
    const char *pattern;         /* domain: bare name (no "exact:"); cidr: "a.b.c.d/n";
                                    port: "tcp/13000"; path: the path; else the string */
    const char *category;        /* one of ksd_sig_categories() (static storage) */
    const char *source;          /* citation (interned; never NULL) */
    const struct ksd_rule *host; /* http_path/port: domain rule the host must match, or NULL */
    int line;                    /* line in the rule file */
    uint16_t port_lo, port_hi;   /* port rules: inclusive range */
    uint16_t req_port;           /* port rules: prerequisite flow port, 0 = none */
    uint8_t kind;                /* enum ksd_rule_kind */
    uint8_t confidence;          /* 0..100 */
    uint8_t match;               /* domain: ksd_sig_dmatch; path: ksd_sig_pmatch; cert: cfield */
    uint8_t proto;               /* port rules: 6 (tcp) or 17 (udp); else 0 */
    uint8_t dir;                 /* port rules: enum ksd_sig_dir; else 0 */
    uint8_t req_proto;           /* port rules: prerequisite proto (6/17), 0 = none */
};

struct ksd_sigset; /* opaque, immutable after load */

struct ksd_sig_error {
    char file[256];   /* file name as given (truncated) */
    int line;         /* 1-based line, 0 for errors not tied to a line (I/O) */
    char reason[256]; /* what is wrong, without the FILE:LINE prefix */
};

/*
 * Load and compile a rule file. Returns 0 and sets *out (free it with
 * ksd_sig_free), or returns a negative KSD_E* / -errno, sets *out to NULL and
 * fills *err (err may be NULL). Nothing half-built escapes on failure.
 */
int ksd_sig_load_file(const char *path, struct ksd_sigset **out, struct ksd_sig_error *err);

/* Same from memory; `name` is used only in error messages. buf need not be
 * NUL-terminated and is not referenced after the call. */
int ksd_sig_load_buf(const char *name, const char *buf, size_t len, struct ksd_sigset **out,
                     struct ksd_sig_error *err);

void ksd_sig_free(struct ksd_sigset *s); /* NULL is a no-op */

const char *ksd_sig_version(const struct ksd_sigset *s);

/* Rules of one kind, or all rules when kind is -1. */
size_t ksd_sig_count(const struct ksd_sigset *s, int kind);
size_t ksd_sig_count_category(const struct ksd_sigset *s, const char *category);

/* Rule i in file order (0 <= i < ksd_sig_count(s, -1)), else NULL. */
const struct ksd_rule *ksd_sig_rule_at(const struct ksd_sigset *s, size_t i);

/* The known category names (static storage); *n gets their number. */
const char *const *ksd_sig_categories(size_t *n);

/* True when a category (len bytes, need not be NUL-terminated) means a
 * running product: update, telemetry, activation, revocation, management,
 * product, oem. The one place host verdicts take this rule from. */
bool ksd_sig_category_is_product(const char *name, size_t len);

/*
 * Host verdicts, the one place they are decided (report, dashboard and the
 * --hosts table all take them from here): "product" when any category of
 * the host means a running product (ksd_sig_category_is_product), else
 * "website-only" when every category is website, else "suspected"
 * (Kaspersky addresses, downloads or proxies without proof of a running
 * product). A known-hosts "exception" label does not change the verdict; it
 * changes what the report does with the host (see sensor/analyst/report.h).
 */
#define KSD_SIG_MAX_VERDICT_CATS 64 /* categories read from one comma-separated list */

enum ksd_sig_verdict {
    KSD_SIG_VERDICT_PRODUCT,      /* update, telemetry, activation, ... evidence */
    KSD_SIG_VERDICT_WEBSITE_ONLY, /* only website evidence */
    KSD_SIG_VERDICT_SUSPECTED,    /* anything else */
};

/* Verdict of a comma-separated category list (any order, spaces ignored;
 * unknown names count as "anything else"). */
enum ksd_sig_verdict ksd_sig_verdict_of(const char *categories);
/* Verdict of a set of categories: bit i = ksd_sig_categories()[i]. */
enum ksd_sig_verdict ksd_sig_verdict_of_mask(uint32_t catmask);
/* "product", "website-only" or "suspected" (static storage). */
const char *ksd_sig_verdict_name(enum ksd_sig_verdict v);
/* The inverse of ksd_sig_verdict_name: KSD_OK, or KSD_EINVAL for any other string. */
int ksd_sig_verdict_parse(const char *s, enum ksd_sig_verdict *out);

/* Bytes held by the set (rules, strings, tables), for the statistics. */
size_t ksd_sig_memory(const struct ksd_sigset *s);

/*
 * Matchers. All are safe to call concurrently on one set, allocate nothing
 * and return a rule owned by the set, or NULL when nothing matches.
 */

/* Most specific domain rule: exact > wildcard > longest suffix. The name is
 * compared ASCII case-insensitively; one trailing dot is ignored; names over
 * 253 bytes or with bytes outside 0x21..0x7e never match. */
const struct ksd_rule *ksd_sig_match_domain(const struct ksd_sigset *s, const char *name,
                                            size_t len);

/* family 4 (addr = 4 bytes) or 6 (16 bytes), network order; longest prefix. */
const struct ksd_rule *ksd_sig_match_addr(const struct ksd_sigset *s, int family,
                                          const uint8_t *addr);

/* Port rule whose range holds `port` for proto 6/17 (narrowest range wins).
 * The caller applies rule->dir, rule->req_proto/req_port and, when
 * rule->host is set, ksd_sig_host_allowed(). */
const struct ksd_rule *ksd_sig_match_port(const struct ksd_sigset *s, uint8_t proto, uint16_t port);

const struct ksd_rule *ksd_sig_match_ja3(const struct ksd_sigset *s, const char *md5hex);
const struct ksd_rule *ksd_sig_match_ja4(const struct ksd_sigset *s, const char *ja4);

/* Case-insensitive substring match on the DNs; either may be NULL. The
 * longest matching pattern wins. */
const struct ksd_rule *ksd_sig_match_cert(const struct ksd_sigset *s, const char *subject,
                                          const char *issuer);

/* Path rules whose pattern matches `path` (ASCII case-insensitive) and whose
 * host binding, if any, matches `host` (may be NULL: bound rules then fail).
 * The longest matching pattern wins. */
const struct ksd_rule *ksd_sig_match_http_path(const struct ksd_sigset *s, const char *host,
                                               const char *path);

/* Case-insensitive substring of the User-Agent; longest pattern wins. */
const struct ksd_rule *ksd_sig_match_http_ua(const struct ksd_sigset *s, const char *ua);

/* True if `rule` has no host binding, or `host` (len bytes, may be NULL)
 * matches the domain rule it is bound to. */
bool ksd_sig_host_allowed(const struct ksd_rule *rule, const char *host, size_t len);

#endif
