/*
 * worker.c - the per-worker packet path: decode, fragment reassembly,
 * flow lookup, TCP stream reassembly, protocol dissection, signature
 * matching, correlation and emission of facts and events.
 *
 * This file is the only place that turns dissector results into facts,
 * counters and detections; dissectors only report what is on the wire and
 * signatures only answer "which rule matches this value".
 *
 * Protocol choice per flow: UDP by port (DNS 53, mDNS 5353, LLMNR 5355) and
 * by content (QUIC long-header Initial from the client); TCP by content of
 * the client's first bytes (TLS record, HTTP request line), DNS over TCP by
 * port 53. After an HTTP CONNECT the client stream is probed again, so the
 * ClientHello inside the tunnel is found.
 */
#include "sensor/path/worker.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dissectors/dhcp.h"
#include "dissectors/http.h"
#include "dissectors/ksd.h"
#include "dissectors/ipfrag.h"
#include "dissectors/netbios.h"
#include "dissectors/quic.h"
#include "dissectors/socks.h"
#include "dissectors/tls.h"
#include "sensor/path/classify.h"
#include "sensor/path/correlate.h"
#include "sensor/output/event.h"
#include "sensor/path/budget.h"
#include "sensor/path/flow.h"
#include "sensor/path/hostid.h"
#include "sensor/path/known.h"
#include "sensor/path/learned.h"
#include "signatures/sig.h"

#define KSD_MAX_HTTP_REQUESTS 32   /* requests dissected per connection */
#define KSD_MAX_TLS_HELLOS    2    /* ClientHellos per connection (HelloRetryRequest) */
#define KSD_MAX_DNS_TCP_MSGS  256  /* DNS messages per TCP connection */
#define KSD_MAX_CLIENT_PKTS   64   /* client packets dissected before giving up on a flow */
#define KSD_MAX_BUDGET_DROPS  1024 /* handshake states dropped after one packet at most */
#define KSD_EXPIRE_EVERY_US   1000000
#define KSD_START_WAIT_US     400000 /* live: longest wait for nDPI's label before address rules */
#define KSD_DNSIP_WAIT_US                                                                          \
    1000000 /* live: a flow to a DNS-learned address without a name by then is dns_ip */

/* Client-stream protocols. */
enum cproto {
    CP_UNKNOWN = 0,
    CP_TLS,
    CP_HTTP,
    CP_DNS,
    CP_SOCKS,
    CP_NONE,
};

/* Application labels of flows (until nDPI labels them). */
static const char *const app_names[] = {"",     "DNS",  "TLS",   "HTTP",
                                        "QUIC", "MDNS", "LLMNR", "HTTP_Proxy"};
enum {
    APP_NONE = 0,
    APP_DNS,
    APP_TLS,
    APP_HTTP,
    APP_QUIC,
    APP_MDNS,
    APP_LLMNR,
    APP_HTTP_PROXY,
};

/* Bits of ksd_flow.evmask used by the pipeline. */
#define FL_NAME        0x01   /* a server name was seen on the flow */
#define FL_DNSIP       0x02   /* the server address was learned from a Kaspersky DNS answer */
#define FL_TLSPORT     0x04   /* a TLS/QUIC flow, for no_sni accounting */
#define FL_SHARED_DONE 0x08   /* the sensor-wide learned-address table was consulted */
#define FL_CDONE       0x10   /* client side finished */
#define FL_SDONE       0x20   /* server side finished */
#define FL_HELLO       0x40   /* a ClientHello was parsed */
#define FL_NDPI_DONE   0x80   /* nDPI has labelled the flow */
#define FL_PORTHOST    0x1000 /* a port rule waits for a server name on this flow */
#define FL_STARTPEND   0x2000 /* address/port rules wait for nDPI's label */
#define FL_NDPI_HELD   0x4000 /* nDPI waits while ksd collects a ClientHello or DNS query */
#define FL_NDPI_DATA   0x8000 /* nDPI has been given a packet with payload */
#define FL_NOSNI_SHIFT 8      /* bits 8..11: enum ksd_nosni + 1 of a TLS/QUIC flow, 0 = none */

static void nosni_set(struct ksd_flow *f, int reason)
{
    f->evmask =
        (f->evmask & ~(0xfu << FL_NOSNI_SHIFT)) | ((uint32_t)(reason + 1) << FL_NOSNI_SHIFT);
}

static int nosni_get(const struct ksd_flow *f)
{
    return (int)((f->evmask >> FL_NOSNI_SHIFT) & 0xfu) - 1;
}

struct flow_ext {
    struct ksd_stream st[2];      /* client (0) and server (1) stream starts */
    struct ksd_quic *quic;        /* QUIC Initial state, client side */
    uint64_t skip_body;           /* HTTP body bytes still to skip */
    uint8_t cp;                   /* enum cproto of the client stream */
    uint8_t hellos;               /* ClientHellos parsed */
    uint8_t http_reqs;            /* HTTP requests parsed */
    uint16_t dns_msgs;            /* DNS messages on TCP */
    struct ksd_classify_flow *nd; /* nDPI state while classifying */
    struct ksd_flow *flow;        /* the flow this extends */
    struct flow_ext *hold_prev;   /* worker's list of reassembly-memory holders, */
    struct flow_ext *hold_next;   /* least recently active first */
    uint32_t charged;             /* bytes charged to the budget for this flow */
    uint8_t held;                 /* on the holders' list */
};

#define KSD_PENDING_MAX     256 /* name-less flows waiting for another worker's answer */
#define KSD_PENDING_WAIT_US (30LL * 1000000)

struct ksd_worker {
    struct ksd_worker_conf conf;
    struct ksd_sink *sink;
    const struct ksd_sigset *sigs;
    const struct ksd_known *known; /* --known-hosts, or NULL */
    const struct ksd_known *sites; /* --sites, or NULL */
    struct ksd_flow_table *ft;
    struct ksd_ipfrag *frag;
    struct ksd_budget *budget;    /* flow cap and reassembly budget (shared, or own_budget) */
    struct ksd_budget own_budget; /* when no pool shares one */
    struct flow_ext *hold_old;    /* flows holding reassembly memory, oldest first */
    struct flow_ext *hold_new;
    uint64_t held;       /* this worker's charged reassembly bytes */
    size_t frag_charged; /* of which the fragment table's */
    struct ksd_corr *corr;
    struct ksd_classify *cls;            /* nDPI, or NULL with --no-ndpi */
    int ndpi_full;                       /* nDPI parses hellos and queries too (--ndpi-full) */
    char labels[256][KSD_APP_LABEL_MAX]; /* interned nDPI labels; index 0 = none */
    int nlabels;
    struct ksd_stats st;
    int64_t now;          /* capture time of the current packet */
    uint32_t src;         /* input file of the current packet (ksd_frame.src) */
    int64_t last_expire;  /* capture time of the last expiry run */
    int64_t clock;        /* live: wall-clock time of the last ksd_worker_clock */
    uint64_t startpend;   /* flows with FL_STARTPEND set */
    uint64_t dnsippend;   /* flows with FL_DNSIP set */
    uint64_t id_epoch_ms; /* event ids: wall-clock ms this worker's id block started */
    uint32_t id_seq;      /* events in the current block */
    uint32_t index;       /* worker number (0..63), part of every event id */
    struct ksd_dns_msg dns;
    struct ksd_tls_hello hello;
    struct ksd_tls_server server;
    struct ksd_http_req req;
    struct ksd_flow pending[KSD_PENDING_MAX]; /* see settle_shared_dns_ip */
    int npending;
};

