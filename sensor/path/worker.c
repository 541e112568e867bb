/*
 * worker.c - the per-worker packet path: decode, fragment reassembly, flow
 * lookup, the reassembly budget, signature matching, correlation and
 * emission of facts and events; the protocols themselves are read in
 * worker_tcp.c and worker_udp.c (one table row per protocol), counters are
 * printed by worker_stats.c.
 *
 * The worker files are the only place that turns dissector results into
 * facts, counters and detections; dissectors only report what is on the
 * wire and signatures only answer "which rule matches this value".
 *
 * Protocol choice per flow: UDP by port (DNS 53, mDNS 5353, LLMNR 5355, DHCP
 * 67/68, NetBIOS 137) and by content (QUIC long-header Initial from the
 * client); TCP by content of the client's first bytes (TLS record, HTTP
 * request line, SOCKS greeting), DNS over TCP by port 53. After an HTTP
 * CONNECT the client stream is probed again, so the ClientHello inside the
 * tunnel is found.
 */
#include "sensor/path/worker.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dissectors/ipfrag.h"
#include "dissectors/ksd.h"
#include "dissectors/quic.h"
#include "sensor/output/event.h"
#include "sensor/path/hostid.h"
#include "sensor/path/known.h"
#include "sensor/path/learned.h"
#include "sensor/path/lines.h"
#include "sensor/path/worker_int.h"
#include "signatures/sig.h"

/* Application labels of flows (until nDPI labels them). */
static const char *const app_names[] = {"",     "DNS",  "TLS",   "HTTP",
                                        "QUIC", "MDNS", "LLMNR", "HTTP_Proxy"};

const char *ksd_nosni_name(int reason)
{
    static const char *const names[] = {"no_client_hello", "gap",    "ech",          "not_tls",
                                        "truncated",       "absent", "undecryptable"};
    if (reason < 0 || reason >= KSD_NOSNI__COUNT)
        return "unknown";
    return names[reason];
}

/* ---- facts --------------------------------------------------------------- */

/* Write a fact line; values are captured names: tabs and newlines escaped. */
void ksd_worker_fact(struct ksd_worker *w, const char *kind, const char *v1, const char *v2)
{
    struct ksd_event_out *o = w->sink->facts;
    if (!o || !v1 || !*v1)
        return;
    w->st.facts++; /* facts written (--facts) */
    if (w->sink->threaded)
        pthread_mutex_lock(&w->sink->lock);
    ksd_event_out_put(o, kind, strlen(kind));
    const char *vals[2] = {v1, v2};
    for (int i = 0; i < 2 && vals[i]; i++) {
        ksd_event_out_put(o, "\t", 1);
        const char *run = vals[i], *s = run;
        for (; *s; s++) {
            const char *esc = *s == '\t' ? "\\t" : *s == '\n' ? "\\n" : *s == '\r' ? "\\r" : NULL;
            if (!esc)
                continue;
            ksd_event_out_put(o, run, (size_t)(s - run));
            ksd_event_out_put(o, esc, 2);
            run = s + 1;
        }
        ksd_event_out_put(o, run, (size_t)(s - run));
    }
    ksd_event_out_end(o);
    if (w->sink->threaded)
        pthread_mutex_unlock(&w->sink->lock);
}

/* ---- application labels -------------------------------------------------- */

uint8_t ksd_worker_label_intern(struct ksd_worker *w, const char *label)
{
    for (int i = 1; i < w->nlabels; i++)
        if (strcmp(w->labels[i], label) == 0)
            return (uint8_t)i;
    if (w->nlabels >= 256)
        return 0;
    snprintf(w->labels[w->nlabels], sizeof(w->labels[0]), "%s", label);
    return (uint8_t)w->nlabels++;
}

/* nDPI's label when it has one, else the label of ksd's own dissector. */
static const char *app_label(const struct ksd_worker *w, const struct ksd_flow *f)
{
    if (f->ndpi_app && f->ndpi_app < w->nlabels)
        return w->labels[f->ndpi_app];
    return f->app < sizeof(app_names) / sizeof(app_names[0]) ? app_names[f->app] : "";
}

/* ---- events -------------------------------------------------------------- */

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Sensor-unique event ids, the idempotency key of the Redis output:
 * 41 bits of a wall-clock millisecond (a block start), 6 bits of the worker
 * number, 17 bits of sequence within the block. A block holds 131,072
 * events; the next starts at the current millisecond, or one past the last
 * block when the clock has not moved on, so ids never repeat within a run
 * nor between the workers of one sensor; across restarts they do not repeat
 * unless the wall clock went back.
 */
static uint64_t next_event_id(struct ksd_worker *w)
{
    if (w->id_seq >= (1u << 17)) {
        uint64_t now = wall_ms();
        w->id_epoch_ms = now > w->id_epoch_ms ? now : w->id_epoch_ms + 1;
        w->id_seq = 0;
    }
    return (w->id_epoch_ms & ((1ull << 41) - 1)) << 23 | (uint64_t)(w->index & 63) << 17 |
           w->id_seq++;
}

