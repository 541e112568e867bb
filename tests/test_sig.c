/*
 * test_sig.c - unit tests for signatures/: every loader error class with its
 * exact line and reason, domain precedence and label boundaries, wildcards,
 * CIDR longest prefix, port ranges, fingerprints, certificate, path and UA
 * matchers, and the shipped signatures/kaspersky.rules itself.
 *
 * Run from the repository root (make does): the Kaspersky tests read
 * signatures/kaspersky.rules by relative path.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dissectors/ksd.h"
#include "signatures/sig.h"

#define RULES_FILE "signatures/kaspersky.rules"
#define HDR        "version t-1\n"
#define OPTS       " category=update confidence=90 source=\"test\""

static struct ksd_sigset *load_ok(const char *text)
{
    struct ksd_sigset *s = NULL;
    struct ksd_sig_error e;
    int rc = ksd_sig_load_buf("t.rules", text, strlen(text), &s, &e);
    if (rc != 0)
        fail_msg("unexpected load error %d: %s:%d: %s", rc, e.file, e.line, e.reason);
    assert_non_null(s);
    return s;
}

static void expect_err_n(const char *text, size_t len, int line, const char *reason)
{
    struct ksd_sigset *s = (struct ksd_sigset *)1;
    struct ksd_sig_error e;
    int rc = ksd_sig_load_buf("bad.rules", text, len, &s, &e);
    assert_int_equal(rc, KSD_EINVAL);
    assert_null(s);
    assert_string_equal(e.file, "bad.rules");
    assert_string_equal(e.reason, reason);
    assert_int_equal(e.line, line);
}

static void expect_err(const char *text, int line, const char *reason)
{
    expect_err_n(text, strlen(text), line, reason);
}

static const char *dom_id(const struct ksd_sigset *s, const char *name)
{
    const struct ksd_rule *r = ksd_sig_match_domain(s, name, strlen(name));
    return r ? r->id : NULL;
}

static void assert_dom(const struct ksd_sigset *s, const char *name, const char *id)
{
    const char *got = dom_id(s, name);
    if (id == NULL) {
        if (got != NULL)
            fail_msg("%s: expected no match, got %s", name, got);
        return;
    }
    if (got == NULL)
        fail_msg("%s: expected %s, got no match", name, id);
    assert_string_equal(got, id);
}

/* ------------------------------------------------------------------------ */
/* Loader errors                                                             */

static void test_sig_missing_version_rejected(void **state)
{
    (void)state;
    expect_err("# only a comment\n\n", 2, "missing version line");
    expect_err("", 1, "missing version line");
    expect_err("# c\na domain exact:a.example.com" OPTS "\n", 2, "rule before the version line");
}

static void test_sig_second_version_rejected(void **state)
{
    (void)state;
    expect_err(HDR "# c\nversion t-2\n", 3, "second version line (first at line 1)");
    expect_err(HDR "a domain exact:a.example.com" OPTS "\nversion t-2\n", 3,
               "second version line (first at line 1)");
    expect_err("version\n", 1, "version line takes exactly one value");
    expect_err("version a b\n", 1, "version line takes exactly one value");
}

static void test_sig_unknown_kind_rejected(void **state)
{
    (void)state;
    expect_err(HDR "a dns exact:a.example.com" OPTS "\n", 2, "unknown kind 'dns'");
    expect_err(HDR "a\n", 2, "missing kind");
    expect_err(HDR "a domain category=update\n", 2, "missing pattern");
}

static void test_sig_bad_id_rejected(void **state)
{
    (void)state;
    expect_err(HDR "a/b domain exact:a.example.com" OPTS "\n", 2,
               "bad rule id 'a/b' (1..63 of A-Z a-z 0-9 . _ -)");
    expect_err(HDR "x=1 domain exact:a.example.com" OPTS "\n", 2, "line must start with a rule id");
}

static void test_sig_duplicate_id_rejected(void **state)
{
    (void)state;
    expect_err(HDR "# c\nr1 domain exact:a.example.com" OPTS
                   "\n\nr1 domain exact:b.example.com" OPTS "\n",
               5, "duplicate id 'r1' (first at line 3)");
}

static void test_sig_duplicate_pattern_rejected(void **state)
{
    (void)state;
    expect_err(HDR "r1 domain exact:a.example.com" OPTS "\nr2 domain exact:A.example.com" OPTS "\n",
               3, "duplicate pattern 'exact:a.example.com' (also rule 'r1' at line 2)");
    expect_err(HDR "r1 domain wild:a*.example.com" OPTS "\nr2 domain wild:a*.example.com" OPTS "\n",
               3, "duplicate pattern 'wild:a*.example.com' (also rule 'r1' at line 2)");
    /* exact and suffix of one name are different rules */
    struct ksd_sigset *s = load_ok(HDR "r1 domain exact:a.example.com" OPTS
                                       "\nr2 domain suffix:a.example.com" OPTS "\n");
    ksd_sig_free(s);
}

static void test_sig_missing_required_options_rejected(void **state)
{
    (void)state;
    expect_err(HDR "a domain exact:a.example.com confidence=1 source=x\n", 2, "missing category=");
    expect_err(HDR "a domain exact:a.example.com category=update source=x\n", 2,
               "missing confidence=");
    expect_err(HDR "a domain exact:a.example.com category=update confidence=5\n", 2,
               "missing source=");
    expect_err(HDR "a domain exact:a.example.com category=update confidence=5 source=\n", 2,
               "empty value for 'source'");
    expect_err(HDR "a domain exact:a.example.com category=update confidence=5 source=\"\"\n", 2,
               "empty value for 'source'");
}

