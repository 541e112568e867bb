/*
 * worker_udp.c - the worker's UDP path through the table of UDP protocols:
 * DNS (RFC 1035; mDNS RFC 6762 and LLMNR RFC 4795 share its parser) with
 * the CNAME chain followed and learned addresses, QUIC Initials (RFC 9000,
 * 9001), and what the network says about its hosts: DHCP (RFC 2131/2132,
 * 4702), NetBIOS name service (RFC 1002), mDNS/LLMNR answers for the
 * sender's own address, and client MACs from unrouted frames. What it does
 * not do: judge evidence (worker.c does), decode (dissectors/ do).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "dissectors/dhcp.h"
#include "dissectors/ksd.h"
#include "dissectors/netbios.h"
#include "dissectors/quic.h"
#include "sensor/path/hostid.h"
#include "sensor/path/learned.h"
#include "sensor/path/worker_int.h"
#include "signatures/sig.h"

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
    ksd_worker_fact(w, "mac", ip, m); /* a new or changed binding only, not every flow */
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
        ksd_worker_fact(w, kinds[src], name, ip);
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
void ksd_worker_learn_mac(struct ksd_worker *w, const struct ksd_pkt *p)
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
static int dhcp_parse(struct ksd_worker *w, struct ksd_flow *f, int dir, const struct ksd_pkt *p)
{
    (void)f;
    (void)dir;
    return ksd_dhcp_parse(p->payload, p->payload_len, &w->dhcp);
}