/*
 * A rule matched `indicator` on flow f. `flagged` is the key side of the host
 * believed to run the product. Suppressed within the dedup window. The event
 * carries `confidence` and `category` (the rule's, except for indirect
 * evidence: see "Indirect evidence" below) and `via` when not NULL.
 */
void ksd_worker_detect_as(struct ksd_worker *w, struct ksd_flow *f, int flagged, int evidence,
                          const char *indicator, const struct ksd_rule *r, const char *via,
                          int confidence, const char *category)
{
    struct ksd_addr client, server;
    side_addr(f, flagged, &client);
    side_addr(f, !flagged, &server);
    const char *site = ksd_known_lookup(w->sites, client.family, client.a);
    const char *managed = ksd_known_lookup(w->known, client.family, client.a);
    uint32_t n = ksd_corr_dedup(w->corr, &client, r->id, evidence, w->now, w->conf.dedup_window_us);
    if (n == 0)
        return;
    ksd_corr_host_add(w->corr, &client, w->now, evidence, category, indicator, site, managed, n);
    struct ksd_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.id = next_event_id(w);
    ev.ts_us = w->now;
    snprintf(ev.sensor, sizeof(ev.sensor), "%s", w->conf.sensor_id ? w->conf.sensor_id : "");
    ksd_addr_str(&client, ev.client, sizeof(ev.client));
    ksd_addr_str(&server, ev.server, sizeof(ev.server));
    ev.sport = ksd_flow_port(f, flagged);
    ev.dport = ksd_flow_port(f, !flagged);
    snprintf(ev.proto, sizeof(ev.proto), "%s",
             f->key.proto == 6    ? "tcp"
             : f->key.proto == 17 ? "udp"
                                  : "ip");
    snprintf(ev.evidence, sizeof(ev.evidence), "%s", ksd_evidence_name(evidence));
    snprintf(ev.indicator, sizeof(ev.indicator), "%s", indicator);
    snprintf(ev.rule, sizeof(ev.rule), "%s", r->id);
    snprintf(ev.category, sizeof(ev.category), "%s", category);
    ev.confidence = confidence;
    snprintf(ev.app, sizeof(ev.app), "%s", app_label(w, f));
    snprintf(ev.ruleset, sizeof(ev.ruleset), "%s", ksd_sig_version(w->sigs));
    snprintf(ev.site, sizeof(ev.site), "%s", site ? site : "");
    snprintf(ev.managed, sizeof(ev.managed), "%s", managed ? managed : "");
    if (via)
        snprintf(ev.via, sizeof(ev.via), "%s", via);
    if (w->src < w->conf.n_sources)
        snprintf(ev.pcap, sizeof(ev.pcap), "%s", w->conf.sources[w->src]);
    struct ksd_hostid_view id;
    if (ksd_hostid_get(w->sink->hostid, client.family, client.a, w->now, &id)) {
        snprintf(ev.client_mac, sizeof(ev.client_mac), "%s", id.mac);
        snprintf(ev.client_name, sizeof(ev.client_name), "%s", id.name);
        snprintf(ev.client_name_source, sizeof(ev.client_name_source), "%s", id.name_source);
        ksd_corr_host_machine(w->corr, &client, ev.client_mac, ev.client_name,
                              ev.client_name_source);
    }
    ksd_community_id(0, f->key.family, f->key.proto, client.a, server.a, ev.sport, ev.dport,
                     f->key.proto == 6 || f->key.proto == 17, ev.community_id);
    ev.count = n;
    w->st.events++;
    char buf[4096];
    int len = w->sink->json ? ksd_event_json(&ev, buf, sizeof(buf)) : 0;
    if (w->sink->threaded)
        pthread_mutex_lock(&w->sink->lock);
    w->sink->events++;
    if (len > 0) {
        ksd_event_out_put(w->sink->json, buf, (size_t)len);
        ksd_event_out_end(w->sink->json);
    }
    if (w->sink->threaded)
        pthread_mutex_unlock(&w->sink->lock);
    if (w->sink->push)
        w->sink->push(w->sink->push_arg, &ev);
}

void ksd_worker_detect(struct ksd_worker *w, struct ksd_flow *f, int flagged, int evidence,
                       const char *indicator, const struct ksd_rule *r, const char *via)
{
    ksd_worker_detect_as(w, f, flagged, evidence, indicator, r, via, r->confidence, r->category);
}

/*
 * A port rule matched the server port of flow f. Direction says which side
 * runs the product; a prerequisite (requires=) must have been seen between
 * the same two hosts; a host binding (host=) needs the flow's server name,
 * from the wire or learned from DNS (NULL: not known yet, check again when a
 * name shows up).
 */
