/*
 * stream.c - per-direction TCP stream reassembly for the handshake window.
 *
 * What it does: given the segments of one direction of a TCP connection as
 * (sequence number, payload), in any order, with any segmentation,
 * retransmissions and overlaps, it keeps the in-order bytes from a read
 * position so that a stream dissector can parse TLS handshakes, HTTP request
 * headers or DNS-over-TCP messages. The consumer reads with ksd_stream_data()
 * and slides the window with ksd_stream_consume().
 *
 * What it does not do: no I/O, no pcap, no logging, no TCP state machine.
 * It never looks at flags: SYN, FIN and RST handling are the caller's
 * business (the caller passes the ISN of a SYN/SYN-ACK with ksd_stream_syn()
 * and calls ksd_stream_done() when it stops caring). It checks no checksum
 * and does not follow acknowledgements, so it keeps what was sent, not what
 * the receiver accepted.
 *
 * Specification: RFC 9293 section 3.4 (sequence numbers, modulo 2^32
 * arithmetic) and 3.10.7.4 (segment trimming to the window); RFC 1323/7323 is
 * not needed since PAWS does not apply to a passive observer of one window.
 *
 * Policies:
 *  - Sequence arithmetic is modulo 2^32: a segment is "before" the read
 *    position when seq - read_seq, as a 32-bit difference, is 2^31 or more.
 *  - Start: a SYN anchors the first byte at isn + 1. Without a SYN, the first
 *    payload byte seen sets the start (mid-stream pickup). Until the consumer
 *    first consumes, such an unanchored start may move backwards: a segment
 *    that begins at most KSD_STREAM_MAX_PREPEND bytes before it (and keeps
 *    everything held within KSD_STREAM_MAX_BYTES) moves the read position
 *    back to its first byte. So the read position is the lowest sequence
 *    number seen, and a reordered earlier segment is not lost. A late SYN
 *    moves it back the same way. After a SYN or a consume, bytes before the
 *    read position are old and trimmed away.
 *  - Retransmission: a segment whose bytes are all held (or all before the
 *    read position) adds nothing and is counted in `retransmits`.
 *  - Overlap: the first data wins. Only the bytes not yet held are stored;
 *    the repeated ones are compared, and a segment whose repeated bytes
 *    differ from the kept ones is counted in `overlap_diffs` (an evasion
 *    sign); a segment bringing both new and repeated bytes counts in
 *    `overlaps`.
 *  - Disagreeing overlaps (decoys): receivers differ on which copy they
 *    keep, so a careful observer keeps both. From the first disagreement on,
 *    the stream holds a second version (ksd_stream_alt_data) in which every
 *    later segment overwrites the bytes it carries (last data wins), while
 *    the first version keeps the first data. A decoy sent before the real
 *    bytes (whole, or only its tail out of order) is then in one version and
 *    the real bytes in the other; the consumer parses both. A segment added
 *    as weak (its TCP checksum is bad, ksd_stream_add_seg) never overwrites
 *    anything in either version: it only fills holes, so a bad-checksum
 *    segment counts only where no good one covers those bytes (and a
 *    capture made on the sending host, with checksum offload, still
 *    reassembles).
 *  - Out of order: bytes beyond a hole are stored in place in the window and
 *    tracked as at most KSD_STREAM_MAX_SEGS disjoint ranges (adjacent ranges
 *    merge), until the hole fills.
 *  - Limits: a segment that would need a byte KSD_STREAM_MAX_BYTES or more
 *    past the read position makes the stream FULL when it continues the
 *    in-order data (the part that fits is kept), GAP when it lies beyond a
 *    hole. A segment that would need more than KSD_STREAM_MAX_SEGS ranges
 *    makes it GAP. GAP and FULL are final: later segments are ignored, but
 *    the in-order bytes stay readable and consumable until done/free. A
 *    failed allocation also makes it GAP (a lost segment is a hole).
 *  - Memory: the idle struct is a pointer and a few words; the buffer is
 *    allocated on the first payload byte (KSD_STREAM_MIN_ALLOC bytes, doubled
 *    as needed up to KSD_STREAM_MAX_BYTES), compacted lazily when the read
 *    position has moved, freed when a consume leaves nothing held, and freed
 *    by done/free.
 */
