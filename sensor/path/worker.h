/*
 * worker.h - one worker: decode -> flow -> dissect -> match -> correlate
 * -> emit, for the packets it is given. A worker owns its flow table,
 * fragment table and correlation state; it shares only the read-only
 * signature set (swapped by pointer on reload) and the output sink.
 */
#ifndef KSD_WORKER_H
#define KSD_WORKER_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "dissectors/decode.h"
#include "dissectors/dns.h"
#include "sensor/path/capture.h"
#include "sensor/path/correlate.h"
#include "sensor/path/stream.h"

struct ksd_sigset;
struct ksd_known;
struct ksd_worker;
struct ksd_event;
struct ksd_learned;
struct ksd_hostid;
struct ksd_budget;
struct ksd_event_out;

/* Where events and facts go. Shared by workers; with threaded set, every
 * write holds lock, so lines of different workers never interleave. */
struct ksd_sink {
    struct ksd_event_out *json;                          /* --json, or NULL */
    struct ksd_event_out *facts;                         /* --facts, or NULL */
    void (*push)(void *arg, const struct ksd_event *ev); /* e.g. Redis (thread-safe); or NULL */
    void *push_arg;
    int threaded;                /* several workers write */
    pthread_mutex_t lock;        /* initialised by the owner */
    uint64_t events;             /* events written (under lock) */
    struct ksd_learned *learned; /* addresses any host resolved as Kaspersky's, or NULL */
    struct ksd_hostid *hostid;   /* MACs and names the network announced per address, or NULL */
};

/* Reasons a TLS/QUIC flow gave no SNI (facts "no_sni REASON", stats tls.no_sni.*). */
enum ksd_nosni {
    KSD_NOSNI_NO_HELLO = 0,  /* no ClientHello seen on a TLS/QUIC port */
    KSD_NOSNI_GAP,           /* a missing segment made the ClientHello unrecoverable */
    KSD_NOSNI_ECH,           /* only an outer/encrypted name */
    KSD_NOSNI_NOT_TLS,       /* the stream on a TLS port is not TLS */
    KSD_NOSNI_TRUNCATED,     /* ClientHello cut short (snaplen, oversize) */
    KSD_NOSNI_ABSENT,        /* a complete ClientHello without server_name */
    KSD_NOSNI_UNDECRYPTABLE, /* QUIC Initial of an unknown version */
    KSD_NOSNI__COUNT,
};

struct ksd_stats {
    uint64_t packets;                /* frames read */
    uint64_t bytes;                  /* frame bytes on the wire */
    uint64_t decode[KSD_DEC__COUNT]; /* decode outcomes by reason */
    uint64_t fragments_reassembled;
    uint64_t dns_messages, dns_err[KSD_DNS_ERR_COUNT];
    uint64_t mdns_messages, llmnr_messages;
    uint64_t tls_client_hellos, tls_server_hellos, tls_certs, tls_not_tls;
    uint64_t tls_resync;  /* streams with stray bytes before the ClientHello record */
    uint64_t tls_partial; /* names taken from ClientHellos that never completed */
    uint64_t quic_hellos, quic_unknown_version;
    uint64_t http_requests, http_not_http;
    uint64_t nosni[KSD_NOSNI__COUNT];
    uint64_t ndpi_classified; /* flows nDPI labelled before they ended */
    uint64_t ndpi_by_name;    /* of those, labelled from a name ksd parsed (SNI, DNS query) */
    uint64_t facts;           /* facts written to --facts */
    uint64_t events;
    struct ksd_stream_stats stream;
    /* handshake state dropped to keep the reassembly budget (--reassembly-mb), per cause */
    uint64_t budget_tcp;  /* TCP stream buffers of the oldest flows */
    uint64_t budget_quic; /* QUIC CRYPTO state of the oldest flows */
    uint64_t budget_frag; /* IP datagrams being reassembled */
    /* evidence refused as malformed (no clamping: a server would reject it) */
    uint64_t tls_malformed; /* ClientHellos (TLS or QUIC) with a length overrunning its extension */
    uint64_t http_bad_host; /* HTTP Host values with a NUL or control byte */
    uint64_t tcp_bad_checksum; /* segments offered to a stream with a bad TCP checksum */
    uint64_t tls_alt_names;    /* names found only in a stream's second version (decoys) */
};

/* A step back in capture time larger than this ends every flow (see tick in worker.c). */
#define KSD_TIME_BACK_US (60LL * 1000000)

struct ksd_worker_conf {
    long max_flows;
    int64_t dedup_window_us;
    const char *sensor_id;
    int ndpi;                   /* classify flows with nDPI */
    const char *ndpi_protos;    /* nDPI protocols file (custom Kaspersky protocol), or NULL */
    int ndpi_full;              /* nDPI also parses the ClientHellos ksd has parsed */
    const char *const *sources; /* offline: input file names by ksd_frame.src (borrowed), or NULL */
    size_t n_sources;
    int64_t name_age_us;       /* --name-age: life of a MAC / name binding (0 = one day) */
    long reassembly_mb;        /* handshake budget in MiB (0: KSD_REASSEMBLY_MB_DEFAULT) */
    struct ksd_budget *budget; /* flow cap and budget shared with other workers, or NULL:
                                  the worker's own (max_flows, reassembly_mb) */
};