static void port_rule(struct ksd_worker *w, struct ksd_flow *f, const struct ksd_rule *r,
                      const char *name)
{
    int flagged = r->dir == KSD_SIG_FROM_SERVER ? !f->client : f->client;
    struct ksd_addr a, b;
    side_addr(f, flagged, &a);
    side_addr(f, !flagged, &b);
    if (r->req_port && !ksd_corr_pair_seen(w->corr, &a, &b, r->req_proto, r->req_port, w->now))
        return;
    if (r->host) {
        if (!name)
            name = ksd_corr_dns_lookup(w->corr, &a, &b, w->now);
        if (!name) {
            f->evmask |= FL_PORTHOST;
            return;
        }
        if (!ksd_sig_host_allowed(r, name, strlen(name)))
            return;
    }
    f->evmask &= ~(uint32_t)FL_PORTHOST;
    char ind[32];
    uint16_t port = ksd_flow_port(f, !f->client);
    snprintf(ind, sizeof(ind), "%s/%u", f->key.proto == 6 ? "tcp" : "udp", port);
    ksd_worker_detect(w, f, flagged, KSD_EV_PORT, ind, r, NULL);
}

/* Match a server name seen on flow f (client side flagged). */
void ksd_worker_match_name(struct ksd_worker *w, struct ksd_flow *f, int evidence, const char *name)
{
    if (!name || !*name)
        return;
    f->evmask |= FL_NAME;
    if (!w->sigs)
        return;
    if (f->evmask & FL_PORTHOST) {
        const struct ksd_rule *pr =
            ksd_sig_match_port(w->sigs, f->key.proto, ksd_flow_port(f, !f->client));
        if (pr)
            port_rule(w, f, pr, name);
    }
    const struct ksd_rule *r = ksd_sig_match_domain(w->sigs, name, strlen(name));
    if (r)
        ksd_worker_detect(w, f, f->client, evidence, name, r, NULL);
}

/* The flow carried no name: if its server address came from a Kaspersky DNS
 * answer to this client, that is the evidence. */
void ksd_worker_settle_dns_ip(struct ksd_worker *w, struct ksd_flow *f)
{
    if (!(f->evmask & FL_DNSIP) || (f->evmask & FL_NAME) || !w->sigs)
        return;
    f->evmask &= (uint32_t)~FL_DNSIP;
    w->dnsippend--;
    struct ksd_addr client, server;
    side_addr(f, f->client, &client);
    side_addr(f, !f->client, &server);
    const char *name = ksd_corr_dns_lookup(w->corr, &client, &server, f->first_us);
    if (!name)
        return;
    const struct ksd_rule *r = ksd_sig_match_domain(w->sigs, name, strlen(name));
    if (!r)
        return;
    char ip[64];
    ksd_addr_str(&server, ip, sizeof(ip));
    ksd_worker_detect(w, f, f->client, KSD_EV_DNS_IP, ip, r, name);
}

/* Report a name-less flow whose server address is in the sensor-wide
 * table; 0 when it is not (yet). */
static int shared_dns_ip(struct ksd_worker *w, struct ksd_flow *f)
{
    struct ksd_addr server;
    side_addr(f, !f->client, &server);
    char name[KSD_LEARNED_NAME_MAX];
    if (!ksd_learned_get(w->sink->learned, server.family, server.a, f->first_us, name,
                         sizeof(name)))
        return 0;
    const struct ksd_rule *r = ksd_sig_match_domain(w->sigs, name, strlen(name));
    if (!r)
        return 1; /* learned, but no rule names it (a reloaded rule set) */
    char ip[64];
    ksd_addr_str(&server, ip, sizeof(ip));
    ksd_worker_detect_as(w, f, f->client, KSD_EV_DNS_IP, ip, r, name,
                         r->confidence < KSD_CONF_SHARED_DNSIP ? r->confidence
                                                               : KSD_CONF_SHARED_DNSIP,
                         "infrastructure");
    return 1;
}

/*
 * A TLS, QUIC or HTTP flow (ksd's own dissectors said so) that ended without
 * a server name, to an address that another host resolved as a Kaspersky
 * name (the sensor-wide table): a suspected dns_ip. With several workers the
 * answer may sit in another worker's queue when this flow ends, so a flow
 * not matched yet waits (a copy of its key and labels) in w->pending, looked
 * at again every expiry tick until every worker has read past the flow's
 * start (ksd_learned_passed: the answer cannot come any more; a worker may
 * lag far behind in capture time, so this worker's own clock says nothing),
 * and once more after every worker has drained (ksd_worker_settle_pending).
 */
static void settle_shared_dns_ip(struct ksd_worker *w, struct ksd_flow *f)
{
    if ((f->evmask & (FL_NAME | FL_DNSIP | FL_SHARED_DONE)) || !w->sigs || !w->sink->learned ||
        (f->app != APP_TLS && f->app != APP_QUIC && f->app != APP_HTTP))
        return;
    f->evmask |= FL_SHARED_DONE;
    struct ksd_addr client, server;
    side_addr(f, f->client, &client);
    side_addr(f, !f->client, &server);
    if (ksd_corr_dns_lookup(w->corr, &client, &server, f->first_us))
        return; /* the client's own answer: settle_dns_ip's case */
    if (shared_dns_ip(w, f) || !w->sink->threaded)
        return;
    if (w->npending == KSD_PENDING_MAX) { /* full: the oldest gives way */
        memmove(w->pending, w->pending + 1, sizeof(w->pending[0]) * (KSD_PENDING_MAX - 1));
        w->npending--;
    }
    struct ksd_flow *c = &w->pending[w->npending++];
    *c = *f;
    c->ext = NULL;
    c->hnext = c->prev = c->next = NULL;
}