#include <stdlib.h>
#include <string.h>

#include "dissectors/ksd.h"
#include "dissectors/rd.h"
#include "sensor/path/stream.h"

#define KSD_STREAM_F_BASE     0x01 /* s->seq is meaningful */
#define KSD_STREAM_F_SYN      0x02 /* the start was anchored by a SYN */
#define KSD_STREAM_F_CONSUMED 0x04 /* the consumer has consumed at least one byte */

/* A byte range [start, end), as offsets from the read position. */
struct ksd_stream_range {
    uint32_t start; /* first byte */
    uint32_t end;   /* one past the last byte */
};

struct ksd_stream_buf {
    uint32_t cap;                                     /* bytes allocated in data[] */
    uint32_t head;                                    /* offset in data[] of the read position */
    uint32_t len;                                     /* in-order bytes from head */
    uint32_t nseg;                                    /* ranges in seg[] */
    struct ksd_stream_range seg[KSD_STREAM_MAX_SEGS]; /* held beyond a hole: sorted, disjoint,
                                                         not adjacent, every start > len */
    uint8_t *alt;   /* the other version (cap bytes, same offsets as data[]): NULL until two
                       segments disagree; there the later one (with a good checksum) wins */
    uint8_t data[]; /* cap bytes */
};

static void buf_free(struct ksd_stream_buf *b)
{
    if (b)
        free(b->alt);
    free(b);
}

/* Signed distance from base to a in sequence space (RFC 9293 3.4). */
static int64_t seq_rel(uint32_t a, uint32_t base)
{
    uint32_t d = a - base;
    return d < 0x80000000u ? (int64_t)d : (int64_t)d - (int64_t)0x100000000;
}

/* Offset one past the last held byte, relative to the read position. */
static uint32_t buf_extent(const struct ksd_stream_buf *b)
{
    return b->nseg ? b->seg[b->nseg - 1].end : b->len;
}

/*
 * Make data[head + 0 .. head + end) addressable (end <= KSD_STREAM_MAX_BYTES):
 * compact when the read position has moved, grow when needed. May move
 * s->buf. Returns KSD_OK or KSD_ENOMEM (the stream is then unchanged).
 */
static int buf_reserve(struct ksd_stream *s, uint32_t end)
{
    struct ksd_stream_buf *b = s->buf;
    struct ksd_stream_buf *nb;
    uint32_t cap;

    if (b && end <= b->cap - b->head)
        return KSD_OK;
    if (b && b->head > 0) {
        memmove(b->data, b->data + b->head, buf_extent(b));
        if (b->alt)
            memmove(b->alt, b->alt + b->head, buf_extent(b));
        b->head = 0;
        if (end <= b->cap)
            return KSD_OK;
    }
    cap = b ? b->cap : 0;
    if (cap < KSD_STREAM_MIN_ALLOC)
        cap = KSD_STREAM_MIN_ALLOC;
    while (cap < end && cap < KSD_STREAM_MAX_BYTES)
        cap *= 2;
    if (cap > KSD_STREAM_MAX_BYTES)
        cap = KSD_STREAM_MAX_BYTES;
    nb = realloc(b, sizeof(*nb) + cap);
    if (!nb)
        return KSD_ENOMEM;
    if (!b) {
        nb->head = 0;
        nb->len = 0;
        nb->nseg = 0;
        nb->alt = NULL;
    }
    if (nb->alt) {
        uint8_t *na = realloc(nb->alt, cap);
        if (!na) { /* the second version is lost, the first stays */
            free(nb->alt);
            na = NULL;
        }
        nb->alt = na;
    }
    nb->cap = cap;
    s->buf = nb;
    return KSD_OK;
}

