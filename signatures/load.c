/*
 * load.c - the rule-file loader: reads the line-oriented format documented in
 * signatures/README.md, validates every field, reports the first problem as
 * FILE:LINE: reason, and compiles the rules into a struct ksd_sigset.
 *
 * A line is: blank, a comment ('#' to end of line), `version <string>`
 * (exactly once, before any rule), or a rule
 *
 *     <id> <kind> <pattern> key=value ... [# comment]
 *
 * Fields are separated by spaces or tabs. A field may contain "quoted text"
 * (spaces allowed, \" and \\ escapes) and then ends at its closing quote.
 * CRLF and LF line ends are both accepted, the last line needs no newline, a
 * UTF-8 byte-order mark at the start is skipped. Control bytes, NUL and
 * non-ASCII bytes outside quotes and comments are errors.
 *
 * What it does not do: logging (errors go back in struct ksd_sig_error),
 * include files, or partial loading: one bad line fails the whole file, so a
 * reload never runs with half a rule set.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dissectors/ksd.h"
#include "signatures/sig_int.h"

#define KSD_SIG_MAX_FIELDS 32 /* fields per rule line */
#define WHY_MAX            200

enum opt {
    OPT_CATEGORY,
    OPT_CONFIDENCE,
    OPT_SOURCE,
    OPT_NOTE,
    OPT_DIR,
    OPT_REQUIRES,
    OPT_HOST,
    OPT_FIELD,
    OPT__COUNT,
};

static const char *const opt_names[OPT__COUNT] = {
    "category", "confidence", "source", "note", "dir", "requires", "host", "field",
};

static const char *const kind_names[KSD_RULE__COUNT] = {
    "domain", "cidr", "port", "ja3", "ja4", "cert", "http_path", "http_ua",
};

struct field {
    size_t off;  /* start of the unescaped text in the scratch buffer */
    size_t len;  /* its length */
    long eq;     /* offset of the first '=' outside quotes, or -1 */
    bool quoted; /* contained a quoted part */
};

struct binding {
    uint32_t rule;   /* index of the http_path/port rule */
    uint32_t target; /* index of the domain rule it names */
};

struct loader {
    struct ksd_sigset *s;      /* set under construction */
    size_t cap;                /* allocated rules */
    struct ksd_sig_error *err; /* where errors go */
    int line;                  /* current line number */
    int version_line;          /* line of the version line, 0 = none yet */
    char *scratch;             /* unescaped fields of the current line */
    size_t scap;               /* its size */
    struct field f[KSD_SIG_MAX_FIELDS];
    size_t nf;               /* fields on the current line */
    struct ksd_sig_tab ids;  /* rule ids (duplicates, host= lookups) */
    struct ksd_sig_tab wild; /* whole wild patterns (duplicates) */
    struct binding *binds;   /* host= bindings to resolve at the end */
    size_t nbinds, bcap;
    const char **src; /* interned sources, open addressing */
    size_t nsrc, srccap;
};

__attribute__((format(printf, 3, 4))) static int fail(struct loader *L, int line, const char *fmt,
                                                      ...)
{
    if (L->err != NULL) {
        va_list ap;
        L->err->line = line;
        va_start(ap, fmt);
        vsnprintf(L->err->reason, sizeof(L->err->reason), fmt, ap);
        va_end(ap);
    }
    return KSD_EINVAL;
}