static void test_sig_confidence_out_of_range_rejected(void **state)
{
    (void)state;
    expect_err(HDR "a domain exact:a.example.com category=update confidence=101 source=x\n", 2,
               "confidence '101' out of range (integer 0..100)");
    expect_err(HDR "a domain exact:a.example.com category=update confidence=-1 source=x\n", 2,
               "confidence '-1' out of range (integer 0..100)");
    expect_err(HDR "a domain exact:a.example.com category=update confidence=9x source=x\n", 2,
               "confidence '9x' out of range (integer 0..100)");
    expect_err(HDR "a domain exact:a.example.com category=update confidence=0100 source=x\n", 2,
               "confidence '0100' out of range (integer 0..100)");
    struct ksd_sigset *s = load_ok(HDR "a domain exact:a.example.com category=update "
                                       "confidence=0 source=x\nb domain exact:b.example.com "
                                       "category=update confidence=100 source=x\n");
    assert_int_equal(ksd_sig_match_domain(s, "b.example.com", 13)->confidence, 100);
    ksd_sig_free(s);
}

static void test_sig_unknown_category_rejected(void **state)
{
    (void)state;
    expect_err(HDR "a domain exact:a.example.com category=product-x confidence=1 source=x\n", 2,
               "unknown category 'product-x'");
}

static void test_sig_option_errors_rejected(void **state)
{
    (void)state;
    expect_err(HDR "a domain exact:a.example.com" OPTS " colour=red\n", 2,
               "unknown option 'colour'");
    expect_err(HDR "a domain exact:a.example.com" OPTS " category=oem\n", 2,
               "duplicate option 'category'");
    expect_err(HDR "a domain exact:a.example.com" OPTS " dir=to-server\n", 2,
               "option 'dir' is not valid for domain rules");
    expect_err(HDR "a domain exact:a.example.com" OPTS " stray\n", 2,
               "expected key=value, got 'stray'");
    expect_err(HDR "a cert x" OPTS " field=body\n", 2, "field must be subject, issuer or any");
}

static void test_sig_quote_errors_rejected(void **state)
{
    (void)state;
    expect_err(HDR "a domain exact:a.example.com category=update confidence=1 source=\"abc\n", 2,
               "unterminated quote");
    expect_err(HDR "a domain exact:a.example.com category=update confidence=1 source=\"a\"b\n", 2,
               "text after closing quote");
    expect_err(HDR "a domain exact:a.example.com category=update confidence=1 source=\"a\\n\"\n", 2,
               "bad escape in quotes (only \\\" and \\\\)");
    /* escapes and '#' inside quotes are data */
    struct ksd_sigset *s = load_ok(HDR "a domain exact:a.example.com category=update "
                                       "confidence=1 source=\"x \\\"q\\\" # \\\\ y\" # comment\n");
    assert_string_equal(ksd_sig_rule_at(s, 0)->source, "x \"q\" # \\ y");
    ksd_sig_free(s);
}

static void test_sig_bad_domain_rejected(void **state)
{
    (void)state;
    expect_err(HDR "a domain exact:a_b!.example.com" OPTS "\n", 2,
               "bad character '!' in domain name");
    expect_err(HDR "a domain exact:a..example.com" OPTS "\n", 2,
               "empty label in domain name (leading, trailing or double dot)");
    expect_err(HDR "a domain exact:example.com." OPTS "\n", 2,
               "empty label in domain name (leading, trailing or double dot)");
    expect_err(HDR "a domain example.com" OPTS "\n", 2,
               "domain pattern must start with exact:, suffix: or wild:");
    expect_err(HDR "a domain exact:" OPTS "\n", 2, "empty domain name");
    char line[400];
    snprintf(line, sizeof(line), HDR "a domain exact:%064d.com" OPTS "\n", 0);
    expect_err(line, 2, "label longer than 63 bytes in domain name");
}

static void test_sig_misplaced_star_rejected(void **state)
{
    (void)state;
    expect_err(HDR "a domain exact:*.example.com" OPTS "\n", 2,
               "'*' is only allowed in wild: patterns");
    expect_err(HDR "a domain suffix:s*.example.com" OPTS "\n", 2,
               "'*' is only allowed in wild: patterns");
    expect_err(HDR "a domain wild:a.example.com" OPTS "\n", 2,
               "wild: pattern without '*' (use exact: or suffix:)");
    expect_err(HDR "a domain wild:*a*.example.com" OPTS "\n", 2, "more than one '*' in one label");
    expect_err(HDR "a domain wild:a.*.com" OPTS "\n", 2,
               "'*' in the last two labels (a wildcard needs a fixed parent domain of at least "
               "two labels)");
    expect_err(HDR "a domain wild:*.com" OPTS "\n", 2,
               "'*' in the last two labels (a wildcard needs a fixed parent domain of at least "
               "two labels)");
}

static void test_sig_bad_cidr_rejected(void **state)
{
    (void)state;
    expect_err(HDR "a cidr 10.0.0.300/8" OPTS "\n", 2,
               "bad CIDR: '10.0.0.300' is not an IPv4 address");
    expect_err(HDR "a cidr 10.0.0.1/8" OPTS "\n", 2, "bad CIDR: host bits set after /8");
    expect_err(HDR "a cidr 10.0.0.0/33" OPTS "\n", 2, "bad CIDR: prefix length must be 1..32");
    expect_err(HDR "a cidr 10.0.0.0/0" OPTS "\n", 2, "bad CIDR: prefix length must be 1..32");
    expect_err(HDR "a cidr 2001:db8::/129" OPTS "\n", 2, "bad CIDR: prefix length must be 1..128");
    expect_err(HDR "a cidr 2001:db8::1/64" OPTS "\n", 2, "bad CIDR: host bits set after /64");
    expect_err(HDR "a cidr 2001:zz8::/32" OPTS "\n", 2,
               "bad CIDR: '2001:zz8::' is not an IPv6 address");
    /* found when the set is compiled; reported at the later line */
    expect_err(HDR "a cidr 10.0.0.0/8" OPTS "\n# c\nb cidr 10.0.0.0/8" OPTS "\n", 4,
               "duplicate prefix 10.0.0.0/8 (also rule 'a' at line 2)");
}

