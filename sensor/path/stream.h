/*
 * stream.h - per-direction TCP stream reassembly for handshakes: turns the
 * segments of one direction of a TCP connection, in any order and any
 * segmentation, into the in-order bytes a stream dissector (TLS, HTTP, DNS
 * over TCP) reads. Pure: no I/O, no pcap, no logging. Policies are in the
 * comment at the top of stream.c.
 *
 * Ownership: a struct ksd_stream lives inside the flow record and owns one
 * lazily allocated buffer (none until the first payload byte); the flow's
 * destructor calls ksd_stream_free(). Pointers returned by ksd_stream_data()
 * are borrowed and valid until the next ksd_stream_add/syn/consume/done/free
 * on the same stream.
 */
#ifndef KSD_STREAM_H
#define KSD_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "dissectors/decode.h"

#define KSD_STREAM_MAX_BYTES                                                                       \
    (65536 + 2048)                  /* in-order bytes kept per direction (handshake                \
                                       window): a 64 KiB ClientHello and its record                \
                                       headers; each buffer draws on --reassembly-mb */
#define KSD_STREAM_MAX_SEGS    32   /* out-of-order byte ranges held beyond a hole */
#define KSD_STREAM_MAX_PREPEND 8192 /* unanchored start: how far back an early segment moves it */
#define KSD_STREAM_MIN_ALLOC   2048 /* first buffer size; doubles up to KSD_STREAM_MAX_BYTES */

enum ksd_stream_state {
    KSD_STREAM_INIT = 0, /* nothing seen yet */
    KSD_STREAM_ACTIVE,   /* start known (SYN or first data); segments accepted */
    KSD_STREAM_DONE,     /* consumer finished (or stream freed); segments ignored */
    KSD_STREAM_GAP,      /* a hole will never fill (store full, hole past window, no memory) */
    KSD_STREAM_FULL,     /* in-order data reached KSD_STREAM_MAX_BYTES past the read position */
};

/* Counters a caller sums over all streams; ksd_stream_add() only increments them. */
struct ksd_stream_stats {
    uint64_t segments;      /* segments with payload offered to an accepting stream */
    uint64_t bytes;         /* payload bytes newly stored (duplicates not counted) */
    uint64_t out_of_order;  /* segments stored beyond a hole (or before a picked-up start) */
    uint64_t retransmits;   /* segments that brought no new byte */
    uint64_t overlaps;      /* segments that brought new bytes and repeated some old ones */
    uint64_t gaps;          /* streams that went to KSD_STREAM_GAP */
    uint64_t overflows;     /* streams that went to KSD_STREAM_FULL */
    uint64_t overlap_diffs; /* segments whose repeated bytes differed from the kept ones */
    uint64_t alternates;    /* streams that got a second version (disagreeing overlaps) */
};

struct ksd_stream_buf; /* private to stream.c */

/* Idle size is 16 bytes on LP64: the buffer is allocated on the first payload byte. */
struct ksd_stream {
    struct ksd_stream_buf *buf; /* NULL until the first payload byte; freed by done/free */
    uint32_t seq;               /* sequence number of the read position (once state != INIT) */
    uint8_t state;              /* enum ksd_stream_state */
    uint8_t flags;              /* private KSD_STREAM_F_* bits (stream.c) */
};

/* Start a stream in state INIT. Allocates nothing. A zero-filled struct is the same. */
void ksd_stream_init(struct ksd_stream *s);

/* Release the buffer. The struct stays usable: state DONE, later segments ignored. */
void ksd_stream_free(struct ksd_stream *s);

/*
 * The initial sequence number from a SYN (client) or SYN-ACK (server): the
 * first data byte is isn + 1. Called before any data, it anchors the stream.
 * Called after data of a stream picked up mid-stream and before any consume,
 * it moves the start back to isn + 1 if that is within KSD_STREAM_MAX_PREPEND
 * and the window. A repeated SYN with the same isn is a no-op; any other late
 * SYN is ignored. A SYN carrying data: call syn(isn), then add(isn + 1, data).
 */
void ksd_stream_syn(struct ksd_stream *s, uint32_t isn);

/*
 * Add one segment: sequence number seq, payload (p, n). st (may be NULL)
 * receives counter increments. Returns 1 when the in-order data readable
 * through ksd_stream_data() grew (at its end, or at its front when a stream
 * picked up mid-stream is extended backwards), 0 when not (also: n == 0, or
 * the stream is DONE/GAP/FULL), KSD_EINVAL when p is NULL and n > 0, and
 * KSD_ENOMEM when the buffer could not be allocated (the state is then GAP).
 * Check ksd_stream_state() afterwards: a return of 1 may come with FULL.
 */
int ksd_stream_add(struct ksd_stream *s, uint32_t seq, const uint8_t *p, size_t n,
                   struct ksd_stream_stats *st);

/*
 * ksd_stream_add with the segment's checksum verdict: weak != 0 (a bad TCP
 * checksum) stores its bytes only where nothing is held yet, in both
 * versions; weak == 0 is ksd_stream_add.
 */
int ksd_stream_add_seg(struct ksd_stream *s, uint32_t seq, const uint8_t *p, size_t n, int weak,
                       struct ksd_stream_stats *st);

/*
 * The second version of the in-order bytes (same read position and length
 * as ksd_stream_data), where later segments overwrote earlier ones that
 * disagreed with them; NULL and *len 0 while no segments disagreed.
 * Borrowed like ksd_stream_data.
 */
const uint8_t *ksd_stream_alt_data(const struct ksd_stream *s, size_t *len);

/*
 * The in-order bytes from the read position: returns a pointer and sets
 * *len (0 and NULL when there are none). Borrowed; valid until the next
 * add/syn/consume/done/free. Still readable in GAP and FULL states.
 */
const uint8_t *ksd_stream_data(const struct ksd_stream *s, size_t *len);

/*
 * The consumer has used the first n in-order bytes: the read position moves
 * on by n and the window slides, so a connection may carry any total as long
 * as each message fits in KSD_STREAM_MAX_BYTES. n larger than the readable
 * length is a programmer error (asserted in debug builds, clamped otherwise).
 * When nothing is left held, the buffer is freed. A consume of n > 0 ends the
 * mid-stream "may move the start backwards" period.
 */
void ksd_stream_consume(struct ksd_stream *s, size_t n);

/* The consumer is finished with this direction: free the buffer, state DONE. */
void ksd_stream_done(struct ksd_stream *s);

/* The current enum ksd_stream_state. */
int ksd_stream_state(const struct ksd_stream *s);

/* Heap bytes the stream holds now (its buffer; 0 when none). */
size_t ksd_stream_mem(const struct ksd_stream *s);

/*
 * The TCP checksum of a decoded packet (RFC 9293 3.1, the pseudo-header of
 * RFC 9293 3.1 / RFC 8200 8.1): 1 good, 0 bad, -1 cannot tell (the capture
 * cut the packet). A capture made on the sending host with checksum offload
 * shows bad checksums on every outgoing segment, so a bad one is a hint
 * (ksd_stream_add_seg's weak), never a reason to drop.
 */
int ksd_stream_tcp_checksum(const struct ksd_pkt *p);

/* Sequence number of the first byte ksd_stream_data() returns (0 in state INIT). */
uint32_t ksd_stream_read_seq(const struct ksd_stream *s);

#endif
