/*
 * ring.h - a single-producer, single-consumer ring of variable-size records
 * (C11 atomics, no locks). The capture thread is the only producer of each
 * worker's ring and the worker its only consumer.
 *
 * Positions grow monotonically; index = position & (cap - 1). A record never
 * wraps: when it does not fit before the end of the buffer, the producer
 * writes a padding record to the end and starts again at offset 0.
 *
 *   +--------+--------+------------------+
 *   | len u32| type u32| payload ...      |  len = 8 + payload, rounded up to 8
 *   +--------+--------+------------------+
 */
#ifndef KSD_RING_H
#define KSD_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KSD_RING_PAD 0 /* record type: padding to the end of the buffer */

struct ksd_ring_hdr {
    uint32_t len;  /* record bytes, header included, multiple of 8 */
    uint32_t type; /* KSD_RING_PAD or a caller-defined type */
};

struct ksd_ring {
    uint8_t *buf;                     /* cap bytes, 8-aligned */
    size_t cap;                       /* power of two */
    _Alignas(64) _Atomic size_t head; /* next write position (producer) */
    _Alignas(64) _Atomic size_t tail; /* next read position (consumer) */
    _Alignas(64) size_t head_cache;   /* consumer's last view of head */
    _Alignas(64) size_t tail_cache;   /* producer's last view of tail */
    size_t phead;                     /* producer: written up to here; head once published */
};

static inline int ksd_ring_init(struct ksd_ring *r, size_t cap)
{
    memset(r, 0, sizeof(*r));
    size_t c = 4096;
    while (c < cap)
        c <<= 1;
    r->buf = aligned_alloc(64, c);
    if (!r->buf)
        return -1;
    r->cap = c;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return 0;
}

static inline void ksd_ring_destroy(struct ksd_ring *r)
{
    free(r->buf);
    r->buf = NULL;
}

static inline size_t ksd_ring_rec_len(size_t payload)
{
    return (sizeof(struct ksd_ring_hdr) + payload + 7) & ~(size_t)7;
}

/* Producer: room for a record of `payload` bytes; returns the payload pointer
 * or NULL when the ring is full (try again later). */
static inline void *ksd_ring_reserve(struct ksd_ring *r, size_t payload)
{
    size_t need = ksd_ring_rec_len(payload);
    size_t head = r->phead;
    size_t off = head & (r->cap - 1);
    size_t contig = r->cap - off;
    size_t total = need > contig ? contig + need : need;
    if (need > r->cap / 2)
        return NULL;
    if (r->cap - (head - r->tail_cache) < total) {
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (r->cap - (head - r->tail_cache) < total)
            return NULL;
    }
    if (need > contig) {
        struct ksd_ring_hdr pad = {(uint32_t)contig, KSD_RING_PAD};
        memcpy(r->buf + off, &pad, sizeof(pad));
        r->phead = head + contig;
        off = 0;
    }
    return r->buf + off + sizeof(struct ksd_ring_hdr);
}

/* Producer: the reserved record is written; the consumer sees it (and
 * every record before it) after the next ksd_ring_publish. Publishing a
 * batch at once, not each record, spares the consumer's core a fresh copy
 * of `head` per record while it waits for work. */
static inline void ksd_ring_commit(struct ksd_ring *r, size_t payload, uint32_t type)
{
    struct ksd_ring_hdr h = {(uint32_t)ksd_ring_rec_len(payload), type};
    memcpy(r->buf + (r->phead & (r->cap - 1)), &h, sizeof(h));
    r->phead += h.len;
}

static inline void ksd_ring_publish(struct ksd_ring *r)
{
    if (atomic_load_explicit(&r->head, memory_order_relaxed) != r->phead)
        atomic_store_explicit(&r->head, r->phead, memory_order_release);
}

/* Consumer: the next record (payload pointer, *type and *payload_len set), or NULL when
 * the ring is empty. Valid until ksd_ring_release. */
static inline const void *ksd_ring_peek(struct ksd_ring *r, uint32_t *type, size_t *len)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    for (;;) {
        if (tail == r->head_cache) {
            r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
            if (tail == r->head_cache)
                return NULL;
        }
        struct ksd_ring_hdr h;
        memcpy(&h, r->buf + (tail & (r->cap - 1)), sizeof(h));
        if (h.type == KSD_RING_PAD) {
            tail += h.len;
            atomic_store_explicit(&r->tail, tail, memory_order_release);
            continue;
        }
        *type = h.type;
        *len = h.len - sizeof(h);
        return r->buf + (tail & (r->cap - 1)) + sizeof(h);
    }
}

/* Consumer: the record `ahead` bytes past the one the last peek returned
 * (*type and *len set as by ksd_ring_peek), if the producer has published
 * that far (no wait, no padding skipped): for prefetching what later
 * records point to. NULL otherwise. */
static inline const void *ksd_ring_peek_ahead(const struct ksd_ring *r, size_t ahead,
                                              uint32_t *type, size_t *len)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t at = tail + ahead;
    if (at - tail + sizeof(struct ksd_ring_hdr) > r->head_cache - tail)
        return NULL;
    struct ksd_ring_hdr h;
    memcpy(&h, r->buf + (at & (r->cap - 1)), sizeof(h));
    *type = h.type;
    *len = h.len - sizeof(h);
    return r->buf + (at & (r->cap - 1)) + sizeof(h);
}

/* Consumer: drop the record returned by the last peek. */
static inline void ksd_ring_release(struct ksd_ring *r)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    struct ksd_ring_hdr h;
    memcpy(&h, r->buf + (tail & (r->cap - 1)), sizeof(h));
    atomic_store_explicit(&r->tail, tail + h.len, memory_order_release);
}

#endif