/* Before the first consume, a start not set by a SYN may still move back. */
static int may_move_back(const struct ksd_stream *s)
{
    return !(s->flags & (KSD_STREAM_F_SYN | KSD_STREAM_F_CONSUMED));
}

/*
 * Move the read position d bytes back (only while may_move_back(), so head
 * is 0): the held bytes keep their sequence numbers, the new front is a
 * hole. Returns 1 when done, 0 when it would break the window or the range
 * store (nothing changed then).
 */
static int stream_move_back(struct ksd_stream *s, uint32_t d)
{
    struct ksd_stream_buf *b = s->buf;
    uint32_t ext, i;

    if (d == 0 || d > KSD_STREAM_MAX_PREPEND)
        return 0;
    if (b) {
        ext = buf_extent(b);
        if (d > KSD_STREAM_MAX_BYTES - ext)
            return 0;
        if (b->len > 0 && b->nseg >= KSD_STREAM_MAX_SEGS)
            return 0;
        if (buf_reserve(s, ext + d) != KSD_OK)
            return 0;
        b = s->buf;
        memmove(b->data + b->head + d, b->data + b->head, ext);
        if (b->alt)
            memmove(b->alt + b->head + d, b->alt + b->head, ext);
        for (i = 0; i < b->nseg; i++) {
            b->seg[i].start += d;
            b->seg[i].end += d;
        }
        if (b->len > 0) {
            memmove(&b->seg[1], &b->seg[0], b->nseg * sizeof(b->seg[0]));
            b->seg[0].start = d;
            b->seg[0].end = d + b->len;
            b->nseg++;
            b->len = 0;
        }
    }
    s->seq -= d;
    return 1;
}

/* Give up on the hole(s): final state GAP; the in-order bytes stay readable. */
static void stream_gap(struct ksd_stream *s, struct ksd_stream_stats *st)
{
    if (s->buf && s->buf->len == 0) {
        buf_free(s->buf);
        s->buf = NULL;
    } else if (s->buf) {
        s->buf->nseg = 0;
    }
    s->state = KSD_STREAM_GAP;
    st->gaps++;
}

static void stream_stop(struct ksd_stream *s, enum ksd_stream_state st)
{
    buf_free(s->buf);
    s->buf = NULL;
    s->state = (uint8_t)st;
}

void ksd_stream_init(struct ksd_stream *s)
{
    s->buf = NULL;
    s->seq = 0;
    s->state = KSD_STREAM_INIT;
    s->flags = 0;
}

void ksd_stream_free(struct ksd_stream *s)
{
    stream_stop(s, KSD_STREAM_DONE);
}

void ksd_stream_done(struct ksd_stream *s)
{
    stream_stop(s, KSD_STREAM_DONE);
}

void ksd_stream_syn(struct ksd_stream *s, uint32_t isn)
{
    uint32_t first = isn + 1;
    int64_t rel;

    if (s->state != KSD_STREAM_INIT && s->state != KSD_STREAM_ACTIVE)
        return;
    if (!(s->flags & KSD_STREAM_F_BASE)) {
        s->seq = first;
        s->flags |= KSD_STREAM_F_BASE | KSD_STREAM_F_SYN;
        s->state = KSD_STREAM_ACTIVE;
        return;
    }
    if (!may_move_back(s))
        return; /* repeated SYN, or too late to move the start */
    rel = seq_rel(first, s->seq);
    if (rel == 0 || (rel < 0 && stream_move_back(s, (uint32_t)-rel)))
        s->flags |= KSD_STREAM_F_SYN;
}

/*
 * The union of the held ranges ([0, len) first when len > 0, then seg[]) and
 * [start, end), sorted, adjacent ranges merged. Returns the count in u[].
 */