const char *ksd_nosni_name(int reason)
{
    static const char *const names[] = {"no_client_hello", "gap",    "ech",          "not_tls",
                                        "truncated",       "absent", "undecryptable"};
    if (reason < 0 || reason >= KSD_NOSNI__COUNT)
        return "unknown";
    return names[reason];
}

/* ---- addresses ----------------------------------------------------------- */

static void side_addr(const struct ksd_flow *f, int side, struct ksd_addr *a)
{
    memset(a, 0, sizeof(*a));
    a->family = f->key.family;
    memcpy(a->a, f->key.addr[side], f->key.family == 4 ? 4 : 16);
}

/* ---- facts --------------------------------------------------------------- */

/* Write a fact line; values are captured names: tabs and newlines escaped. */
static void fact(struct ksd_worker *w, const char *kind, const char *v1, const char *v2)
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

static uint8_t label_intern(struct ksd_worker *w, const char *label)
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
 * evidence: see detect_indirect) and `via` when not NULL.
 */
static void detect_as(struct ksd_worker *w, struct ksd_flow *f, int flagged, const char *evidence,
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
    ksd_corr_host_add(w->corr, &client, w->now, evidence, r->category, indicator, site, managed, n);
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
    snprintf(ev.evidence, sizeof(ev.evidence), "%s", evidence);
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

static void detect(struct ksd_worker *w, struct ksd_flow *f, int flagged, const char *evidence,
                   const char *indicator, const struct ksd_rule *r, const char *via)
{
    detect_as(w, f, flagged, evidence, indicator, r, via, r->confidence, r->category);
}

/*
 * Indirect evidence, reported with its provenance in `via` and a confidence
 * below the rule's (README "Indirect evidence"):
 *  - a Kaspersky name reached through the CNAME chain of a DNS question that
 *    is not itself a Kaspersky name: the rule's confidence minus
 *    KSD_CONF_CNAME_PENALTY (the host asked for another name);
 *  - a name-less TLS/QUIC/HTTP flow to an address that another host
 *    resolved as Kaspersky's: category "infrastructure" (so the host's
 *    verdict is "suspected" unless other evidence proves more) and at most
 *    KSD_CONF_SHARED_DNSIP.
 */
#define KSD_CONF_CNAME_PENALTY 20
#define KSD_CONF_SHARED_DNSIP  40
#define KSD_CONF_MIN           10

static int conf_minus(int c, int penalty)
{
    return c - penalty > KSD_CONF_MIN ? c - penalty : (c < KSD_CONF_MIN ? c : KSD_CONF_MIN);
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
    detect(w, f, flagged, "port", ind, r, NULL);
}

/* Match a server name seen on flow f (client side flagged). */
static void match_name(struct ksd_worker *w, struct ksd_flow *f, const char *evidence,
                       const char *name)
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
        detect(w, f, f->client, evidence, name, r, NULL);
}

/* The flow carried no name: if its server address came from a Kaspersky DNS
 * answer to this client, that is the evidence. */
static void settle_dns_ip(struct ksd_worker *w, struct ksd_flow *f)
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
    detect(w, f, f->client, "dns_ip", ip, r, name);
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
    detect_as(w, f, f->client, "dns_ip", ip, r, name,
              r->confidence < KSD_CONF_SHARED_DNSIP ? r->confidence : KSD_CONF_SHARED_DNSIP,
              "infrastructure");
    return 1;
}

/*
 * A TLS, QUIC or HTTP flow (ksd's own dissectors said so) that ended without
 * a server name, to an address that another host resolved as a Kaspersky
 * name (the sensor-wide table): a suspected dns_ip. With several workers the
 * answer may sit in another worker's queue when this flow ends, so a flow
 * not matched yet waits (a copy of its key and labels) in w->pending, looked
 * at again every expiry tick for KSD_PENDING_WAIT_US of capture time and
 * once more after every worker has drained (ksd_worker_settle_pending).
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
        if (!shared_dns_ip(w, c) && !final && saved - c->last_us < KSD_PENDING_WAIT_US)
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
        detect(w, f, f->client, "ip", ip, r, NULL);
    }
    r = ksd_sig_match_port(w->sigs, f->key.proto, ksd_flow_port(f, !f->client));
    if (r)
        port_rule(w, f, r, NULL);
}

/* ---- which machine: MAC and announced names ------------------------------ */

static int64_t name_age(const struct ksd_worker *w)
{
    return w->conf.name_age_us > 0 ? w->conf.name_age_us : 86400LL * 1000000;
}

static int addr_is_zero(int family, const uint8_t *a)
{
    static const uint8_t zero[16];
    return memcmp(a, zero, family == 4 ? 4 : 16) == 0;
}

static void bind_mac(struct ksd_worker *w, int family, const uint8_t *addr, const uint8_t mac[6],
                     int64_t expires_us)
{
    if (addr_is_zero(family, addr) ||
        ksd_hostid_set_mac(w->sink->hostid, family, addr, mac, w->now, expires_us) != 1)
        return;
    char ip[64], m[18];
    inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, ip, sizeof(ip));
    ksd_mac_str(mac, m);
    fact(w, "mac", ip, m); /* a new or changed binding only, not every flow */
}

static void bind_name(struct ksd_worker *w, int family, const uint8_t *addr, int src,
                      const char *name, int64_t expires_us)
{
    static const char *const kinds[KSD_NAME__COUNT] = {"dhcp_host", "netbios_name", "mdns_name",
                                                       "llmnr_name"};
    if (!name[0] || addr_is_zero(family, addr))
        return;
    char ip[64];
    inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, ip, sizeof(ip));
    if (src != KSD_NAME_DHCP) /* DHCP names are facts with the client's MAC (handle_dhcp) */
        fact(w, kinds[src], name, ip);
    ksd_hostid_set_name(w->sink->hostid, family, addr, src, name, w->now, expires_us);
}