/* Look at the waiting name-less flows again; drop those older than the
 * wait (all of them when final). */
static void pending_run(struct ksd_worker *w, int final)
{
    int64_t saved = w->now;
    int k = 0;
    for (int i = 0; i < w->npending; i++) {
        struct ksd_flow *c = &w->pending[i];
        w->now = c->last_us;
        if (!shared_dns_ip(w, c) && !final && !ksd_learned_passed(w->sink->learned, c->first_us))
            w->pending[k++] = *c;
    }
    w->npending = k;
    w->now = saved;
}

/* First packet of a flow: remember it as a possible prerequisite, and whether
 * its server address was learned from a Kaspersky DNS answer. */
static void flow_note(struct ksd_worker *w, struct ksd_flow *f)
{
    struct ksd_addr client, server;
    side_addr(f, f->client, &client);
    side_addr(f, !f->client, &server);
    uint16_t sport = ksd_flow_port(f, !f->client);
    if (w->sigs && ksd_sig_match_port(w->sigs, f->key.proto, sport))
        ksd_corr_pair_note(w->corr, &client, &server, f->key.proto, sport, w->now);
    if (ksd_corr_dns_lookup(w->corr, &client, &server, w->now)) {
        f->evmask |= FL_DNSIP;
        w->dnsippend++;
    }
}

/* Address and port fingerprints of a flow. Run once nDPI has labelled the
 * flow (or at once without nDPI), so the events carry the label. */
static void flow_match(struct ksd_worker *w, struct ksd_flow *f)
{
    if (f->evmask & FL_STARTPEND)
        w->startpend--;
    f->evmask &= ~(uint32_t)FL_STARTPEND;
    if (!w->sigs)
        return;
    struct ksd_addr server;
    side_addr(f, !f->client, &server);
    const struct ksd_rule *r = ksd_sig_match_addr(w->sigs, server.family, server.a);
    if (r) {
        char ip[64];
        ksd_addr_str(&server, ip, sizeof(ip));
        ksd_worker_detect(w, f, f->client, KSD_EV_IP, ip, r, NULL);
    }
    r = ksd_sig_match_port(w->sigs, f->key.proto, ksd_flow_port(f, !f->client));
    if (r)
        port_rule(w, f, r, NULL);
}

/*
 * nDPI and a first client message ksd parsed (ClientHello, DNS query): nDPI
 * has been held off its packets (see ndpi_held) and labels the flow from the
 * name in it through its own host-name tables, before any event of the flow
 * is emitted; address and port rules that waited for the label run now, as
 * they would have at this packet.
 */
void ksd_worker_label_from_name(struct ksd_worker *w, struct ksd_flow *f, int proto,
                                const char *name)
{
    struct ksd_classify_flow *none = NULL;
    struct ksd_classify_flow **nd = f->ext ? &((struct flow_ext *)f->ext)->nd : &none;
    if (!w->cls || (f->evmask & FL_NDPI_DONE))
        return;
    char label[KSD_APP_LABEL_MAX];
    struct ksd_addr client, server;
    side_addr(f, f->client, &client);
    side_addr(f, !f->client, &server);
    ksd_classify_by_name(w->cls, nd, proto, name, client.family == 4 ? client.a : NULL,
                         server.family == 4 ? server.a : NULL, label, sizeof(label));
    f->ndpi_app = ksd_worker_label_intern(w, label);
    f->evmask = (f->evmask | FL_NDPI_DONE) & ~(uint32_t)FL_NDPI_HELD;
    w->st.ndpi_classified++;
    w->st.ndpi_by_name++;
    if (f->evmask & FL_STARTPEND)
        flow_match(w, f);
}

struct flow_ext *ksd_worker_ext(struct ksd_flow *f)
{
    if (!f->ext) {
        struct flow_ext *x = calloc(1, sizeof(*x));
        if (!x)
            return NULL;
        ksd_stream_init(&x->st[0]);
        ksd_stream_init(&x->st[1]);
        x->flow = f;
        if (f->flags & KSD_FLOW_F_SYN)
            ksd_stream_syn(&x->st[0], f->isn[0]);
        if (f->flags & KSD_FLOW_F_SYNACK)
            ksd_stream_syn(&x->st[1], f->isn[1]);
        f->ext = x;
    }
    return f->ext;
}

/* ---- reassembly budget (sensor/path/budget.h) ---------------------------- */

static void hold_unlink(struct ksd_worker *w, struct flow_ext *x)
{
    if (!x->held)
        return;
    if (x->hold_prev)
        x->hold_prev->hold_next = x->hold_next;
    else
        w->hold_old = x->hold_next;
    if (x->hold_next)
        x->hold_next->hold_prev = x->hold_prev;
    else
        w->hold_new = x->hold_prev;
    x->hold_prev = x->hold_next = NULL;
    x->held = 0;
}

static void budget_charge(struct ksd_worker *w, size_t was, size_t now)
{
    if (now == was)
        return;
    ksd_budget_charge(w->budget, (int64_t)now - (int64_t)was);
    w->held += now - was; /* modulo 2^64: a release subtracts */
}