/* Printable excerpt of user text for an error message. */
static const char *show(const char *p, size_t n, char out[48])
{
    size_t o = 0;
    for (size_t i = 0; i < n && o < 40; i++)
        out[o++] = ksd_is_print((uint8_t)p[i]) ? p[i] : '?';
    if (n > 40) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

static char *fld(struct loader *L, size_t i)
{
    return L->scratch + L->f[i].off;
}

/* ------------------------------------------------------------------------ */
/* Tokenizer                                                                 */

/* Split line[0..n) into fields, unescaping quotes into L->scratch. */
static int tokenize(struct loader *L, const char *line, size_t n)
{
    size_t i = 0, o = 0;
    if (L->scap < 2 * n + 2) {
        char *p = realloc(L->scratch, 2 * n + 2);
        if (p == NULL)
            return KSD_ENOMEM;
        L->scratch = p;
        L->scap = 2 * n + 2;
    }
    L->nf = 0;
    for (;;) {
        while (i < n && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i == n || line[i] == '#')
            return KSD_OK;
        if (L->nf == KSD_SIG_MAX_FIELDS)
            return fail(L, L->line, "too many fields (max %d)", KSD_SIG_MAX_FIELDS);
        struct field *f = &L->f[L->nf++];
        f->off = o;
        f->eq = -1;
        f->quoted = false;
        while (i < n && line[i] != ' ' && line[i] != '\t') {
            uint8_t c = (uint8_t)line[i];
            if (c == '"') {
                i++;
                f->quoted = true;
                for (;;) {
                    if (i == n)
                        return fail(L, L->line, "unterminated quote");
                    c = (uint8_t)line[i];
                    if (c == '"')
                        break;
                    if (c == '\\') {
                        if (i + 1 == n || (line[i + 1] != '"' && line[i + 1] != '\\'))
                            return fail(L, L->line, "bad escape in quotes (only \\\" and \\\\)");
                        c = (uint8_t)line[++i];
                    } else if (c < 0x20 || c == 0x7f) {
                        return fail(L, L->line, "control byte 0x%02x inside quotes", c);
                    }
                    L->scratch[o++] = (char)c;
                    i++;
                }
                i++; /* closing quote */
                if (i < n && line[i] != ' ' && line[i] != '\t')
                    return fail(L, L->line, "text after closing quote");
                continue;
            }
            if (c < 0x20 || c == 0x7f)
                return fail(L, L->line, "control byte 0x%02x", c);
            if (c >= 0x80)
                return fail(L, L->line, "non-ASCII byte 0x%02x outside quotes", c);
            if (c == '=' && f->eq < 0 && !f->quoted)
                f->eq = (long)(o - f->off);
            L->scratch[o++] = (char)c;
            i++;
        }
        f->len = o - f->off;
        L->scratch[o++] = '\0';
    }
}

/* ------------------------------------------------------------------------ */
/* Field checks                                                              */

static bool id_ok(const char *p, size_t n)
{
    if (n == 0 || n > KSD_SIG_MAX_ID)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)p[i];
        if (!ksd_is_alnum(c) && c != '-' && c != '_' && c != '.')
            return false;
    }
    return true;
}

static bool is_hex_lower(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)p[i];
        if (!ksd_is_digit(c) && !(c >= 'a' && c <= 'f'))
            return false;
    }
    return true;
}

/* FoxIO JA4 a_b_c: a = 10 characters [a-z0-9], b and c = 12 hex digits. */
static bool ja4_ok(const char *p, size_t n)
{
    if (n != 36 || p[10] != '_' || p[23] != '_')
        return false;
    if (p[0] != 't' && p[0] != 'q' && p[0] != 'd')
        return false;
    for (size_t i = 0; i < 10; i++) {
        if (!ksd_is_alnum((uint8_t)p[i]))
            return false;
    }
    return is_hex_lower(p + 11, 12) && is_hex_lower(p + 24, 12);
}

static const char *intern_source(struct loader *L, const char *str, size_t n)
{
    if (2 * (L->nsrc + 1) > L->srccap) {
        size_t ncap = L->srccap ? 2 * L->srccap : 64;
        const char **ns = calloc(ncap, sizeof(*ns));
        if (ns == NULL)
            return NULL;
        for (size_t i = 0; i < L->srccap; i++) {
            if (L->src[i] == NULL)
                continue;
            size_t pos = ksd_sig_hash(L->src[i], strlen(L->src[i])) & (ncap - 1);
            while (ns[pos] != NULL)
                pos = (pos + 1) & (ncap - 1);
            ns[pos] = L->src[i];
        }
        free(L->src);
        L->src = ns;
        L->srccap = ncap;
    }
    size_t pos = ksd_sig_hash(str, n) & (L->srccap - 1);
    while (L->src[pos] != NULL) {
        if (strlen(L->src[pos]) == n && memcmp(L->src[pos], str, n) == 0)
            return L->src[pos];
        pos = (pos + 1) & (L->srccap - 1);
    }
    const char *p = ksd_sig_arena_dup(L->s, str, n);
    if (p == NULL)
        return NULL;
    L->src[pos] = p;
    L->nsrc++;
    return p;
}

