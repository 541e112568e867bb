/*
 * test_stream.c - unit tests for sensor/path/stream.c, the per-direction TCP
 * stream reassembler: ordering, segmentation, retransmission, overlap
 * (first data wins), sequence wrap-around, mid-stream pickup, the hole and
 * window limits (GAP/FULL), sliding consume, memory release, decoys (a
 * second version where overlaps disagree, weak bad-checksum segments) and
 * the TCP checksum check.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dissectors/ksd.h"
#include "sensor/path/stream.h"

#define SRC_LEN (1u << 17) /* 128 KiB of reference stream */

static uint8_t src[SRC_LEN];

/* The reference byte stream: xorshift32, fixed seed. */
static void fill_src(void)
{
    uint32_t x = 0x2545f491u;
    size_t i;

    for (i = 0; i < SRC_LEN; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        src[i] = (uint8_t)x;
    }
}

static int setup_src(void **state)
{
    (void)state;
    fill_src();
    return 0;
}

/* Add src[off, off + n) at sequence base + off. */
static int add_src(struct ksd_stream *s, uint32_t base, size_t off, size_t n,
                   struct ksd_stream_stats *st)
{
    return ksd_stream_add(s, base + (uint32_t)off, src + off, n, st);
}

/* The readable bytes are exactly src[off, off + n). */
static void assert_data(const struct ksd_stream *s, size_t off, size_t n)
{
    size_t len = 99999;
    const uint8_t *d = ksd_stream_data(s, &len);

    assert_int_equal(len, n);
    if (n > 0) {
        assert_non_null(d);
        assert_memory_equal(d, src + off, n);
    } else {
        assert_null(d);
    }
}

static void test_stream_idle_struct_is_small_and_unallocated(void **state)
{
    struct ksd_stream s;

    (void)state;
    printf("sizeof(struct ksd_stream) = %zu\n", sizeof(struct ksd_stream));
    assert_true(sizeof(struct ksd_stream) <= 16);
    ksd_stream_init(&s);
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_INIT);
    ksd_stream_syn(&s, 1000);
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_ACTIVE);
    assert_int_equal(ksd_stream_read_seq(&s), 1001);
    assert_null(s.buf);
    assert_data(&s, 0, 0);
    ksd_stream_free(&s);
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_DONE);
}

static void test_stream_in_order_segments_append(void **state)
{
    struct ksd_stream s;
    struct ksd_stream_stats st = {0};

    (void)state;
    ksd_stream_init(&s);
    ksd_stream_syn(&s, 1000);
    assert_int_equal(add_src(&s, 1001, 0, 100, &st), 1);
    assert_non_null(s.buf);
    assert_data(&s, 0, 100);
    assert_int_equal(add_src(&s, 1001, 100, 200, &st), 1);
    assert_int_equal(add_src(&s, 1001, 300, 1, &st), 1);
    assert_data(&s, 0, 301);
    assert_int_equal(st.segments, 3);
    assert_int_equal(st.bytes, 301);
    assert_int_equal(st.out_of_order, 0);
    assert_int_equal(st.retransmits, 0);
    assert_int_equal(st.overlaps, 0);
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_ACTIVE);
    ksd_stream_free(&s);
    assert_null(s.buf);
}

static void test_stream_split_at_every_offset_same_bytes(void **state)
{
    const size_t total = 700;
    const uint32_t base = 0x10000;
    size_t k;
    int syn, rev;

    (void)state;
    for (syn = 0; syn < 2; syn++) {
        for (rev = 0; rev < 2; rev++) {
            for (k = 1; k < total; k++) {
                struct ksd_stream s;
                struct ksd_stream_stats st = {0};

                ksd_stream_init(&s);
                if (syn)
                    ksd_stream_syn(&s, base - 1);
                if (!rev) {
                    assert_int_equal(add_src(&s, base, 0, k, &st), 1);
                    assert_int_equal(add_src(&s, base, k, total - k, &st), 1);
                    assert_int_equal(st.out_of_order, 0);
                } else {
                    /* with a SYN the later half waits; without, it is the pickup point */
                    assert_int_equal(add_src(&s, base, k, total - k, &st), syn ? 0 : 1);
                    assert_int_equal(add_src(&s, base, 0, k, &st), 1);
                    assert_int_equal(st.out_of_order, 1);
                }
                assert_data(&s, 0, total);
                assert_int_equal(ksd_stream_read_seq(&s), base);
                assert_int_equal(st.bytes, total);
                assert_int_equal(ksd_stream_state(&s), KSD_STREAM_ACTIVE);
                ksd_stream_free(&s);
            }
        }
    }
}

