/*
 * test_spool.c - the on-disk spool of the Redis output (sensor/output/spool.c):
 * order of replay, CRC damage skipped and counted, the size cap, a torn last
 * record after a crash, reopen with records left by a previous run, and the
 * payload codec's bounds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dissectors/ksd.h"
#include "sensor/output/spool.h"

struct fixture {
    char dir[64];
    char path[96];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/ksd-spool-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/spool", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void make_event(struct ksd_event *ev, uint64_t id)
{
    memset(ev, 0, sizeof(*ev));
    ev->id = id;
    ev->ts_us = 1700000000123456LL + (int64_t)id;
    snprintf(ev->sensor, sizeof(ev->sensor), "s1");
    snprintf(ev->client, sizeof(ev->client), "10.0.0.%u", (unsigned)(id % 250));
    snprintf(ev->server, sizeof(ev->server), "203.0.113.5");
    ev->sport = (uint16_t)(40000 + id % 1000);
    ev->dport = 443;
    snprintf(ev->proto, sizeof(ev->proto), "tcp");
    snprintf(ev->evidence, sizeof(ev->evidence), "sni");
    snprintf(ev->indicator, sizeof(ev->indicator), "ksn-%llu.kaspersky-labs.com",
             (unsigned long long)id);
    snprintf(ev->rule, sizeof(ev->rule), "kl-ksn-001");
    snprintf(ev->category, sizeof(ev->category), "telemetry");
    ev->confidence = 90;
    ev->count = 1;
}

static off_t file_size(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return sb.st_size;
}

static void append_range(struct ksd_spool *s, uint64_t from, uint64_t to)
{
    struct ksd_event ev;
    for (uint64_t i = from; i < to; i++) {
        make_event(&ev, i);
        assert_int_equal(ksd_spool_append(s, &ev, 1), 1);
    }
}

/* Read everything left, checking ids come back as from, from+1, ... */
static uint64_t drain_expect(struct ksd_spool *s, uint64_t from)
{
    static struct ksd_event out[KSD_SPOOL_MAX_PEEK];
    uint64_t expect = from;
    for (;;) {
        uint64_t next;
        int n = ksd_spool_peek(s, out, 100, &next);
        assert_true(n >= 0);
        if (n == 0 && ksd_spool_pending(s) == 0)
            break;
        for (int i = 0; i < n; i++)
            assert_int_equal(out[i].id, expect++);
        assert_int_equal(ksd_spool_consume(s, next, (size_t)n), 0);
    }
    return expect;
}

static void test_spool_crc32_known_vector(void **state)
{
    (void)state;
    assert_int_equal(ksd_spool_crc32(0, "123456789", 9), 0xcbf43926u);
    /* continuing in two parts gives the same value */
    assert_int_equal(ksd_spool_crc32(ksd_spool_crc32(0, "1234", 4), "56789", 5), 0xcbf43926u);
}

static void test_spool_codec_roundtrip_full_fields(void **state)
{
    (void)state;
    struct ksd_event ev, back;
    unsigned char buf[KSD_SPOOL_MAX_RECORD];
    make_event(&ev, 0xfedcba9876543210ull);
    memset(ev.indicator, 'x', sizeof(ev.indicator) - 1);
    ev.indicator[sizeof(ev.indicator) - 1] = '\0';
    memset(ev.via, '\xff', sizeof(ev.via) - 1);
    ev.via[sizeof(ev.via) - 1] = '\0';
    snprintf(ev.site, sizeof(ev.site), "hq");
    snprintf(ev.managed, sizeof(ev.managed), "exception");
    snprintf(ev.ruleset, sizeof(ev.ruleset), "# ksd rules 2026-01-01");
    snprintf(ev.app, sizeof(ev.app), "TLS");
    snprintf(ev.pcap, sizeof(ev.pcap), "site-a/2026-12-01/span0.pcapng");
    ev.ts_us = -5;
    ev.confidence = 100;
    ev.count = 77;
    int n = ksd_spool_encode(&ev, buf, sizeof(buf));
    assert_true(n > 0);
    assert_int_equal(ksd_spool_decode(buf, (size_t)n, &back), KSD_OK);
    assert_memory_equal(&ev, &back, sizeof(ev));
    /* every truncation of a valid payload is rejected */
    for (int cut = 0; cut < n; cut++)
        assert_int_equal(ksd_spool_decode(buf, (size_t)cut, &back), KSD_EINVAL);
    /* trailing garbage is rejected */
    buf[n] = 0;
    assert_int_equal(ksd_spool_decode(buf, (size_t)n + 1, &back), KSD_EINVAL);
    /* too small an output buffer */
    assert_int_equal(ksd_spool_encode(&ev, buf, 100), -1);
}