static int add_binding(struct loader *L, uint32_t rule, uint32_t target)
{
    if (L->nbinds == L->bcap) {
        size_t ncap = L->bcap ? 2 * L->bcap : 16;
        struct binding *nb = realloc(L->binds, ncap * sizeof(*nb));
        if (nb == NULL)
            return KSD_ENOMEM;
        L->binds = nb;
        L->bcap = ncap;
    }
    L->binds[L->nbinds].rule = rule;
    L->binds[L->nbinds].target = target;
    L->nbinds++;
    return KSD_OK;
}

/* ------------------------------------------------------------------------ */
/* Lines                                                                     */

static int version_line(struct loader *L)
{
    char ex[48];
    if (L->version_line != 0)
        return fail(L, L->line, "second version line (first at line %d)", L->version_line);
    if (L->s->n != 0)
        return fail(L, L->line, "version line must come before the first rule");
    if (L->nf != 2)
        return fail(L, L->line, "version line takes exactly one value");
    const char *v = fld(L, 1);
    size_t n = L->f[1].len;
    if (n == 0 || n > KSD_SIG_MAX_VERSION)
        return fail(L, L->line, "version must be 1..%d characters", KSD_SIG_MAX_VERSION);
    for (size_t i = 0; i < n; i++) {
        if (!ksd_is_print((uint8_t)v[i]) || v[i] == ' ')
            return fail(L, L->line, "bad character in version '%s'", show(v, n, ex));
    }
    memcpy(L->s->version, v, n + 1);
    L->version_line = L->line;
    return KSD_OK;
}

static int parse_pattern(struct loader *L, struct ksd_rule *r, char *pat, size_t n,
                         size_t *body_off)
{
    char why[WHY_MAX], ex[48];
    *body_off = 0;
    switch (r->kind) {
        case KSD_RULE_DOMAIN: {
            static const struct {
                const char *pfx;
                int match;
            } forms[] = {
                {"exact:", KSD_SIG_EXACT}, {"suffix:", KSD_SIG_SUFFIX}, {"wild:", KSD_SIG_WILD}};
            for (size_t i = 0; i < KSD_ARRAY_LEN(forms); i++) {
                size_t pl = strlen(forms[i].pfx);
                if (n >= pl && memcmp(pat, forms[i].pfx, pl) == 0) {
                    r->match = (uint8_t)forms[i].match;
                    *body_off = pl;
                    if (ksd_sig_check_name(pat + pl, n - pl, forms[i].match, why, sizeof(why)))
                        return fail(L, L->line, "%s", why);
                    return KSD_OK;
                }
            }
            return fail(L, L->line, "domain pattern must start with exact:, suffix: or wild:");
        }
        case KSD_RULE_CIDR: {
            uint8_t a[16];
            int fam, len;
            for (size_t i = 0; i < n; i++)
                pat[i] = (char)ksd_ascii_lower((uint8_t)pat[i]);
            if (ksd_sig_parse_cidr(pat, a, &fam, &len, why, sizeof(why)) != 0)
                return fail(L, L->line, "%s", why);
            return KSD_OK;
        }
        case KSD_RULE_PORT:
            if (ksd_sig_parse_portspec(pat, &r->proto, &r->port_lo, &r->port_hi) != 0)
                return fail(L, L->line,
                            "bad port pattern '%s' (want tcp/PORT or udp/LO-HI, ports 1..65535)",
                            show(pat, n, ex));
            return KSD_OK;
        case KSD_RULE_JA3:
            for (size_t i = 0; i < n; i++)
                pat[i] = (char)ksd_ascii_lower((uint8_t)pat[i]);
            if (n != 32 || !is_hex_lower(pat, n))
                return fail(L, L->line, "bad JA3 '%s' (want 32 hex digits)", show(pat, n, ex));
            return KSD_OK;
        case KSD_RULE_JA4:
            for (size_t i = 0; i < n; i++)
                pat[i] = (char)ksd_ascii_lower((uint8_t)pat[i]);
            if (!ja4_ok(pat, n))
                return fail(L, L->line, "bad JA4 '%s' (want a_b_c: 10 + 12 hex + 12 hex)",
                            show(pat, n, ex));
            return KSD_OK;
        case KSD_RULE_HTTP_PATH:
            if (n > 7 && memcmp(pat, "prefix:", 7) == 0) {
                r->match = KSD_SIG_PATH_PREFIX;
                *body_off = 7;
            } else if (n > 7 && memcmp(pat, "suffix:", 7) == 0) {
                r->match = KSD_SIG_PATH_SUFFIX;
                *body_off = 7;
            } else {
                return fail(L, L->line, "http_path pattern must be prefix:/PATH or suffix:/PATH");
            }
            if (pat[*body_off] != '/')
                return fail(L, L->line, "http_path pattern must start with '/'");
            for (size_t i = *body_off; i < n; i++) {
                uint8_t c = (uint8_t)pat[i];
                if (c <= 0x20 || c >= 0x7f)
                    return fail(L, L->line, "bad byte 0x%02x in http_path pattern", c);
            }
            return KSD_OK;
        case KSD_RULE_CERT:
        case KSD_RULE_HTTP_UA:
            if (n == 0)
                return fail(L, L->line, "empty %s pattern", kind_names[r->kind]);
            for (size_t i = 0; i < n; i++) {
                if ((uint8_t)pat[i] >= 0x80)
                    return fail(L, L->line, "non-ASCII byte in %s pattern", kind_names[r->kind]);
            }
            return KSD_OK;
        default:
            return fail(L, L->line, "unknown kind");
    }
}