static void test_stream_three_segments_all_orders(void **state)
{
    static const int perm[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                   {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    const size_t off[3] = {0, 100, 137};
    const size_t len[3] = {100, 37, 250};
    const uint32_t base = 777;
    int syn, i, j;

    (void)state;
    for (syn = 0; syn < 2; syn++) {
        for (i = 0; i < 6; i++) {
            struct ksd_stream s;
            struct ksd_stream_stats st = {0};

            ksd_stream_init(&s);
            if (syn)
                ksd_stream_syn(&s, base - 1);
            for (j = 0; j < 3; j++) {
                int g = perm[i][j];
                assert_true(add_src(&s, base, off[g], len[g], &st) >= 0);
            }
            assert_data(&s, 0, 387);
            assert_int_equal(ksd_stream_read_seq(&s), base);
            assert_int_equal(st.bytes, 387);
            assert_int_equal(st.retransmits, 0);
            assert_int_equal(ksd_stream_state(&s), KSD_STREAM_ACTIVE);
            ksd_stream_free(&s);
        }
    }
}

static void test_stream_unanchored_reverse_order_exposes_lowest_start(void **state)
{
    struct ksd_stream s;

    (void)state;
    ksd_stream_init(&s);
    assert_int_equal(add_src(&s, 0, 200, 100, NULL), 1); /* third segment first: pickup */
    assert_data(&s, 200, 100);
    assert_int_equal(add_src(&s, 0, 0, 100, NULL), 1); /* first: start moves back, hole */
    assert_int_equal(ksd_stream_read_seq(&s), 0);
    assert_data(&s, 0, 100);
    assert_int_equal(add_src(&s, 0, 100, 100, NULL), 1); /* second fills the hole */
    assert_data(&s, 0, 300);
    ksd_stream_free(&s);
}

static void test_stream_retransmission_ignored(void **state)
{
    struct ksd_stream s;
    struct ksd_stream_stats st = {0};

    (void)state;
    ksd_stream_init(&s);
    ksd_stream_syn(&s, 0);
    assert_int_equal(add_src(&s, 1, 0, 100, &st), 1);
    assert_int_equal(add_src(&s, 1, 0, 100, &st), 0);
    assert_int_equal(add_src(&s, 1, 10, 50, &st), 0);
    assert_int_equal(st.retransmits, 2);
    assert_int_equal(st.bytes, 100);
    /* a held out-of-order segment sent again */
    assert_int_equal(add_src(&s, 1, 300, 50, &st), 0);
    assert_int_equal(add_src(&s, 1, 300, 50, &st), 0);
    assert_int_equal(st.retransmits, 3);
    assert_int_equal(st.out_of_order, 1);
    /* bytes already consumed */
    ksd_stream_consume(&s, 60);
    assert_int_equal(add_src(&s, 1, 0, 60, &st), 0);
    assert_int_equal(st.retransmits, 4);
    assert_data(&s, 60, 40);
    assert_int_equal(st.overlap_diffs, 0);
    ksd_stream_free(&s);
}

static void test_stream_overlap_first_data_wins(void **state)
{
    struct ksd_stream s;
    struct ksd_stream_stats st = {0};
    uint8_t evil[100];
    size_t len;
    const uint8_t *d;

    (void)state;
    ksd_stream_init(&s);
    ksd_stream_syn(&s, 0);
    assert_int_equal(add_src(&s, 1, 0, 100, &st), 1);
    /* [50, 150): the first 50 bytes differ from what is held, the rest is new */
    memcpy(evil, src + 50, sizeof(evil));
    memset(evil, 'X', 50);
    assert_int_equal(ksd_stream_add(&s, 1 + 50, evil, sizeof(evil), &st), 1);
    assert_data(&s, 0, 150);
    assert_int_equal(st.overlaps, 1);
    assert_int_equal(st.overlap_diffs, 1);
    assert_int_equal(st.bytes, 150);

    /* an overlap with equal bytes is counted, but not as a difference */
    assert_int_equal(add_src(&s, 1, 140, 20, &st), 1);
    assert_int_equal(st.overlaps, 2);
    assert_int_equal(st.overlap_diffs, 1);

    /* out of order: held [300, 400), then [350, 450) all 'Y': only [400, 450) is taken */
    assert_int_equal(add_src(&s, 1, 300, 100, &st), 0);
    memset(evil, 'Y', sizeof(evil));
    assert_int_equal(ksd_stream_add(&s, 1 + 350, evil, sizeof(evil), &st), 0);
    assert_int_equal(st.overlap_diffs, 2);
    assert_int_equal(add_src(&s, 1, 160, 140, &st), 1);
    d = ksd_stream_data(&s, &len);
    assert_int_equal(len, 450);
    assert_memory_equal(d, src, 400);
    assert_memory_equal(d + 400, evil, 50);

    /* a retransmission carrying different bytes */
    memset(evil, 'Z', sizeof(evil));
    assert_int_equal(ksd_stream_add(&s, 1, evil, 10, &st), 0);
    assert_int_equal(st.overlap_diffs, 3);
    d = ksd_stream_data(&s, &len);
    assert_memory_equal(d, src, 400);
    ksd_stream_free(&s);
}

static void test_stream_seq_wraps_around(void **state)
{
    struct ksd_stream s;
    struct ksd_stream_stats st = {0};
    const uint32_t base = 0xffffff01u; /* byte 255 is at seq 0 */

    (void)state;
    ksd_stream_init(&s);
    ksd_stream_syn(&s, 0xffffff00u);
    assert_int_equal(add_src(&s, base, 0, 200, &st), 1);
    assert_int_equal(add_src(&s, base, 400, 300, &st), 0); /* past 2^32, beyond a hole */
    assert_int_equal(add_src(&s, base, 200, 200, &st), 1); /* crosses 2^32, fills it */
    assert_data(&s, 0, 700);
    ksd_stream_consume(&s, 300);
    assert_int_equal(ksd_stream_read_seq(&s), base + 300u);
    assert_int_equal(ksd_stream_read_seq(&s), 300u - 255u);
    assert_int_equal(add_src(&s, base, 250, 500, &st), 1); /* old part trimmed across wrap */
    assert_data(&s, 300, 450);
    ksd_stream_free(&s);

    /* unanchored: pickup just after 2^32, the earlier segment just before it */
    ksd_stream_init(&s);
    assert_int_equal(add_src(&s, base, 300, 100, NULL), 1);
    assert_int_equal(add_src(&s, base, 100, 200, NULL), 1);
    assert_int_equal(ksd_stream_read_seq(&s), base + 100u);
    assert_data(&s, 100, 300);
    ksd_stream_free(&s);
}

static void test_stream_midstream_pickup_then_earlier_segment(void **state)
{
    struct ksd_stream s;
    struct ksd_stream_stats st = {0};
    const uint32_t base = 50000;

    (void)state;
    ksd_stream_init(&s);
    assert_int_equal(add_src(&s, base, 3000, 1460, &st), 1);
    assert_int_equal(ksd_stream_read_seq(&s), base + 3000);
    /* the earlier segment overlaps the start by 60 bytes: placed, start moves back */
    assert_int_equal(add_src(&s, base, 1600, 1460, &st), 1);
    assert_int_equal(ksd_stream_read_seq(&s), base + 1600);
    assert_data(&s, 1600, 2860);
    assert_int_equal(st.out_of_order, 1);
    assert_int_equal(st.overlaps, 1);
    /* more than KSD_STREAM_MAX_PREPEND before the start: ignored as old */
    assert_int_equal(ksd_stream_add(&s, base + 1600 - KSD_STREAM_MAX_PREPEND - 1, src, 1, &st), 0);
    assert_int_equal(ksd_stream_read_seq(&s), base + 1600);
    /* a first consume anchors the start: earlier bytes are old from now on */
    ksd_stream_consume(&s, 10);
    assert_int_equal(add_src(&s, base, 1000, 600, &st), 0);
    assert_int_equal(ksd_stream_read_seq(&s), base + 1610);
    assert_data(&s, 1610, 2850);
    ksd_stream_free(&s);

    /* a SYN anchors too */
    ksd_stream_init(&s);
    ksd_stream_syn(&s, base + 999);
    assert_int_equal(add_src(&s, base, 500, 600, &st), 1); /* first 500 bytes trimmed */
    assert_data(&s, 1000, 100);
    ksd_stream_free(&s);
}

static void test_stream_late_syn_moves_start_back(void **state)
{
    struct ksd_stream s;

    (void)state;
    ksd_stream_init(&s);
    assert_int_equal(add_src(&s, 0, 1001, 100, NULL), 1);
    ksd_stream_syn(&s, 1000 - 1); /* data starts at 1000: one byte missing */
    assert_int_equal(ksd_stream_read_seq(&s), 1000);
    assert_data(&s, 0, 0);
    assert_int_equal(add_src(&s, 0, 1000, 1, NULL), 1);
    assert_data(&s, 1000, 101);
    /* now anchored: a SYN with another ISN changes nothing */
    ksd_stream_syn(&s, 500);
    assert_int_equal(ksd_stream_read_seq(&s), 1000);
    assert_data(&s, 1000, 101);
    ksd_stream_free(&s);
}

static void test_stream_move_back_refused_when_window_or_store_full(void **state)
{
    struct ksd_stream s;
    struct ksd_stream_stats st = {0};
    size_t i;

    (void)state;
    /* moving back 8000 bytes would need 1000 bytes more than the window: the segment is old */
    ksd_stream_init(&s);
    assert_int_equal(add_src(&s, 0, 20000, KSD_STREAM_MAX_BYTES - 7000, &st), 1);
    assert_int_equal(add_src(&s, 0, 12000, 100, &st), 0);
    assert_int_equal(ksd_stream_read_seq(&s), 20000);
    assert_int_equal(st.retransmits, 1);
    /* one that also overlaps the start keeps only its new bytes */
    assert_int_equal(add_src(&s, 0, 12000, 8000 + KSD_STREAM_MAX_BYTES - 7000 + 10, &st), 1);
    assert_int_equal(ksd_stream_read_seq(&s), 20000);
    assert_data(&s, 20000, KSD_STREAM_MAX_BYTES - 7000 + 10);
    ksd_stream_free(&s);

    /* the in-order block would need a range slot and all are taken */
    ksd_stream_init(&s);
    assert_int_equal(add_src(&s, 0, 5000, 10, &st), 1);
    for (i = 0; i < KSD_STREAM_MAX_SEGS; i++)
        assert_int_equal(add_src(&s, 0, 5100 + i * 100, 10, &st), 0);
    assert_int_equal(add_src(&s, 0, 4000, 10, &st), 0);
    assert_int_equal(ksd_stream_read_seq(&s), 5000);
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_ACTIVE);
    assert_data(&s, 5000, 10);
    ksd_stream_free(&s);
}

static void test_stream_hole_waits_then_fills(void **state)
{
    struct ksd_stream s;
    struct ksd_stream_stats st = {0};
    size_t i;

    (void)state;
    ksd_stream_init(&s);
    ksd_stream_syn(&s, 0);
    /* 200 adjacent segments after a 10-byte hole merge into one held range */
    for (i = 0; i < 200; i++)
        assert_int_equal(add_src(&s, 1, 10 + i * 50, 50, &st), 0);
    assert_data(&s, 0, 0);
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_ACTIVE);
    assert_int_equal(add_src(&s, 1, 0, 10, &st), 1);
    assert_data(&s, 0, 10010);
    assert_int_equal(st.out_of_order, 200);
    ksd_stream_free(&s);
}