static uint32_t held_union(const struct ksd_stream_buf *b, uint32_t start, uint32_t end,
                           struct ksd_stream_range u[KSD_STREAM_MAX_SEGS + 2])
{
    struct ksd_stream_range cur = {start, end};
    struct ksd_stream_range h;
    uint32_t nu = 0, i, nh;
    int placed = 0;

    nh = b ? b->nseg + (b->len > 0) : 0;
    for (i = 0; i < nh; i++) {
        if (b->len > 0) {
            if (i == 0) {
                h.start = 0;
                h.end = b->len;
            } else {
                h = b->seg[i - 1];
            }
        } else {
            h = b->seg[i];
        }
        if (h.end < cur.start) {
            u[nu++] = h;
        } else if (h.start > cur.end) {
            if (!placed)
                u[nu++] = cur;
            placed = 1;
            u[nu++] = h;
        } else {
            cur.start = h.start < cur.start ? h.start : cur.start;
            cur.end = h.end > cur.end ? h.end : cur.end;
        }
    }
    if (!placed)
        u[nu++] = cur;
    return nu;
}

/*
 * Store (p, end - start) at [start, end) where nothing is held yet, compare
 * where something is (first data wins). Buffer already reserved; ranges not
 * yet updated. Sets *fresh to the bytes stored, *dup to the bytes compared,
 * *differ when a compared byte differed.
 */
static void stream_place(struct ksd_stream_buf *b, uint32_t start, uint32_t end, const uint8_t *p,
                         uint32_t *fresh, uint32_t *dup, int *differ)
{
    uint8_t *base = b->data + b->head;
    struct ksd_stream_range h;
    uint32_t cur = start, i, nh, os, oe;

    *fresh = 0;
    *dup = 0;
    *differ = 0;
    nh = b->nseg + (b->len > 0);
    for (i = 0; i < nh && cur < end; i++) {
        if (b->len > 0) {
            if (i == 0) {
                h.start = 0;
                h.end = b->len;
            } else {
                h = b->seg[i - 1];
            }
        } else {
            h = b->seg[i];
        }
        if (h.end <= cur)
            continue;
        if (h.start >= end)
            break;
        if (h.start > cur) {
            memcpy(base + cur, p + (cur - start), h.start - cur);
            if (b->alt)
                memcpy(b->alt + b->head + cur, p + (cur - start), h.start - cur);
            *fresh += h.start - cur;
            cur = h.start;
        }
        os = cur;
        oe = h.end < end ? h.end : end;
        if (memcmp(base + os, p + (os - start), oe - os) != 0)
            *differ = 1;
        *dup += oe - os;
        cur = oe;
    }
    if (cur < end) {
        memcpy(base + cur, p + (cur - start), end - cur);
        if (b->alt)
            memcpy(b->alt + b->head + cur, p + (cur - start), end - cur);
        *fresh += end - cur;
    }
}

int ksd_stream_add(struct ksd_stream *s, uint32_t seq, const uint8_t *p, size_t n,
                   struct ksd_stream_stats *st)
{
    return ksd_stream_add_seg(s, seq, p, n, 0, st);
}

/*
 * The second version: a segment with a good (or unknown) checksum writes all
 * its bytes into it, so where segments disagree the later one wins there;
 * created (a copy of the first version) when such a segment first disagrees.
 * A weak segment (bad checksum) only fills holes, in both versions.
 */
static void stream_alt(struct ksd_stream_buf *b, uint32_t start, uint32_t end, const uint8_t *p,
                       int weak, int differ, struct ksd_stream_stats *st)
{
    if (weak || (!b->alt && !differ))
        return;
    if (!b->alt) {
        b->alt = malloc(b->cap);
        if (!b->alt)
            return; /* no second version: the first stays */
        memcpy(b->alt + b->head, b->data + b->head, buf_extent(b));
        st->alternates++;
    }
    memcpy(b->alt + b->head + start, p, end - start);
}

