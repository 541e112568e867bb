/*
 * worker_stats.c - the workers' counters summed and printed (--stats, on
 * SIGUSR1) and the flagged-host table (--hosts). Reads worker state only
 * between packets (after ksd_worker_finish, or from the worker's thread).
 */
#include <stdio.h>
#include <string.h>

#include "dissectors/ipfrag.h"
#include "sensor/path/learned.h"
#include "sensor/path/worker_int.h"

void ksd_stats_add(struct ksd_stats *sum, const struct ksd_stats *part)
{
    _Static_assert(sizeof(struct ksd_stats) % sizeof(uint64_t) == 0, "stats are all uint64_t");
    uint64_t *d = (uint64_t *)sum;
    const uint64_t *s = (const uint64_t *)part;
    for (size_t i = 0; i < sizeof(*sum) / sizeof(uint64_t); i++)
        d[i] += s[i];
}

const struct ksd_stats *ksd_worker_stats(const struct ksd_worker *w)
{
    return &w->st;
}

int ksd_worker_prefetch(const struct ksd_worker *w, const struct ksd_pkt *pkt,
                        struct ksd_flow_hint *hint)
{
    if (pkt->proto != 6 && pkt->proto != 17)
        return 0;
    ksd_flow_prefetch(w->ft, pkt, hint);
    return 1;
}

void ksd_worker_prefetch_flow(const struct ksd_worker *w, const struct ksd_flow_hint *hint)
{
    ksd_flow_prefetch_record(w->ft, hint);
}

uint64_t ksd_worker_flows(const struct ksd_worker *w)
{
    return w->ft ? ksd_flow_table_stats(w->ft)->active : 0;
}

static void print_stats(const struct ksd_stats *s, const struct ksd_flow_stats *fs,
                        const struct ksd_ipfrag_stats *is, const struct ksd_corr_stats *cs,
                        size_t hosts, int workers, FILE *out);

void ksd_workers_hosts_each(struct ksd_worker *const *ws, int n,
                            const struct ksd_corr_host_visit *v)
{
    for (int i = 0; i < n; i++)
        ksd_corr_hosts_each(ws[i]->corr, v);
}

void ksd_workers_print_stats(struct ksd_worker *const *ws, int n, const struct ksd_stats *extra,
                             const struct ksd_ipfrag_stats *extra_frag, FILE *out)
{
    struct ksd_stats st;
    struct ksd_flow_stats fs;
    struct ksd_ipfrag_stats is;
    struct ksd_corr_stats cs;
    size_t hosts = 0;
    memset(&st, 0, sizeof(st));
    memset(&fs, 0, sizeof(fs));
    memset(&is, 0, sizeof(is));
    memset(&cs, 0, sizeof(cs));
    if (extra)
        ksd_stats_add(&st, extra);
    if (extra_frag)
        is = *extra_frag;
    for (int i = 0; i < n; i++) {
        const struct ksd_worker *w = ws[i];
        const struct ksd_flow_stats *f = ksd_flow_table_stats(w->ft);
        const struct ksd_ipfrag_stats *q = ksd_ipfrag_stats(w->frag);
        const struct ksd_corr_stats *c = ksd_corr_stats(w->corr);
        ksd_stats_add(&st, &w->st);
        fs.created += f->created;
        fs.active += f->active;
        fs.peak += f->peak;
        fs.expired += f->expired;
        fs.evicted += f->evicted;
        is.fragments += q->fragments;
        is.reassembled += q->reassembled;
        is.timeouts += q->timeouts;
        is.overlaps += q->overlaps;
        is.evicted += q->evicted;
        is.too_big += q->too_big;
        is.invalid += q->invalid;
        cs.dns_learned += c->dns_learned;
        cs.dns_evicted += c->dns_evicted;
        cs.dns_hits += c->dns_hits;
        cs.dedup_evicted += c->dedup_evicted;
        cs.suppressed += c->suppressed;
        cs.hosts_evicted += c->hosts_evicted;
        cs.pairs_evicted += c->pairs_evicted;
        hosts += ksd_corr_hosts_count(w->corr);
    }
    const struct ksd_budget *b = n > 0 ? ws[0]->budget : NULL;
    if (b) /* one cap over all tables: its peak, not the sum of the tables' peaks */
        fs.peak = atomic_load_explicit(&b->flows_peak, memory_order_relaxed);
    print_stats(&st, &fs, &is, &cs, hosts, n, out);
    if (b)
        fprintf(out,
                "reassembly budget: limit=%llu peak=%llu dropped_tcp=%llu dropped_quic=%llu "
                "dropped_frag=%llu\n",
                (unsigned long long)b->limit,
                (unsigned long long)atomic_load_explicit(&b->used_peak, memory_order_relaxed),
                (unsigned long long)st.budget_tcp, (unsigned long long)st.budget_quic,
                (unsigned long long)st.budget_frag);
    fprintf(out, "malformed (no evidence): tls_hello=%llu http_host=%llu\n",
            (unsigned long long)st.tls_malformed, (unsigned long long)st.http_bad_host);
    fprintf(out,
            "decoys: tcp_bad_checksum=%llu overlap_diffs=%llu second_versions=%llu "
            "names_from_second=%llu\n",
            (unsigned long long)st.tcp_bad_checksum, (unsigned long long)st.stream.overlap_diffs,
            (unsigned long long)st.stream.alternates, (unsigned long long)st.tls_alt_names);
}