static void test_stream_gap_never_fills_then_store_overflows(void **state)
{
    struct ksd_stream s;
    struct ksd_stream_stats st = {0};
    size_t i;

    (void)state;
    ksd_stream_init(&s);
    ksd_stream_syn(&s, 0);
    assert_int_equal(add_src(&s, 1, 0, 20, &st), 1);
    /* KSD_STREAM_MAX_SEGS disjoint ranges are held while waiting */
    for (i = 0; i < KSD_STREAM_MAX_SEGS; i++) {
        assert_int_equal(add_src(&s, 1, 100 + i * 100, 10, &st), 0);
        assert_int_equal(ksd_stream_state(&s), KSD_STREAM_ACTIVE);
    }
    assert_data(&s, 0, 20);
    assert_int_equal(st.gaps, 0);
    /* filling next to a held range does not need a new one */
    assert_int_equal(add_src(&s, 1, 110, 10, &st), 0);
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_ACTIVE);
    /* one more disjoint range: the store is full, the hole is given up */
    assert_int_equal(add_src(&s, 1, 100 + KSD_STREAM_MAX_SEGS * 100, 10, &st), 0);
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_GAP);
    assert_int_equal(st.gaps, 1);
    assert_data(&s, 0, 20); /* the in-order bytes stay readable */
    /* later segments are ignored, even the one that would have filled the hole */
    assert_int_equal(add_src(&s, 1, 20, 80, &st), 0);
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_GAP);
    assert_int_equal(st.gaps, 1);
    ksd_stream_free(&s);
}