static void test_spool_decode_rejects_overlong_string(void **state)
{
    (void)state;
    struct ksd_event ev;
    unsigned char buf[KSD_SPOOL_MAX_RECORD];
    make_event(&ev, 1);
    int n = ksd_spool_encode(&ev, buf, sizeof(buf));
    assert_true(n > 31);
    /* the first string (sensor, capacity 64) claims 64 bytes: too long */
    buf[29] = 64;
    buf[30] = 0;
    assert_int_equal(ksd_spool_decode(buf, (size_t)n, &ev), KSD_EINVAL);
    /* bad version */
    make_event(&ev, 1);
    n = ksd_spool_encode(&ev, buf, sizeof(buf));
    buf[0] = 4;
    assert_int_equal(ksd_spool_decode(buf, (size_t)n, &ev), KSD_EINVAL);
    /* a version 1 record (no community_id, client MAC and name, pcap: the
     * last five strings, empty here, 2 length bytes each) still decodes */
    struct ksd_event back;
    make_event(&ev, 1);
    n = ksd_spool_encode(&ev, buf, sizeof(buf));
    buf[0] = 1;
    assert_int_equal(ksd_spool_decode(buf, (size_t)n - 10, &back), KSD_OK);
    assert_memory_equal(&ev, &back, sizeof(ev));
    assert_int_equal(ksd_spool_decode(buf, (size_t)n, &back), KSD_EINVAL);
    /* a version 2 record (no pcap) still decodes */
    buf[0] = 2;
    assert_int_equal(ksd_spool_decode(buf, (size_t)n - 2, &back), KSD_OK);
    assert_memory_equal(&ev, &back, sizeof(ev));
}

static void test_spool_replays_in_append_order(void **state)
{
    struct fixture *f = *state;
    int err = 0;
    struct ksd_spool *s = ksd_spool_open(f->path, 0, &err);
    assert_non_null(s);
    append_range(s, 1, 501);
    /* a batch append keeps its order too */
    struct ksd_event batch[10];
    for (int i = 0; i < 10; i++)
        make_event(&batch[i], 501 + (uint64_t)i);
    assert_int_equal(ksd_spool_append(s, batch, 10), 10);
    struct ksd_spool_stats st;
    ksd_spool_get_stats(s, &st);
    assert_int_equal(st.records, 510);
    assert_int_equal(drain_expect(s, 1), 511);
    /* fully consumed: the file is truncated to its header */
    assert_int_equal(file_size(f->path), KSD_SPOOL_FILE_HDR);
    ksd_spool_get_stats(s, &st);
    assert_int_equal(st.records, 0);
    assert_int_equal(st.consumed, 510);
    assert_int_equal(st.corrupt, 0);
    ksd_spool_close(s);
}

static void test_spool_peek_without_consume_rereads(void **state)
{
    struct fixture *f = *state;
    int err = 0;
    struct ksd_event out[8];
    uint64_t next, next2;
    struct ksd_spool *s = ksd_spool_open(f->path, 0, &err);
    assert_non_null(s);
    append_range(s, 10, 20);
    assert_int_equal(ksd_spool_peek(s, out, 4, &next), 4);
    assert_int_equal(out[0].id, 10);
    /* not consumed (delivery failed): the same events come again */
    assert_int_equal(ksd_spool_peek(s, out, 4, &next2), 4);
    assert_int_equal(out[0].id, 10);
    assert_int_equal(next, next2);
    assert_int_equal(ksd_spool_consume(s, next, 4), 0);
    assert_int_equal(ksd_spool_peek(s, out, 8, &next), 6);
    assert_int_equal(out[0].id, 14);
    /* appends during replay come after the waiting ones */
    append_range(s, 20, 22);
    assert_int_equal(ksd_spool_consume(s, next, 6), 0);
    assert_int_equal(drain_expect(s, 20), 22);
    ksd_spool_close(s);
}

