/*
 * test_known.c - the known-host and site lists (sensor/path/known.c) through
 * their public API: files written to a temporary directory, loaded, looked
 * up. Longest prefix wins whatever the order of the lines; IPv4 and IPv6 do
 * not mix; host bits of a prefix are ignored; comments and blank lines are
 * skipped; every malformed line is refused as "FILE:LINE: reason" and nothing
 * is loaded.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/redis_helpers.h" /* rh_mktemp, rh_rmtree */
#include "sensor/path/known.h"

struct tdir {
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct tdir *t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    if (rh_mktemp(t->dir, sizeof(t->dir)) != 0) {
        free(t);
        return -1;
    }
    snprintf(t->path, sizeof(t->path), "%s/list", t->dir);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct tdir *t = *state;
    rh_rmtree(t->dir);
    free(t);
    return 0;
}

static struct ksd_known *load_text(struct tdir *t, const char *text, int kind, char *err,
                                   size_t errlen)
{
    FILE *f = fopen(t->path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    err[0] = '\0';
    return ksd_known_load(t->path, kind, err, errlen);
}

static const char *look(const struct ksd_known *k, const char *addr)
{
    uint8_t a[16] = {0};
    if (inet_pton(AF_INET, addr, a) == 1)
        return ksd_known_lookup(k, 4, a);
    assert_int_equal(inet_pton(AF_INET6, addr, a), 1);
    return ksd_known_lookup(k, 6, a);
}

static void assert_label(const struct ksd_known *k, const char *addr, const char *want)
{
    const char *got = look(k, addr);
    if (want == NULL && got == NULL)
        return;
    if (want == NULL || got == NULL || strcmp(want, got) != 0)
        fail_msg("%s: got %s, want %s", addr, got ? got : "(none)", want ? want : "(none)");
}

/* Longest prefix first, whatever the order of the lines. */
static void test_longest_prefix(void **state)
{
    char err[256];
    struct ksd_known *k = load_text(*state,
                                    "# exceptions first, then the wide net\n"
                                    "10.77.0.13      exception\n"
                                    "\n"
                                    "10.0.0.0/8      managed   # everything internal\n"
                                    "10.77.0.0/24    exception\n"
                                    "10.77.0.0/25    managed\n"
                                    "  2001:db8::/32 managed\n"
                                    "2001:db8:1::/48\texception\n",
                                    KSD_KNOWN_HOSTS, err, sizeof(err));
    assert_non_null(k);
    assert_int_equal(ksd_known_count(k), 6);
    assert_label(k, "10.77.0.13", "exception");  /* /32 over /25 */
    assert_label(k, "10.77.0.12", "managed");    /* /25 over /24 */
    assert_label(k, "10.77.0.200", "exception"); /* /24 over /8 */
    assert_label(k, "10.1.2.3", "managed");
    assert_label(k, "11.0.0.1", NULL);
    assert_label(k, "2001:db8:1::5", "exception");
    assert_label(k, "2001:db8:2::5", "managed");
    assert_label(k, "2001:db9::1", NULL);
    /* an IPv4 address never matches an IPv6 prefix with the same leading bytes */
    assert_label(k, "::ffff:10.77.0.13", NULL);
    ksd_known_free(k);
}

/* Prefix lengths that end inside a byte; host bits of the prefix ignored. */
static void test_partial_bytes(void **state)
{
    char err[256];
    struct ksd_known *k = load_text(*state,
                                    "192.168.1.77/27 lab-a\n"
                                    "0.0.0.0/0 world\n"
                                    "fd77::1/63 lab_6.x\n",
                                    KSD_KNOWN_SITES, err, sizeof(err));
    assert_non_null(k);
    assert_label(k, "192.168.1.64", "lab-a"); /* 77 & 0xe0 = 64 */
    assert_label(k, "192.168.1.95", "lab-a");
    assert_label(k, "192.168.1.96", "world");
    assert_label(k, "8.8.8.8", "world");
    assert_label(k, "fd77:0:0:1::9", "lab_6.x"); /* bit 63 is a host bit of /63 */
    assert_label(k, "fd77:0:0:2::9", NULL);
    ksd_known_free(k);
}

/* An empty file or only comments: zero entries, every lookup misses. */
static void test_empty(void **state)
{
    char err[256];
    struct ksd_known *k =
        load_text(*state, "# nothing\n\n   \n", KSD_KNOWN_SITES, err, sizeof(err));
    assert_non_null(k);
    assert_int_equal(ksd_known_count(k), 0);
    assert_label(k, "10.0.0.1", NULL);
    ksd_known_free(k);
    /* a NULL list (none configured) answers nothing */
    uint8_t a[4] = {10, 0, 0, 1};
    assert_null(ksd_known_lookup(NULL, 4, a));
    assert_int_equal(ksd_known_count(NULL), 0);
}

/* Each bad line: NULL and "FILE:LINE: ..." naming the line. */
static void test_errors(void **state)
{
    struct tdir *t = *state;
    static const struct {
        int kind;
        const char *text;
        int line;
        const char *reason; /* a word the message must hold */
    } cases[] = {
        {KSD_KNOWN_HOSTS, "10.0.0.0/8 managed\n10.1.0.0/33 managed\n", 2, "prefix"},
        {KSD_KNOWN_HOSTS, "10.0.0.0/8 managed\n10.0.0.256 managed\n", 2, "prefix"},
        {KSD_KNOWN_HOSTS, "# c\n10.0.0.0/-1 managed\n", 2, "prefix"},
        {KSD_KNOWN_HOSTS, "10.0.0.0/ managed\n", 1, "prefix"},
        {KSD_KNOWN_HOSTS, "fd77::/129 managed\n", 1, "prefix"},
        {KSD_KNOWN_HOSTS, "kaspersky.com managed\n", 1, "prefix"},
        {KSD_KNOWN_HOSTS, "\n\n10.0.0.1\n", 3, "label"},
        {KSD_KNOWN_HOSTS, "10.0.0.1 unmanaged\n", 1, "label"},
        {KSD_KNOWN_HOSTS, "10.0.0.1 managed extra\n", 1, "extra"},
        {KSD_KNOWN_SITES, "10.0.0.0/8 headquarters!\n", 1, "site name"},
        {KSD_KNOWN_SITES, "10.0.0.0/8\n", 1, "site name"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256], want[160];
        struct ksd_known *k = load_text(t, cases[i].text, cases[i].kind, err, sizeof(err));
        if (k)
            fail_msg("case %zu loaded", i);
        snprintf(want, sizeof(want), "%s:%d: ", t->path, cases[i].line);
        if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, cases[i].reason))
            fail_msg("case %zu: '%s' (want '%s...%s')", i, err, want, cases[i].reason);
    }
    /* a site name of 64 or more characters does not fit */
    char text[128];
    snprintf(text, sizeof(text), "10.0.0.0/8 %064d\n", 0);
    char err[256];
    assert_null(load_text(t, text, KSD_KNOWN_SITES, err, sizeof(err)));
    /* a missing file names the file */
    assert_null(ksd_known_load("/nonexistent/known", KSD_KNOWN_HOSTS, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/known"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_longest_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