static void test_stream_hole_past_window_is_gap(void **state)
{
    struct ksd_stream s;
    struct ksd_stream_stats st = {0};

    (void)state;
    ksd_stream_init(&s);
    ksd_stream_syn(&s, 0);
    assert_int_equal(add_src(&s, 1, 0, 100, &st), 1);
    assert_int_equal(add_src(&s, 1, KSD_STREAM_MAX_BYTES - 10, 10, &st), 0); /* fits */
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_ACTIVE);
    assert_int_equal(add_src(&s, 1, KSD_STREAM_MAX_BYTES - 10, 11, &st), 0); /* one too far */
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_GAP);
    assert_int_equal(st.gaps, 1);
    assert_int_equal(st.overflows, 0);
    assert_data(&s, 0, 100);
    ksd_stream_consume(&s, 100);
    assert_null(s.buf);
    ksd_stream_free(&s);

    /* nothing in order when the hole is given up: the buffer goes at once */
    ksd_stream_init(&s);
    ksd_stream_syn(&s, 0);
    assert_int_equal(add_src(&s, 1, 50, 10, &st), 0);
    assert_non_null(s.buf);
    assert_int_equal(add_src(&s, 1, KSD_STREAM_MAX_BYTES, 10, &st), 0);
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_GAP);
    assert_null(s.buf);
    ksd_stream_free(&s);
}

static void test_stream_consume_slides_past_window(void **state)
{
    struct ksd_stream s;
    struct ksd_stream_stats st = {0};
    const size_t msg = 517, seg = 1460, total = 100000;
    size_t sent = 0, used = 0, len;
    const uint8_t *d;

    (void)state;
    ksd_stream_init(&s);
    ksd_stream_syn(&s, 41);
    while (sent < total) {
        size_t n = total - sent < seg ? total - sent : seg;
        assert_int_equal(add_src(&s, 42, sent, n, &st), 1);
        sent += n;
        /* the consumer takes whole messages only, as a DNS-over-TCP parser would */
        for (;;) {
            d = ksd_stream_data(&s, &len);
            assert_int_equal(len, sent - used);
            if (len < msg)
                break;
            assert_memory_equal(d, src + used, msg);
            ksd_stream_consume(&s, msg);
            used += msg;
        }
    }
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_ACTIVE);
    assert_int_equal(used, total - total % msg);
    assert_data(&s, used, total - used);
    assert_int_equal(ksd_stream_read_seq(&s), 42 + used);
    assert_int_equal(st.bytes, total);
    assert_int_equal(st.overflows, 0);
    ksd_stream_free(&s);
}