/*
 * The client's MAC from its own frames, at the first client packet of a
 * flow. Rule (README "Which machine"): the frame's source MAC belongs to the
 * packet's source address only when the packet was not routed, i.e. its
 * IPv4 TTL / IPv6 hop limit is still a usual initial value (64, 128 or
 * 255); a router would have decremented it and put its own MAC. Group
 * (multicast) MACs are never bound.
 */
static void learn_mac(struct ksd_worker *w, const struct ksd_pkt *p)
{
    if (!p->has_mac || !w->sink->hostid || (p->src_mac[0] & 1) ||
        (p->ttl != 64 && p->ttl != 128 && p->ttl != 255))
        return;
    bind_mac(w, p->family, p->src, p->src_mac, w->now + name_age(w));
}

/*
 * DHCP (UDP 67/68): a client's REQUEST binds its MAC (chaddr), host name
 * (option 81 FQDN, else option 12) and vendor class (60) to the address it
 * asks for (option 50, else ciaddr) for --name-age; the server's ACK binds
 * the MAC and names to the address it gives (yiaddr) until the lease (51)
 * ends. DISCOVERs carry no address: facts only.
 */
static void handle_dhcp(struct ksd_worker *w, const struct ksd_pkt *p)
{
    struct ksd_dhcp_msg m;
    if (ksd_dhcp_parse(p->payload, p->payload_len, &m) != KSD_OK)
        return;
    char mac[18] = "";
    if (m.has_mac)
        ksd_mac_str(m.chaddr, mac);
    fact(w, "dhcp_host", m.host, mac[0] ? mac : NULL);
    fact(w, "dhcp_host", m.fqdn, mac[0] ? mac : NULL);
    fact(w, "dhcp_vendor", m.vendor, mac[0] ? mac : NULL);
    if (!m.has_mac || !w->sink->hostid)
        return;
    const uint8_t *ip = NULL;
    int64_t exp = w->now + name_age(w);
    if (m.op == 1 && (m.type == KSD_DHCP_REQUEST || m.type == KSD_DHCP_INFORM)) {
        ip = m.has_requested ? m.requested : m.ciaddr;
    } else if (m.op == 2 && m.type == KSD_DHCP_ACK) {
        ip = !addr_is_zero(4, m.yiaddr) ? m.yiaddr : m.ciaddr;
        if (m.has_lease)
            exp = w->now + (int64_t)m.lease_s * 1000000;
    }
    if (!ip || addr_is_zero(4, ip))
        return;
    bind_mac(w, 4, ip, m.chaddr, exp);
    const char *name = m.fqdn[0] ? m.fqdn : m.host;
    struct ksd_hostid_view id;
    if (!name[0] && m.op == 2 && ksd_hostid_get(w->sink->hostid, 4, ip, w->now, &id) &&
        strcmp(id.name_source, "dhcp") == 0)
        name = id.name; /* the name of the REQUEST now lives as long as the lease */
    bind_name(w, 4, ip, KSD_NAME_DHCP, name, exp);
    if (m.vendor[0])
        ksd_hostid_set_vendor(w->sink->hostid, 4, ip, m.vendor, w->now, exp);
}

/* NetBIOS name service (UDP 137): registrations, refreshes and positive
 * answers bind a unique workstation (suffix 00) or server (20) name. */
static void handle_nbns(struct ksd_worker *w, const struct ksd_pkt *p)
{
    struct ksd_nbns_msg m;
    if (ksd_nbns_parse(p->payload, p->payload_len, &m) != KSD_OK || m.group ||
        (m.suffix != 0x00 && m.suffix != 0x20))
        return;
    for (int i = 0; i < m.n_addrs; i++)
        bind_name(w, 4, m.addrs[i], KSD_NAME_NETBIOS, m.name, w->now + name_age(w));
}

/* mDNS and LLMNR responses: an A/AAAA answer for the sender's own address
 * is the name it announces for itself (mDNS names lose ".local"). */
static void learn_announced(struct ksd_worker *w, const struct ksd_flow *f, int dir, int app)
{
    const struct ksd_dns_msg *m = &w->dns;
    struct ksd_addr sender;
    side_addr(f, dir == 0 ? f->client : !f->client, &sender);
    for (int i = 0; i < m->n_answers; i++) {
        const struct ksd_dns_rr *rr = &m->an[i];
        if (rr->family != sender.family ||
            memcmp(rr->addr, sender.a, sender.family == 4 ? 4 : 16) != 0)
            continue;
        char name[KSD_HOSTID_NAME_MAX];
        snprintf(name, sizeof(name), "%s", rr->owner);
        size_t n = strlen(name);
        if (app == APP_MDNS && n > 6 && strcmp(name + n - 6, ".local") == 0)
            name[n - 6] = '\0';
        bind_name(w, sender.family, sender.a, app == APP_MDNS ? KSD_NAME_MDNS : KSD_NAME_LLMNR,
                  name, w->now + name_age(w));
    }
}

/* ---- DNS ----------------------------------------------------------------- */

static int name_in(const char *const *set, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(set[i], name) == 0)
            return 1;
    return 0;
}

/*
 * nDPI and a first client message ksd parsed (ClientHello, DNS query): nDPI
 * has been held off its packets (see ndpi_held) and labels the flow from the
 * name in it through its own host-name tables, before any event of the flow
 * is emitted; address and port rules that waited for the label run now, as
 * they would have at this packet.
 */
static void label_from_name(struct ksd_worker *w, struct ksd_flow *f, int proto, const char *name)
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
    f->ndpi_app = label_intern(w, label);
    f->evmask = (f->evmask | FL_NDPI_DONE) & ~(uint32_t)FL_NDPI_HELD;
    w->st.ndpi_classified++;
    w->st.ndpi_by_name++;
    if (f->evmask & FL_STARTPEND)
        flow_match(w, f);
}

/*
 * One DNS message on flow f, sent in direction dir. Question names are facts
 * and evidence; answers are facts, and the addresses reached from the
 * question through the CNAME chain are learned when a name of that chain is
 * a Kaspersky name. Answer records outside the chain (an answer "about"
 * another name) are facts but never evidence.
 */
