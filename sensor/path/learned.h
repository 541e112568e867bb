/*
 * learned.h - the sensor-wide table of server addresses that some host
 * resolved to a Kaspersky name (address -> name, with expiry), shared by all
 * workers. The per-client DNS cache in correlate.h stays the evidence for
 * flows of the resolving client; this table only lets a TLS/QUIC/HTTP flow
 * that carries no name of its own (no SNI, no Host) be reported as a
 * `suspected` dns_ip, whichever worker saw the DNS answer.
 */
#ifndef KSD_LEARNED_H
#define KSD_LEARNED_H

#include <stddef.h>
#include <stdint.h>

#define KSD_LEARNED_SETS     16384 /* hash sets; each holds KSD_LEARNED_WAYS addresses */
#define KSD_LEARNED_WAYS     4     /* so at most 65,536 addresses are kept */
#define KSD_LEARNED_LOCKS    64    /* mutexes, each guarding every 64th set */
#define KSD_LEARNED_NAME_MAX 256

struct ksd_learned;

struct ksd_learned_stats {
    uint64_t learned; /* addresses stored or refreshed */
    uint64_t evicted; /* live entries replaced because their set was full */
    uint64_t hits;    /* lookups that found a live entry */
};

struct ksd_learned *ksd_learned_new(void);
void ksd_learned_free(struct ksd_learned *t);

/* Remember that some host resolved `name` to addr (family 4 or 6, addr in
 * network order) at now_us, valid for ttl_s seconds. Thread-safe. */
void ksd_learned_put(struct ksd_learned *t, int family, const uint8_t *addr, const char *name,
                     uint32_t ttl_s, int64_t now_us);

/* Copy into name the name learned for addr before or at at_us and not
 * expired at at_us; returns 1, or 0 when there is none. Thread-safe. */
int ksd_learned_get(struct ksd_learned *t, int family, const uint8_t *addr, int64_t at_us,
                    char *name, size_t cap);

void ksd_learned_stats(struct ksd_learned *t, struct ksd_learned_stats *out);

/*
 * How far the workers have read (capture time), so that a flow may wait
 * for an answer another worker has still to see: ksd_learned_progress when
 * worker `index` (of the n given to ksd_learned_workers) has processed
 * every packet before now_us; ksd_learned_passed says whether all of them
 * have got past at_us, after which no answer of that time can still come.
 */
#define KSD_LEARNED_WORKERS 64
void ksd_learned_workers(struct ksd_learned *t, int n);
void ksd_learned_progress(struct ksd_learned *t, int index, int64_t now_us);
int ksd_learned_passed(struct ksd_learned *t, int64_t at_us);

#endif
