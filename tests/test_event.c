/*
 * test_event.c - the JSON encoding of detection events (sensor/output/event.c),
 * which the Redis stream, the --json file and the dashboard all carry. Every
 * byte value 0..255 in an indicator must give valid JSON in valid UTF-8 with
 * no raw control byte, and decode back to the same value (bytes that are not
 * part of valid UTF-8 come back as the code point of the same number, the
 * documented \u00XX rule); every field appears under its name with its value.
 * The check is a strict JSON reader written here (RFC 8259 section 7 strings,
 * RFC 3629 UTF-8), independent of the encoder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sensor/output/event.h"

#define T_MAX_CP     1024 /* code points kept per decoded string */
#define T_MAX_FIELDS 32   /* keys kept per decoded object */

struct jstr {
    uint32_t cp[T_MAX_CP];
    size_t n;
};

struct jfield {
    struct jstr key;
    int is_num;
    long long num;
    struct jstr val;
};

/* One strict UTF-8 sequence at *p (RFC 3629 section 4); 0 when invalid. */
static uint32_t utf8_next(const unsigned char **p, int *ok)
{
    const unsigned char *s = *p;
    uint32_t cp;
    int need;
    *ok = 1;
    if (s[0] < 0x80) {
        *p += 1;
        return s[0];
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        need = 1;
        cp = s[0] & 0x1fu;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        need = 2;
        cp = s[0] & 0x0fu;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        need = 3;
        cp = s[0] & 0x07u;
    } else {
        *ok = 0;
        return 0;
    }
    for (int i = 1; i <= need; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *ok = 0;
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
        *ok = 0;
        return 0;
    }
    *p += need + 1;
    return cp;
}

static int hex4(const unsigned char *s, uint32_t *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int c = s[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        *v = *v << 4 | (uint32_t)d;
    }
    return 0;
}

/* A JSON string at *p (the opening quote); 0 and *p past it, or -1. */
static int parse_str(const unsigned char **p, struct jstr *out)
{
    const unsigned char *s = *p;
    out->n = 0;
    if (*s++ != '"')
        return -1;
    while (*s != '"') {
        uint32_t cp;
        if (*s < 0x20)
            return -1; /* raw control byte (and the end of the buffer) */
        if (*s == '\\') {
            s++;
            switch (*s) {
                case '"':
                    cp = '"';
                    break;
                case '\\':
                    cp = '\\';
                    break;
                case '/':
                    cp = '/';
                    break;
                case 'b':
                    cp = '\b';
                    break;
                case 'f':
                    cp = '\f';
                    break;
                case 'n':
                    cp = '\n';
                    break;
                case 'r':
                    cp = '\r';
                    break;
                case 't':
                    cp = '\t';
                    break;
                case 'u':
                    if (hex4(s + 1, &cp) != 0)
                        return -1;
                    s += 4;
                    if (cp >= 0xd800 && cp <= 0xdbff) {
                        uint32_t lo;
                        if (s[1] != '\\' || s[2] != 'u' || hex4(s + 3, &lo) != 0 || lo < 0xdc00 ||
                            lo > 0xdfff)
                            return -1;
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        s += 6;
                    } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                        return -1;
                    }
                    break;
                default:
                    return -1;
            }
            s++;
        } else {
            int ok;
            cp = utf8_next(&s, &ok);
            if (!ok)
                return -1;
        }
        if (out->n == T_MAX_CP)
            return -1;
        out->cp[out->n++] = cp;
    }
    *p = s + 1;
    return 0;
}

/* A flat JSON object of strings and integers, nothing after it; count or -1. */
static int parse_obj(const char *text, struct jfield *f, int cap)
{
    const unsigned char *s = (const unsigned char *)text;
    int n = 0;
    if (*s++ != '{')
        return -1;
    for (;;) {
        if (n == cap || parse_str(&s, &f[n].key) != 0 || *s++ != ':')
            return -1;
        if (*s == '"') {
            f[n].is_num = 0;
            if (parse_str(&s, &f[n].val) != 0)
                return -1;
        } else {
            char *end;
            f[n].is_num = 1;
            f[n].num = strtoll((const char *)s, &end, 10);
            if (end == (const char *)s)
                return -1;
            s = (const unsigned char *)end;
        }
        n++;
        if (*s == '}')
            break;
        if (*s++ != ',')
            return -1;
    }
    return s[1] == '\0' ? n : -1;
}

static int jstr_is(const struct jstr *j, const char *bytes)
{
    const unsigned char *s = (const unsigned char *)bytes;
    size_t i = 0;
    while (*s) {
        int ok;
        uint32_t cp = utf8_next(&s, &ok);
        if (!ok || i >= j->n || j->cp[i] != cp)
            return 0;
        i++;
    }
    return i == j->n;
}

static const struct jfield *field(const struct jfield *f, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (jstr_is(&f[i].key, key))
            return &f[i];
    return NULL;
}

