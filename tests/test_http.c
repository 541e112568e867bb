/*
 * test_http.c - unit tests of dissectors/http.c: request line and Host,
 * port stripping, IPv6 literals, absolute-form and CONNECT targets, folded
 * and odd headers, requests split at every byte offset, pipelining,
 * rejection of what is not HTTP/1.x, the header caps and the probe.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dissectors/http.h"
#include "dissectors/ksd.h"

static int parse(const char *s, struct ksd_http_req *q, size_t *consumed)
{
    return ksd_http_parse_request((const uint8_t *)s, strlen(s), q, consumed);
}

static void test_http_basic_request(void **state)
{
    (void)state;
    static const char req[] = "GET /ksn/v1/check?x=1 HTTP/1.1\r\n"
                              "Host: DNL-01.Geo.Kaspersky.COM\r\n"
                              "User-Agent: Kaspersky Update Utility/4.0\r\n"
                              "Accept: */*\r\n"
                              "\r\n"
                              "trailing body bytes";
    struct ksd_http_req q;
    size_t used = 0;

    assert_int_equal(parse(req, &q, &used), KSD_OK);
    assert_int_equal(used, strlen(req) - strlen("trailing body bytes"));
    assert_string_equal(q.method, "GET");
    assert_int_equal(q.has_host, 1);
    assert_string_equal(q.host, "dnl-01.geo.kaspersky.com");
    assert_int_equal(q.has_ua, 1);
    assert_string_equal(q.user_agent, "Kaspersky Update Utility/4.0");
    assert_string_equal(q.path, "/ksn/v1/check?x=1");
    assert_int_equal(q.version_minor, 1);
    assert_int_equal(q.is_connect, 0);
    assert_int_equal(q.has_target_host, 0);
    assert_string_equal(q.target_host, "");
    assert_int_equal(q.content_length, 0);
    assert_int_equal(q.chunked, 0);
}

static void test_http_header_names_case_insensitive(void **state)
{
    (void)state;
    struct ksd_http_req q;
    size_t used;

    assert_int_equal(parse("POST /u HTTP/1.0\nhOsT:example.org\nuser-AGENT:  ua  x \n"
                           "CONTENT-length: 42\ntransfer-encoding: gzip, Chunked\n\n",
                           &q, &used),
                     KSD_OK);
    assert_string_equal(q.method, "POST");
    assert_int_equal(q.version_minor, 0);
    assert_string_equal(q.host, "example.org");
    assert_string_equal(q.user_agent, "ua  x");
    assert_int_equal(q.content_length, 42);
    assert_int_equal(q.chunked, 1);
}

static void test_http_lf_only_line_endings(void **state)
{
    (void)state;
    static const char req[] = "GET / HTTP/1.1\nHost: lf.example\n\nNEXT";
    struct ksd_http_req q;
    size_t used;

    assert_int_equal(parse(req, &q, &used), KSD_OK);
    assert_int_equal(used, strlen(req) - 4);
    assert_string_equal(q.host, "lf.example");
}

static void test_http_host_port_stripped(void **state)
{
    (void)state;
    struct ksd_http_req q;
    size_t used;

    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: ksc.corp.local:13000\r\n\r\n", &q, &used),
                     KSD_OK);
    assert_string_equal(q.host, "ksc.corp.local");
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: 146.190.62.39:\r\n\r\n", &q, &used), KSD_OK);
    assert_string_equal(q.host, "146.190.62.39");
    /* not a port: kept verbatim */
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a.example:http\r\n\r\n", &q, &used), KSD_OK);
    assert_string_equal(q.host, "a.example:http");
    /* trailing dot removed, after the port */
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: Dot.Example.:80\r\n\r\n", &q, &used), KSD_OK);
    assert_string_equal(q.host, "dot.example");
}

static void test_http_ipv6_literal_host(void **state)
{
    (void)state;
    struct ksd_http_req q;
    size_t used;

    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: [2001:DB8::1]:8080\r\n\r\n", &q, &used),
                     KSD_OK);
    assert_string_equal(q.host, "[2001:db8::1]");
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n", &q, &used), KSD_OK);
    assert_string_equal(q.host, "[::1]");
    /* bare IPv6 (invalid, several colons): kept whole */
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: fe80::1\r\n\r\n", &q, &used), KSD_OK);
    assert_string_equal(q.host, "fe80::1");
}