/* Charge the flow's handshake memory as it is now, and make it the newest holder. */
static void budget_account(struct ksd_worker *w, struct flow_ext *x)
{
    size_t m =
        ksd_stream_mem(&x->st[0]) + ksd_stream_mem(&x->st[1]) + ksd_quic_mem(x->quic) + x->weak_len;
    budget_charge(w, x->charged, m);
    x->charged = (uint32_t)m;
    hold_unlink(w, x);
    if (!m)
        return;
    x->hold_prev = w->hold_new;
    if (w->hold_new)
        w->hold_new->hold_next = x;
    else
        w->hold_old = x;
    w->hold_new = x;
    x->held = 1;
}

static void frag_account(struct ksd_worker *w)
{
    size_t m = ksd_ipfrag_mem(w->frag);
    budget_charge(w, w->frag_charged, m);
    w->frag_charged = m;
}

/* Drop the handshake state of a flow to make room: a ClientHello cut short
 * still gives the name it holds, as with a gap. */
static void budget_drop_flow(struct ksd_worker *w, struct flow_ext *x)
{
    struct ksd_flow *f = x->flow;
    if (x->quic)
        w->st.budget_quic++;
    else
        w->st.budget_tcp++;
    if (!(f->evmask & FL_CDONE) && x->cp == CP_TLS && !x->hellos &&
        !ksd_worker_partial_hello(w, f, x))
        nosni_set(f, KSD_NOSNI_GAP);
    f->evmask |= FL_CDONE | FL_SDONE;
    ksd_worker_settle_dns_ip(w, f);
    ksd_worker_ext_release(w, f);
}

/*
 * After a packet: while this worker holds more than its share of the budget
 * (limit / workers, budget.h), drop its oldest handshake state, flow or
 * fragmented datagram, whichever is older.
 */
static void budget_enforce(struct ksd_worker *w)
{
    uint64_t share = ksd_budget_share(w->budget);
    for (int i = 0; i < KSD_MAX_BUDGET_DROPS && w->held > share; i++) {
        struct flow_ext *x = w->hold_old;
        uint64_t fus;
        int frag = ksd_ipfrag_oldest(w->frag, &fus);
        if (frag && (!x || (int64_t)fus <= x->flow->last_us)) {
            w->st.budget_frag++;
            ksd_ipfrag_drop_oldest(w->frag);
            frag_account(w);
        } else if (x) {
            budget_drop_flow(w, x);
        } else {
            return;
        }
    }
}

/* Dissection is over: drop stream buffers and QUIC state now, and the whole
 * extension once nDPI has also finished with the flow. */
void ksd_worker_ext_release(struct ksd_worker *w, struct ksd_flow *f)
{
    struct flow_ext *x = f->ext;
    if (!x)
        return;
    budget_charge(w, x->charged, 0);
    x->charged = 0;
    hold_unlink(w, x);
    free(x->weak);
    x->weak = NULL;
    x->weak_len = 0;
    ksd_stream_free(&x->st[0]);
    ksd_stream_free(&x->st[1]);
    ksd_quic_free(x->quic);
    x->quic = NULL;
    if (x->nd)
        return;
    free(x);
    f->ext = NULL;
}

/* Held off nDPI for a hello or query that never completed: the label of its
 * protocol (and nDPI's address table), as nDPI's own guess would be. */
static void label_held(struct ksd_worker *w, struct ksd_flow *f)
{
    if (w->cls && (f->evmask & FL_NDPI_HELD) && !(f->evmask & FL_NDPI_DONE))
        ksd_worker_label_from_name(w, f,
                                   f->key.proto == 6                    ? KSD_CLASSIFY_TLS
                                   : ksd_flow_port(f, !f->client) == 53 ? KSD_CLASSIFY_DNS
                                                                        : KSD_CLASSIFY_QUIC,
                                   NULL);
}

/* Flow leaves the table: nDPI's best guess if it had not decided yet. */
void ksd_worker_ext_final(struct ksd_worker *w, struct ksd_flow *f)
{
    struct flow_ext *x = f->ext;

    label_held(w, f);
    if (x && x->nd && w->cls) {
        char label[KSD_APP_LABEL_MAX];
        ksd_classify_giveup(w->cls, &x->nd, label, sizeof(label));
        f->ndpi_app = ksd_worker_label_intern(w, label);
    }
    if (f->evmask & FL_STARTPEND)
        flow_match(w, f);
    if (w->cls || f->app)
        ksd_worker_fact(w, "flow_app", app_label(w, f)[0] ? app_label(w, f) : "Unknown", NULL);
    ksd_worker_ext_release(w, f);
}

/* The first bytes say who is the client: a ClientHello or a request line. */
/* ---- flow release -------------------------------------------------------- */