static void handle_dns(struct ksd_worker *w, struct ksd_flow *f, int dir, const uint8_t *p,
                       size_t len, int app)
{
    struct ksd_dns_msg *m = &w->dns;
    int rc = ksd_dns_parse(p, len, m);
    if (app == APP_MDNS)
        w->st.mdns_messages++;
    else if (app == APP_LLMNR)
        w->st.llmnr_messages++;
    else
        w->st.dns_messages++;
    if (rc != KSD_OK && m->err > 0 && m->err < KSD_DNS_ERR_COUNT)
        w->st.dns_err[m->err]++;
    if (f->app == APP_NONE)
        f->app = (uint8_t)app;
    if (app != APP_DNS && rc == KSD_OK && m->qr && w->sink->hostid)
        learn_announced(w, f, dir, app);
    const char *qkind = app == APP_MDNS    ? "mdns_query"
                        : app == APP_LLMNR ? "llmnr_query"
                                           : "dns_query";
    if (f->evmask & FL_NDPI_HELD) {
        if (rc == KSD_OK && !m->qr && m->n_questions > 0)
            label_from_name(w, f, KSD_CLASSIFY_DNS, m->q[0].name);
        else
            f->evmask &= ~(uint32_t)FL_NDPI_HELD; /* not a query: nDPI from the next packet */
    }
    /* The querier: the sender of a query, the receiver of a response. */
    int querier = m->qr ? (dir == 0 ? !f->client : f->client) : (dir == 0 ? f->client : !f->client);
    for (int i = 0; i < m->n_questions; i++) {
        const char *qn = m->q[i].name;
        if (!qn[0])
            continue;
        fact(w, qkind, qn, NULL);
        if (app == APP_DNS && w->sigs) {
            const struct ksd_rule *r = ksd_sig_match_domain(w->sigs, qn, strlen(qn));
            if (r)
                detect(w, f, querier, "dns", qn, r, NULL);
        }
    }
    if (!m->qr || m->n_questions == 0)
        return;
    const char *q0 = m->q[0].name;
    char ip[64];
    for (int i = 0; i < m->n_answers && app == APP_DNS && w->sink->facts; i++) {
        const struct ksd_dns_rr *rr = &m->an[i];
        if (!rr->family || (rr->type != KSD_DNS_TYPE_A && rr->type != KSD_DNS_TYPE_AAAA))
            continue;
        inet_ntop(rr->family == 4 ? AF_INET : AF_INET6, rr->addr, ip, sizeof(ip));
        fact(w, "dns_answer", q0, ip);
    }
    if (app != APP_DNS || !w->sigs)
        return;
    /* Follow the chain from the first question (names live in w->dns). */
    const char *chain[16];
    int nchain = 0;
    const char *matched = NULL;
    chain[nchain++] = q0;
    if (ksd_sig_match_domain(w->sigs, q0, strlen(q0)))
        matched = chain[0];
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < m->n_answers && nchain < 16; i++) {
            const struct ksd_dns_rr *rr = &m->an[i];
            if (rr->type != 5 || !rr->target[0] || !name_in(chain, nchain, rr->owner) ||
                name_in(chain, nchain, rr->target))
                continue;
            chain[nchain] = rr->target;
            const struct ksd_rule *r =
                ksd_sig_match_domain(w->sigs, chain[nchain], strlen(chain[nchain]));
            if (r) {
                if (!matched)
                    matched = chain[nchain];
                detect_as(w, f, querier, "dns", chain[nchain], r, q0,
                          conf_minus(r->confidence, KSD_CONF_CNAME_PENALTY), r->category);
            }
            nchain++;
        }
    }
    if (!matched)
        return;
    struct ksd_addr client, addr;
    side_addr(f, querier, &client);
    for (int i = 0; i < m->n_answers; i++) {
        const struct ksd_dns_rr *rr = &m->an[i];
        if (!rr->family || !name_in(chain, nchain, rr->owner))
            continue;
        memset(&addr, 0, sizeof(addr));
        addr.family = rr->family;
        memcpy(addr.a, rr->addr, rr->family == 4 ? 4 : 16);
        ksd_corr_dns_learn(w->corr, &client, &addr, matched, rr->ttl, w->now);
        ksd_learned_put(w->sink->learned, addr.family, addr.a, matched,
                        rr->ttl < KSD_DNSCACHE_MIN_TTL_S   ? KSD_DNSCACHE_MIN_TTL_S
                        : rr->ttl > KSD_DNSCACHE_MAX_TTL_S ? KSD_DNSCACHE_MAX_TTL_S
                                                           : rr->ttl,
                        w->now);
    }
}

/* ---- TLS ----------------------------------------------------------------- */

static void report_hello(struct ksd_worker *w, struct ksd_flow *f, struct ksd_tls_hello *h)
{
    int quic = h->transport == 'q';
    f->evmask |= FL_HELLO;
    if (f->evmask & FL_NDPI_HELD)
        label_from_name(w, f, quic ? KSD_CLASSIFY_QUIC : KSD_CLASSIFY_TLS, h->ech ? NULL : h->sni);
    if (h->sni[0]) {
        fact(w, quic ? "quic_sni" : "tls_sni", h->sni, NULL);
        if (h->ech)
            fact(w, "tls_ech_outer", h->sni, NULL);
        match_name(w, f, quic ? "quic_sni" : "sni", h->sni);
    }
    /* JA3/JA4 only when something takes them: --facts, or JA rules loaded */
    int want_ja =
        w->sink->facts != NULL ||
        (w->sigs && (ksd_sig_count(w->sigs, KSD_RULE_JA3) || ksd_sig_count(w->sigs, KSD_RULE_JA4)));
    if (want_ja && ksd_tls_hello_ja(h)) {
        if (!quic)
            fact(w, "ja3", h->ja3, NULL);
        fact(w, quic ? "quic_ja4" : "ja4", h->ja4, NULL);
        if (w->sigs) {
            const struct ksd_rule *r = ksd_sig_match_ja3(w->sigs, h->ja3);
            if (r && !quic)
                detect(w, f, f->client, "ja3", h->ja3, r, NULL);
            r = ksd_sig_match_ja4(w->sigs, h->ja4);
            if (r)
                detect(w, f, f->client, "ja4", h->ja4, r, NULL);
        }
    }
    if (!h->sni[0] || h->ech || h->esni)
        nosni_set(f, (h->ech || h->esni) ? KSD_NOSNI_ECH : KSD_NOSNI_ABSENT);
}

static void report_server(struct ksd_worker *w, struct ksd_flow *f, struct ksd_tls_server *s)
{
    w->st.tls_server_hellos++;
    if (w->sink->facts && ksd_tls_server_ja3s(s))
        fact(w, "ja3s", s->ja3s, NULL);
    if (!s->has_cert)
        return;
    w->st.tls_certs++;
    fact(w, "cert_subject", s->subject, NULL);
    fact(w, "cert_issuer", s->issuer, NULL);
    for (int i = 0; i < s->n_sans; i++)
        fact(w, "cert_san", s->sans[i], NULL);
    if (!w->sigs)
        return;
    const struct ksd_rule *r = ksd_sig_match_cert(w->sigs, s->subject, s->issuer);
    if (r) {
        detect(w, f, f->client, "cert", s->issuer[0] ? s->issuer : s->subject, r, NULL);
        return;
    }
    /* A name in the certificate of the server is evidence too (TLS <= 1.2). */
    if (s->subject_cn[0]) {
        r = ksd_sig_match_domain(w->sigs, s->subject_cn, strlen(s->subject_cn));
        if (r) {
            detect(w, f, f->client, "cert", s->subject_cn, r, NULL);
            return;
        }
    }
    for (int i = 0; i < s->n_sans; i++) {
        r = ksd_sig_match_domain(w->sigs, s->sans[i], strlen(s->sans[i]));
        if (r) {
            detect(w, f, f->client, "cert", s->sans[i], r, NULL);
            return;
        }
    }
}