static bool opt_allowed(int kind, int opt)
{
    switch (opt) {
        case OPT_DIR:
        case OPT_REQUIRES:
            return kind == KSD_RULE_PORT;
        case OPT_HOST:
            return kind == KSD_RULE_PORT || kind == KSD_RULE_HTTP_PATH;
        case OPT_FIELD:
            return kind == KSD_RULE_CERT;
        default:
            return true;
    }
}

/* Field i looks like one of the key=value options. */
static int option_index(struct loader *L, size_t i)
{
    long eq = L->f[i].eq;
    for (int o = 0; eq >= 0 && o < OPT__COUNT; o++) {
        if ((size_t)eq == strlen(opt_names[o]) && memcmp(fld(L, i), opt_names[o], (size_t)eq) == 0)
            return o;
    }
    return -1;
}

static bool is_option(struct loader *L, size_t i)
{
    return option_index(L, i) >= 0;
}

static int grow_rules(struct loader *L)
{
    if (L->s->n < L->cap)
        return KSD_OK;
    if (L->s->n >= KSD_SIG_MAX_RULES)
        return fail(L, L->line, "too many rules (max %u)", KSD_SIG_MAX_RULES);
    size_t ncap = L->cap ? 2 * L->cap : 64;
    struct ksd_rule *nr = realloc(L->s->rules, ncap * sizeof(*nr));
    if (nr == NULL)
        return KSD_ENOMEM;
    L->s->rules = nr;
    L->cap = ncap;
    return KSD_OK;
}

