/*
 * test_resp.c - the RESP writer of sensor/output/resp.h writes the same
 * bytes as hiredis' redisFormatCommandArgv for the same arguments: empty
 * arguments, binary bytes (NUL, CR, LF), long arguments, numbers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dissectors/ksd.h"
#include "sensor/output/resp.h"

/* ksd_resp_command(argv) == redisFormatCommandArgv(argv), byte for byte. */
static void same_as_hiredis(int argc, const char **argv, const size_t *argl)
{
    struct ksd_resp r = {0};
    char *want = NULL;
    int wl = redisFormatCommandArgv(&want, argc, argv, argl);
    assert_true(wl > 0);
    ksd_resp_command(&r, argc, argv, argl);
    assert_false(r.oom);
    assert_int_equal(r.len, (size_t)wl);
    assert_memory_equal(r.buf, want, (size_t)wl);
    redisFreeCommand(want);
    ksd_resp_free(&r);
}

static void test_resp_equals_hiredis(void **state)
{
    (void)state;
    const char *a1[] = {"PING"};
    size_t l1[] = {4};
    same_as_hiredis(1, a1, l1);
    const char *a2[] = {"SET", "", "x"};
    size_t l2[] = {3, 0, 1};
    same_as_hiredis(3, a2, l2);
    static const char bin[] = {'a', '\0', '\r', '\n', (char)0xff, '$', '*'};
    const char *a3[] = {"XADD", bin, "*", bin};
    size_t l3[] = {4, sizeof(bin), 1, 3};
    same_as_hiredis(4, a3, l3);
    /* a long argument (multi-digit length, buffer growth past 64 KiB) */
    size_t big = 200000;
    char *b = malloc(big);
    assert_non_null(b);
    for (size_t i = 0; i < big; i++)
        b[i] = (char)(i * 31);
    const char *a4[] = {"PUBLISH", "ksd:live", b};
    size_t l4[] = {7, 8, big};
    same_as_hiredis(3, a4, l4);
    free(b);
    /* many arguments */
    const char *a5[300];
    size_t l5[300];
    for (int i = 0; i < 300; i++) {
        a5[i] = i % 3 ? "field" : "";
        l5[i] = i % 3 ? 5 : 0;
    }
    same_as_hiredis(300, a5, l5);
}

/* ksd_resp_num writes the decimal text as a bulk string, as hiredis would. */
static void test_resp_numbers(void **state)
{
    (void)state;
    const long long v[] = {
        0, 1, -1, 9, 10, 4096, -86400, 9223372036854775807LL, -9223372036854775807LL - 1};
    for (size_t i = 0; i < KSD_ARRAY_LEN(v); i++) {
        char d[32];
        int n = snprintf(d, sizeof(d), "%lld", v[i]);
        struct ksd_resp r = {0};
        ksd_resp_head(&r, '*', 2);
        ksd_resp_str(&r, "X");
        ksd_resp_num(&r, v[i]);
        const char *argv[2] = {"X", d};
        size_t argl[2] = {1, (size_t)n};
        char *want = NULL;
        int wl = redisFormatCommandArgv(&want, 2, argv, argl);
        assert_int_equal(r.len, (size_t)wl);
        assert_memory_equal(r.buf, want, (size_t)wl);
        redisFreeCommand(want);
        ksd_resp_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resp_equals_hiredis),
        cmocka_unit_test(test_resp_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