struct ksd_worker *ksd_worker_new(const struct ksd_worker_conf *c, struct ksd_sink *sink);
void ksd_worker_free(struct ksd_worker *w);

/* The signature set to match with from now on (borrowed; the caller keeps it alive until
 * the next call). NULL disables matching (facts only). */
void ksd_worker_set_sigs(struct ksd_worker *w, const struct ksd_sigset *s);

/*
 * Replace the nDPI module by one loaded with a new protocols file (the
 * Kaspersky custom protocol regenerated from reloaded rules). Flows nDPI was
 * still classifying get its best guess from the old module first. Returns 0,
 * or -1 (the old module stays) when the new one cannot be made.
 */
int ksd_worker_reload_ndpi(struct ksd_worker *w, const char *protos);

/* Known-host labels and the site map (borrowed, like the signature set; NULL = none). */
void ksd_worker_set_known(struct ksd_worker *w, const struct ksd_known *hosts,
                          const struct ksd_known *sites);

/* The worker's number in its pool (0..63): part of its event ids. */
void ksd_worker_set_index(struct ksd_worker *w, int index);

/* The input file the next datagram comes from (ksd_frame.src; frames carry their own). */
void ksd_worker_set_source(struct ksd_worker *w, uint32_t src);
/*
 * Live timers, called a few times a second with the wall-clock time whether
 * packets come or not: idle flows expire on this time; address and port
 * rules that waited for nDPI's label 0.4 s run with its best guess; a flow
 * to a DNS-learned address without a name after 1 s is reported as dns_ip;
 * events this emits are flushed to --json at once. Offline runs never call
 * it (expiry follows capture time, and output stays deterministic).
 */
void ksd_worker_clock(struct ksd_worker *w, int64_t now_us);

/* Process one frame. */
void ksd_worker_packet(struct ksd_worker *w, const struct ksd_frame *fr);

/* Process one frame already decoded into `pkt` (pointing into fr->data), `rc`
 * being what ksd_decode returned for it: saves the capture thread a second
 * decode of the frames it dispatches to its own worker. */
void ksd_worker_decoded(struct ksd_worker *w, const struct ksd_frame *fr, struct ksd_pkt *pkt,
                        int rc);

/* An IP datagram reassembled elsewhere (by the dispatcher): `outer` carries the
 * tunnel context of its fragments (ctx, vlan, layers, tunnels). */
void ksd_worker_datagram(struct ksd_worker *w, int64_t ts_us, const struct ksd_pkt *outer,
                         const uint8_t *dg, size_t len);

/* End of input: release every flow (pending evidence is emitted). */
void ksd_worker_finish(struct ksd_worker *w);

/* After every worker has finished (no worker running): report the name-less
 * flows that waited for another worker's DNS answer (see worker.c). */
void ksd_worker_settle_pending(struct ksd_worker *w);

void ksd_stats_add(struct ksd_stats *sum, const struct ksd_stats *part);
struct ksd_ipfrag_stats;
/* Statistics and host table summed over several workers (`extra`: the dispatcher's own). */
void ksd_workers_print_stats(struct ksd_worker *const *ws, int n, const struct ksd_stats *extra,
                             const struct ksd_ipfrag_stats *extra_frag, FILE *out);
/* Visit the host records of every worker (a client lives in one worker). */
void ksd_workers_hosts_each(struct ksd_worker *const *ws, int n,
                            const struct ksd_corr_host_visit *v);

const struct ksd_stats *ksd_worker_stats(const struct ksd_worker *w);
void ksd_worker_print_stats(struct ksd_worker *w, FILE *out);
uint64_t ksd_worker_flows(const struct ksd_worker *w);
/* Warm the flow table for a decoded packet about to be processed: 1 and
 * *hint made (give it to ksd_worker_decoded_hint with the packet), or 0. */
struct ksd_flow_hint;
int ksd_worker_prefetch(const struct ksd_worker *w, const struct ksd_pkt *pkt,
                        struct ksd_flow_hint *hint);
/* The second step of ksd_worker_prefetch, a little later: the bucket has
 * come, the flow record it leads to is fetched. */
void ksd_worker_prefetch_flow(const struct ksd_worker *w, const struct ksd_flow_hint *hint);
/* ksd_worker_decoded with the hint ksd_worker_prefetch made for pkt (or NULL). */
void ksd_worker_decoded_hint(struct ksd_worker *w, const struct ksd_frame *fr, struct ksd_pkt *pkt,
                             int rc, const struct ksd_flow_hint *hint);

const char *ksd_nosni_name(int reason);

#endif
