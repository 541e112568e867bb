/*
 * test_event.c - unit tests of sensor/output/event.c: the JSON of an event
 * with the optional fields (via, community_id, client_mac, client_name and
 * client_name_source present only when set), and the escaping of every
 * byte value in a captured string: the output is checked by python3's json
 * module (a real parser) when python3 is installed, and always for the
 * absence of raw control bytes and of invalid UTF-8.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sensor/output/event.h"

static void base(struct ksd_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->id = 0x1234;
    ev->ts_us = 1796000000000000LL;
    snprintf(ev->client, sizeof(ev->client), "10.0.0.1");
    snprintf(ev->server, sizeof(ev->server), "10.0.0.2");
    snprintf(ev->proto, sizeof(ev->proto), "tcp");
    snprintf(ev->evidence, sizeof(ev->evidence), "sni");
    snprintf(ev->indicator, sizeof(ev->indicator), "x.kaspersky.com");
}

static void test_event_optional_fields(void **state)
{
    (void)state;
    struct ksd_event ev;
    char buf[4096];
    base(&ev);
    assert_true(ksd_event_json(&ev, buf, sizeof(buf)) > 0);
    assert_null(strstr(buf, "\"via\""));
    assert_null(strstr(buf, "community_id"));
    assert_null(strstr(buf, "client_mac"));
    assert_null(strstr(buf, "client_name"));
    snprintf(ev.via, sizeof(ev.via), "alias.example");
    snprintf(ev.community_id, sizeof(ev.community_id), "1:Td9JVPFFhwpH+WD4ITgvbqZLgP0=");
    snprintf(ev.client_mac, sizeof(ev.client_mac), "02:00:00:00:00:1f");
    snprintf(ev.client_name, sizeof(ev.client_name), "PC \"7\"");
    snprintf(ev.client_name_source, sizeof(ev.client_name_source), "netbios");
    assert_true(ksd_event_json(&ev, buf, sizeof(buf)) > 0);
    assert_non_null(strstr(buf, "\"via\":\"alias.example\""));
    assert_non_null(strstr(buf, "\"community_id\":\"1:Td9JVPFFhwpH+WD4ITgvbqZLgP0=\""));
    assert_non_null(strstr(buf, "\"client_mac\":\"02:00:00:00:00:1f\""));
    assert_non_null(
        strstr(buf, "\"client_name\":\"PC \\\"7\\\"\",\"client_name_source\":\"netbios\""));
    /* too small a buffer: -1 and an empty string */
    assert_int_equal(ksd_event_json(&ev, buf, 40), -1);
    assert_string_equal(buf, "");
}

/* Every byte value 1..255 in the indicator, and every pair (hi, lo) so
 * that partial and overlong UTF-8 sequences occur. */
static void test_event_escapes_every_byte(void **state)
{
    (void)state;
    static char json[64 * 1024];
    struct ksd_event ev;
    base(&ev);
    FILE *py = NULL;
    char tmpl[] = "/tmp/test_event_XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    FILE *out = fdopen(fd, "w");
    assert_non_null(out);
    int lines = 0;
    for (int hi = 1; hi < 256; hi++) {
        size_t n = 0;
        for (int lo = 1; lo < 256 && n + 3 < sizeof(ev.indicator); lo += 2) {
            ev.indicator[n++] = (char)hi;
            ev.indicator[n++] = (char)lo;
        }
        ev.indicator[n] = '\0';
        int len = ksd_event_json(&ev, json, sizeof(json));
        assert_true(len > 0);
        for (int i = 0; i < len; i++) {
            unsigned char c = (unsigned char)json[i];
            assert_true(c >= 0x20 && c != 0x7f);
        }
        fprintf(out, "%s\n", json);
        lines++;
    }
    fclose(out);
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "python3 -c 'import json,sys\n"
             "n=0\n"
             "for l in open(sys.argv[1],encoding=\"utf-8\"): json.loads(l); n+=1\n"
             "print(n)' %s 2>&1",
             tmpl);
    py = popen(cmd, "r");
    char res[256] = "";
    if (py && fgets(res, sizeof(res), py)) {
        if (strstr(res, "not found"))
            printf("skip python3 check: %s", res);
        else
            assert_int_equal(atoi(res), lines);
    }
    if (py)
        pclose(py);
    unlink(tmpl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_optional_fields),
        cmocka_unit_test(test_event_escapes_every_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