static void test_sig_bad_port_rejected(void **state)
{
    (void)state;
#define WANT "bad port pattern '%s' (want tcp/PORT or udp/LO-HI, ports 1..65535)"
    const char *bad[] = {"tcp/0", "tcp/65536", "sctp/1", "tcp/", "tcp/5-4", "udp/1-", "tcp/x"};
    for (size_t i = 0; i < KSD_ARRAY_LEN(bad); i++) {
        char text[256], reason[256];
        snprintf(text, sizeof(text), HDR "a port %s" OPTS "\n", bad[i]);
        snprintf(reason, sizeof(reason), WANT, bad[i]);
        expect_err(text, 2, reason);
    }
    expect_err(HDR "a port tcp/1" OPTS " dir=sideways\n", 2,
               "dir must be to-server or from-server");
    expect_err(HDR "a port tcp/1" OPTS " requires=tcp/1-2\n", 2,
               "requires must be tcp/PORT or udp/PORT");
    expect_err(HDR "a port tcp/10-20" OPTS "\nb port tcp/10-20" OPTS "\n", 3,
               "duplicate port range tcp/10-20 (also rule 'a' at line 2)");
}

static void test_sig_bad_fingerprint_rejected(void **state)
{
    (void)state;
    expect_err(HDR "a ja3 0123" OPTS "\n", 2, "bad JA3 '0123' (want 32 hex digits)");
    expect_err(HDR "a ja3 0123456789abcdef0123456789abcdeg" OPTS "\n", 2,
               "bad JA3 '0123456789abcdef0123456789abcdeg' (want 32 hex digits)");
    expect_err(HDR "a ja4 t13d1516h2-8daaf6152771_e5627efa2ab1" OPTS "\n", 2,
               "bad JA4 't13d1516h2-8daaf6152771_e5627efa2ab1' (want a_b_c: 10 + 12 hex + 12 "
               "hex)");
}

static void test_sig_bad_host_binding_rejected(void **state)
{
    (void)state;
    expect_err(HDR "p http_path prefix:/x" OPTS " host=nosuch\n", 2,
               "host=nosuch: no rule with that id above this line");
    expect_err(HDR "c cidr 10.0.0.0/8" OPTS "\np http_path prefix:/x" OPTS " host=c\n", 3,
               "host=c: rule at line 2 is not a domain rule");
    expect_err(HDR "p http_path /x" OPTS "\n", 2,
               "http_path pattern must be prefix:/PATH or suffix:/PATH");
    expect_err(HDR "p http_path prefix:x" OPTS "\n", 2, "http_path pattern must start with '/'");
}

static void test_sig_bad_bytes_rejected(void **state)
{
    (void)state;
    static const char nul[] = HDR "a domain exact:a.ex\0ample.com" OPTS "\n";
    expect_err_n(nul, sizeof(nul) - 1, 2, "control byte 0x00");
    expect_err(HDR "a domain exact:a.example.com\r" OPTS "\n", 2, "control byte 0x0d");
    expect_err(HDR "a domain exact:\xc3\xa4.example.com" OPTS "\n", 2,
               "non-ASCII byte 0xc3 outside quotes");
    /* non-ASCII inside quotes and comments is fine */
    struct ksd_sigset *s = load_ok(HDR "# \xe3\x82\xa2\n"
                                       "a domain exact:a.example.com category=update "
                                       "confidence=1 source=\"\xe3\x82\xa2\"\n");
    ksd_sig_free(s);
}

static void test_sig_long_line_rejected(void **state)
{
    (void)state;
    size_t n = KSD_SIG_MAX_LINE + 100;
    char *text = malloc(n + 64);
    assert_non_null(text);
    strcpy(text, HDR "# ");
    size_t o = strlen(text);
    memset(text + o, 'x', n);
    text[o + n] = '\n';
    expect_err_n(text, o + n + 1, 2, "line longer than 65536 bytes");

    /* a long but legal line: a 60000-byte source */
    strcpy(text, HDR "a domain exact:a.example.com category=update confidence=1 source=\"");
    o = strlen(text);
    memset(text + o, 's', 60000);
    strcpy(text + o + 60000, "\"\n");
    struct ksd_sigset *s = load_ok(text);
    assert_int_equal(strlen(ksd_sig_rule_at(s, 0)->source), 60000);
    ksd_sig_free(s);
    free(text);
}

static void test_sig_crlf_and_last_line_without_newline(void **state)
{
    (void)state;
    const char *text = "\xef\xbb\xbfversion t-1\r\n\r\n# c\r\na domain exact:a.example.com" OPTS
                       "\r\nb domain exact:b.example.com" OPTS;
    struct ksd_sigset *s = load_ok(text);
    assert_string_equal(ksd_sig_version(s), "t-1");
    assert_int_equal(ksd_sig_count(s, -1), 2);
    assert_int_equal(ksd_sig_rule_at(s, 0)->line, 4);
    assert_int_equal(ksd_sig_rule_at(s, 1)->line, 5);
    assert_string_equal(ksd_sig_rule_at(s, 1)->source, "test");
    assert_string_equal(dom_id(s, "b.example.com"), "b");
    ksd_sig_free(s);
    expect_err(
        "version t-1\r\n\r\nx domain exact:a.example.com\r\nx domain exact:c.example.com" OPTS, 3,
        "missing category=");
}

static void test_sig_missing_file_reports_line_zero(void **state)
{
    (void)state;
    struct ksd_sigset *s = (struct ksd_sigset *)1;
    struct ksd_sig_error e;
    int rc = ksd_sig_load_file("/nonexistent/ksd/x.rules", &s, &e);
    assert_int_equal(rc, -ENOENT);
    assert_null(s);
    assert_int_equal(e.line, 0);
    assert_string_equal(e.file, "/nonexistent/ksd/x.rules");
    assert_string_equal(e.reason, "cannot open: No such file or directory");
}

/* ------------------------------------------------------------------------ */
/* Domain matching                                                           */

static const char dom_rules[] = HDR "sfx domain suffix:kaspersky.com" OPTS "\n"
                                    "sfx-upd domain suffix:upd.kaspersky.com" OPTS "\n"
                                    "www domain exact:www.kaspersky.com" OPTS "\n"
                                    "upd-exact domain exact:upd.kaspersky.com" OPTS "\n"
                                    "w-s domain wild:s*.upd.kaspersky.com" OPTS "\n"
                                    "w-ksn domain wild:ksn-*-geo.kaspersky-labs.com" OPTS "\n"
                                    "w-label domain wild:*.b.example.com" OPTS "\n"
                                    "w-two domain wild:*.*.c.example.com" OPTS "\n"
                                    "w-more domain wild:*x.d.example.com" OPTS "\n"
                                    "w-less domain wild:*.d.example.com" OPTS "\n"
                                    "s07 domain exact:s07.upd.kaspersky.com" OPTS "\n"
                                    "e-up domain exact:UPPER.Example.COM" OPTS "\n";