int ksd_stream_add_seg(struct ksd_stream *s, uint32_t seq, const uint8_t *p, size_t n, int weak,
                       struct ksd_stream_stats *st)
{
    struct ksd_stream_stats sink;
    struct ksd_stream_range u[KSD_STREAM_MAX_SEGS + 2];
    struct ksd_stream_buf *b;
    uint32_t old_len, start, end, nu, first, fresh, dup;
    int64_t rel;
    int moved = 0, trimmed = 0, full = 0, differ;

    if (!st)
        st = &sink;
    if (n == 0)
        return 0;
    if (!p)
        return KSD_EINVAL;
    if (s->state != KSD_STREAM_INIT && s->state != KSD_STREAM_ACTIVE)
        return 0;
    st->segments++;
    if (!(s->flags & KSD_STREAM_F_BASE)) {
        s->seq = seq;
        s->flags |= KSD_STREAM_F_BASE;
        s->state = KSD_STREAM_ACTIVE;
    }

    rel = seq_rel(seq, s->seq);
    if (rel < 0) {
        uint64_t back = (uint64_t)-rel;
        if (may_move_back(s) && back <= KSD_STREAM_MAX_PREPEND &&
            stream_move_back(s, (uint32_t)back)) {
            moved = 1;
        } else {
            if (n <= back) {
                st->retransmits++;
                return 0;
            }
            p += back;
            n -= back;
            trimmed = 1;
        }
        rel = 0;
    }

    b = s->buf;
    old_len = b ? b->len : 0;
    if (rel > KSD_STREAM_MAX_BYTES || n > (uint64_t)(KSD_STREAM_MAX_BYTES - rel)) {
        if (rel > (int64_t)old_len) { /* beyond a hole: the hole cannot fill in the window */
            stream_gap(s, st);
            return 0;
        }
        n = (size_t)(KSD_STREAM_MAX_BYTES - rel); /* continues the in-order data: keep what fits */
        full = 1;
    }
    start = (uint32_t)rel;
    end = start + (uint32_t)n;

    if (n > 0) {
        nu = held_union(b, start, end, u);
        first = u[0].start == 0;
        if (nu - first > KSD_STREAM_MAX_SEGS) {
            stream_gap(s, st);
            return 0;
        }
        if (buf_reserve(s, u[nu - 1].end) != KSD_OK) {
            stream_gap(s, st);
            return KSD_ENOMEM;
        }
        b = s->buf;
        stream_place(b, start, end, p, &fresh, &dup, &differ);
        stream_alt(b, start, end, p, weak, differ, st);
        b->len = first ? u[0].end : 0;
        b->nseg = nu - first;
        memcpy(b->seg, u + first, b->nseg * sizeof(u[0]));

        st->bytes += fresh;
        if (fresh == 0)
            st->retransmits++;
        else if (dup > 0 || trimmed)
            st->overlaps++;
        if (fresh > 0 && (moved || start > old_len))
            st->out_of_order++;
        if (differ)
            st->overlap_diffs++;
    }

    if (full) {
        s->state = KSD_STREAM_FULL;
        st->overflows++;
    }
    return (b && b->len > old_len) || (moved && b && b->len > 0);
}

const uint8_t *ksd_stream_data(const struct ksd_stream *s, size_t *len)
{
    if (!s->buf || s->buf->len == 0) {
        *len = 0;
        return NULL;
    }
    *len = s->buf->len;
    return s->buf->data + s->buf->head;
}

void ksd_stream_consume(struct ksd_stream *s, size_t n)
{
    struct ksd_stream_buf *b = s->buf;
    uint32_t i, k;

    if (!b || n == 0)
        return;
    k = n > b->len ? b->len : (uint32_t)n; /* more than readable: a caller bug, clamped */
    if (k == 0)
        return;
    b->head += k;
    b->len -= k;
    for (i = 0; i < b->nseg; i++) {
        b->seg[i].start -= k;
        b->seg[i].end -= k;
    }
    s->seq += k;
    s->flags |= KSD_STREAM_F_CONSUMED;
    if (b->len == 0 && b->nseg == 0) {
        buf_free(b);
        s->buf = NULL;
    }
}