static void base_event(struct ksd_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->id = 0x0123456789abcdefULL;
    ev->ts_us = 1764198000123456LL; /* 2025-11-26T23:00:00.123456Z */
    strcpy(ev->sensor, "sensor-1");
    strcpy(ev->client, "10.1.2.3");
    strcpy(ev->server, "2001:db8::1");
    ev->sport = 51234;
    ev->dport = 443;
    strcpy(ev->proto, "tcp");
    strcpy(ev->evidence, "sni");
    strcpy(ev->indicator, "s07.upd.kaspersky.com");
    strcpy(ev->rule, "kl-upd-s07");
    strcpy(ev->category, "update");
    ev->confidence = 95;
    strcpy(ev->app, "TLS.Kaspersky");
    strcpy(ev->site, "hq-berlin");
    strcpy(ev->managed, "exception");
    strcpy(ev->ruleset, "2026.11.27-1");
    ev->count = 7;
}

/* Every field under its name, with its value; via only when set. */
static void test_every_field(void **state)
{
    (void)state;
    struct ksd_event ev;
    char buf[4096];
    struct jfield f[T_MAX_FIELDS];
    base_event(&ev);
    assert_true(ksd_event_json(&ev, buf, sizeof(buf)) > 0);
    int n = parse_obj(buf, f, T_MAX_FIELDS);
    assert_int_equal(n, 18);
    static const struct {
        const char *key, *val;
    } strs[] = {
        {"ts", "2025-11-26T23:00:00.123456Z"},
        {"sensor", "sensor-1"},
        {"client", "10.1.2.3"},
        {"server", "2001:db8::1"},
        {"proto", "tcp"},
        {"evidence", "sni"},
        {"indicator", "s07.upd.kaspersky.com"},
        {"rule", "kl-upd-s07"},
        {"category", "update"},
        {"app", "TLS.Kaspersky"},
        {"site", "hq-berlin"},
        {"managed", "exception"},
        {"ruleset", "2026.11.27-1"},
        {"id", "0123456789abcdef"},
    };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        const struct jfield *x = field(f, n, strs[i].key);
        assert_non_null(x);
        assert_false(x->is_num);
        if (!jstr_is(&x->val, strs[i].val))
            fail_msg("field %s is not %s in %s", strs[i].key, strs[i].val, buf);
    }
    static const struct {
        const char *key;
        long long val;
    } nums[] = {{"sport", 51234}, {"dport", 443}, {"confidence", 95}, {"count", 7}};
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        const struct jfield *x = field(f, n, nums[i].key);
        assert_non_null(x);
        assert_true(x->is_num);
        assert_int_equal(x->num, nums[i].val);
    }
    assert_null(field(f, n, "via"));
    /* the dns_ip evidence carries the name the address was learned from */
    strcpy(ev.evidence, "dns_ip");
    strcpy(ev.via, "dnl-03.geo.kaspersky.com");
    assert_true(ksd_event_json(&ev, buf, sizeof(buf)) > 0);
    n = parse_obj(buf, f, T_MAX_FIELDS);
    assert_int_equal(n, 19);
    assert_non_null(field(f, n, "via"));
    assert_true(jstr_is(&field(f, n, "via")->val, "dnl-03.geo.kaspersky.com"));
    /* empty strings stay present: consumers rely on the keys */
    ev.app[0] = ev.site[0] = ev.managed[0] = '\0';
    assert_true(ksd_event_json(&ev, buf, sizeof(buf)) > 0);
    n = parse_obj(buf, f, T_MAX_FIELDS);
    assert_int_equal(n, 19);
    assert_true(jstr_is(&field(f, n, "app")->val, ""));
    assert_true(jstr_is(&field(f, n, "site")->val, ""));
    assert_true(jstr_is(&field(f, n, "managed")->val, ""));
}

/* Fields of the output that hold no raw control byte or DEL. */
static void assert_no_raw_controls(const char *buf, int len)
{
    assert_int_equal((size_t)len, strlen(buf));
    for (int i = 0; i < len; i++)
        if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
            fail_msg("raw byte 0x%02x at %d in %s", (unsigned char)buf[i], i, buf);
}

/* Each byte 1..255 alone, and between ASCII letters, in the indicator. */
static void test_every_byte_alone(void **state)
{
    (void)state;
    struct ksd_event ev;
    char buf[4096];
    struct jfield f[T_MAX_FIELDS];
    base_event(&ev);
    for (int b = 1; b < 256; b++) {
        for (int framed = 0; framed < 2; framed++) {
            if (framed)
                snprintf(ev.indicator, sizeof(ev.indicator), "a%cz", b);
            else
                snprintf(ev.indicator, sizeof(ev.indicator), "%c", b);
            int len = ksd_event_json(&ev, buf, sizeof(buf));
            assert_true(len > 0);
            assert_no_raw_controls(buf, len);
            int n = parse_obj(buf, f, T_MAX_FIELDS);
            if (n != 18)
                fail_msg("byte 0x%02x: not valid JSON: %s", b, buf);
            const struct jfield *x = field(f, n, "indicator");
            assert_non_null(x);
            size_t at = framed ? 1 : 0;
            assert_int_equal(x->val.n, framed ? 3 : 1);
            if (x->val.cp[at] != (uint32_t)b)
                fail_msg("byte 0x%02x came back as U+%04X", b, x->val.cp[at]);
            if (framed)
                assert_true(x->val.cp[0] == 'a' && x->val.cp[2] == 'z');
        }
    }
}