static void test_sig_suffix_matches_at_label_boundary_only(void **state)
{
    (void)state;
    struct ksd_sigset *s = load_ok(dom_rules);
    assert_dom(s, "kaspersky.com", "sfx");
    assert_dom(s, "a.b.kaspersky.com", "sfx");
    assert_dom(s, "notkaspersky.com", NULL);
    assert_dom(s, "xkaspersky.com", NULL);
    assert_dom(s, "kaspersky.com.example.net", NULL);
    assert_dom(s, "kaspersky.co", NULL);
    assert_dom(s, "aspersky.com", NULL);
    assert_dom(s, "com", NULL);
    assert_dom(s, ".kaspersky.com", "sfx");
    ksd_sig_free(s);
}

static void test_sig_most_specific_domain_rule_wins(void **state)
{
    (void)state;
    struct ksd_sigset *s = load_ok(dom_rules);
    assert_dom(s, "www.kaspersky.com", "www");       /* exact beats suffix */
    assert_dom(s, "www2.kaspersky.com", "sfx");      /* exact is exact */
    assert_dom(s, "a.www.kaspersky.com", "sfx");     /* exact has no sub-names */
    assert_dom(s, "upd.kaspersky.com", "upd-exact"); /* exact beats suffix of same name */
    assert_dom(s, "x.upd.kaspersky.com", "sfx-upd"); /* longest suffix */
    assert_dom(s, "s99.upd.kaspersky.com", "w-s");   /* wild beats suffix */
    assert_dom(s, "s07.upd.kaspersky.com", "s07");   /* exact beats wild */
    assert_dom(s, "ksn-crypto-info-geo.kaspersky-labs.com", "w-ksn");
    assert_dom(s, "ax.d.example.com", "w-more"); /* more literal characters */
    assert_dom(s, "ay.d.example.com", "w-less");
    ksd_sig_free(s);
}

static void test_sig_wildcard_does_not_span_labels(void **state)
{
    (void)state;
    struct ksd_sigset *s = load_ok(dom_rules);
    assert_dom(s, "a.b.example.com", "w-label");
    assert_dom(s, "a.x.b.example.com", NULL); /* '*' is one label, not two */
    assert_dom(s, "b.example.com", NULL);     /* '*' is at least one character */
    assert_dom(s, "s1.x.upd.kaspersky.com", "sfx-upd");
    assert_dom(s, "s.upd.kaspersky.com", "sfx-upd");
    assert_dom(s, "ksn-geo.kaspersky-labs.com", NULL);
    assert_dom(s, "ksn--geo.kaspersky-labs.com", NULL);
    assert_dom(s, "ksn-a.b-geo.kaspersky-labs.com", NULL);
    assert_dom(s, "x.ksn-a-geo.kaspersky-labs.com", NULL);
    assert_dom(s, "p.q.c.example.com", "w-two");
    assert_dom(s, "q.c.example.com", NULL);
    ksd_sig_free(s);
}

static void test_sig_domain_case_and_trailing_dot(void **state)
{
    (void)state;
    struct ksd_sigset *s = load_ok(dom_rules);
    assert_dom(s, "S07.UPD.Kaspersky.COM", "s07");
    assert_dom(s, "upper.example.com", "e-up");
    assert_dom(s, "www.kaspersky.com.", "www");
    assert_dom(s, "www.kaspersky.com..", NULL);
    assert_dom(s, "", NULL);
    assert_dom(s, ".", NULL);
    assert_dom(s, "www.kaspersky .com", NULL);
    assert_string_equal(ksd_sig_rule_at(s, 11)->pattern, "upper.example.com");
    assert_int_equal(ksd_sig_rule_at(s, 11)->match, KSD_SIG_EXACT);
    /* embedded NUL and length-delimited names */
    assert_null(ksd_sig_match_domain(s, "www.kaspersky.com\0x", 19));
    assert_string_equal(ksd_sig_match_domain(s, "www.kaspersky.comXX", 17)->id, "www");
    /* over-long names */
    char big[600];
    memset(big, 'a', sizeof(big));
    strcpy(big + 580, ".kaspersky.com");
    assert_null(ksd_sig_match_domain(s, big, strlen(big)));
    for (size_t i = 0; i < 240; i += 2)
        big[i] = 'a', big[i + 1] = '.';
    strcpy(big + 240, "kaspersky.com");
    assert_dom(s, big, "sfx");
    ksd_sig_free(s);
}

/* ------------------------------------------------------------------------ */
/* Other kinds                                                               */