static void on_release(struct ksd_flow *f, int reason, void *arg)
{
    struct ksd_worker *w = arg;
    (void)reason;
    int64_t saved = w->now;
    uint32_t saved_src = w->src;
    w->now = f->last_us;
    w->src = f->src; /* evidence settled at the end names the flow's last file */
    struct flow_ext *x = f->ext;
    if (x && x->weak) /* the last segment had a bad checksum and nothing followed */
        ksd_worker_weak_flush(w, f, x);
    /* the flow ends with a ClientHello still waiting for a missing segment */
    if (x && !(f->evmask & FL_CDONE) && x->cp == CP_TLS && !x->hellos &&
        !ksd_worker_partial_hello(w, f, x))
        nosni_set(f, KSD_NOSNI_GAP);
    if (f->evmask & FL_TLSPORT) {
        int why = -1, noted = nosni_get(f);
        if (!(f->evmask & FL_HELLO))
            why = noted >= 0 ? noted : KSD_NOSNI_NO_HELLO;
        else if (noted == KSD_NOSNI_ECH || noted == KSD_NOSNI_ABSENT)
            why = noted;
        if (why == KSD_NOSNI_ECH || (why >= 0 && !(f->evmask & FL_NAME))) {
            w->st.nosni[why]++;
            ksd_worker_fact(w, "no_sni", ksd_nosni_name(why), NULL);
        }
    }
    ksd_worker_settle_dns_ip(w, f);
    settle_shared_dns_ip(w, f);
    if (f->evmask & FL_DNSIP) { /* a name was seen after all */
        f->evmask &= (uint32_t)~FL_DNSIP;
        w->dnsippend--;
    }
    ksd_worker_ext_final(w, f);
    w->now = saved;
    w->src = saved_src;
}

/* ---- entry points -------------------------------------------------------- */

struct ksd_worker *ksd_worker_new(const struct ksd_worker_conf *c, struct ksd_sink *sink)
{
    struct ksd_worker *w = ksd_zalloc_lines(sizeof(*w)); /* not beside another worker's */
    if (!w)
        return NULL;
    w->conf = *c;
    w->sink = sink;
    struct ksd_flow_timeouts t = {0, 0, 0};
    w->ft =
        ksd_flow_table_new((size_t)(c->max_flows > 0 ? c->max_flows : 1000000), &t, on_release, w);
    w->frag = ksd_ipfrag_new();
    w->corr = ksd_corr_new();
    w->budget = c->budget;
    if (!w->budget) {
        long mb = c->reassembly_mb > 0 ? c->reassembly_mb : KSD_REASSEMBLY_MB_DEFAULT;
        ksd_budget_init(&w->own_budget, (uint64_t)(c->max_flows > 0 ? c->max_flows : 1000000),
                        (uint64_t)mb << 20, 1);
        w->budget = &w->own_budget;
    }
    if (w->ft)
        ksd_flow_table_share(w->ft, w->budget);
    w->nlabels = 1;
    if (c->ndpi) {
        char err[256];
        w->cls = ksd_classify_new(c->ndpi_protos, err, sizeof(err));
        w->ndpi_full = c->ndpi_full;
        if (!w->cls) {
            ksd_worker_free(w);
            return NULL;
        }
    }
    w->id_epoch_ms = wall_ms();
    if (!w->ft || !w->frag || !w->corr) {
        ksd_worker_free(w);
        return NULL;
    }
    return w;
}

void ksd_worker_free(struct ksd_worker *w)
{
    if (!w)
        return;
    ksd_flow_table_free(w->ft);
    ksd_ipfrag_free(w->frag);
    ksd_corr_free(w->corr);
    ksd_classify_free(w->cls);
    free(w);
}

void ksd_worker_set_sigs(struct ksd_worker *w, const struct ksd_sigset *s)
{
    w->sigs = s;
}

/* A flow nDPI is still classifying: its label from the module about to go. */
static void ndpi_settle(struct ksd_flow *f, void *arg)
{
    struct ksd_worker *w = arg;
    struct flow_ext *x = f->ext;
    if (!x || !x->nd)
        return;
    char label[KSD_APP_LABEL_MAX];
    ksd_classify_giveup(w->cls, &x->nd, label, sizeof(label));
    f->ndpi_app = ksd_worker_label_intern(w, label);
    f->evmask |= FL_NDPI_DONE;
}

int ksd_worker_reload_ndpi(struct ksd_worker *w, const char *protos)
{
    if (!w->cls)
        return 0;
    char err[256];
    struct ksd_classify *n = ksd_classify_new(protos, err, sizeof(err));
    if (!n)
        return -1;
    ksd_flow_foreach(w->ft, ndpi_settle, w);
    ksd_classify_free(w->cls);
    w->cls = n;
    return 0;
}

void ksd_worker_set_known(struct ksd_worker *w, const struct ksd_known *hosts,
                          const struct ksd_known *sites)
{
    w->known = hosts;
    w->sites = sites;
}

/*
 * Should nDPI skip this packet? Client packets that start or continue a
 * ClientHello (TLS record or QUIC Initial) that ksd is collecting, and a DNS
 * query to port 53: ksd parses the message once and label_from_name asks
 * nDPI only for the label of the name in it, which spares nDPI's second
 * parse (its TLS dissector formats JA3 strings with snprintf for every
 * hello). --ndpi-full turns this off.
 */