/* ---- HTTP ---------------------------------------------------------------- */

static void report_http(struct ksd_worker *w, struct ksd_flow *f, const struct ksd_http_req *q)
{
    w->st.http_requests++;
    if (q->has_host) {
        fact(w, "http_host", q->host, NULL);
        match_name(w, f, "http_host", q->host);
    }
    if (q->has_target_host) {
        fact(w, q->is_connect ? "http_connect" : "http_target", q->target_host, NULL);
        f->app = APP_HTTP_PROXY;
        if (!q->has_host || strcmp(q->host, q->target_host) != 0)
            match_name(w, f, "http_host", q->target_host);
    }
    if (q->has_ua) {
        fact(w, "http_ua", q->user_agent, NULL);
        if (w->sigs) {
            const struct ksd_rule *r = ksd_sig_match_http_ua(w->sigs, q->user_agent);
            if (r)
                detect(w, f, f->client, "http_ua", q->user_agent, r, NULL);
        }
    }
    if (q->path[0] && w->sigs) {
        const char *host = q->has_host ? q->host : q->has_target_host ? q->target_host : "";
        const struct ksd_rule *r = ksd_sig_match_http_path(w->sigs, host, q->path);
        if (r)
            detect(w, f, f->client, "http_path", q->path, r, NULL);
    }
}

/* ---- TCP ----------------------------------------------------------------- */

static void client_done(struct ksd_worker *w, struct flow_ext *x, struct ksd_flow *f)
{
    (void)w;
    f->evmask |= FL_CDONE;
    ksd_stream_done(&x->st[0]);
    if (x->cp != CP_TLS) {
        f->evmask |= FL_SDONE;
        ksd_stream_done(&x->st[1]);
    }
}

static int is_tls_port(uint16_t port)
{
    return port == 443 || port == 8443 || port == 993 || port == 995 || port == 465 ||
           port == 853 || port == 13000 || port == 13291 || port == 13292 || port == 13295 ||
           port == 13299 || port == 17000 || port == 17100;
}

/*
 * A ClientHello that will never be complete (a missing segment, a stream cut
 * short): its server name is often in the part that arrived. Parse what is
 * there; a name found is reported (without JA3/JA4, which need the whole
 * hello) and counted as tls.partial.
 */
static int partial_hello(struct ksd_worker *w, struct ksd_flow *f, struct flow_ext *x)
{
    size_t len;
    const uint8_t *p = ksd_stream_data(&x->st[0], &len);
    if (x->cp != CP_TLS || x->hellos || !p || len < 10 || p[0] != 0x16 || p[5] != 0x01)
        return 0;
    size_t rec = ((size_t)p[3] << 8) | p[4];
    size_t n = len - 5 < rec ? len - 5 : rec;
    ksd_tls_parse_hello(p + 5, n, 't', &w->hello);
    if (!w->hello.sni[0])
        return 0;
    w->hello.ja_ok = w->hello.has_ja = 0; /* a cut hello has no fingerprint */
    w->st.tls_partial++;
    x->hellos++;
    report_hello(w, f, &w->hello);
    return 1;
}

static void stream_trouble(struct ksd_worker *w, struct ksd_flow *f, struct flow_ext *x, int st)
{
    if (x->hellos == 0 && x->cp == CP_TLS && !partial_hello(w, f, x))
        nosni_set(f, st == KSD_STREAM_GAP ? KSD_NOSNI_GAP : KSD_NOSNI_TRUNCATED);
}

/*
 * The start of a client stream that is not a TLS record but holds a
 * ClientHello record header (16 03 0x LL LL 01) within its first
 * KSD_TLS_MAX_RESYNC bytes: the number of stray bytes before it, else 0.
 * tshark restarts TLS at every segment; ksd reads streams, and allows this
 * little slack at the very start only, with the handshake type checked, so
 * random payload does not turn into fingerprints.
 */
#define KSD_TLS_MAX_RESYNC 4
static size_t tls_resync(const uint8_t *p, size_t len)
{
    if (len < 6 || ksd_tls_probe(p, len))
        return 0;
    for (size_t k = 1; k <= KSD_TLS_MAX_RESYNC && k + 6 <= len; k++)
        if (p[k] == 0x16 && p[k + 1] == 0x03 && p[k + 2] <= 0x04 && p[k + 5] == 0x01 &&
            ((p[k + 3] << 8) | p[k + 4]) >= 4)
            return k;
    return 0;
}

