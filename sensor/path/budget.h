/*
 * budget.h - the memory limits every worker shares: the global flow cap
 * (--max-flows) and the handshake reassembly budget (--reassembly-mb).
 *
 * Both are atomic counters in one struct ksd_budget that the pool creates
 * and every worker's flow table and reassembly accounting point to, so the
 * caps hold whatever --threads is:
 *  - flows: a worker creating a flow while all tables together hold
 *    max_flows evicts its own least recently used flow first. Two workers
 *    may pass the check at once, so the total may exceed the cap by at most
 *    workers - 1 flows for an instant; a worker that holds no flow at all
 *    still admits the new one.
 *  - reassembly bytes (TCP stream buffers, QUIC CRYPTO state, IP fragment
 *    buffers) are charged after each packet to the shared count (for the
 *    figures: --stats shows its peak) and to the worker's own; a worker
 *    holds at most limit / workers (its share: the dispatcher spreads
 *    clients evenly over the workers) and beyond it drops the handshake
 *    state of its own least recently active flows or oldest fragmented
 *    datagrams, oldest first, so the total stays within the limit (plus
 *    the growth of one packet per worker) whatever the workers do. A
 *    worker cannot free another's state, which is why the split is fixed.
 * No locks; relaxed atomics (the counters are limits, not synchronisation).
 */
#ifndef KSD_BUDGET_H
#define KSD_BUDGET_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define KSD_REASSEMBLY_MB_DEFAULT 64

/* The settings, the flow counts and the byte counts each on a cache line
 * of their own: workers on other cores write the counters, and a read of
 * the settings (every packet) must not wait for those lines to come back. */
struct ksd_budget {
    uint64_t max_flows;                  /* flows in all tables together */
    uint64_t limit;                      /* reassembly bytes in all workers together */
    int workers;                         /* sharing this budget (for the fair share) */
    uint64_t share;                      /* limit / workers, worked out once (read every packet) */
    _Alignas(64) _Atomic uint64_t flows; /* flows now */
    _Atomic uint64_t flows_peak;         /* most flows at once */
    _Alignas(64) _Atomic uint64_t used;  /* reassembly bytes charged now */
    _Atomic uint64_t used_peak;          /* most reassembly bytes at once */
};

/* Set up b for `workers` workers (max_flows >= 1, limit in bytes >= 1). */
void ksd_budget_init(struct ksd_budget *b, uint64_t max_flows, uint64_t limit, int workers);

/* delta flows more (one created: +1) or fewer (-1, or all of a table at
 * once); returns the flows now held (after the change). */
uint64_t ksd_budget_flows_add(struct ksd_budget *b, int64_t delta);

/* 1 when the tables together hold max_flows or more. */
int ksd_budget_flows_full(struct ksd_budget *b);

/* Charge (delta > 0) or release (delta < 0) reassembly bytes; returns the bytes now used. */
uint64_t ksd_budget_charge(struct ksd_budget *b, int64_t delta);

/* 1 when the reassembly bytes in use exceed the limit. */
int ksd_budget_over(struct ksd_budget *b);

/* A worker's fair share of the reassembly limit. */
uint64_t ksd_budget_share(const struct ksd_budget *b);

#endif