static void test_http_host_empty_and_repeated(void **state)
{
    (void)state;
    struct ksd_http_req q;
    size_t used;

    assert_int_equal(parse("GET / HTTP/1.1\r\nHost:\r\n\r\n", &q, &used), KSD_OK);
    assert_int_equal(q.has_host, 1);
    assert_string_equal(q.host, "");
    assert_int_equal(
        parse("GET / HTTP/1.1\r\nHost: first.example\r\nHost: second.example\r\n\r\n", &q, &used),
        KSD_OK);
    assert_string_equal(q.host, "first.example");
    assert_int_equal(parse("GET / HTTP/1.1\r\nX-Host: nope\r\nHost : bad\r\n\r\n", &q, &used),
                     KSD_OK);
    assert_int_equal(q.has_host, 0);
    assert_int_equal(q.has_ua, 0);
}

static void test_http_absolute_form_target(void **state)
{
    (void)state;
    struct ksd_http_req q;
    size_t used;

    assert_int_equal(parse("GET http://http.com/ HTTP/1.1\r\nHost: http.com\r\n\r\n", &q, &used),
                     KSD_OK);
    assert_int_equal(q.has_target_host, 1);
    assert_string_equal(q.target_host, "http.com");
    assert_int_equal(q.target_port, 80);
    assert_string_equal(q.path, "/");
    assert_string_equal(q.host, "http.com");

    assert_int_equal(
        parse("GET HTTPS://user:pw@Upd.Example.:8443/a/b?c HTTP/1.1\r\n\r\n", &q, &used), KSD_OK);
    assert_string_equal(q.target_host, "upd.example");
    assert_int_equal(q.target_port, 8443);
    assert_string_equal(q.path, "/a/b?c");
    assert_int_equal(q.has_host, 0); /* the target never becomes the Host */

    assert_int_equal(parse("GET http://[2001:db8::2]?q HTTP/1.1\r\n\r\n", &q, &used), KSD_OK);
    assert_string_equal(q.target_host, "[2001:db8::2]");
    assert_int_equal(q.target_port, 80);
    assert_string_equal(q.path, "/?q");

    assert_int_equal(parse("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", &q, &used), KSD_OK);
    assert_string_equal(q.path, "*");
    assert_int_equal(q.has_target_host, 0);
}

static void test_http_connect_target(void **state)
{
    (void)state;
    /* zeek_http-connect-with-header-null.pcap, client request */
    static const char req[] = "CONNECT secure.newegg.com:443 HTTP/1.1\r\n"
                              "User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10.10; rv:41.0) "
                              "Gecko/20100101 Firefox/41.0\r\n"
                              "Proxy-Connection: keep-alive\r\n"
                              "Connection: keep-alive\r\n"
                              "Host: secure.newegg.com:443\r\n"
                              "\r\n";
    struct ksd_http_req q;
    size_t used;

    assert_int_equal(parse(req, &q, &used), KSD_OK);
    assert_int_equal(used, strlen(req));
    assert_int_equal(q.is_connect, 1);
    assert_string_equal(q.method, "CONNECT");
    assert_int_equal(q.has_target_host, 1);
    assert_string_equal(q.target_host, "secure.newegg.com");
    assert_int_equal(q.target_port, 443);
    assert_string_equal(q.path, "");
    assert_string_equal(q.host, "secure.newegg.com");

    /* foxio_https-connect.pcap: no Host header */
    assert_int_equal(parse("CONNECT ts01-b.cloudsink.net:443 HTTP/1.0\r\n"
                           "User-Agent: CrowdStrike Falcon Sensor\r\n\r\n",
                           &q, &used),
                     KSD_OK);
    assert_int_equal(q.has_host, 0);
    assert_string_equal(q.target_host, "ts01-b.cloudsink.net");
    assert_int_equal(q.target_port, 443);

    assert_int_equal(parse("CONNECT [2001:db8::7]:8443 HTTP/1.1\r\n\r\n", &q, &used), KSD_OK);
    assert_string_equal(q.target_host, "[2001:db8::7]");
    assert_int_equal(q.target_port, 8443);
}

static void test_http_folded_header(void **state)
{
    (void)state;
    struct ksd_http_req q;
    size_t used;

    assert_int_equal(parse("GET / HTTP/1.1\r\n"
                           "User-Agent: Mozilla/5.0\r\n"
                           " (compatible;\r\n"
                           "\t KAV)\r\n"
                           "Host:\r\n"
                           "  folded.example:80\r\n"
                           "\r\n",
                           &q, &used),
                     KSD_OK);
    assert_string_equal(q.user_agent, "Mozilla/5.0 (compatible; KAV)");
    assert_string_equal(q.host, "folded.example");
}