static void test_stream_consume_frees_empty_buffer(void **state)
{
    struct ksd_stream s;

    (void)state;
    ksd_stream_init(&s);
    ksd_stream_syn(&s, 0);
    assert_int_equal(add_src(&s, 1, 0, 100, NULL), 1);
    ksd_stream_consume(&s, 0);
    assert_non_null(s.buf);
    ksd_stream_consume(&s, 100);
    assert_null(s.buf);
    assert_data(&s, 0, 0);
    assert_int_equal(ksd_stream_read_seq(&s), 101);
    /* a held out-of-order range keeps the buffer */
    assert_int_equal(add_src(&s, 1, 100, 10, NULL), 1);
    assert_int_equal(add_src(&s, 1, 200, 10, NULL), 0);
    ksd_stream_consume(&s, 10);
    assert_non_null(s.buf);
    assert_int_equal(add_src(&s, 1, 110, 90, NULL), 1);
    assert_data(&s, 110, 100);
    /* consuming more than readable is clamped */
    ksd_stream_consume(&s, 5000);
    assert_null(s.buf);
    assert_int_equal(ksd_stream_read_seq(&s), 211);
    ksd_stream_free(&s);
}

static void test_stream_data_beyond_cap_is_full(void **state)
{
    struct ksd_stream s;
    struct ksd_stream_stats st = {0};

    (void)state;
    ksd_stream_init(&s);
    ksd_stream_syn(&s, 0);
    assert_int_equal(add_src(&s, 1, 0, KSD_STREAM_MAX_BYTES - 6384, &st), 1);
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_ACTIVE);
    assert_int_equal(add_src(&s, 1, KSD_STREAM_MAX_BYTES - 6384, 10000, &st),
                     1); /* the part that fits is kept */
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_FULL);
    assert_int_equal(st.overflows, 1);
    assert_int_equal(st.bytes, KSD_STREAM_MAX_BYTES);
    assert_data(&s, 0, KSD_STREAM_MAX_BYTES);
    /* FULL is final for segments, but the bytes stay readable and consumable */
    assert_int_equal(add_src(&s, 1, 20000, 10, &st), 0);
    ksd_stream_consume(&s, 1000);
    assert_data(&s, 1000, KSD_STREAM_MAX_BYTES - 1000);
    assert_int_equal(add_src(&s, 1, KSD_STREAM_MAX_BYTES, 10, &st), 0);
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_FULL);
    assert_int_equal(st.overflows, 1);
    ksd_stream_free(&s);

    /* a first segment larger than the window, and exactly the window */
    ksd_stream_init(&s);
    assert_int_equal(add_src(&s, 7, 0, 3 * KSD_STREAM_MAX_BYTES, NULL), 1);
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_FULL);
    assert_data(&s, 0, KSD_STREAM_MAX_BYTES);
    ksd_stream_free(&s);
    ksd_stream_init(&s);
    assert_int_equal(add_src(&s, 7, 0, KSD_STREAM_MAX_BYTES, NULL), 1);
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_ACTIVE);
    assert_int_equal(add_src(&s, 7, KSD_STREAM_MAX_BYTES, 1, NULL), 0);
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_FULL);
    assert_data(&s, 0, KSD_STREAM_MAX_BYTES);
    ksd_stream_free(&s);
}

static void test_stream_done_frees_and_ignores(void **state)
{
    struct ksd_stream s;
    struct ksd_stream_stats st = {0};

    (void)state;
    ksd_stream_init(&s);
    assert_int_equal(add_src(&s, 0, 0, 1000, &st), 1);
    assert_non_null(s.buf);
    ksd_stream_done(&s);
    assert_null(s.buf);
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_DONE);
    assert_int_equal(add_src(&s, 0, 1000, 1000, &st), 0);
    assert_null(s.buf);
    assert_int_equal(st.segments, 1);
    ksd_stream_syn(&s, 5);
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_DONE);
    assert_data(&s, 0, 0);
    ksd_stream_consume(&s, 10);
    ksd_stream_free(&s);
    ksd_stream_free(&s); /* twice is harmless */
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_DONE);
}

static void test_stream_zero_length_segments_ignored(void **state)
{
    struct ksd_stream s;
    struct ksd_stream_stats st = {0};

    (void)state;
    ksd_stream_init(&s);
    /* a pure ACK neither sets the start nor allocates */
    assert_int_equal(ksd_stream_add(&s, 5, src, 0, &st), 0);
    assert_int_equal(ksd_stream_add(&s, 5, NULL, 0, &st), 0);
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_INIT);
    assert_null(s.buf);
    assert_int_equal(st.segments, 0);
    assert_int_equal(add_src(&s, 0, 100, 10, &st), 1);
    assert_int_equal(ksd_stream_read_seq(&s), 100);
    assert_int_equal(ksd_stream_add(&s, 50, src, 0, &st), 0);
    assert_int_equal(ksd_stream_read_seq(&s), 100);
    assert_data(&s, 100, 10);
    ksd_stream_free(&s);
}