static void test_sig_cidr_longest_prefix(void **state)
{
    (void)state;
    struct ksd_sigset *s = load_ok(HDR "v8 cidr 10.0.0.0/8" OPTS "\n"
                                       "v16 cidr 10.1.0.0/16" OPTS "\n"
                                       "v32 cidr 10.1.2.3" OPTS "\n"
                                       "v21 cidr 77.74.176.0/21" OPTS "\n"
                                       "w32 cidr 2001:DB8::/32" OPTS "\n"
                                       "w48 cidr 2001:db8:1::/48" OPTS "\n"
                                       "w128 cidr 2001:db8:1::5/128" OPTS "\n");
    const uint8_t a1[4] = {10, 9, 9, 9}, a2[4] = {10, 1, 9, 9}, a3[4] = {10, 1, 2, 3},
                  a4[4] = {11, 1, 2, 3}, a5[4] = {77, 74, 183, 255}, a6[4] = {77, 74, 184, 0};
    assert_string_equal(ksd_sig_match_addr(s, 4, a1)->id, "v8");
    assert_string_equal(ksd_sig_match_addr(s, 4, a2)->id, "v16");
    assert_string_equal(ksd_sig_match_addr(s, 4, a3)->id, "v32");
    assert_null(ksd_sig_match_addr(s, 4, a4));
    assert_string_equal(ksd_sig_match_addr(s, 4, a5)->id, "v21");
    assert_null(ksd_sig_match_addr(s, 4, a6));
    uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8};
    assert_string_equal(ksd_sig_match_addr(s, 6, b)->id, "w32");
    b[5] = 1;
    assert_string_equal(ksd_sig_match_addr(s, 6, b)->id, "w48");
    b[15] = 5;
    assert_string_equal(ksd_sig_match_addr(s, 6, b)->id, "w128");
    b[15] = 6;
    assert_string_equal(ksd_sig_match_addr(s, 6, b)->id, "w48");
    b[3] = 0xb9;
    assert_null(ksd_sig_match_addr(s, 6, b));
    /* an IPv4 address is never looked up in the IPv6 table */
    uint8_t v4in6[16] = {10, 1, 2, 3};
    assert_null(ksd_sig_match_addr(s, 6, v4in6));
    assert_null(ksd_sig_match_addr(s, 5, a1));
    assert_string_equal(ksd_sig_rule_at(s, 4)->pattern, "2001:db8::/32");
    ksd_sig_free(s);
}

static void test_sig_port_ranges_narrowest_wins(void **state)
{
    (void)state;
    struct ksd_sigset *s =
        load_ok(HDR "wide port tcp/23100-23199" OPTS "\n"
                    "one port tcp/23150" OPTS "\n"
                    "mid port tcp/23140-23160" OPTS " dir=from-server\n"
                    "u port udp/15000" OPTS " dir=from-server requires=tcp/13000\n"
                    "t port tcp/13000" OPTS "\n");
    assert_null(ksd_sig_match_port(s, 6, 23099));
    assert_string_equal(ksd_sig_match_port(s, 6, 23100)->id, "wide");
    assert_string_equal(ksd_sig_match_port(s, 6, 23139)->id, "wide");
    assert_string_equal(ksd_sig_match_port(s, 6, 23140)->id, "mid");
    assert_string_equal(ksd_sig_match_port(s, 6, 23150)->id, "one");
    assert_string_equal(ksd_sig_match_port(s, 6, 23160)->id, "mid");
    assert_string_equal(ksd_sig_match_port(s, 6, 23161)->id, "wide");
    assert_string_equal(ksd_sig_match_port(s, 6, 23199)->id, "wide");
    assert_null(ksd_sig_match_port(s, 6, 23200));
    assert_null(ksd_sig_match_port(s, 17, 23150));
    assert_null(ksd_sig_match_port(s, 6, 15000));
    assert_null(ksd_sig_match_port(s, 1, 13000));
    const struct ksd_rule *r = ksd_sig_match_port(s, 17, 15000);
    assert_non_null(r);
    assert_int_equal(r->proto, 17);
    assert_int_equal(r->dir, KSD_SIG_FROM_SERVER);
    assert_int_equal(r->req_proto, 6);
    assert_int_equal(r->req_port, 13000);
    r = ksd_sig_match_port(s, 6, 13000);
    assert_int_equal(r->dir, KSD_SIG_TO_SERVER);
    assert_int_equal(r->req_port, 0);
    assert_int_equal(r->port_lo, 13000);
    assert_int_equal(r->port_hi, 13000);
    assert_string_equal(ksd_sig_match_port(s, 6, 23100)->pattern, "tcp/23100-23199");
    ksd_sig_free(s);
}

static void test_sig_ja3_ja4_exact(void **state)
{
    (void)state;
    struct ksd_sigset *s = load_ok(HDR "j3 ja3 E7D705A3286E19EA42F587B344EE6865" OPTS "\n"
                                       "j4 ja4 t13d1516h2_8daaf6152771_e5627efa2ab1" OPTS "\n");
    assert_string_equal(ksd_sig_match_ja3(s, "e7d705a3286e19ea42f587b344ee6865")->id, "j3");
    assert_string_equal(ksd_sig_match_ja3(s, "E7D705A3286E19EA42F587B344EE6865")->id, "j3");
    assert_null(ksd_sig_match_ja3(s, "e7d705a3286e19ea42f587b344ee6866"));
    assert_null(ksd_sig_match_ja3(s, "e7d705a3286e19ea42f587b344ee686"));
    assert_null(ksd_sig_match_ja3(s, "t13d1516h2_8daaf6152771_e5627efa2ab1"));
    assert_string_equal(ksd_sig_match_ja4(s, "t13d1516h2_8daaf6152771_e5627efa2ab1")->id, "j4");
    assert_null(ksd_sig_match_ja4(s, "t13d1516h2_8daaf6152771_e5627efa2ab2"));
    assert_null(ksd_sig_match_ja4(s, "e7d705a3286e19ea42f587b344ee6865"));
    /* a domain name equal to a fingerprint string is a different key type */
    assert_null(ksd_sig_match_domain(s, "e7d705a3286e19ea42f587b344ee6865", 32));
    ksd_sig_free(s);
}

static void test_sig_cert_substring_and_field(void **state)
{
    (void)state;
    struct ksd_sigset *s =
        load_ok(HDR "ca cert \"CN=Kaspersky Lab Public Services TLS CA\"" OPTS " field=issuer\n"
                    "ksn cert \"CN=ksn.kaspersky-labs.com\"" OPTS " field=subject\n"
                    "any cert \"O=Kaspersky\"" OPTS "\n");
    const char *iss = "C=RU, O=Kaspersky Lab, CN=Kaspersky Lab Public Services TLS CA";
    const char *sub = "C=RU, ST=Moscow, L=Moscow, O=Kaspersky, OU=IT, CN=ksn.kaspersky-labs.com";
    assert_string_equal(ksd_sig_match_cert(s, NULL, iss)->id, "ca");
    assert_string_equal(ksd_sig_match_cert(s, sub, NULL)->id, "ksn");
    assert_string_equal(ksd_sig_match_cert(s, sub, iss)->id, "ca"); /* longest pattern */
    assert_string_equal(ksd_sig_match_cert(s, NULL, "c=ru, o=KASPERSKY lab, cn=x")->id, "any");
    assert_string_equal(ksd_sig_match_cert(s, iss, NULL)->id, "any"); /* ca is issuer-only */
    assert_null(ksd_sig_match_cert(s, "CN=example.com", "CN=Let's Encrypt"));
    assert_null(ksd_sig_match_cert(s, NULL, NULL));
    assert_string_equal(ksd_sig_rule_at(s, 0)->pattern, "CN=Kaspersky Lab Public Services TLS CA");
    ksd_sig_free(s);
}