/* All bytes 1..255 in one indicator, and 0..255 through ksd_json_string. */
static void test_every_byte_together(void **state)
{
    (void)state;
    struct ksd_event ev;
    char buf[8192];
    struct jfield f[T_MAX_FIELDS];
    base_event(&ev);
    for (int b = 1; b < 256; b++)
        ev.indicator[b - 1] = (char)b;
    ev.indicator[255] = '\0';
    int len = ksd_event_json(&ev, buf, sizeof(buf));
    assert_true(len > 0);
    assert_no_raw_controls(buf, len);
    int n = parse_obj(buf, f, T_MAX_FIELDS);
    assert_int_equal(n, 18);
    const struct jfield *x = field(f, n, "indicator");
    assert_int_equal(x->val.n, 255);
    for (int b = 1; b < 256; b++)
        assert_int_equal(x->val.cp[b - 1], b);

    char raw[256];
    for (int b = 0; b < 256; b++)
        raw[b] = (char)b;
    len = ksd_json_string(raw, sizeof(raw), buf, sizeof(buf));
    assert_true(len > 0);
    assert_no_raw_controls(buf, len);
    struct jstr s;
    const unsigned char *p = (const unsigned char *)buf;
    assert_int_equal(parse_str(&p, &s), 0);
    assert_int_equal(*p, '\0');
    assert_int_equal(s.n, 256);
    for (int b = 0; b < 256; b++)
        assert_int_equal(s.cp[b], b);
}

/* Valid UTF-8 passes through unchanged; each malformed sequence is escaped
 * byte by byte (overlong, surrogate, above U+10FFFF, cut short, stray
 * continuation). */
static void test_utf8_rules(void **state)
{
    (void)state;
    char buf[512];
    const char *valid = "\xc3\xbc \xe6\x97\xa5 \xf0\x9f\x98\x80"; /* u-umlaut, CJK, emoji */
    int len = ksd_json_string(valid, strlen(valid), buf, sizeof(buf));
    assert_true(len > 0);
    assert_int_equal((size_t)len, strlen(valid) + 2);
    assert_memory_equal(buf + 1, valid, strlen(valid));
    static const char *const bad[] = {
        "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe6\x97", "\x80", "\xf5\x80\x80\x80",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t bl = strlen(bad[i]);
        len = ksd_json_string(bad[i], bl, buf, sizeof(buf));
        assert_true(len > 0);
        struct jstr s;
        const unsigned char *p = (const unsigned char *)buf;
        assert_int_equal(parse_str(&p, &s), 0);
        assert_int_equal(s.n, bl);
        for (size_t k = 0; k < bl; k++)
            assert_int_equal(s.cp[k], (unsigned char)bad[i][k]);
        for (int k = 0; k < len; k++)
            assert_true((unsigned char)buf[k] < 0x80); /* all escaped */
    }
    /* quotes, backslash and the short escapes */
    len = ksd_json_string("\"\\\n\r\t", 5, buf, sizeof(buf));
    assert_string_equal(buf, "\"\\\"\\\\\\n\\r\\t\"");
    assert_int_equal(len, 12);
}

/* A buffer too small gives -1 and an empty string, at every size. */
static void test_small_buffers(void **state)
{
    (void)state;
    struct ksd_event ev;
    char full[4096], buf[4096];
    base_event(&ev);
    int len = ksd_event_json(&ev, full, sizeof(full));
    assert_true(len > 0);
    for (int cap = 1; cap <= len; cap++) {
        memset(buf, 'x', sizeof(buf));
        assert_int_equal(ksd_event_json(&ev, buf, (size_t)cap), -1);
        assert_int_equal(buf[0], '\0');
    }
    assert_int_equal(ksd_event_json(&ev, buf, (size_t)len + 1), len);
    assert_string_equal(buf, full);
    assert_int_equal(ksd_json_string("abc", 3, buf, 5), -1);
    assert_int_equal(buf[0], '\0');
    assert_int_equal(ksd_json_string("abc", 3, buf, 6), 5);
}

/* Timestamps: microseconds, UTC, and times before 1970. */
static void test_format_ts(void **state)
{
    (void)state;
    char out[32];
    ksd_format_ts(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000000Z");
    ksd_format_ts(1764198000123456LL, out);
    assert_string_equal(out, "2025-11-26T23:00:00.123456Z");
    ksd_format_ts(-1, out);
    assert_string_equal(out, "1969-12-31T23:59:59.999999Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_field),         cmocka_unit_test(test_every_byte_alone),
        cmocka_unit_test(test_every_byte_together), cmocka_unit_test(test_utf8_rules),
        cmocka_unit_test(test_small_buffers),       cmocka_unit_test(test_format_ts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
