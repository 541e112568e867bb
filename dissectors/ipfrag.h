/*
 * ipfrag.h - bounded IPv4 and IPv6 fragment reassembly.
 *
 * State lives in a struct ksd_ipfrag owned by the caller (one per worker);
 * there is no global state. Time is capture time in microseconds.
 */
#ifndef KSD_IPFRAG_H
#define KSD_IPFRAG_H

#include <stddef.h>
#include <stdint.h>

#include "dissectors/decode.h"

#define KSD_MAX_FRAG_DATAGRAMS  1024     /* datagrams being reassembled at once */
#define KSD_MAX_FRAGS_PER_DGRAM 64       /* fragments kept per datagram */
#define KSD_MAX_FRAG_BYTES      65535    /* reassembled IP payload bytes */
#define KSD_FRAG_TIMEOUT_US     30000000 /* a datagram incomplete after 30 s is dropped */
#define KSD_MAX_FRAG_HDR        512  /* IP header (IPv6: unfragmentable part) kept per datagram */
#define KSD_FRAG_BUCKETS        2048 /* hash buckets of the datagram table */

struct ksd_ipfrag_stats {
    uint64_t fragments;   /* fragments offered */
    uint64_t reassembled; /* datagrams completed */
    uint64_t timeouts;    /* datagrams dropped incomplete after the timeout */
    uint64_t overlaps;    /* fragments that overlapped earlier data (policy: first wins) */
    uint64_t evicted;     /* datagrams dropped because KSD_MAX_FRAG_DATAGRAMS was reached */
    uint64_t too_big;     /* datagrams over KSD_MAX_FRAG_BYTES or too many fragments */
    uint64_t invalid;     /* inconsistent fragments (bad length, offset past end) */
};

struct ksd_ipfrag; /* opaque */

struct ksd_ipfrag *ksd_ipfrag_new(void);
void ksd_ipfrag_free(struct ksd_ipfrag *f);

/*
 * Offer the fragment that ksd_decode reported in pkt->frag (pkt->family,
 * src, dst, ctx identify the datagram). When it completes a datagram, returns
 * 1 and sets *out and *out_len to a complete IP datagram (header rewritten: no
 * fragment fields, correct lengths) that the caller passes to
 * ksd_decode_ip(); the buffer is owned by `f` and valid until the next call.
 * Returns 0 when more fragments are needed, or a negative KSD_E* code:
 * KSD_ETRUNC (the capture cut this fragment: ignored, datagram kept),
 * KSD_EINVAL (inconsistent: bad length, offset past the end, conflicting
 * last fragment; the datagram is dropped when it is the culprit), KSD_ELIMIT
 * (KSD_MAX_FRAG_BYTES or KSD_MAX_FRAGS_PER_DGRAM exceeded: datagram dropped),
 * KSD_ENOMEM. Overlaps follow "first data wins": bytes already received are
 * never overwritten by a later fragment.
 */
int ksd_ipfrag_add(struct ksd_ipfrag *f, const struct ksd_pkt *pkt, uint64_t now_us,
                   const uint8_t **out, size_t *out_len);

/* Drop datagrams older than the timeout. */
void ksd_ipfrag_expire(struct ksd_ipfrag *f, uint64_t now_us);

const struct ksd_ipfrag_stats *ksd_ipfrag_stats(const struct ksd_ipfrag *f);

/* Heap bytes held by the datagrams being reassembled (for a memory budget). */
size_t ksd_ipfrag_mem(const struct ksd_ipfrag *f);

/* The capture time of the oldest datagram being reassembled: 1 and
 * *first_us, or 0 when there is none. */
int ksd_ipfrag_oldest(const struct ksd_ipfrag *f, uint64_t *first_us);

/* Drop the oldest datagram being reassembled (counted as evicted): a memory
 * budget's owner makes room. */
void ksd_ipfrag_drop_oldest(struct ksd_ipfrag *f);

#endif