static int rule_line(struct loader *L)
{
    struct ksd_sigset *s = L->s;
    char ex[48];
    long optf[OPT__COUNT];
    int kind = -1;
    size_t body;
    int rc;

    if (L->version_line == 0)
        return fail(L, L->line, "rule before the version line");
    if (L->f[0].eq >= 0 || L->f[0].quoted)
        return fail(L, L->line, "line must start with a rule id");
    if (!id_ok(fld(L, 0), L->f[0].len))
        return fail(L, L->line, "bad rule id '%s' (1..%d of A-Z a-z 0-9 . _ -)",
                    show(fld(L, 0), L->f[0].len, ex), KSD_SIG_MAX_ID);
    if (L->nf < 2)
        return fail(L, L->line, "missing kind");
    for (int k = 0; k < KSD_RULE__COUNT; k++) {
        if (strcmp(fld(L, 1), kind_names[k]) == 0)
            kind = k;
    }
    if (kind < 0)
        return fail(L, L->line, "unknown kind '%s'", show(fld(L, 1), L->f[1].len, ex));
    if (L->nf < 3 || is_option(L, 2))
        return fail(L, L->line, "missing pattern");

    if ((rc = grow_rules(L)) != KSD_OK)
        return rc;
    uint32_t ri = (uint32_t)s->n;
    struct ksd_rule *r = &s->rules[ri];
    memset(r, 0, sizeof(*r));
    r->kind = (uint8_t)kind;
    r->line = L->line;
    if ((rc = parse_pattern(L, r, fld(L, 2), L->f[2].len, &body)) != KSD_OK)
        return rc;

    /* Options. */
    for (int o = 0; o < OPT__COUNT; o++)
        optf[o] = -1;
    for (size_t i = 3; i < L->nf; i++) {
        const char *t = fld(L, i);
        long eq = L->f[i].eq;
        int opt = option_index(L, i);
        if (eq < 0)
            return fail(L, L->line, "expected key=value, got '%s'", show(t, L->f[i].len, ex));
        if (opt < 0)
            return fail(L, L->line, "unknown option '%s'", show(t, (size_t)eq, ex));
        if (optf[opt] >= 0)
            return fail(L, L->line, "duplicate option '%s'", opt_names[opt]);
        if (!opt_allowed(kind, opt))
            return fail(L, L->line, "option '%s' is not valid for %s rules", opt_names[opt],
                        kind_names[kind]);
        if ((size_t)eq + 1 == L->f[i].len)
            return fail(L, L->line, "empty value for '%s'", opt_names[opt]);
        optf[opt] = (long)i;
    }
#define OPTVAL(o) (fld(L, (size_t)optf[o]) + L->f[optf[o]].eq + 1)
#define OPTLEN(o) (L->f[optf[o]].len - (size_t)L->f[optf[o]].eq - 1)
    if (optf[OPT_CATEGORY] < 0)
        return fail(L, L->line, "missing category=");
    if (optf[OPT_CONFIDENCE] < 0)
        return fail(L, L->line, "missing confidence=");
    if (optf[OPT_SOURCE] < 0)
        return fail(L, L->line, "missing source=");

    size_t cat;
    r->category = ksd_sig_category_lookup(OPTVAL(OPT_CATEGORY), &cat);
    if (r->category == NULL)
        return fail(L, L->line, "unknown category '%s'",
                    show(OPTVAL(OPT_CATEGORY), OPTLEN(OPT_CATEGORY), ex));
    {
        const char *v = OPTVAL(OPT_CONFIDENCE);
        size_t n = OPTLEN(OPT_CONFIDENCE);
        unsigned c = 0;
        bool ok = n >= 1 && n <= 3;
        for (size_t i = 0; ok && i < n; i++) {
            ok = ksd_is_digit((uint8_t)v[i]);
            if (ok)
                c = c * 10 + (unsigned)(v[i] - '0');
        }
        if (!ok || c > 100)
            return fail(L, L->line, "confidence '%s' out of range (integer 0..100)",
                        show(v, n, ex));
        r->confidence = (uint8_t)c;
    }
    if (kind == KSD_RULE_PORT) {
        r->dir = KSD_SIG_TO_SERVER;
        if (optf[OPT_DIR] >= 0) {
            const char *v = OPTVAL(OPT_DIR);
            if (strcmp(v, "to-server") == 0)
                r->dir = KSD_SIG_TO_SERVER;
            else if (strcmp(v, "from-server") == 0)
                r->dir = KSD_SIG_FROM_SERVER;
            else
                return fail(L, L->line, "dir must be to-server or from-server");
        }
        if (optf[OPT_REQUIRES] >= 0) {
            uint16_t lo, hi;
            if (ksd_sig_parse_portspec(OPTVAL(OPT_REQUIRES), &r->req_proto, &lo, &hi) != 0 ||
                lo != hi)
                return fail(L, L->line, "requires must be tcp/PORT or udp/PORT");
            r->req_port = lo;
        }
    }
    if (kind == KSD_RULE_CERT) {
        r->match = KSD_SIG_CERT_ANY;
        if (optf[OPT_FIELD] >= 0) {
            const char *v = OPTVAL(OPT_FIELD);
            if (strcmp(v, "subject") == 0)
                r->match = KSD_SIG_CERT_SUBJECT;
            else if (strcmp(v, "issuer") == 0)
                r->match = KSD_SIG_CERT_ISSUER;
            else if (strcmp(v, "any") != 0)
                return fail(L, L->line, "field must be subject, issuer or any");
        }
    }
    if (optf[OPT_HOST] >= 0) {
        const char *v = OPTVAL(OPT_HOST);
        long t = ksd_sig_tab_find(&L->ids, s->rules, KSD_SIG_K_ID, v, OPTLEN(OPT_HOST));
        if (t < 0)
            return fail(L, L->line, "host=%s: no rule with that id above this line",
                        show(v, OPTLEN(OPT_HOST), ex));
        if (s->rules[t].kind != KSD_RULE_DOMAIN)
            return fail(L, L->line, "host=%s: rule at line %d is not a domain rule",
                        show(v, OPTLEN(OPT_HOST), ex), s->rules[t].line);
        if ((rc = add_binding(L, ri, (uint32_t)t)) != KSD_OK)
            return rc;
    }
    if (kind == KSD_RULE_PORT || kind == KSD_RULE_CERT || kind == KSD_RULE_HTTP_PATH ||
        kind == KSD_RULE_HTTP_UA) {
        if (s->nscan[kind] == KSD_SIG_MAX_SCAN_RULES)
            return fail(L, L->line, "too many %s rules (max %d)", kind_names[kind],
                        KSD_SIG_MAX_SCAN_RULES);
    }

    /* Commit strings, then the duplicate checks that need them. */
    r->id = ksd_sig_arena_dup(s, fld(L, 0), L->f[0].len);
    r->pattern = ksd_sig_arena_dup(s, fld(L, 2) + body, L->f[2].len - body);
    r->source = intern_source(L, OPTVAL(OPT_SOURCE), OPTLEN(OPT_SOURCE));
    if (r->id == NULL || r->pattern == NULL || r->source == NULL)
        return KSD_ENOMEM;
#undef OPTVAL
#undef OPTLEN
    long dup = ksd_sig_tab_find(&L->ids, s->rules, KSD_SIG_K_ID, r->id, L->f[0].len);
    if (dup >= 0)
        return fail(L, L->line, "duplicate id '%s' (first at line %d)", r->id, s->rules[dup].line);
    int kt = ksd_sig_rule_ktype(r);
    if (kt != 0) {
        const char *key = r->pattern;
        const struct ksd_sig_tab *t = kt == KSD_SIG_K_WILD ? &L->wild : &s->tab;
        int fk = kt == KSD_SIG_K_WILD ? KSD_SIG_K_WILDFULL : kt;
        dup = ksd_sig_tab_find(t, s->rules, fk, key, strlen(key));
        if (dup >= 0)
            return fail(L, L->line, "duplicate pattern '%s' (also rule '%s' at line %d)", fld(L, 2),
                        s->rules[dup].id, s->rules[dup].line);
    }

    /* Index it. */
    s->n++;
    if ((rc = ksd_sig_tab_insert(&L->ids, s->rules, ri)) != KSD_OK)
        return rc;
    if (kt != 0 && (rc = ksd_sig_tab_insert(&s->tab, s->rules, ri)) != KSD_OK)
        return rc;
    if (kt == KSD_SIG_K_WILD) {
        s->nwild++;
        if ((rc = ksd_sig_tab_insert(&L->wild, s->rules, ri)) != KSD_OK)
            return rc;
    }
    if (kind == KSD_RULE_PORT || kind == KSD_RULE_CERT || kind == KSD_RULE_HTTP_PATH ||
        kind == KSD_RULE_HTTP_UA) {
        uint32_t *ns = realloc(s->scan[kind], (s->nscan[kind] + 1) * sizeof(*ns));
        if (ns == NULL)
            return KSD_ENOMEM;
        s->scan[kind] = ns;
        ns[s->nscan[kind]++] = ri;
    }
    s->count[kind]++;
    s->catcount[cat]++;
    return KSD_OK;
}