static void test_spool_crc_damage_skipped_and_counted(void **state)
{
    struct fixture *f = *state;
    int err = 0;
    struct ksd_spool *s = ksd_spool_open(f->path, 0, &err);
    assert_non_null(s);
    append_range(s, 0, 3);
    off_t one = (file_size(f->path) - KSD_SPOOL_FILE_HDR) / 3; /* equal-size records */
    off_t h = KSD_SPOOL_FILE_HDR;
    append_range(s, 3, 10);
    ksd_spool_close(s);

    /* flip a payload byte of record 1 and the length of record 5 */
    int fd = open(f->path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char b;
    assert_int_equal(pread(fd, &b, 1, h + one + 20), 1);
    b ^= 0x40;
    assert_int_equal(pwrite(fd, &b, 1, h + one + 20), 1);
    assert_int_equal(pread(fd, &b, 1, h + 5 * one + 4), 1);
    b ^= 0x01;
    assert_int_equal(pwrite(fd, &b, 1, h + 5 * one + 4), 1);
    close(fd);

    s = ksd_spool_open(f->path, 0, &err);
    assert_non_null(s);
    struct ksd_event out[16];
    uint64_t next;
    int n = ksd_spool_peek(s, out, 16, &next);
    assert_int_equal(n, 8);
    uint64_t want[8] = {0, 2, 3, 4, 6, 7, 8, 9};
    for (int i = 0; i < 8; i++)
        assert_int_equal(out[i].id, want[i]);
    struct ksd_spool_stats st;
    ksd_spool_get_stats(s, &st);
    assert_int_equal(st.corrupt, 2);
    assert_int_equal(st.corrupt_at, h + one); /* where the first damage starts */
    assert_int_equal(ksd_spool_consume(s, next, 8), 0);
    assert_int_equal(ksd_spool_pending(s), 0);
    ksd_spool_close(s);
}

static void test_spool_garbage_file_never_crashes(void **state)
{
    struct fixture *f = *state;
    int err = 0;
    /* a file of pseudo-random bytes with magics sprinkled in */
    unsigned char junk[70000];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(junk); i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (unsigned char)(x >> 16);
        if (i % 997 == 0 && i + 12 < sizeof(junk)) {
            memcpy(junk + i, "KSP1", 4);
            i += 3;
        }
    }
    FILE *fp = fopen(f->path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
    fclose(fp);
    struct ksd_spool *s = ksd_spool_open(f->path, 0, &err);
    assert_non_null(s);
    /* nothing valid: the file starts afresh and works normally */
    assert_int_equal(ksd_spool_pending(s), 0);
    append_range(s, 1, 4);
    assert_int_equal(drain_expect(s, 1), 4);
    ksd_spool_close(s);
}

static void test_spool_size_cap_refuses_and_counts(void **state)
{
    struct fixture *f = *state;
    int err = 0;
    struct ksd_event ev;
    struct ksd_spool *s = ksd_spool_open(f->path, 4096, &err);
    assert_non_null(s);
    uint64_t i = 0;
    for (;; i++) {
        make_event(&ev, i);
        int r = ksd_spool_append(s, &ev, 1);
        assert_true(r == 0 || r == 1);
        if (r == 0)
            break;
    }
    assert_true(i > 10);
    assert_true(file_size(f->path) <= 4096);
    struct ksd_event more[5];
    for (int k = 0; k < 5; k++)
        make_event(&more[k], 1000 + (uint64_t)k);
    assert_int_equal(ksd_spool_append(s, more, 5), 0);
    struct ksd_spool_stats st;
    ksd_spool_get_stats(s, &st);
    assert_int_equal(st.cap_drops, 6);
    assert_int_equal(st.records, i);
    /* after draining, there is room again */
    assert_int_equal(drain_expect(s, 0), i);
    assert_int_equal(ksd_spool_append(s, more, 5), 5);
    ksd_spool_close(s);
}

static void test_spool_reopen_keeps_records_and_cuts_torn_tail(void **state)
{
    struct fixture *f = *state;
    int err = 0;
    struct ksd_spool *s = ksd_spool_open(f->path, 0, &err);
    assert_non_null(s);
    append_range(s, 100, 150);
    ksd_spool_close(s);
    off_t full = file_size(f->path);
    /* crash in the middle of the 50th record */
    assert_int_equal(truncate(f->path, full - 7), 0);

    s = ksd_spool_open(f->path, 0, &err);
    assert_non_null(s);
    struct ksd_spool_stats st;
    ksd_spool_get_stats(s, &st);
    assert_int_equal(st.records, 49);
    assert_int_equal(st.corrupt, 1);
    assert_true(st.torn_bytes > 0);
    assert_true(file_size(f->path) < full - 7);
    /* new appends follow the last valid record */
    append_range(s, 150, 152);
    ksd_spool_close(s);

    s = ksd_spool_open(f->path, 0, &err);
    assert_non_null(s);
    ksd_spool_get_stats(s, &st);
    assert_int_equal(st.records, 51);
    assert_int_equal(st.corrupt, 0);
    struct ksd_event out[64];
    uint64_t next;
    int n = ksd_spool_peek(s, out, 64, &next);
    assert_int_equal(n, 51);
    assert_int_equal(out[48].id, 148);
    assert_int_equal(out[49].id, 150);
    assert_int_equal(out[50].id, 151);
    ksd_spool_close(s);
}

static void test_spool_second_opener_refused(void **state)
{
    struct fixture *f = *state;
    int err = 0;
    struct ksd_spool *s = ksd_spool_open(f->path, 0, &err);
    assert_non_null(s);
    struct ksd_spool *t = ksd_spool_open(f->path, 0, &err);
    assert_null(t);
    assert_true(err < 0);
    ksd_spool_close(s);
    assert_null(ksd_spool_open("/nonexistent-dir/x/spool", 0, &err));
}

/* A file that is not a spool is refused and left as it was; an empty one is
 * taken. */
static void test_spool_foreign_file_refused_untouched(void **state)
{
    struct fixture *f = *state;
    int err = 0;
    static const char text[] = "#!/bin/sh\necho this is not a spool\n";
    FILE *fp = fopen(f->path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, sizeof(text) - 1, fp), sizeof(text) - 1);
    fclose(fp);
    assert_null(ksd_spool_open(f->path, 0, &err));
    assert_int_equal(err, KSD_SPOOL_EFOREIGN);
    char back[128];
    fp = fopen(f->path, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(back, 1, sizeof(back), fp), sizeof(text) - 1);
    fclose(fp);
    assert_memory_equal(back, text, sizeof(text) - 1);
    /* an empty file becomes a spool */
    assert_int_equal(truncate(f->path, 0), 0);
    struct ksd_spool *s = ksd_spool_open(f->path, 0, &err);
    assert_non_null(s);
    assert_int_equal(file_size(f->path), KSD_SPOOL_FILE_HDR);
    ksd_spool_close(s);
}