static void test_stream_null_payload_rejected(void **state)
{
    struct ksd_stream s;

    (void)state;
    ksd_stream_init(&s);
    assert_int_equal(ksd_stream_add(&s, 1, NULL, 10, NULL), KSD_EINVAL);
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_INIT);
    ksd_stream_free(&s);
}

static void test_stream_huge_seq_jumps(void **state)
{
    struct ksd_stream s;
    struct ksd_stream_stats st = {0};

    (void)state;
    /* 2^31 ahead reads as 2^31 behind: old, ignored */
    ksd_stream_init(&s);
    ksd_stream_syn(&s, 0);
    assert_int_equal(add_src(&s, 1, 0, 10, &st), 1);
    assert_int_equal(ksd_stream_add(&s, 1 + 0x80000000u, src, 10, &st), 0);
    assert_int_equal(ksd_stream_add(&s, 1 + 0xfffffff0u, src, 10, &st), 0);
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_ACTIVE);
    assert_int_equal(st.retransmits, 2);
    assert_data(&s, 0, 10);
    /* 2^31 - 1 ahead: a hole far past the window */
    assert_int_equal(ksd_stream_add(&s, 1 + 0x7fffffffu, src, 10, &st), 0);
    assert_int_equal(ksd_stream_state(&s), KSD_STREAM_GAP);
    ksd_stream_free(&s);

    /* unanchored: far behind the pickup point is old, not a move back */
    ksd_stream_init(&s);
    assert_int_equal(add_src(&s, 0, 1000, 10, NULL), 1);
    assert_int_equal(ksd_stream_add(&s, 1000 - 0x7fffffffu, src, 100, NULL), 0);
    assert_int_equal(ksd_stream_add(&s, 1000 - 100000, src, 100, NULL), 0);
    assert_int_equal(ksd_stream_read_seq(&s), 1000);
    assert_data(&s, 1000, 10);
    ksd_stream_free(&s);
}

/* Many small segments, duplicated and overlapping, in a shuffled order. */
static void test_stream_shuffled_overlapping_segments_rebuild(void **state)
{
    struct {
        size_t off, len;
    } seg[400];
    size_t nseg = 0, off = 0, i;
    uint32_t x = 12345;
    const size_t total = 12000;
    int round;

    (void)state;
    for (round = 0; round < 20; round++) {
        struct ksd_stream s;

        nseg = 0;
        off = 0;
        while (off < total && nseg < KSD_ARRAY_LEN(seg) - 1) {
            size_t n;
            x = x * 1103515245u + 12345u;
            n = 1 + (x >> 16) % 200;
            if (off + n > total)
                n = total - off;
            seg[nseg].off = off;
            seg[nseg].len = n;
            nseg++;
            /* sometimes a duplicate that overlaps into the next segment */
            if ((x >> 8) % 4 == 0 && nseg < KSD_ARRAY_LEN(seg)) {
                seg[nseg].off = off + n / 2;
                seg[nseg].len = off + n / 2 + 60 > total ? total - off - n / 2 : 60;
                if (seg[nseg].len > 0)
                    nseg++;
            }
            off += n;
        }
        assert_int_equal(off, total);
        /* local shuffle: swap within a distance, as reordering on a path would */
        for (i = 0; i + 1 < nseg; i++) {
            size_t j;
            x = x * 1103515245u + 12345u;
            j = i + (x >> 16) % 8;
            if (j < nseg) {
                size_t o = seg[i].off, l = seg[i].len;
                seg[i] = seg[j];
                seg[j].off = o;
                seg[j].len = l;
            }
        }
        ksd_stream_init(&s);
        ksd_stream_syn(&s, 0xfffff000u + (uint32_t)round * 97);
        for (i = 0; i < nseg; i++)
            assert_true(
                add_src(&s, 0xfffff001u + (uint32_t)round * 97, seg[i].off, seg[i].len, NULL) >= 0);
        assert_int_equal(ksd_stream_state(&s), KSD_STREAM_ACTIVE);
        assert_data(&s, 0, total);
        ksd_stream_free(&s);
    }
}

/* ---- decoys: two versions where overlapping segments disagree ---------- */

static const uint8_t real_b[] = "REAL-HELLO-with-the-kaspersky-name";
static const uint8_t decoy_b[] = "DECOY-HELO-with-another-namexxxxxx";

/* The first (alt == 0) or second version holds exactly want[0, n). */
static void assert_view(const struct ksd_stream *s, int alt, const uint8_t *want, size_t n)
{
    size_t len = 0;
    const uint8_t *d = alt ? ksd_stream_alt_data(s, &len) : ksd_stream_data(s, &len);
    assert_non_null(d);
    assert_int_equal(len, n);
    assert_memory_equal(d, want, n);
}

/* The decoy whole, then the real bytes at the same sequence number: the
 * first version keeps the decoy, the second has the real bytes. */