static void test_sig_http_path_and_host_binding(void **state)
{
    (void)state;
    struct ksd_sigset *s = load_ok(HDR "geo domain suffix:geo.kaspersky.com" OPTS "\n"
                                       "bases http_path prefix:/bases/" OPTS " host=geo\n"
                                       "bav http_path prefix:/bases/av/" OPTS " host=geo\n"
                                       "idx http_path suffix:/index/u0607g.xml" OPTS "\n"
                                       "ua http_ua \"KasperskyTest/1\"" OPTS "\n");
    assert_string_equal(ksd_sig_match_http_path(s, "dnl-01.geo.kaspersky.com", "/bases/x")->id,
                        "bases");
    assert_string_equal(
        ksd_sig_match_http_path(s, "dnl-01.geo.kaspersky.com", "/bases/av/kdb/i386/dailyc.kdc")->id,
        "bav");
    assert_string_equal(ksd_sig_match_http_path(s, "DNL-01.GEO.kaspersky.com", "/BASES/x")->id,
                        "bases");
    assert_null(ksd_sig_match_http_path(s, "example.com", "/bases/x"));
    assert_null(ksd_sig_match_http_path(s, NULL, "/bases/x"));
    assert_null(ksd_sig_match_http_path(s, "dnl-01.geo.kaspersky.com", "/base"));
    assert_string_equal(ksd_sig_match_http_path(s, NULL, "/avpup/index/u0607g.xml?x=1")->id, "idx");
    assert_string_equal(ksd_sig_match_http_path(s, "up.example.net", "/index/u0607g.xml")->id,
                        "idx");
    assert_null(ksd_sig_match_http_path(s, NULL, "/index/u0607g.xml.bak"));
    assert_null(ksd_sig_match_http_path(s, NULL, "/u0607g.xml"));
    const struct ksd_rule *r = ksd_sig_match_http_path(s, "dnl-01.geo.kaspersky.com", "/bases/");
    assert_non_null(r->host);
    assert_string_equal(r->host->id, "geo");
    assert_true(ksd_sig_host_allowed(r, "geo.kaspersky.com", 17));
    assert_false(ksd_sig_host_allowed(r, "xgeo.kaspersky.com", 18));
    assert_true(ksd_sig_host_allowed(ksd_sig_rule_at(s, 3), NULL, 0));

    assert_string_equal(ksd_sig_match_http_ua(s, "Mozilla/5.0 kasperskytest/1.2")->id, "ua");
    assert_null(ksd_sig_match_http_ua(s, "Mozilla/5.0"));
    assert_null(ksd_sig_match_http_ua(s, NULL));
    ksd_sig_free(s);
}

static void test_sig_counts_categories_memory(void **state)
{
    (void)state;
    struct ksd_sigset *s = load_ok(HDR "a domain exact:a.example.com" OPTS "\n"
                                       "b domain suffix:b.example.com category=website "
                                       "confidence=70 source=y\n"
                                       "c cidr 10.0.0.0/8 category=infrastructure confidence=70 "
                                       "source=z\n");
    assert_int_equal(ksd_sig_count(s, -1), 3);
    assert_int_equal(ksd_sig_count(s, KSD_RULE_DOMAIN), 2);
    assert_int_equal(ksd_sig_count(s, KSD_RULE_CIDR), 1);
    assert_int_equal(ksd_sig_count(s, KSD_RULE_JA3), 0);
    assert_int_equal(ksd_sig_count(s, KSD_RULE__COUNT), 0);
    assert_int_equal(ksd_sig_count_category(s, "update"), 1);
    assert_int_equal(ksd_sig_count_category(s, "website"), 1);
    assert_int_equal(ksd_sig_count_category(s, "infrastructure"), 1);
    assert_int_equal(ksd_sig_count_category(s, "nope"), 0);
    size_t n;
    const char *const *cats = ksd_sig_categories(&n);
    assert_int_equal(n, 11);
    assert_string_equal(cats[0], "update");
    assert_string_equal(cats[n - 1], "infrastructure");
    for (size_t i = 0; i < n; i++)
        assert_true(strlen(cats[i]) < 16); /* fits struct ksd_event.category */
    assert_true(ksd_sig_memory(s) > 3 * sizeof(struct ksd_rule));
    assert_null(ksd_sig_rule_at(s, 3));
    assert_ptr_equal(ksd_sig_rule_at(s, 1)->category, cats[7]);
    ksd_sig_free(s);
    ksd_sig_free(NULL);
    assert_int_equal(sizeof(struct ksd_rule), 56);
}

/* 20,000 generated domain rules: lookups still exact, memory per rule < 100. */
static void test_sig_many_domain_rules_compact(void **state)
{
    (void)state;
    const size_t n = 20000;
    char *text = malloc(n * 96 + 64);
    assert_non_null(text);
    size_t o = (size_t)sprintf(text, HDR);
    for (size_t i = 0; i < n; i++)
        o += (size_t)sprintf(text + o,
                             "g%zu domain %s:h%zux.example%zu.com category=update "
                             "confidence=50 source=gen\n",
                             i, (i % 3) ? "exact" : "suffix", i * 7919 % 100003, i % 17);
    struct ksd_sigset *s = load_ok(text);
    assert_int_equal(ksd_sig_count(s, KSD_RULE_DOMAIN), n);
    double per = (double)ksd_sig_memory(s) / (double)n;
    if (per >= 100.0)
        fail_msg("memory per domain rule %.1f >= 100", per);
    char name[80];
    for (size_t i = 0; i < n; i += 997) {
        snprintf(name, sizeof(name), "h%zux.example%zu.com", i * 7919 % 100003, i % 17);
        const struct ksd_rule *r = ksd_sig_match_domain(s, name, strlen(name));
        assert_non_null(r);
        char id[16];
        snprintf(id, sizeof(id), "g%zu", i);
        assert_string_equal(r->id, id);
        snprintf(name, sizeof(name), "z.h%zux.example%zu.com", i * 7919 % 100003, i % 17);
        r = ksd_sig_match_domain(s, name, strlen(name));
        if (i % 3)
            assert_null(r);
        else
            assert_string_equal(r->id, id);
    }
    ksd_sig_free(s);
    free(text);
}