/* Delivered records are retired: a reopen reads from the stored position. */
static void test_spool_read_position_survives_reopen(void **state)
{
    struct fixture *f = *state;
    int err = 0;
    struct ksd_event out[8];
    uint64_t next;
    struct ksd_spool *s = ksd_spool_open(f->path, 0, &err);
    assert_non_null(s);
    append_range(s, 1, 11);
    assert_int_equal(ksd_spool_replaying(s), 0);
    assert_int_equal(ksd_spool_peek(s, out, 4, &next), 4);
    assert_int_equal(ksd_spool_consume(s, next, 4), 0);
    ksd_spool_close(s); /* as after kill -9: nothing else is written at close */
    s = ksd_spool_open(f->path, 0, &err);
    assert_non_null(s);
    struct ksd_spool_stats st;
    ksd_spool_get_stats(s, &st);
    assert_int_equal(st.records, 6);
    assert_int_equal(ksd_spool_replaying(s), 1);
    assert_int_equal(drain_expect(s, 5), 11);
    assert_int_equal(ksd_spool_replaying(s), 0);
    ksd_spool_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spool_crc32_known_vector),
        cmocka_unit_test(test_spool_codec_roundtrip_full_fields),
        cmocka_unit_test(test_spool_decode_rejects_overlong_string),
        cmocka_unit_test_setup_teardown(test_spool_replays_in_append_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_peek_without_consume_rereads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_crc_damage_skipped_and_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_garbage_file_never_crashes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_size_cap_refuses_and_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_reopen_keeps_records_and_cuts_torn_tail, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_spool_second_opener_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_foreign_file_refused_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_read_position_survives_reopen, setup, teardown),
    };
    return cmocka_run_group_tests_name("spool", tests, NULL, NULL);
}