static void test_http_nul_and_controls_in_headers(void **state)
{
    (void)state;
    static const uint8_t req[] = "GET / HTTP/1.1\r\nUser-Agent: a\0b\x01\x7f\xe9\r\n"
                                 "X-Null: \0\0\0\r\nHost: nul.example\r\n\r\n";
    struct ksd_http_req q;
    size_t used;

    assert_int_equal(ksd_http_parse_request(req, sizeof(req) - 1, &q, &used), KSD_OK);
    assert_int_equal(used, sizeof(req) - 1);
    assert_string_equal(q.user_agent, "a\\000b\\001\\177\\351");
    assert_string_equal(q.host, "nul.example");
}

/* Every prefix of the request returns EAGAIN; the whole request gives the
 * same result as in one piece, also when more bytes follow. */
static void test_http_split_at_every_offset(void **state)
{
    (void)state;
    static const char req[] = "\r\nPOST http://proxy.example:3128/upload HTTP/1.1\r\n"
                              "Host: [2001:db8::5]:443\r\n"
                              "User-Agent: split\r\n"
                              "  agent\r\n"
                              "Content-Length: 5\r\n"
                              "\r\n"
                              "hello";
    const size_t hdr = strlen(req) - 5;
    struct ksd_http_req whole, part;
    size_t used = 0, used2;

    assert_int_equal(parse(req, &whole, &used), KSD_OK);
    assert_int_equal(used, hdr);
    assert_string_equal(whole.host, "[2001:db8::5]");
    assert_string_equal(whole.user_agent, "split agent");
    assert_string_equal(whole.target_host, "proxy.example");
    assert_int_equal(whole.target_port, 3128);
    assert_int_equal(whole.content_length, 5);

    uint8_t *copy = malloc(hdr + 5);
    assert_non_null(copy);
    memcpy(copy, req, hdr + 5);
    for (size_t n = 0; n < hdr; n++) {
        used2 = 12345;
        /* an exact-size heap copy lets ASan catch any read past n */
        uint8_t *pre = malloc(n ? n : 1);
        assert_non_null(pre);
        memcpy(pre, copy, n);
        assert_int_equal(ksd_http_parse_request(pre, n, &part, &used2), KSD_EAGAIN);
        assert_int_equal(used2, 12345);
        free(pre);
    }
    for (size_t n = hdr; n <= hdr + 5; n++) {
        assert_int_equal(ksd_http_parse_request(copy, n, &part, &used2), KSD_OK);
        assert_int_equal(used2, hdr);
        assert_memory_equal(&part, &whole, sizeof(part));
    }
    free(copy);
}

static void test_http_pipelined_requests(void **state)
{
    (void)state;
    static const char req[] = "GET /1 HTTP/1.1\r\nHost: one.example\r\n\r\n"
                              "GET /2 HTTP/1.1\r\nHost: two.example\r\n\r\n";
    struct ksd_http_req q;
    size_t used, used2;

    assert_int_equal(parse(req, &q, &used), KSD_OK);
    assert_string_equal(q.host, "one.example");
    assert_int_equal(parse(req + used, &q, &used2), KSD_OK);
    assert_string_equal(q.host, "two.example");
    assert_string_equal(q.path, "/2");
    assert_int_equal(used + used2, strlen(req));
}