int ksd_stream_state(const struct ksd_stream *s)
{
    return s->state;
}

size_t ksd_stream_mem(const struct ksd_stream *s)
{
    return s->buf ? sizeof(*s->buf) + s->buf->cap + (s->buf->alt ? s->buf->cap : 0) : 0;
}

const uint8_t *ksd_stream_alt_data(const struct ksd_stream *s, size_t *len)
{
    if (!s->buf || !s->buf->alt || s->buf->len == 0) {
        *len = 0;
        return NULL;
    }
    *len = s->buf->len;
    return s->buf->alt + s->buf->head;
}

uint32_t ksd_stream_read_seq(const struct ksd_stream *s)
{
    return s->seq;
}

/* One's-complement sum of n bytes of r (RFC 1071), added to sum. The
 * bytes are summed 32 bits at a time in the machine's order into 64 bits
 * (RFC 1071 2(B): the sum does not depend on byte order), folded to 16
 * bits and put in network order once. Nothing is summed when r has fewer
 * than n bytes. */
static uint32_t csum_bytes(struct ksd_rd *r, size_t n, uint32_t sum)
{
    struct ksd_rd b = rd_sub(r, n);
    size_t left = rd_left(&b);
    if (!left)
        return sum;
    const uint8_t *q = rd_ptr(&b);
    uint64_t acc = 0;
    uint32_t w;
    for (; left >= 4; q += 4, left -= 4) {
        memcpy(&w, q, 4);
        acc += w;
    }
    uint8_t tail[4] = {0, 0, 0, 0}; /* an odd last byte is padded with zero (RFC 1071) */
    memcpy(tail, q, left);
    memcpy(&w, tail, 4);
    acc += w;
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    uint16_t folded = (uint16_t)acc;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    folded = __builtin_bswap16(folded);
#endif
    return sum + folded;
}

int ksd_stream_tcp_checksum(const struct ksd_pkt *p)
{
    if (p->proto != 6 || !p->l3 || !p->payload || p->payload_len != p->wire_payload_len ||
        p->payload < p->l3 || (size_t)(p->payload - p->l3) + p->payload_len > p->l3_len)
        return -1; /* cut by the capture, or not where it can be found */
    size_t pay = (size_t)(p->payload - p->l3), tcp = 0, alen = p->family == 4 ? 4 : 16;
    struct ksd_rd all = rd_make(p->l3, pay + p->payload_len);
    /* the TCP header ends where the payload starts: find the length whose
     * header names the packet's ports, sequence number and that length */
    for (size_t hl = 20; hl <= 60 && hl <= pay && !tcp; hl += 4) {
        struct ksd_rd h = all;
        rd_skip(&h, pay - hl);
        uint16_t sp = rd_be16(&h), dp = rd_be16(&h);
        uint32_t seq = rd_be32(&h);
        rd_skip(&h, 4);
        uint8_t doff = rd_u8(&h);
        if (!rd_err(&h) && sp == p->sport && dp == p->dport && seq == p->seq &&
            (size_t)(doff >> 4) * 4 == hl)
            tcp = pay - hl;
    }
    if (!tcp)
        return -1;
    size_t seg = pay + p->payload_len - tcp;
    struct ksd_rd ps = rd_make(p->src, alen), pd = rd_make(p->dst, alen);
    uint32_t sum = csum_bytes(&ps, alen, 0);
    sum = csum_bytes(&pd, alen, sum);
    sum += 6 + (uint32_t)(seg & 0xffff) + (uint32_t)(seg >> 16);
    rd_skip(&all, tcp);
    sum = csum_bytes(&all, seg, sum);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return sum == 0xffff;
}