static int ndpi_held(const struct ksd_worker *w, const struct ksd_flow *f, int dir,
                     const struct ksd_pkt *p)
{
    if (w->ndpi_full || dir != 0 || !p->payload_len ||
        (f->evmask & (FL_NDPI_DONE | FL_CDONE | FL_HELLO)))
        return 0;
    if (f->evmask & FL_NDPI_HELD)
        return 1;
    if (f->evmask & FL_NDPI_DATA)
        return 0; /* nDPI is already dissecting something else (e.g. SOCKS): let it finish */
    if (p->proto == 6)
        return ksd_tls_probe(p->payload, p->payload_len);
    if (p->dport == 53)
        return p->payload_len >= 12 && !(p->payload[2] & 0x80); /* QR = 0: a query */
    return ksd_quic_probe(p->payload, p->payload_len);
}

/* Give nDPI one packet of a flow it is still classifying. nDPI state
 * (hundreds of bytes) only for flows that carry data: a SYN flood or a port
 * scan costs the flow record alone. */
static void ndpi_feed(struct ksd_worker *w, struct ksd_flow *f, const struct ksd_pkt *p)
{
    if (!p->l3 || (!p->payload_len && !f->ext))
        return;
    if (p->payload_len)
        f->evmask |= FL_NDPI_DATA;
    struct flow_ext *x = ksd_worker_ext(f);
    char label[KSD_APP_LABEL_MAX], name[96];
    if (x && ksd_classify_packet_name(w->cls, &x->nd, p->l3, p->l3_len, w->now, label,
                                      sizeof(label), name, sizeof(name)) == 1) {
        ksd_worker_fact(w, "ndpi_host", name, NULL); /* for make ndpi-compare */
        f->ndpi_app = ksd_worker_label_intern(w, label);
        f->evmask |= FL_NDPI_DONE;
        w->st.ndpi_classified++;
    }
}

static void process_pkt(struct ksd_worker *w, const struct ksd_pkt *p)
{
    if (p->proto != 6 && p->proto != 17)
        return;
    int dir;
    struct ksd_flow *f = ksd_flow_lookup_hint(w->ft, p, w->now, &dir, w->hint);
    w->hint = NULL; /* it was this packet's */
    if (!f)
        return;
    f->src = (uint16_t)w->src; /* < KSD_MAX_INPUT_FILES */
    int fresh = f->pkts[0] == 0 && f->pkts[1] == 0;
    f->pkts[dir]++;
    if (fresh && dir == 0)
        ksd_worker_learn_mac(w, p);
    if (fresh) {
        uint16_t sport = ksd_flow_port(f, !f->client);
        if (ksd_worker_is_tls_port(sport) && sport != 13000)
            f->evmask |= FL_TLSPORT;
        flow_note(w, f);
        if (w->cls) {
            f->evmask |= FL_STARTPEND;
            w->startpend++;
        } else
            flow_match(w, f);
    }
    int held = 0;
    if (w->cls && ndpi_held(w, f, dir, p)) {
        f->evmask |= FL_NDPI_HELD;
        held = 1;
    }
    if (w->cls && !(f->evmask & (FL_NDPI_DONE | FL_NDPI_HELD)))
        ndpi_feed(w, f, p);
    if ((f->evmask & FL_STARTPEND) && (f->evmask & FL_NDPI_DONE))
        flow_match(w, f);
    if (p->proto == 6)
        ksd_worker_tcp(w, f, &dir, p);
    else
        ksd_worker_udp(w, f, dir, p);
    /* ksd finished the client side without the message it held nDPI for
     * (not TLS, a gap, a DNS packet that is no query): nDPI takes over with
     * this packet (it has missed earlier held ones, if any). */
    if ((f->evmask & FL_NDPI_HELD) && (f->evmask & FL_CDONE))
        f->evmask &= ~(uint32_t)FL_NDPI_HELD;
    if (held && !(f->evmask & (FL_NDPI_DONE | FL_NDPI_HELD))) {
        ndpi_feed(w, f, p);
        if ((f->evmask & FL_STARTPEND) && (f->evmask & FL_NDPI_DONE))
            flow_match(w, f);
    }
    /* nDPI finished after dissection did: the extension can go now. */
    if (f->ext && (f->evmask & FL_NDPI_DONE) && (f->evmask & FL_CDONE) && (f->evmask & FL_SDONE))
        ksd_worker_ext_release(w, f);
    if (f->ext)
        budget_account(w, f->ext);
    budget_enforce(w);
}

/* Capture time moves on: expire idle flows and fragments once a second. */
static void tick(struct ksd_worker *w, int64_t ts_us)
{
    /* Capture time going back by more than KSD_TIME_BACK_US is another capture
     * (the next file of an offline run, taken earlier): its packets cannot
     * continue the flows in the table, which would otherwise wait, unexpired,
     * until time caught up again. End them now; correlation state stays. */
    if (ts_us < w->now - KSD_TIME_BACK_US)
        ksd_flow_flush(w->ft);
    w->now = ts_us;
    if (w->now - w->last_expire >= KSD_EXPIRE_EVERY_US || w->now < w->last_expire) {
        ksd_flow_expire(w->ft, w->now);
        ksd_ipfrag_expire(w->frag, (uint64_t)w->now);
        frag_account(w);
        w->last_expire = w->now;
        /* every packet before now is processed: answers up to here are learned */
        ksd_learned_progress(w->sink->learned, (int)w->index, w->now);
        if (w->npending)
            pending_run(w, 0);
    }
}