static void dhcp_report(struct ksd_worker *w, struct ksd_flow *f, int dir, int rc)
{
    (void)f;
    (void)dir;
    if (rc != KSD_OK)
        return;
    const struct ksd_dhcp_msg m = w->dhcp;
    char mac[18] = "";
    if (m.has_mac)
        ksd_mac_str(m.chaddr, mac);
    ksd_worker_fact(w, "dhcp_host", m.host, mac[0] ? mac : NULL);
    ksd_worker_fact(w, "dhcp_host", m.fqdn, mac[0] ? mac : NULL);
    ksd_worker_fact(w, "dhcp_vendor", m.vendor, mac[0] ? mac : NULL);
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
static int nbns_parse(struct ksd_worker *w, struct ksd_flow *f, int dir, const struct ksd_pkt *p)
{
    (void)f;
    (void)dir;
    return ksd_nbns_parse(p->payload, p->payload_len, &w->nbns);
}

static void nbns_report(struct ksd_worker *w, struct ksd_flow *f, int dir, int rc)
{
    const struct ksd_nbns_msg *m = &w->nbns;
    (void)f;
    (void)dir;
    if (rc != KSD_OK || m->group || (m->suffix != 0x00 && m->suffix != 0x20))
        return;
    for (int i = 0; i < m->n_addrs; i++)
        bind_name(w, 4, m->addrs[i], KSD_NAME_NETBIOS, m->name, w->now + name_age(w));
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
 * One DNS message on flow f, sent in direction dir. Question names are facts
 * and evidence; answers are facts, and the addresses reached from the
 * question through the CNAME chain are learned when a name of that chain is
 * a Kaspersky name. Answer records outside the chain (an answer "about"
 * another name) are facts but never evidence.
 */
static void dns_report_app(struct ksd_worker *w, struct ksd_flow *f, int dir, int rc, int app)
{
    struct ksd_dns_msg *m = &w->dns;
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
            ksd_worker_label_from_name(w, f, KSD_CLASSIFY_DNS, m->q[0].name);
        else
            f->evmask &= ~(uint32_t)FL_NDPI_HELD; /* not a query: nDPI from the next packet */
    }
    /* The querier: the sender of a query, the receiver of a response. */
    int querier = m->qr ? (dir == 0 ? !f->client : f->client) : (dir == 0 ? f->client : !f->client);
    for (int i = 0; i < m->n_questions; i++) {
        const char *qn = m->q[i].name;
        if (!qn[0])
            continue;
        ksd_worker_fact(w, qkind, qn, NULL);
        if (app == APP_DNS && w->sigs) {
            const struct ksd_rule *r = ksd_sig_match_domain(w->sigs, qn, strlen(qn));
            if (r)
                ksd_worker_detect(w, f, querier, KSD_EV_DNS, qn, r, NULL);
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
        ksd_worker_fact(w, "dns_answer", q0, ip);
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
                ksd_worker_detect_as(w, f, querier, KSD_EV_DNS, chain[nchain], r, q0,
                                     conf_minus(r->confidence, KSD_CONF_CNAME_PENALTY),
                                     r->category);
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

/* One DNS message (UDP payload or a TCP-framed message) of protocol app. */
void ksd_worker_dns(struct ksd_worker *w, struct ksd_flow *f, int dir, const uint8_t *p, size_t len,
                    int app)
{
    dns_report_app(w, f, dir, ksd_dns_parse(p, len, &w->dns), app);
}

/* ---- UDP ----------------------------------------------------------------- */

static int dns_parse(struct ksd_worker *w, struct ksd_flow *f, int dir, const struct ksd_pkt *p)
{
    (void)f;
    (void)dir;
    return ksd_dns_parse(p->payload, p->payload_len, &w->dns);
}

static void dns_report(struct ksd_worker *w, struct ksd_flow *f, int dir, int rc)
{
    dns_report_app(w, f, dir, rc, APP_DNS);
}

static void mdns_report(struct ksd_worker *w, struct ksd_flow *f, int dir, int rc)
{
    dns_report_app(w, f, dir, rc, APP_MDNS);
}

static void llmnr_report(struct ksd_worker *w, struct ksd_flow *f, int dir, int rc)
{
    dns_report_app(w, f, dir, rc, APP_LLMNR);
}

/* QUIC takes what no port claimed: a client packet of a flow not done. */
static int quic_probe(const struct ksd_flow *f, int dir, const struct ksd_pkt *p)
{
    (void)p;
    return !(f->evmask & FL_CDONE) && dir == 0;
}

#define QUIC_NOT_YET 1 /* quic_parse: not (yet) a QUIC Initial, no state */

/* Feed a client packet to the flow's QUIC Initial reassembly (created at
 * the first packet that looks like a QUIC long-header Initial). */
static int quic_parse(struct ksd_worker *w, struct ksd_flow *f, int dir, const struct ksd_pkt *p)
{
    (void)dir;
    if (!(f->evmask & FL_TLSPORT)) {
        if (!ksd_quic_probe(p->payload, p->payload_len)) {
            if (f->pkts[0] > 4)
                f->evmask |= FL_CDONE;
            return QUIC_NOT_YET;
        }
        f->evmask |= FL_TLSPORT;
        f->app = APP_QUIC;
    }
    struct flow_ext *x = ksd_worker_ext(f);
    if (!x)
        return QUIC_NOT_YET;
    if (!x->quic && !(x->quic = ksd_quic_new()))
        return QUIC_NOT_YET;
    w->hello.nosni = KSD_TLS_NOSNI_NONE;
    int rc = ksd_quic_feed(x->quic, p->payload, p->payload_len, &w->hello);
    if (rc == KSD_EINVAL && w->hello.nosni == KSD_TLS_NOSNI_MALFORMED)
        w->st.tls_malformed++;
    return rc;
}

static void quic_report(struct ksd_worker *w, struct ksd_flow *f, int dir, int rc)
{
    (void)dir;
    struct flow_ext *x = f->ext;
    if (rc == QUIC_NOT_YET || !x)
        return;
    if (rc == KSD_OK) {
        w->st.quic_hellos++;
        x->hellos++;
        ksd_worker_report_hello(w, f, &w->hello);
        f->evmask |= FL_CDONE | FL_SDONE;
    } else if (rc == KSD_ENOTSUP && x->hellos == 0) {
        w->st.quic_unknown_version++;
        nosni_set(f, KSD_NOSNI_UNDECRYPTABLE);
        f->evmask |= FL_CDONE | FL_SDONE;
    } else if (rc == KSD_EINVAL && f->pkts[0] > 8) {
        f->evmask |= FL_CDONE | FL_SDONE;
    }
    if (f->evmask & FL_CDONE) {
        ksd_worker_settle_dns_ip(w, f);
        ksd_quic_free(x->quic);
        x->quic = NULL;
    }
}

/*
 * The UDP protocols, tried in order: a row whose port is either port of
 * the packet (both ports in {port, port2} when port2 is set), or whose
 * probe says yes, parses the payload into the worker's scratch message and
 * reports it (facts, learning, events). A new UDP dissector is its own
 * files and one row here.
 */
struct udp_proto {
    const char *name;
    uint16_t port, port2;
    int (*probe)(const struct ksd_flow *f, int dir, const struct ksd_pkt *p); /* NULL: by port */
    int (*parse)(struct ksd_worker *w, struct ksd_flow *f, int dir, const struct ksd_pkt *p);
    void (*report)(struct ksd_worker *w, struct ksd_flow *f, int dir, int rc);
};

static const struct udp_proto udp_protos[] = {
    {"dns", 53, 0, NULL, dns_parse, dns_report},
    {"mdns", 5353, 0, NULL, dns_parse, mdns_report},
    {"llmnr", 5355, 0, NULL, dns_parse, llmnr_report},
    {"dhcp", 67, 68, NULL, dhcp_parse, dhcp_report},
    {"netbios-ns", 137, 0, NULL, nbns_parse, nbns_report},
    {"quic", 0, 0, quic_probe, quic_parse, quic_report},
};

static int udp_match(const struct udp_proto *r, const struct ksd_flow *f, int dir,
                     const struct ksd_pkt *p)
{
    uint16_t sp = p->sport, dp = p->dport;
    if (r->probe)
        return r->probe(f, dir, p);
    if (r->port2)
        return (sp == r->port || sp == r->port2) && (dp == r->port || dp == r->port2);
    return sp == r->port || dp == r->port;
}

void ksd_worker_udp(struct ksd_worker *w, struct ksd_flow *f, int dir, const struct ksd_pkt *p)
{
    if (p->payload_len == 0)
        return;
    for (size_t i = 0; i < sizeof(udp_protos) / sizeof(udp_protos[0]); i++) {
        const struct udp_proto *r = &udp_protos[i];
        if (udp_match(r, f, dir, p)) {
            r->report(w, f, dir, r->parse(w, f, dir, p));
            return;
        }
    }
}