static void test_http_not_http_rejected(void **state)
{
    (void)state;
    static const uint8_t tls[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc};
    struct ksd_http_req q;
    size_t used;

    assert_int_equal(ksd_http_parse_request(tls, sizeof(tls), &q, &used), KSD_EINVAL);
    assert_int_equal(ksd_http_parse_request(tls, 1, &q, &used), KSD_EINVAL);
    /* decided before the line is complete */
    assert_int_equal(parse("GE\x01", &q, &used), KSD_EINVAL);
    assert_int_equal(parse(" GET / HTTP/1.1\r\n", &q, &used), KSD_EINVAL);
    assert_int_equal(parse("GET / HTTP/1.1\0", &q, &used), KSD_EAGAIN); /* strlen stops at NUL */
    assert_int_equal(
        ksd_http_parse_request((const uint8_t *)"GET /\0 HTTP/1.1\r\n\r\n", 19, &q, &used),
        KSD_EINVAL);
    assert_int_equal(parse("VERYLONGMETHODNAME / HTTP/1.1\r\n\r\n", &q, &used), KSD_EINVAL);
    /* complete request lines that are not HTTP/1.x */
    assert_int_equal(parse("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", &q, &used), KSD_EINVAL);
    assert_int_equal(parse("GET /index.html\r\n", &q, &used), KSD_EINVAL);
    assert_int_equal(parse("GET  HTTP/1.1\r\n\r\n", &q, &used), KSD_EINVAL);
    assert_int_equal(parse("GET / HTTP/1.1x\r\n\r\n", &q, &used), KSD_EINVAL);
    assert_int_equal(parse("SSH-2.0-OpenSSH_9.0\r\n", &q, &used), KSD_EINVAL);
    assert_int_equal(parse("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n", &q, &used), KSD_EINVAL);
    assert_int_equal(parse("\r\rGET / HTTP/1.1\r\n\r\n", &q, &used), KSD_EINVAL);
    /* an unknown but well-formed method is parsed (the probe decides) */
    assert_int_equal(parse("BREW /pot HTTP/1.1\r\nHost: tea\r\n\r\n", &q, &used), KSD_OK);
    assert_string_equal(q.method, "BREW");
}

static void test_http_header_byte_cap(void **state)
{
    (void)state;
    const size_t cap = KSD_HTTP_MAX_HEADER_BYTES;
    char *big = malloc(cap + 64);
    struct ksd_http_req q;
    size_t used;

    assert_non_null(big);
    int k = snprintf(big, cap + 64, "GET / HTTP/1.1\r\nHost: cap.example\r\nX-Pad: ");
    memset(big + k, 'p', cap + 64 - (size_t)k);
    /* no end of headers within the cap: EAGAIN below it, ELIMIT at it */
    assert_int_equal(ksd_http_parse_request((uint8_t *)big, cap - 1, &q, &used), KSD_EAGAIN);
    assert_int_equal(ksd_http_parse_request((uint8_t *)big, cap, &q, &used), KSD_ELIMIT);
    assert_int_equal(ksd_http_parse_request((uint8_t *)big, cap + 64, &q, &used), KSD_ELIMIT);
    /* a block ending exactly at the cap is accepted */
    memcpy(big + cap - 4, "\r\n\r\n", 4);
    assert_int_equal(ksd_http_parse_request((uint8_t *)big, cap + 64, &q, &used), KSD_OK);
    assert_int_equal(used, cap);
    assert_string_equal(q.host, "cap.example");
    free(big);
}

static void test_http_header_count_cap(void **state)
{
    (void)state;
    char buf[8192];
    size_t n = 0, used;
    struct ksd_http_req q;

    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < KSD_HTTP_MAX_HEADERS; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%d: v\r\n", i);
    size_t at_cap = n;
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
    assert_int_equal(ksd_http_parse_request((uint8_t *)buf, n, &q, &used), KSD_OK);
    n = at_cap;
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-extra: v\r\n\r\n");
    assert_int_equal(ksd_http_parse_request((uint8_t *)buf, n, &q, &used), KSD_ELIMIT);
}

static void test_http_long_values_truncated(void **state)
{
    (void)state;
    char buf[4096];
    struct ksd_http_req q;
    size_t used;
    int k = snprintf(buf, sizeof(buf), "GET /");
    memset(buf + k, 'a', 1500);
    k += 1500;
    k += snprintf(buf + k, sizeof(buf) - (size_t)k, " HTTP/1.1\r\nUser-Agent: ");
    for (int i = 0; i < 200; i++)
        buf[k++] = '\x01'; /* each renders as 4 characters */
    k += snprintf(buf + k, sizeof(buf) - (size_t)k,
                  "\r\nContent-Length: 99999999999999999999999\r\n"
                  "Content-Length: 7\r\n\r\n");
    assert_int_equal(ksd_http_parse_request((uint8_t *)buf, (size_t)k, &q, &used), KSD_OK);
    assert_int_equal(strlen(q.path), sizeof(q.path) - 1);
    assert_int_equal(strlen(q.user_agent), 508); /* 127 whole escapes */
    assert_int_equal(q.content_length, 7);       /* the overflowing one is ignored */
}