static int one_line(struct loader *L, const char *line, size_t n)
{
    int rc;
    if (n > KSD_SIG_MAX_LINE)
        return fail(L, L->line, "line longer than %d bytes", KSD_SIG_MAX_LINE);
    if ((rc = tokenize(L, line, n)) != KSD_OK)
        return rc;
    if (L->nf == 0)
        return KSD_OK;
    if (!L->f[0].quoted && strcmp(fld(L, 0), "version") == 0)
        return version_line(L);
    return rule_line(L);
}

/* ------------------------------------------------------------------------ */
/* Whole file                                                                */

static int finish(struct loader *L)
{
    struct ksd_sigset *s = L->s;
    char why[WHY_MAX];
    int bad = 0, rc;

    if (L->version_line == 0)
        return fail(L, L->line > 0 ? L->line : 1, "missing version line");
    if (s->n > 0 && s->n < L->cap) {
        struct ksd_rule *nr = realloc(s->rules, s->n * sizeof(*nr));
        if (nr != NULL)
            s->rules = nr;
    }
    L->cap = s->n;
    for (size_t i = 0; i < L->nbinds; i++)
        s->rules[L->binds[i].rule].host = &s->rules[L->binds[i].target];
    if ((rc = ksd_sig_tab_rebuild(&s->tab, s->rules, 0.66)) != KSD_OK)
        return rc;
    why[0] = '\0';
    if ((rc = ksd_sig_build_cidr(s, &bad, why, sizeof(why))) != KSD_OK)
        return bad ? fail(L, bad, "%s", why) : rc;
    if ((rc = ksd_sig_build_ports(s, &bad, why, sizeof(why))) != KSD_OK)
        return bad ? fail(L, bad, "%s", why) : rc;
    return KSD_OK;
}