/* ------------------------------------------------------------------------ */
/* The shipped rule file                                                     */

static int load_kaspersky(void **state)
{
    struct ksd_sigset *s = NULL;
    struct ksd_sig_error e;
    int rc = ksd_sig_load_file(RULES_FILE, &s, &e);
    if (rc != 0) {
        print_error("%s:%d: %s\n", e.file, e.line, e.reason);
        return -1;
    }
    *state = s;
    return 0;
}

static int free_kaspersky(void **state)
{
    ksd_sig_free(*state);
    return 0;
}

static void expect_cat(const struct ksd_sigset *s, const char *name, const char *cat)
{
    const struct ksd_rule *r = ksd_sig_match_domain(s, name, strlen(name));
    if (cat == NULL) {
        if (r != NULL)
            fail_msg("%s: expected no match, got %s (%s)", name, r->id, r->category);
        return;
    }
    if (r == NULL)
        fail_msg("%s: expected %s, got no match", name, cat);
    if (strcmp(r->category, cat) != 0)
        fail_msg("%s: expected %s, got %s (%s)", name, cat, r->category, r->id);
}

static void test_sig_kaspersky_rules_load(void **state)
{
    const struct ksd_sigset *s = *state;
    assert_string_equal(ksd_sig_version(s), "2026.11.27-1");
    assert_true(ksd_sig_count(s, KSD_RULE_DOMAIN) > 150);
    assert_int_equal(ksd_sig_count(s, KSD_RULE_CIDR), 22);
    assert_true(ksd_sig_count(s, KSD_RULE_PORT) >= 18);
    assert_int_equal(ksd_sig_count(s, KSD_RULE_CERT), 3);
    assert_true(ksd_sig_count(s, KSD_RULE_HTTP_PATH) >= 8);
    assert_int_equal(ksd_sig_count(s, KSD_RULE_JA3), 0); /* none public (reference 8) */
    /* every rule carries a source and a known category */
    for (size_t i = 0; i < ksd_sig_count(s, -1); i++) {
        const struct ksd_rule *r = ksd_sig_rule_at(s, i);
        assert_true(strlen(r->source) > 3);
        assert_true(r->confidence >= 40 && r->confidence <= 90);
        assert_true(ksd_sig_count_category(s, r->category) > 0);
    }
}

static void test_sig_kaspersky_domain_categories(void **state)
{
    const struct ksd_sigset *s = *state;
    expect_cat(s, "s07.upd.kaspersky.com", "update");
    expect_cat(s, "s19.upd2.kaspersky.com", "update");
    expect_cat(s, "p10.upd.kaspersky.com", "update");
    expect_cat(s, "downloads.upd.kaspersky.com", "update");
    expect_cat(s, "dnl-09.geo.kaspersky.com", "update");
    expect_cat(s, "edge.geo.kaspersky.com", "update");
    expect_cat(s, "cm.k.kaspersky-labs.com", "update");
    expect_cat(s, "ksn-file-geo.kaspersky-labs.com", "telemetry");
    expect_cat(s, "ksn-something-new-geo.kaspersky-labs.com", "telemetry");
    expect_cat(s, "dc1-st.ksn.kaspersky-labs.com", "telemetry");
    expect_cat(s, "mdr.ksn.kaspersky-labs.com", "telemetry");
    expect_cat(s, "ksn-verdict.geoksn.kaspersky.com", "telemetry");
    expect_cat(s, "activation-v2.kaspersky.com", "activation");
    expect_cat(s, "activation-v2.geo.kaspersky.com", "activation");
    expect_cat(s, "refresh-bkg.activation-v2.kaspersky.com", "activation");
    expect_cat(s, "crl.kaspersky.com", "revocation");
    expect_cat(s, "ocsp.kaspersky.com", "revocation");
    expect_cat(s, "eu1.ksc.kaspersky.com", "management");
    expect_cat(s, "touch.kaspersky.com", "product");
    expect_cat(s, "gc.kis.v2.scr.kaspersky-labs.com", "product");
    expect_cat(s, "products.s.kaspersky-labs.com", "download");
    expect_cat(s, "kaspersky.com", "website");
    expect_cat(s, "www.kaspersky.com", "website");
    expect_cat(s, "usa.kaspersky.com", "website");
    expect_cat(s, "support.kaspersky.com", "website");
    expect_cat(s, "www.kaspersky.co.uk", "website");
    expect_cat(s, "media.kasperskycontenthub.com", "website");
    expect_cat(s, "www.securelist.com", "website");
    expect_cat(s, "unknown-host.kaspersky.com", "infrastructure");
    expect_cat(s, "foo.kaspersky-labs.com", "infrastructure");
    expect_cat(s, "up.sd.keniu.com", "oem");
    /* lookalikes and must-not-match names */
    expect_cat(s, "kaspersky-update.com", NULL);
    expect_cat(s, "notkaspersky.com", NULL);
    expect_cat(s, "kaspersky.com.example.net", NULL);
    expect_cat(s, "kaspersky-labs.com.evil.tld", NULL);
    expect_cat(s, "kasperskyupdate.com", NULL);
    expect_cat(s, "kaspersky.incomum", NULL);
    expect_cat(s, "kaba365.com", NULL);
    expect_cat(s, "dns.google", NULL);
    const struct ksd_rule *r = ksd_sig_match_domain(s, "s07.upd.kaspersky.com", 21);
    assert_string_equal(r->id, "kl-upd-s07");
    assert_int_equal(r->confidence, 90);
}