static void tcp_client(struct ksd_worker *w, struct ksd_flow *f, struct flow_ext *x)
{
    for (int guard = 0; guard < 64 && !(f->evmask & FL_CDONE); guard++) {
        size_t len;
        const uint8_t *p = ksd_stream_data(&x->st[0], &len);
        int sst = ksd_stream_state(&x->st[0]);
        if (!p || len == 0) {
            if (sst == KSD_STREAM_GAP || sst == KSD_STREAM_FULL) {
                stream_trouble(w, f, x, sst);
                client_done(w, x, f);
            }
            return;
        }
        if (x->cp == CP_UNKNOWN) {
            uint16_t sport = ksd_flow_port(f, !f->client);
            size_t junk = x->hellos == 0 && x->http_reqs == 0 ? tls_resync(p, len) : 0;
            if (junk) {
                /* a few stray bytes before a ClientHello record: skip them */
                w->st.tls_resync++;
                ksd_stream_consume(&x->st[0], junk);
                continue;
            }
            if (ksd_tls_probe(p, len)) {
                x->cp = CP_TLS;
                f->evmask |= FL_TLSPORT;
                if (f->app == APP_NONE)
                    f->app = APP_TLS;
            } else if (ksd_http_probe(p, len)) {
                x->cp = CP_HTTP;
                if (f->app == APP_NONE)
                    f->app = APP_HTTP;
            } else if (sport == 53) {
                x->cp = CP_DNS;
                f->app = APP_DNS;
            } else if (x->hellos == 0 && x->http_reqs == 0 && ksd_socks_probe(p, len)) {
                x->cp = CP_SOCKS;
            } else if (len < 8) {
                return; /* too little to tell yet */
            } else {
                if (f->evmask & FL_TLSPORT)
                    nosni_set(f, KSD_NOSNI_NOT_TLS);
                if (x->cp == CP_UNKNOWN && is_tls_port(sport))
                    w->st.tls_not_tls++;
                x->cp = CP_NONE;
                client_done(w, x, f);
                return;
            }
        }
        if (x->cp == CP_TLS) {
            size_t consumed = 0;
            w->hello.nosni = KSD_TLS_NOSNI_NONE;
            int rc = ksd_tls_client_stream(p, len, &consumed, &w->hello);
            if (rc == KSD_EINVAL && w->hello.nosni == KSD_TLS_NOSNI_MALFORMED)
                w->st.tls_malformed++;
            if (rc == KSD_OK) {
                w->st.tls_client_hellos++;
                x->hellos++;
                report_hello(w, f, &w->hello);
                ksd_stream_consume(&x->st[0], consumed);
                if (x->hellos >= KSD_MAX_TLS_HELLOS)
                    client_done(w, x, f);
                continue;
            }
            if (rc == KSD_EAGAIN) {
                if (sst == KSD_STREAM_GAP || sst == KSD_STREAM_FULL) {
                    stream_trouble(w, f, x, sst);
                    client_done(w, x, f);
                }
                return;
            }
            if (rc == KSD_ETRUNC && w->hello.sni[0]) {
                /* oversized ClientHello: the name is in its first 64 KiB */
                w->st.tls_client_hellos++;
                x->hellos++;
                report_hello(w, f, &w->hello);
            } else if (x->hellos == 0) {
                nosni_set(f, rc == KSD_ETRUNC ? KSD_NOSNI_TRUNCATED : KSD_NOSNI_NOT_TLS);
            }
            client_done(w, x, f);
            return;
        }
        if (x->cp == CP_HTTP) {
            if (x->skip_body) {
                size_t n = len < x->skip_body ? len : (size_t)x->skip_body;
                ksd_stream_consume(&x->st[0], n);
                x->skip_body -= n;
                continue;
            }
            size_t consumed = 0;
            int rc = ksd_http_parse_request(p, len, &w->req, &consumed);
            if (rc == KSD_OK) {
                x->http_reqs++;
                if (w->req.host_bad)
                    w->st.http_bad_host++;
                report_http(w, f, &w->req);
                ksd_stream_consume(&x->st[0], consumed);
                if (w->req.is_connect) {
                    x->cp = CP_UNKNOWN; /* the tunnel follows: probe again */
                    continue;
                }
                if (w->req.chunked || x->http_reqs >= KSD_MAX_HTTP_REQUESTS) {
                    client_done(w, x, f);
                    return;
                }
                x->skip_body = w->req.content_length;
                continue;
            }
            if (rc == KSD_EAGAIN && sst != KSD_STREAM_FULL && sst != KSD_STREAM_GAP)
                return;
            if (rc != KSD_EAGAIN && x->http_reqs == 0)
                w->st.http_not_http++;
            client_done(w, x, f);
            return;
        }
        if (x->cp == CP_SOCKS) {
            struct ksd_socks_req sr;
            size_t consumed = 0;
            int rc = ksd_socks_parse_client(p, len, &sr, &consumed);
            if (rc == KSD_EAGAIN && sst != KSD_STREAM_FULL && sst != KSD_STREAM_GAP)
                return;
            if (rc != KSD_OK) {
                client_done(w, x, f);
                return;
            }
            fact(w, "socks_target", sr.target, NULL);
            if (sr.is_name)
                match_name(w, f, "socks", sr.target);
            ksd_stream_consume(&x->st[0], consumed);
            x->cp = CP_UNKNOWN; /* the tunnelled protocol follows */
            x->http_reqs = 1;   /* never a second SOCKS request */
            continue;
        }
        if (x->cp == CP_DNS) {
            size_t off, mlen;
            if (ksd_dns_tcp_frame(p, len, &off, &mlen) != KSD_OK) {
                if (sst == KSD_STREAM_FULL || sst == KSD_STREAM_GAP)
                    client_done(w, x, f);
                return;
            }
            handle_dns(w, f, 0, p + off, mlen, APP_DNS);
            ksd_stream_consume(&x->st[0], off + mlen);
            if (++x->dns_msgs >= KSD_MAX_DNS_TCP_MSGS)
                client_done(w, x, f);
            continue;
        }
        return;
    }
}

static void tcp_server(struct ksd_worker *w, struct ksd_flow *f, struct flow_ext *x)
{
    for (int guard = 0; guard < 64 && !(f->evmask & FL_SDONE); guard++) {
        size_t len;
        const uint8_t *p = ksd_stream_data(&x->st[1], &len);
        int sst = ksd_stream_state(&x->st[1]);
        if (!p || len == 0)
            return;
        if (x->cp == CP_TLS) {
            int rc = ksd_tls_server_stream(p, len, &w->server);
            if (rc == KSD_EAGAIN && sst != KSD_STREAM_FULL && sst != KSD_STREAM_GAP)
                return;
            if (rc == KSD_OK)
                report_server(w, f, &w->server);
            f->evmask |= FL_SDONE;
            ksd_stream_done(&x->st[1]);
            return;
        }
        if (x->cp == CP_DNS || (x->cp == CP_UNKNOWN && ksd_flow_port(f, !f->client) == 53)) {
            size_t off, mlen;
            if (ksd_dns_tcp_frame(p, len, &off, &mlen) != KSD_OK) {
                if (sst == KSD_STREAM_FULL || sst == KSD_STREAM_GAP) {
                    f->evmask |= FL_SDONE;
                    ksd_stream_done(&x->st[1]);
                }
                return;
            }
            f->app = APP_DNS;
            handle_dns(w, f, 1, p + off, mlen, APP_DNS);
            ksd_stream_consume(&x->st[1], off + mlen);
            if (++x->dns_msgs >= KSD_MAX_DNS_TCP_MSGS) {
                f->evmask |= FL_SDONE;
                ksd_stream_done(&x->st[1]);
            }
            continue;
        }
        if (x->cp == CP_UNKNOWN)
            return; /* wait until the client side says what this is */
        f->evmask |= FL_SDONE;
        ksd_stream_done(&x->st[1]);
        return;
    }
}

static struct flow_ext *ext_of(struct ksd_flow *f)
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
    size_t m = ksd_stream_mem(&x->st[0]) + ksd_stream_mem(&x->st[1]) + ksd_quic_mem(x->quic);
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

static void ext_release(struct ksd_worker *w, struct ksd_flow *f);
static void settle_dns_ip(struct ksd_worker *w, struct ksd_flow *f);
static int partial_hello(struct ksd_worker *w, struct ksd_flow *f, struct flow_ext *x);

/* Drop the handshake state of a flow to make room: a ClientHello cut short
 * still gives the name it holds, as with a gap. */