static void test_stream_decoy_first_second_version_real(void **state)
{
    struct ksd_stream s;
    struct ksd_stream_stats st = {0};
    size_t n = sizeof(real_b) - 1, len;
    (void)state;
    assert_int_equal(sizeof(real_b), sizeof(decoy_b));
    ksd_stream_init(&s);
    ksd_stream_syn(&s, 99);
    assert_int_equal(ksd_stream_add(&s, 100, decoy_b, n, &st), 1);
    assert_null(ksd_stream_alt_data(&s, &len));
    assert_int_equal(ksd_stream_add(&s, 100, real_b, n, &st), 0);
    assert_view(&s, 0, decoy_b, n);
    assert_view(&s, 1, real_b, n);
    assert_int_equal(st.alternates, 1);
    assert_int_equal(st.overlap_diffs, 1);
    /* an identical retransmission creates nothing */
    ksd_stream_free(&s);
    ksd_stream_init(&s);
    ksd_stream_add(&s, 100, real_b, n, NULL);
    ksd_stream_add(&s, 100, real_b, n, NULL);
    assert_null(ksd_stream_alt_data(&s, &len));
    ksd_stream_free(&s);
}

/* The decoy's tail out of order, then the real bytes in order: the first
 * version is a mix, the second the real bytes. */
static void test_stream_decoy_tail_out_of_order(void **state)
{
    struct ksd_stream s;
    size_t n = sizeof(real_b) - 1, k = 10, len;
    uint8_t mix[sizeof(real_b)];
    (void)state;
    memcpy(mix, real_b, k);
    memcpy(mix + k, decoy_b + k, n - k);
    ksd_stream_init(&s);
    ksd_stream_syn(&s, 99);
    assert_int_equal(ksd_stream_add(&s, 100 + (uint32_t)k, decoy_b + k, n - k, NULL), 0);
    assert_int_equal(ksd_stream_add(&s, 100, real_b, n, NULL), 1);
    assert_view(&s, 0, mix, n);
    assert_view(&s, 1, real_b, n);
    /* both versions slide together; later bytes go into both */
    ksd_stream_consume(&s, 5);
    assert_int_equal(ksd_stream_add(&s, 100 + (uint32_t)n, (const uint8_t *)"++", 2, NULL), 1);
    const uint8_t *a = ksd_stream_data(&s, &len);
    assert_int_equal(len, n - 5 + 2);
    assert_memory_equal(a, mix + 5, n - 5);
    assert_memory_equal(a + n - 5, "++", 2);
    a = ksd_stream_alt_data(&s, &len);
    assert_int_equal(len, n - 5 + 2);
    assert_memory_equal(a, real_b + 5, n - 5);
    assert_memory_equal(a + n - 5, "++", 2);
    assert_true(ksd_stream_mem(&s) > 2 * (n - 5));
    ksd_stream_free(&s);
    assert_int_equal(ksd_stream_mem(&s), 0);
}

/* Weak (bad checksum) segments only fill holes: a weak decoy first is
 * overruled in the second version by a good copy; a weak decoy after the
 * good bytes changes nothing and makes no second version. */
static void test_stream_weak_segments_fill_holes_only(void **state)
{
    struct ksd_stream s;
    size_t n = sizeof(real_b) - 1, len;
    (void)state;
    ksd_stream_init(&s);
    assert_int_equal(ksd_stream_add_seg(&s, 100, decoy_b, n, 1, NULL), 1);
    assert_int_equal(ksd_stream_add_seg(&s, 100, real_b, n, 0, NULL), 0);
    assert_view(&s, 1, real_b, n);
    ksd_stream_free(&s);

    ksd_stream_init(&s);
    assert_int_equal(ksd_stream_add_seg(&s, 100, real_b, n, 0, NULL), 1);
    assert_int_equal(ksd_stream_add_seg(&s, 100, decoy_b, n, 1, NULL), 0);
    assert_null(ksd_stream_alt_data(&s, &len));
    assert_view(&s, 0, real_b, n);
    ksd_stream_free(&s);
}

/* The TCP checksum of a decoded IPv4 packet: good, bad after a flipped
 * payload byte, unknown when the capture cut the packet. */
static void test_stream_tcp_checksum(void **state)
{
    /* 10.0.0.1:40001 -> 10.0.0.2:443, seq 1, PSH|ACK, payload "hello" */
    uint8_t ip[45] = {0x45, 0, 0, 45, 0,   0,   0x40, 0,   64,   6,    0,    0,
                      10,   0, 0, 1,  10,  0,   0,    2,   0x9c, 0x41, 0x01, 0xbb,
                      0,    0, 0, 1,  0,   0,   0,    0,   0x50, 0x18, 0xff, 0xff,
                      0,    0, 0, 0,  'h', 'e', 'l',  'l', 'o'};
    struct ksd_pkt p;
    uint32_t sum = 0;
    (void)state;
    /* fill in the TCP checksum by hand: pseudo-header + segment */
    for (int i = 12; i < 20; i += 2)
        sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
    sum += 6 + 25;
    for (int i = 20; i < 45; i += 2)
        sum += (uint32_t)(ip[i] << 8 | (i + 1 < 45 ? ip[i + 1] : 0));
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    ip[36] = (uint8_t)(~sum >> 8);
    ip[37] = (uint8_t)~sum;
    assert_int_equal(ksd_decode_ip(ip, sizeof(ip), &p), KSD_DEC_OK);
    assert_int_equal(ksd_stream_tcp_checksum(&p), 1);
    ip[44] ^= 1;
    assert_int_equal(ksd_decode_ip(ip, sizeof(ip), &p), KSD_DEC_OK);
    assert_int_equal(ksd_stream_tcp_checksum(&p), 0);
    assert_int_equal(ksd_decode_ip(ip, sizeof(ip) - 2, &p), KSD_DEC_OK);
    assert_int_equal(ksd_stream_tcp_checksum(&p), -1);
}