static void set_name(struct ksd_sig_error *err, const char *name)
{
    if (err == NULL)
        return;
    snprintf(err->file, sizeof(err->file), "%s", name ? name : "(buffer)");
}

int ksd_sig_load_buf(const char *name, const char *buf, size_t len, struct ksd_sigset **out,
                     struct ksd_sig_error *err)
{
    struct loader L;
    int rc = KSD_OK;

    if (out != NULL)
        *out = NULL;
    if (err != NULL) {
        memset(err, 0, sizeof(*err));
        set_name(err, name);
    }
    memset(&L, 0, sizeof(L));
    L.err = err;
    L.ids.ktype = KSD_SIG_K_ID;
    L.wild.ktype = KSD_SIG_K_WILDFULL;
    if (out == NULL || (buf == NULL && len > 0)) {
        rc = KSD_EINVAL;
        if (err != NULL)
            snprintf(err->reason, sizeof(err->reason), "invalid arguments");
        goto out;
    }
    L.s = calloc(1, sizeof(*L.s));
    if (L.s == NULL) {
        rc = KSD_ENOMEM;
        goto out;
    }
    size_t pos = 0;
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        pos = 3;
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        size_t n = end - pos;
        L.line++;
        if (n > 0 && buf[pos + n - 1] == '\r')
            n--;
        if ((rc = one_line(&L, buf + pos, n)) != KSD_OK)
            goto out;
        pos = end + 1;
    }
    rc = finish(&L);
out:
    if (rc == KSD_ENOMEM && err != NULL && err->reason[0] == '\0') {
        err->line = L.line;
        snprintf(err->reason, sizeof(err->reason), "out of memory");
    }
    ksd_sig_tab_free(&L.ids);
    ksd_sig_tab_free(&L.wild);
    free(L.scratch);
    free(L.binds);
    free(L.src);
    if (rc != KSD_OK) {
        ksd_sig_free(L.s);
        return rc;
    }
    *out = L.s;
    return KSD_OK;
}

int ksd_sig_load_file(const char *path, struct ksd_sigset **out, struct ksd_sig_error *err)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (err != NULL) {
        memset(err, 0, sizeof(*err));
        set_name(err, path);
    }
    if (path == NULL || out == NULL)
        return KSD_EINVAL;
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        rc = -errno;
        if (err != NULL)
            snprintf(err->reason, sizeof(err->reason), "cannot open: %s", strerror(-rc));
        return rc;
    }
    for (;;) {
        if (cap - len < 65536) {
            size_t ncap = cap ? 2 * cap : 65536;
            if (ncap > KSD_SIG_MAX_FILE + 65536u)
                ncap = KSD_SIG_MAX_FILE + 65536u;
            char *nb = realloc(buf, ncap);
            if (nb == NULL) {
                rc = KSD_ENOMEM;
                if (err != NULL)
                    snprintf(err->reason, sizeof(err->reason), "out of memory");
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (len > KSD_SIG_MAX_FILE) {
            rc = KSD_ELIMIT;
            if (err != NULL)
                snprintf(err->reason, sizeof(err->reason), "file larger than %u bytes",
                         KSD_SIG_MAX_FILE);
            goto out;
        }
        if (got == 0)
            break;
    }
    if (ferror(fp)) {
        rc = errno ? -errno : -EIO;
        if (err != NULL)
            snprintf(err->reason, sizeof(err->reason), "read error: %s", strerror(-rc));
        goto out;
    }
    rc = ksd_sig_load_buf(path, buf, len, out, err);
out:
    fclose(fp);
    free(buf);
    return rc;
}
