/*
 * budget.c - the shared flow cap and reassembly budget (see budget.h for
 * the policy). Counting only: it frees nothing itself; the flow table and
 * the workers evict when a check says so.
 */
#include "sensor/path/budget.h"

static void raise_peak(_Atomic uint64_t *peak, uint64_t v)
{
    uint64_t old = atomic_load_explicit(peak, memory_order_relaxed);
    while (v > old && !atomic_compare_exchange_weak_explicit(peak, &old, v, memory_order_relaxed,
                                                             memory_order_relaxed))
        ;
}

void ksd_budget_init(struct ksd_budget *b, uint64_t max_flows, uint64_t limit, int workers)
{
    b->max_flows = max_flows ? max_flows : 1;
    b->limit = limit ? limit : 1;
    b->workers = workers > 0 ? workers : 1;
    b->share = b->limit / (uint64_t)b->workers;
    atomic_init(&b->flows, 0);
    atomic_init(&b->flows_peak, 0);
    atomic_init(&b->used, 0);
    atomic_init(&b->used_peak, 0);
}

uint64_t ksd_budget_flows_add(struct ksd_budget *b, int64_t delta)
{
    uint64_t now;
    if (delta > 0) {
        now = atomic_fetch_add_explicit(&b->flows, (uint64_t)delta, memory_order_relaxed) +
              (uint64_t)delta;
        raise_peak(&b->flows_peak, now);
    } else {
        now = atomic_fetch_sub_explicit(&b->flows, (uint64_t)-delta, memory_order_relaxed) -
              (uint64_t)-delta;
    }
    return now;
}

int ksd_budget_flows_full(struct ksd_budget *b)
{
    return atomic_load_explicit(&b->flows, memory_order_relaxed) >= b->max_flows;
}

uint64_t ksd_budget_charge(struct ksd_budget *b, int64_t delta)
{
    uint64_t now;
    if (delta >= 0) {
        now = atomic_fetch_add_explicit(&b->used, (uint64_t)delta, memory_order_relaxed) +
              (uint64_t)delta;
        raise_peak(&b->used_peak, now);
    } else {
        now = atomic_fetch_sub_explicit(&b->used, (uint64_t)-delta, memory_order_relaxed) -
              (uint64_t)-delta;
    }
    return now;
}

int ksd_budget_over(struct ksd_budget *b)
{
    return atomic_load_explicit(&b->used, memory_order_relaxed) > b->limit;
}

uint64_t ksd_budget_share(const struct ksd_budget *b)
{
    return b->share;
}