static void test_sig_kaspersky_other_kinds(void **state)
{
    const struct ksd_sigset *s = *state;
    const struct ksd_rule *r = ksd_sig_match_port(s, 6, 13000);
    assert_non_null(r);
    assert_string_equal(r->category, "management");
    assert_int_equal(r->dir, KSD_SIG_TO_SERVER);
    r = ksd_sig_match_port(s, 17, 15000);
    assert_non_null(r);
    assert_int_equal(r->dir, KSD_SIG_FROM_SERVER);
    assert_int_equal(r->req_proto, 6);
    assert_int_equal(r->req_port, 13000);
    r = ksd_sig_match_port(s, 6, 23150);
    assert_non_null(r);
    assert_true(ksd_sig_host_allowed(r, "x1.ksc.kaspersky.com", 20));
    assert_false(ksd_sig_host_allowed(r, "example.com", 11));
    assert_false(ksd_sig_host_allowed(r, NULL, 0));
    assert_null(ksd_sig_match_port(s, 6, 443));
    assert_null(ksd_sig_match_port(s, 6, 13294)); /* unconfirmed in the reference */

    const uint8_t ksn[4] = {79, 133, 169, 139}, upd[4] = {80, 239, 170, 187}, dns[4] = {8, 8, 8, 8};
    assert_string_equal(ksd_sig_match_addr(s, 4, ksn)->category, "infrastructure");
    assert_null(ksd_sig_match_addr(s, 4, upd));
    assert_null(ksd_sig_match_addr(s, 4, dns)); /* fallback resolvers are not indicators */
    const uint8_t v6[16] = {0x2a, 0x03, 0x24, 0x80, 0x80, 0x37, 0, 1};
    assert_non_null(ksd_sig_match_addr(s, 6, v6));
    const uint8_t v6out[16] = {0x2a, 0x03, 0x24, 0x80, 0x80, 0x38};
    assert_null(ksd_sig_match_addr(s, 6, v6out));

    r = ksd_sig_match_cert(
        s, "C=RU, ST=Moscow, L=Moscow, O=Kaspersky, OU=IT, CN=ksn.kaspersky-labs.com",
        "C=RU, O=Kaspersky Lab, CN=Kaspersky Lab Public Services TLS CA");
    assert_non_null(r);
    assert_string_equal(r->id, "kl-cert-ca");

    r = ksd_sig_match_http_path(s, "activation-v2.kaspersky.com",
                                "/activationservice/activationservice.svc");
    assert_non_null(r);
    assert_string_equal(r->category, "activation");
    assert_null(
        ksd_sig_match_http_path(s, "example.com", "/activationservice/activationservice.svc"));
    r = ksd_sig_match_http_path(s, "crl.kaspersky.com", "/cdp/KasperskyLabPublicServicesTLSCA.crl");
    assert_string_equal(r->category, "revocation");
    r = ksd_sig_match_http_path(s, "up.sd.keniu.com", "/avpup/index/u0607g.xml");
    assert_string_equal(r->category, "update");
    assert_null(ksd_sig_match_http_path(s, "www.example.com", "/bases/x.kdc"));
    assert_non_null(ksd_sig_match_http_path(s, "dnl-01.geo.kaspersky.com", "/bases/x.kdc"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sig_missing_version_rejected),
        cmocka_unit_test(test_sig_second_version_rejected),
        cmocka_unit_test(test_sig_unknown_kind_rejected),
        cmocka_unit_test(test_sig_bad_id_rejected),
        cmocka_unit_test(test_sig_duplicate_id_rejected),
        cmocka_unit_test(test_sig_duplicate_pattern_rejected),
        cmocka_unit_test(test_sig_missing_required_options_rejected),
        cmocka_unit_test(test_sig_confidence_out_of_range_rejected),
        cmocka_unit_test(test_sig_unknown_category_rejected),
        cmocka_unit_test(test_sig_option_errors_rejected),
        cmocka_unit_test(test_sig_quote_errors_rejected),
        cmocka_unit_test(test_sig_bad_domain_rejected),
        cmocka_unit_test(test_sig_misplaced_star_rejected),
        cmocka_unit_test(test_sig_bad_cidr_rejected),
        cmocka_unit_test(test_sig_bad_port_rejected),
        cmocka_unit_test(test_sig_bad_fingerprint_rejected),
        cmocka_unit_test(test_sig_bad_host_binding_rejected),
        cmocka_unit_test(test_sig_bad_bytes_rejected),
        cmocka_unit_test(test_sig_long_line_rejected),
        cmocka_unit_test(test_sig_crlf_and_last_line_without_newline),
        cmocka_unit_test(test_sig_missing_file_reports_line_zero),
        cmocka_unit_test(test_sig_suffix_matches_at_label_boundary_only),
        cmocka_unit_test(test_sig_most_specific_domain_rule_wins),
        cmocka_unit_test(test_sig_wildcard_does_not_span_labels),
        cmocka_unit_test(test_sig_domain_case_and_trailing_dot),
        cmocka_unit_test(test_sig_cidr_longest_prefix),
        cmocka_unit_test(test_sig_port_ranges_narrowest_wins),
        cmocka_unit_test(test_sig_ja3_ja4_exact),
        cmocka_unit_test(test_sig_cert_substring_and_field),
        cmocka_unit_test(test_sig_http_path_and_host_binding),
        cmocka_unit_test(test_sig_counts_categories_memory),
        cmocka_unit_test(test_sig_many_domain_rules_compact),
        cmocka_unit_test_setup_teardown(test_sig_kaspersky_rules_load, load_kaspersky,
                                        free_kaspersky),
        cmocka_unit_test_setup_teardown(test_sig_kaspersky_domain_categories, load_kaspersky,
                                        free_kaspersky),
        cmocka_unit_test_setup_teardown(test_sig_kaspersky_other_kinds, load_kaspersky,
                                        free_kaspersky),
    };
    return cmocka_run_group_tests_name("sig", tests, NULL, NULL);
}
