/*
 * fuzz_stream.c - libFuzzer harness for sensor/path/stream.c.
 *
 * The fuzz rule compiles only dissectors/ and signatures/, so the module is
 * included directly. The input is a list of operations over a fixed,
 * infinite pseudo-random byte stream in which the byte at sequence number q
 * is stream_byte(q): segments cut from it at any (seq, len), consumes, SYNs,
 * conflicting "garbage" rewrites of bytes already in order, and done. After
 * every operation the harness checks:
 *  - ksd_stream_data() is the true stream at the read position, so no
 *    ordering, overlap, wrap-around or window slide ever exposes a wrong
 *    byte (first data wins: rewrites never show);
 *  - at most KSD_STREAM_MAX_BYTES are readable;
 *  - the second version (ksd_stream_alt_data), once rewrites made one, is
 *    exactly as long as the first, and a weak (bad-checksum) rewrite never
 *    makes one;
 *  - while the stream stays ACTIVE and its read position did not move, the
 *    readable length never shrinks on add, and a segment that touches the
 *    in-order end extends it to at least the segment's end.
 *
 * Input layout: 4 bytes first sequence number, 1 byte options (bit 0: SYN
 * first), then 5-byte operations: kind, a (16 bits), b (16 bits).
 */
#include "sensor/path/stream.c"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KSD_FUZZ_MAX_OPS 256  /* operations per input */
#define KSD_FUZZ_MAX_SEG 6000 /* bytes per generated segment */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t stream_byte(uint32_t q)
{
    uint32_t x = q * 0x9e3779b1u;

    x ^= x >> 15;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    return (uint8_t)(x ^ (x >> 24));
}

/* The harness's own signed sequence distance (independent of the module's). */
static int64_t fz_rel(uint32_t a, uint32_t b)
{
    uint32_t d = a - b;

    return d & 0x80000000u ? -(int64_t)(uint32_t)(0u - d) : (int64_t)d;
}

static void fill(uint8_t *buf, uint32_t seq, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        buf[i] = stream_byte(seq + (uint32_t)i);
}

static void check_view(const struct ksd_stream *s)
{
    size_t len, i;
    const uint8_t *d = ksd_stream_data(s, &len);
    uint32_t rs = ksd_stream_read_seq(s);

    if (len > KSD_STREAM_MAX_BYTES)
        abort();
    if (len > 0 && !d)
        abort();
    for (i = 0; i < len; i++)
        if (d[i] != stream_byte(rs + (uint32_t)i))
            abort();
    size_t alen;
    if (ksd_stream_alt_data(s, &alen) && alen != len)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t seg[KSD_FUZZ_MAX_SEG];
    struct ksd_stream s;
    struct ksd_stream_stats st = {0};
    uint32_t base;
    size_t off, ops = 0;

    if (size < 5)
        return 0;
    base = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3];
    ksd_stream_init(&s);
    if (data[4] & 1)
        ksd_stream_syn(&s, base - 1);
    off = 5;
    while (size - off >= 5 && ops++ < KSD_FUZZ_MAX_OPS) {
        uint8_t kind = data[off];
        uint32_t a = (uint32_t)data[off + 1] << 8 | data[off + 2];
        uint32_t b = (uint32_t)data[off + 3] << 8 | data[off + 4];
        size_t len_before, len_after, n;
        uint32_t rs_before = ksd_stream_read_seq(&s);
        int state_before = ksd_stream_state(&s), r;

        off += 5;
        ksd_stream_data(&s, &len_before);
        switch (kind % 8) {
            case 0:
            case 1:
            case 2: { /* a segment of the true stream, near the start */
                uint32_t q = base + a;
                n = b % KSD_FUZZ_MAX_SEG;
                fill(seg, q, n);
                r = ksd_stream_add(&s, q, seg, n, &st);
                if (r < 0 && r != KSD_ENOMEM)
                    abort();
                ksd_stream_data(&s, &len_after);
                if (ksd_stream_state(&s) == KSD_STREAM_ACTIVE && state_before != KSD_STREAM_INIT &&
                    ksd_stream_read_seq(&s) == rs_before) {
                    int64_t rel = fz_rel(q, rs_before);
                    if (len_after < len_before)
                        abort();
                    if (n > 0 && rel <= (int64_t)len_before &&
                        rel + (int64_t)n > (int64_t)len_before &&
                        (int64_t)len_after < rel + (int64_t)n)
                        abort();
                    if ((r == 1) != (len_after > len_before))
                        abort();
                }
                break;
            }
            case 3: { /* a segment anywhere in sequence space */
                uint32_t q = rs_before + (a << 16 | b);
                n = (size_t)(kind >> 3) * 64;
                fill(seg, q, n);
                (void)ksd_stream_add(&s, q, seg, n, &st);
                break;
            }
            case 4: /* consume part of what is readable */
                ksd_stream_consume(&s, len_before ? a % (len_before + 1) : a % 2);
                break;
            case 5: /* rewrite bytes already in order with other bytes: never visible */
                if (len_before > 0) {
                    size_t at = a % len_before;
                    n = b % (len_before - at) + 1;
                    if (n > KSD_FUZZ_MAX_SEG)
                        n = KSD_FUZZ_MAX_SEG;
                    fill(seg, rs_before + (uint32_t)at, n);
                    seg[n - 1] ^= 0x5a;
                    seg[0] ^= 0xa5;
                    size_t alen;
                    int weak = (kind >> 3) & 1, had_alt = ksd_stream_alt_data(&s, &alen) != NULL;
                    if (ksd_stream_add_seg(&s, rs_before + (uint32_t)at, seg, n, weak, &st) != 0)
                        abort();
                    if (weak && !had_alt && ksd_stream_alt_data(&s, &alen))
                        abort();
                    ksd_stream_data(&s, &len_after);
                    if (len_after != len_before || ksd_stream_read_seq(&s) != rs_before)
                        abort();
                }
                break;
            case 6: /* a SYN, possibly late, possibly lying */
                ksd_stream_syn(&s, base - 1 + (uint32_t)(int32_t)(int16_t)a);
                break;
            case 7: /* done, or a small segment inside the window (many ranges) */
                if (a % 64 == 0) {
                    ksd_stream_done(&s);
                } else {
                    uint32_t q = rs_before + (uint32_t)(b % KSD_STREAM_MAX_BYTES);
                    n = a % 16 + 1;
                    fill(seg, q, n);
                    (void)ksd_stream_add(&s, q, seg, n, &st);
                }
                break;
        }
        check_view(&s);
    }
    ksd_stream_free(&s);
    return 0;
}