static void budget_drop_flow(struct ksd_worker *w, struct flow_ext *x)
{
    struct ksd_flow *f = x->flow;
    if (x->quic)
        w->st.budget_quic++;
    else
        w->st.budget_tcp++;
    if (!(f->evmask & FL_CDONE) && x->cp == CP_TLS && !x->hellos && !partial_hello(w, f, x))
        nosni_set(f, KSD_NOSNI_GAP);
    f->evmask |= FL_CDONE | FL_SDONE;
    settle_dns_ip(w, f);
    ext_release(w, f);
}

/*
 * After a packet: while the budget is spent, drop this worker's oldest
 * handshake state (flow or fragment, whichever is older). A worker within its
 * fair share does not drop the flow it is working on (`cur`): it asks the
 * others to trim themselves to their share instead.
 */
static void budget_enforce(struct ksd_worker *w, const struct flow_ext *cur)
{
    struct ksd_budget *b = w->budget;
    uint64_t share = ksd_budget_share(b);
    for (int i = 0; i < KSD_MAX_BUDGET_DROPS; i++) {
        int over = ksd_budget_over(b);
        int pressed = atomic_load_explicit(&b->pressure, memory_order_relaxed);
        if (!over) {
            if (pressed && w->held <= share)
                atomic_store_explicit(&b->pressure, 0, memory_order_relaxed);
            if (!pressed || w->held <= share)
                return;
        } else if (w->held <= share) {
            if (!pressed) {
                w->st.budget_pressure++;
                atomic_store_explicit(&b->pressure, 1, memory_order_relaxed);
            }
            return;
        }
        struct flow_ext *x = w->hold_old;
        uint64_t fus;
        int frag = ksd_ipfrag_oldest(w->frag, &fus);
        if (frag && (!x || (int64_t)fus <= x->flow->last_us)) {
            w->st.budget_frag++;
            ksd_ipfrag_drop_oldest(w->frag);
            frag_account(w);
        } else if (x && (x != cur || w->held > share)) {
            budget_drop_flow(w, x);
        } else {
            return;
        }
    }
}

/* Dissection is over: drop stream buffers and QUIC state now, and the whole
 * extension once nDPI has also finished with the flow. */
static void ext_release(struct ksd_worker *w, struct ksd_flow *f)
{
    struct flow_ext *x = f->ext;
    if (!x)
        return;
    budget_charge(w, x->charged, 0);
    x->charged = 0;
    hold_unlink(w, x);
    ksd_stream_free(&x->st[0]);
    ksd_stream_free(&x->st[1]);
    ksd_quic_free(x->quic);
    x->quic = NULL;
    if (x->nd)
        return;
    free(x);
    f->ext = NULL;
}

/* Flow leaves the table: nDPI's best guess if it had not decided yet. */
/* Held off nDPI for a hello or query that never completed: the label of its
 * protocol (and nDPI's address table), as nDPI's own guess would be. */
static void label_held(struct ksd_worker *w, struct ksd_flow *f)
{
    if (w->cls && (f->evmask & FL_NDPI_HELD) && !(f->evmask & FL_NDPI_DONE))
        label_from_name(w, f,
                        f->key.proto == 6                    ? KSD_CLASSIFY_TLS
                        : ksd_flow_port(f, !f->client) == 53 ? KSD_CLASSIFY_DNS
                                                             : KSD_CLASSIFY_QUIC,
                        NULL);
}

static void ext_final(struct ksd_worker *w, struct ksd_flow *f)
{
    struct flow_ext *x = f->ext;

    label_held(w, f);
    if (x && x->nd && w->cls) {
        char label[KSD_APP_LABEL_MAX];
        ksd_classify_giveup(w->cls, &x->nd, label, sizeof(label));
        f->ndpi_app = label_intern(w, label);
    }
    if (f->evmask & FL_STARTPEND)
        flow_match(w, f);
    if (w->cls || f->app)
        fact(w, "flow_app", app_label(w, f)[0] ? app_label(w, f) : "Unknown", NULL);
    ext_release(w, f);
}

/* The first bytes say who is the client: a ClientHello or a request line. */
static int looks_like_client(const uint8_t *p, size_t len)
{
    if (len >= 6 && p[0] == 0x16 && p[1] == 0x03 && p[5] == 0x01)
        return 1;
    return ksd_http_probe(p, len);
}

static void handle_tcp(struct ksd_worker *w, struct ksd_flow *f, int *dirp, const struct ksd_pkt *p)
{
    int dir = *dirp;
    /* Picked up mid-stream and the port guess was wrong: the first payload
     * decides, as long as nothing has been dissected yet. */
    struct flow_ext *x0 = f->ext;
    if (dir == 1 && (f->flags & KSD_FLOW_F_MIDSTREAM) && p->payload_len &&
        (!x0 || (x0->cp == CP_UNKNOWN && x0->st[0].state == KSD_STREAM_INIT)) &&
        !(f->flags & (KSD_FLOW_F_SYN | KSD_FLOW_F_SYNACK)) &&
        looks_like_client(p->payload, p->payload_len)) {
        uint32_t t = f->pkts[0];
        f->pkts[0] = f->pkts[1];
        f->pkts[1] = t;
        f->client = (uint8_t)!f->client;
        dir = *dirp = 0;
        if (x0) { /* what the "server" sent so far was the client's */
            struct ksd_stream s0 = x0->st[0];
            x0->st[0] = x0->st[1];
            x0->st[1] = s0;
        }
    }
    ksd_flow_tcp_update(w->ft, f, p->tcp_flags, dir);
    if ((f->evmask & (FL_CDONE | FL_SDONE)) == (FL_CDONE | FL_SDONE))
        return;
    uint32_t seq = p->seq;
    if (p->tcp_flags & 0x02) {
        /* kept in the record; the streams (and their memory) wait for data */
        f->isn[dir] = p->seq;
        if (f->ext)
            ksd_stream_syn(&((struct flow_ext *)f->ext)->st[dir], p->seq);
        seq = p->seq + 1;
    }
    if (p->payload_len == 0)
        return;
    struct flow_ext *x = ext_of(f);
    if (!x)
        return;
    if (f->pkts[0] > KSD_MAX_CLIENT_PKTS && !(f->evmask & FL_CDONE))
        client_done(w, x, f);
    if (dir == 0 && !(f->evmask & FL_CDONE)) {
        if (ksd_stream_add(&x->st[0], seq, p->payload, p->payload_len, &w->st.stream) > 0 ||
            ksd_stream_state(&x->st[0]) >= KSD_STREAM_DONE)
            tcp_client(w, f, x);
    } else if (dir == 1 && !(f->evmask & FL_SDONE)) {
        if (ksd_stream_add(&x->st[1], seq, p->payload, p->payload_len, &w->st.stream) > 0 ||
            ksd_stream_state(&x->st[1]) >= KSD_STREAM_DONE)
            tcp_server(w, f, x);
    }
    /* A server that answers before the client has been classified: look again. */
    if (dir == 0 && x->cp != CP_UNKNOWN && !(f->evmask & FL_SDONE))
        tcp_server(w, f, x);
    if ((f->evmask & (FL_CDONE | FL_SDONE)) == (FL_CDONE | FL_SDONE)) {
        settle_dns_ip(w, f);
        ext_release(w, f);
    }
}