/*
 * Live: address and port rules of a flow whose nDPI label is still missing
 * KSD_START_WAIT_US after its first packet (a SYN answered by a RST, a flow
 * nDPI cannot name) run now with nDPI's best guess, as they would at the
 * flow's end, instead of waiting for it; a flow to an address learned from a
 * Kaspersky DNS answer that carried no name within KSD_DNSIP_WAIT_US is
 * reported as dns_ip then, not when it ends (which can take hours).
 */
static void start_due(struct ksd_flow *f, void *arg)
{
    struct ksd_worker *w = arg;
    int start = (f->evmask & FL_STARTPEND) && f->first_us <= w->clock - KSD_START_WAIT_US;
    int dnsip = (f->evmask & FL_DNSIP) && f->first_us <= w->clock - KSD_DNSIP_WAIT_US;
    if (!start && !dnsip)
        return;
    int64_t saved = w->now;
    w->now = f->first_us; /* the evidence is the first packet */
    if (start)
        label_held(w, f);
    if (start && (f->evmask & FL_STARTPEND)) {
        ndpi_settle(f, w);
        flow_match(w, f);
    }
    if (dnsip && !(f->evmask & FL_STARTPEND)) {
        ksd_worker_settle_dns_ip(w, f);
        if (f->evmask & FL_DNSIP) { /* it had a name: nothing to settle */
            f->evmask &= (uint32_t)~FL_DNSIP;
            w->dnsippend--;
        }
    }
    w->now = saved;
}

void ksd_worker_clock(struct ksd_worker *w, int64_t now_us)
{
    uint64_t events = w->st.events;
    w->clock = now_us;
    if (now_us > w->now)
        tick(w, now_us);
    if (w->startpend || w->dnsippend)
        ksd_flow_foreach(w->ft, start_due, w);
    if (w->st.events == events || !w->sink->json)
        return;
    /* what the timers emitted goes out now, not at the next flush */
    if (w->sink->threaded)
        pthread_mutex_lock(&w->sink->lock);
    ksd_event_out_flush(w->sink->json);
    if (w->sink->threaded)
        pthread_mutex_unlock(&w->sink->lock);
}

void ksd_worker_set_index(struct ksd_worker *w, int index)
{
    w->index = (uint32_t)index & 63;
}

void ksd_worker_set_source(struct ksd_worker *w, uint32_t src)
{
    w->src = src;
}

void ksd_worker_packet(struct ksd_worker *w, const struct ksd_frame *fr)
{
    struct ksd_pkt pkt;
    int rc = ksd_decode(fr->linktype, fr->data, fr->caplen, &pkt);
    ksd_worker_decoded(w, fr, &pkt, rc);
}

void ksd_worker_decoded_hint(struct ksd_worker *w, const struct ksd_frame *fr, struct ksd_pkt *pkt,
                             int rc, const struct ksd_flow_hint *hint)
{
    w->hint = rc == KSD_DEC_OK ? hint : NULL;
    ksd_worker_decoded(w, fr, pkt, rc);
    w->hint = NULL;
}

void ksd_worker_decoded(struct ksd_worker *w, const struct ksd_frame *fr, struct ksd_pkt *pkt,
                        int rc)
{
    w->src = fr->src;
    tick(w, fr->ts_us);
    w->st.packets++;
    w->st.bytes += fr->len;
    if (rc >= 0 && rc < KSD_DEC__COUNT)
        w->st.decode[rc]++;
    if (rc == KSD_DEC_FRAGMENT) {
        const uint8_t *dg;
        size_t dglen;
        int done = ksd_ipfrag_add(w->frag, pkt, (uint64_t)w->now, &dg, &dglen) == 1;
        frag_account(w);
        if (done)
            ksd_worker_datagram(w, fr->ts_us, pkt, dg, dglen);
        else
            budget_enforce(w);
        return;
    }
    if (rc == KSD_DEC_OK)
        process_pkt(w, pkt);
}

void ksd_worker_datagram(struct ksd_worker *w, int64_t ts_us, const struct ksd_pkt *outer,
                         const uint8_t *dg, size_t len)
{
    struct ksd_pkt inner = *outer;
    tick(w, ts_us);
    w->st.fragments_reassembled++;
    int rc = ksd_decode_ip(dg, len, &inner);
    if (rc == KSD_DEC_OK)
        process_pkt(w, &inner);
    else if (rc >= 0 && rc < KSD_DEC__COUNT)
        w->st.decode[rc]++;
}

void ksd_worker_finish(struct ksd_worker *w)
{
    ksd_flow_flush(w->ft);
}

void ksd_worker_settle_pending(struct ksd_worker *w)
{
    if (w->npending)
        pending_run(w, 1);
}