/* Every payload length from 0 to 80 bytes (every tail of the 32-bit
 * summing loop), over IPv4: a checksum filled in by the 16-bit textbook sum
 * checks good, and bad once any one payload byte changes. */
static void test_stream_tcp_checksum_all_lengths(void **state)
{
    (void)state;
    uint32_t seed = 12345;
    for (size_t n = 0; n <= 80; n++) {
        uint8_t ip[20 + 20 + 80];
        size_t tot = 40 + n;
        memset(ip, 0, sizeof(ip));
        ip[0] = 0x45;
        ip[2] = (uint8_t)(tot >> 8);
        ip[3] = (uint8_t)tot;
        ip[8] = 64;
        ip[9] = 6;
        for (int i = 12; i < 20; i++)
            ip[i] = (uint8_t)(i * 7 + n);
        ip[20] = 0x9c;
        ip[21] = 0x41;
        ip[22] = 0x01;
        ip[23] = 0xbb;
        ip[27] = 1;
        ip[32] = 0x50;
        ip[33] = 0x18;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            ip[40 + i] = (uint8_t)(seed >> 16);
        }
        uint32_t sum = 0;
        for (int i = 12; i < 20; i += 2)
            sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
        sum += 6 + (uint32_t)(20 + n);
        for (size_t i = 20; i < tot; i += 2)
            sum += (uint32_t)(ip[i] << 8 | (i + 1 < tot ? ip[i + 1] : 0));
        while (sum >> 16)
            sum = (sum & 0xffff) + (sum >> 16);
        ip[36] = (uint8_t)(~sum >> 8);
        ip[37] = (uint8_t)~sum;
        struct ksd_pkt p;
        assert_int_equal(ksd_decode_ip(ip, tot, &p), KSD_DEC_OK);
        assert_int_equal(ksd_stream_tcp_checksum(&p), 1);
        if (n == 0)
            continue;
        ip[40 + n - 1] ^= 0x10;
        assert_int_equal(ksd_decode_ip(ip, tot, &p), KSD_DEC_OK);
        assert_int_equal(ksd_stream_tcp_checksum(&p), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_idle_struct_is_small_and_unallocated),
        cmocka_unit_test(test_stream_tcp_checksum_all_lengths),
        cmocka_unit_test(test_stream_in_order_segments_append),
        cmocka_unit_test(test_stream_split_at_every_offset_same_bytes),
        cmocka_unit_test(test_stream_three_segments_all_orders),
        cmocka_unit_test(test_stream_unanchored_reverse_order_exposes_lowest_start),
        cmocka_unit_test(test_stream_retransmission_ignored),
        cmocka_unit_test(test_stream_overlap_first_data_wins),
        cmocka_unit_test(test_stream_seq_wraps_around),
        cmocka_unit_test(test_stream_midstream_pickup_then_earlier_segment),
        cmocka_unit_test(test_stream_late_syn_moves_start_back),
        cmocka_unit_test(test_stream_move_back_refused_when_window_or_store_full),
        cmocka_unit_test(test_stream_hole_waits_then_fills),
        cmocka_unit_test(test_stream_gap_never_fills_then_store_overflows),
        cmocka_unit_test(test_stream_hole_past_window_is_gap),
        cmocka_unit_test(test_stream_consume_slides_past_window),
        cmocka_unit_test(test_stream_consume_frees_empty_buffer),
        cmocka_unit_test(test_stream_data_beyond_cap_is_full),
        cmocka_unit_test(test_stream_done_frees_and_ignores),
        cmocka_unit_test(test_stream_zero_length_segments_ignored),
        cmocka_unit_test(test_stream_null_payload_rejected),
        cmocka_unit_test(test_stream_huge_seq_jumps),
        cmocka_unit_test(test_stream_shuffled_overlapping_segments_rebuild),
        cmocka_unit_test(test_stream_decoy_first_second_version_real),
        cmocka_unit_test(test_stream_decoy_tail_out_of_order),
        cmocka_unit_test(test_stream_weak_segments_fill_holes_only),
        cmocka_unit_test(test_stream_tcp_checksum),
    };

    return cmocka_run_group_tests_name("stream", tests, setup_src, NULL);
}