void ksd_worker_print_stats(struct ksd_worker *w, FILE *out)
{
    struct ksd_worker *ws[1] = {w};
    ksd_workers_print_stats(ws, 1, NULL, NULL, out);
}

static void print_stats(const struct ksd_stats *s, const struct ksd_flow_stats *fs,
                        const struct ksd_ipfrag_stats *is, const struct ksd_corr_stats *cs,
                        size_t hosts, int workers, FILE *out)
{
    fprintf(out, "packets: %llu (%llu bytes)\n", (unsigned long long)s->packets,
            (unsigned long long)s->bytes);
    fprintf(out, "decode:");
    for (int i = 0; i < KSD_DEC__COUNT; i++)
        if (s->decode[i])
            fprintf(out, " %s=%llu", ksd_decode_reason_name(i), (unsigned long long)s->decode[i]);
    fprintf(out, "\n");
    fprintf(out,
            "fragments: offered=%llu reassembled=%llu timeouts=%llu overlaps=%llu "
            "evicted=%llu invalid=%llu\n",
            (unsigned long long)is->fragments, (unsigned long long)is->reassembled,
            (unsigned long long)is->timeouts, (unsigned long long)is->overlaps,
            (unsigned long long)is->evicted, (unsigned long long)is->invalid);
    fprintf(out, "flows: created=%llu active=%llu peak=%llu expired=%llu evicted=%llu\n",
            (unsigned long long)fs->created, (unsigned long long)fs->active,
            (unsigned long long)fs->peak, (unsigned long long)fs->expired,
            (unsigned long long)fs->evicted);
    fprintf(out,
            "tcp streams: segments=%llu out_of_order=%llu retransmits=%llu overlaps=%llu "
            "gaps=%llu overflows=%llu\n",
            (unsigned long long)s->stream.segments, (unsigned long long)s->stream.out_of_order,
            (unsigned long long)s->stream.retransmits, (unsigned long long)s->stream.overlaps,
            (unsigned long long)s->stream.gaps, (unsigned long long)s->stream.overflows);
    fprintf(out, "dns: messages=%llu mdns=%llu llmnr=%llu", (unsigned long long)s->dns_messages,
            (unsigned long long)s->mdns_messages, (unsigned long long)s->llmnr_messages);
    for (int i = 1; i < KSD_DNS_ERR_COUNT; i++)
        if (s->dns_err[i])
            fprintf(out, " err.%s=%llu", ksd_dns_err_name(i), (unsigned long long)s->dns_err[i]);
    fprintf(out, "\n");
    fprintf(out,
            "tls: client_hellos=%llu server_hellos=%llu certificates=%llu not_tls=%llu "
            "resync=%llu partial=%llu\n",
            (unsigned long long)s->tls_client_hellos, (unsigned long long)s->tls_server_hellos,
            (unsigned long long)s->tls_certs, (unsigned long long)s->tls_not_tls,
            (unsigned long long)s->tls_resync, (unsigned long long)s->tls_partial);
    fprintf(out, "quic: client_hellos=%llu unknown_version=%llu\n",
            (unsigned long long)s->quic_hellos, (unsigned long long)s->quic_unknown_version);
    fprintf(out, "no_sni:");
    for (int i = 0; i < KSD_NOSNI__COUNT; i++)
        fprintf(out, " %s=%llu", ksd_nosni_name(i), (unsigned long long)s->nosni[i]);
    fprintf(out, "\n");
    fprintf(out, "http: requests=%llu not_http=%llu\n", (unsigned long long)s->http_requests,
            (unsigned long long)s->http_not_http);
    fprintf(out, "correlation: dns_learned=%llu dns_hits=%llu dns_evicted=%llu suppressed=%llu\n",
            (unsigned long long)cs->dns_learned, (unsigned long long)cs->dns_hits,
            (unsigned long long)cs->dns_evicted, (unsigned long long)cs->suppressed);
    fprintf(out,
            "nDPI: flows labelled=%llu (from a name ksd parsed=%llu), state per flow being "
            "classified=%zu bytes\n",
            (unsigned long long)s->ndpi_classified, (unsigned long long)s->ndpi_by_name,
            ksd_classify_flow_bytes());
    fprintf(out, "memory: flow record=%zu bytes, flow extension=%zu bytes while dissecting\n",
            sizeof(struct ksd_flow), sizeof(struct flow_ext));
    fprintf(out, "facts: %llu  events: %llu  flagged hosts: %zu  workers: %d\n",
            (unsigned long long)s->facts, (unsigned long long)s->events, hosts, workers);
}