/* ---- UDP ----------------------------------------------------------------- */

static void handle_udp(struct ksd_worker *w, struct ksd_flow *f, int dir, const struct ksd_pkt *p)
{
    uint16_t sp = p->sport, dp = p->dport;
    if (p->payload_len == 0)
        return;
    if (sp == 53 || dp == 53) {
        handle_dns(w, f, dir, p->payload, p->payload_len, APP_DNS);
        return;
    }
    if (sp == 5353 || dp == 5353) {
        handle_dns(w, f, dir, p->payload, p->payload_len, APP_MDNS);
        return;
    }
    if (sp == 5355 || dp == 5355) {
        handle_dns(w, f, dir, p->payload, p->payload_len, APP_LLMNR);
        return;
    }
    if ((sp == 67 || sp == 68) && (dp == 67 || dp == 68)) {
        handle_dhcp(w, p);
        return;
    }
    if (sp == 137 || dp == 137) {
        handle_nbns(w, p);
        return;
    }
    if (f->evmask & FL_CDONE)
        return;
    if (dir != 0)
        return;
    if (!(f->evmask & FL_TLSPORT)) {
        if (!ksd_quic_probe(p->payload, p->payload_len)) {
            if (f->pkts[0] > 4)
                f->evmask |= FL_CDONE;
            return;
        }
        f->evmask |= FL_TLSPORT;
        f->app = APP_QUIC;
    }
    struct flow_ext *x = ext_of(f);
    if (!x)
        return;
    if (!x->quic && !(x->quic = ksd_quic_new()))
        return;
    w->hello.nosni = KSD_TLS_NOSNI_NONE;
    int rc = ksd_quic_feed(x->quic, p->payload, p->payload_len, &w->hello);
    if (rc == KSD_EINVAL && w->hello.nosni == KSD_TLS_NOSNI_MALFORMED)
        w->st.tls_malformed++;
    if (rc == KSD_OK) {
        w->st.quic_hellos++;
        x->hellos++;
        report_hello(w, f, &w->hello);
        f->evmask |= FL_CDONE | FL_SDONE;
    } else if (rc == KSD_ENOTSUP && x->hellos == 0) {
        w->st.quic_unknown_version++;
        nosni_set(f, KSD_NOSNI_UNDECRYPTABLE);
        f->evmask |= FL_CDONE | FL_SDONE;
    } else if (rc == KSD_EINVAL && f->pkts[0] > 8) {
        f->evmask |= FL_CDONE | FL_SDONE;
    }
    if (f->evmask & FL_CDONE) {
        settle_dns_ip(w, f);
        ksd_quic_free(x->quic);
        x->quic = NULL;
    }
}

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
    /* the flow ends with a ClientHello still waiting for a missing segment */
    if (x && !(f->evmask & FL_CDONE) && x->cp == CP_TLS && !x->hellos && !partial_hello(w, f, x))
        nosni_set(f, KSD_NOSNI_GAP);
    if (f->evmask & FL_TLSPORT) {
        int why = -1, noted = nosni_get(f);
        if (!(f->evmask & FL_HELLO))
            why = noted >= 0 ? noted : KSD_NOSNI_NO_HELLO;
        else if (noted == KSD_NOSNI_ECH || noted == KSD_NOSNI_ABSENT)
            why = noted;
        if (why == KSD_NOSNI_ECH || (why >= 0 && !(f->evmask & FL_NAME))) {
            w->st.nosni[why]++;
            fact(w, "no_sni", ksd_nosni_name(why), NULL);
        }
    }
    settle_dns_ip(w, f);
    settle_shared_dns_ip(w, f);
    if (f->evmask & FL_DNSIP) { /* a name was seen after all */
        f->evmask &= (uint32_t)~FL_DNSIP;
        w->dnsippend--;
    }
    ext_final(w, f);
    w->now = saved;
    w->src = saved_src;
}

/* ---- entry points -------------------------------------------------------- */

struct ksd_worker *ksd_worker_new(const struct ksd_worker_conf *c, struct ksd_sink *sink)
{
    struct ksd_worker *w = calloc(1, sizeof(*w));
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
    f->ndpi_app = label_intern(w, label);
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
    struct flow_ext *x = ext_of(f);
    char label[KSD_APP_LABEL_MAX], name[96];
    if (x && ksd_classify_packet_name(w->cls, &x->nd, p->l3, p->l3_len, w->now, label,
                                      sizeof(label), name, sizeof(name)) == 1) {
        fact(w, "ndpi_host", name, NULL); /* for make ndpi-compare */
        f->ndpi_app = label_intern(w, label);
        f->evmask |= FL_NDPI_DONE;
        w->st.ndpi_classified++;
    }
}

static void process_pkt(struct ksd_worker *w, const struct ksd_pkt *p)
{
    if (p->proto != 6 && p->proto != 17)
        return;
    int dir;
    struct ksd_flow *f = ksd_flow_lookup(w->ft, p, w->now, &dir);
    if (!f)
        return;
    f->src = w->src;
    int fresh = f->pkts[0] == 0 && f->pkts[1] == 0;
    f->pkts[dir]++;
    if (fresh && dir == 0)
        learn_mac(w, p);
    if (fresh) {
        uint16_t sport = ksd_flow_port(f, !f->client);
        if (is_tls_port(sport) && sport != 13000)
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
        handle_tcp(w, f, &dir, p);
    else
        handle_udp(w, f, dir, p);
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
        ext_release(w, f);
    if (f->ext)
        budget_account(w, f->ext);
    budget_enforce(w, f->ext);
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
        settle_dns_ip(w, f);
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
            budget_enforce(w, NULL);
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
                "dropped_frag=%llu pressure=%llu\n",
                (unsigned long long)b->limit,
                (unsigned long long)atomic_load_explicit(&b->used_peak, memory_order_relaxed),
                (unsigned long long)st.budget_tcp, (unsigned long long)st.budget_quic,
                (unsigned long long)st.budget_frag, (unsigned long long)st.budget_pressure);
    fprintf(out, "malformed (no evidence): tls_hello=%llu http_host=%llu\n",
            (unsigned long long)st.tls_malformed, (unsigned long long)st.http_bad_host);
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