static void test_http_probe(void **state)
{
    (void)state;
    static const char *const yes[] = {"GET /",    "POST /",     "HEAD /",        "PUT /",
                                      "DELETE /", "OPTIONS *",  "CONNECT a:443", "PATCH /",
                                      "TRACE /",  "PROPFIND /", "MKCOL /",       "REPORT /"};
    static const char *const no[] = {"get /", "GET",          "GET\t/",          "GETX /",
                                     "",      "\x16\x03\x01", "HTTP/1.1 200 OK", "PRI * HTTP/2.0"};

    for (size_t i = 0; i < KSD_ARRAY_LEN(yes); i++)
        assert_int_equal(ksd_http_probe((const uint8_t *)yes[i], strlen(yes[i])), 1);
    for (size_t i = 0; i < KSD_ARRAY_LEN(no); i++)
        assert_int_equal(ksd_http_probe((const uint8_t *)no[i], strlen(no[i])), 0);
    assert_int_equal(ksd_http_probe(NULL, 0), 0);
}

/* A Host value with a NUL or another control byte is not evidence: no host,
 * flagged host_bad, and a later Host line cannot replace it. */
static void test_http_host_control_bytes_not_evidence(void **state)
{
    (void)state;
    static const uint8_t nul[] = "GET / HTTP/1.1\r\nHost: evil\0.kaspersky.com\r\n\r\n";
    static const uint8_t ctl[] = "GET / HTTP/1.1\r\nHost: a\x01.kaspersky.com\r\n"
                                 "Host: dnl-01.geo.kaspersky.com\r\n\r\n";
    static const uint8_t tab[] = "GET / HTTP/1.1\r\nHost: x\t.kaspersky.com\r\n\r\n";
    static const uint8_t del[] = "GET / HTTP/1.1\r\nHost: x\x7f.kaspersky.com\r\n\r\n";
    const uint8_t *cases[] = {nul, ctl, tab, del};
    const size_t lens[] = {sizeof(nul) - 1, sizeof(ctl) - 1, sizeof(tab) - 1, sizeof(del) - 1};
    for (size_t i = 0; i < 4; i++) {
        struct ksd_http_req q;
        size_t consumed = 0;
        assert_int_equal(ksd_http_parse_request(cases[i], lens[i], &q, &consumed), KSD_OK);
        assert_int_equal(consumed, lens[i]);
        assert_int_equal(q.has_host, 0);
        assert_int_equal(q.host_bad, 1);
        assert_string_equal(q.host, "");
    }
    /* the same for the authority of a CONNECT (an HTAB inside the target) */
    struct ksd_http_req c;
    size_t used = 0;
    assert_int_equal(parse("CONNECT a\t.kaspersky.com:443 HTTP/1.1\r\n\r\n", &c, &used), KSD_OK);
    assert_int_equal(c.has_target_host, 0);
    assert_string_equal(c.target_host, "");
    /* a clean value is still taken */
    struct ksd_http_req q;
    size_t consumed = 0;
    assert_int_equal(
        parse("GET / HTTP/1.1\r\nHost: dnl-01.geo.kaspersky.com\r\n\r\n", &q, &consumed), KSD_OK);
    assert_int_equal(q.host_bad, 0);
    assert_string_equal(q.host, "dnl-01.geo.kaspersky.com");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_basic_request),
        cmocka_unit_test(test_http_header_names_case_insensitive),
        cmocka_unit_test(test_http_lf_only_line_endings),
        cmocka_unit_test(test_http_host_port_stripped),
        cmocka_unit_test(test_http_ipv6_literal_host),
        cmocka_unit_test(test_http_host_empty_and_repeated),
        cmocka_unit_test(test_http_absolute_form_target),
        cmocka_unit_test(test_http_connect_target),
        cmocka_unit_test(test_http_folded_header),
        cmocka_unit_test(test_http_nul_and_controls_in_headers),
        cmocka_unit_test(test_http_split_at_every_offset),
        cmocka_unit_test(test_http_pipelined_requests),
        cmocka_unit_test(test_http_not_http_rejected),
        cmocka_unit_test(test_http_header_byte_cap),
        cmocka_unit_test(test_http_header_count_cap),
        cmocka_unit_test(test_http_long_values_truncated),
        cmocka_unit_test(test_http_probe),
        cmocka_unit_test(test_http_host_control_bytes_not_evidence),
    };
    return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
