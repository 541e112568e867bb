/*
 * pool.h - the threads (README, "Architecture"): the capture thread (the caller) hands
 * every frame to one of N workers through a lock-free single-producer ring;
 * each worker owns its flow table and correlation state. With one worker the
 * frame is processed inline, in capture order (deterministic).
 *
 * Which worker: a hash of the *client* address, chosen from the ports alone
 * (the side that is not on a service port; the lower address when both or
 * neither are), which is the same for both directions of a flow. All flows
 * of one host therefore meet in one worker, so DNS-learned addresses,
 * suppression, host records and port prerequisites (TCP 13000 before UDP
 * 15000) never need sharing. IP fragments are reassembled by the dispatcher
 * first, so the whole datagram goes where its flow goes. Worker 0 runs in the
 * capture thread itself, so N workers keep N cores busy, not N + 1.
 *
 * Live, with PACKET_FANOUT (ksd_pool_new_fanout), the kernel makes that
 * choice (capture.c's program) and each worker thread reads its own socket;
 * its ring then carries only control records (lists, clock, end).
 */
#ifndef KSD_POOL_H
#define KSD_POOL_H

#include <stdint.h>
#include <stdio.h>

#include "sensor/path/capture.h"
#include "sensor/path/worker.h"

#define KSD_POOL_MAX_WORKERS 64
#define KSD_POOL_RING_BYTES  (8u << 20) /* per worker */
#define KSD_POOL_SHARE       3          /* hash shares of a ring worker per capture-thread share */

struct ksd_sigset;
struct ksd_known;

/* What a reload swaps, as one unit. */
struct ksd_lists {
    const struct ksd_sigset *sigs;
    const struct ksd_known *known;
    const struct ksd_known *sites;
    const char *ndpi_protos; /* reload only: nDPI protocols file to load, or NULL */
};

struct ksd_pool;

struct ksd_pool *ksd_pool_new(int workers, const struct ksd_worker_conf *wc, struct ksd_sink *sink,
                              const struct ksd_lists *lists);
/*
 * Live with PACKET_FANOUT: caps[1..workers-1] are further sockets of the
 * capture in one fanout group (ksd_capture_fanout), one per worker thread,
 * which reads its own and owns it from now on; caps[0] stays the caller's
 * and its frames go to worker 0 through ksd_pool_packet, undispatched. No
 * thread copies frames for another.
 */
struct ksd_pool *ksd_pool_new_fanout(int workers, const struct ksd_worker_conf *wc,
                                     struct ksd_sink *sink, const struct ksd_lists *lists,
                                     struct ksd_capture *const *caps);
/* Process (1 worker) or dispatch (N workers) one frame. Blocks while the chosen ring is full. */
void ksd_pool_packet(struct ksd_pool *p, const struct ksd_frame *fr);
/*
 * Offline, N workers. Every input is a file capture.c walks (call before the
 * first frame): the hash split of walked files is used, and for each file
 * ksd_pool_file_begin (after opening it) hands every other worker a handle
 * of its own on the same mapping, so that ksd_pool_packet queues only the
 * offsets of their frames (pool.c). ksd_pool_file_end after the file. With
 * one worker, file_begin/file_end let it process each frame two frames late
 * (the flow bucket and record are prefetched meanwhile).
 */
void ksd_pool_offline_walked(struct ksd_pool *p);
void ksd_pool_file_begin(struct ksd_pool *p, struct ksd_capture *c,
                         const struct ksd_capture_opts *co);
void ksd_pool_file_end(struct ksd_pool *p);
/* The capture thread is about to wait: wake workers for the records queued so far. */
void ksd_pool_kick(struct ksd_pool *p);
/* Live timers (every 250 ms or so, packets or not): every worker expires idle
 * flows on this wall-clock time and emits what waited too long (worker.h). */
void ksd_pool_clock(struct ksd_pool *p, int64_t now_us);
/*
 * Swap the rules and lists: every worker adopts them before its next frame;
 * returns once all have, so the caller may free the old ones.
 */
void ksd_pool_set_lists(struct ksd_pool *p, const struct ksd_lists *lists);
/* End of input: workers drain their rings, release all flows, and stop. */
void ksd_pool_finish(struct ksd_pool *p);
void ksd_pool_free(struct ksd_pool *p);

int ksd_pool_workers(const struct ksd_pool *p);
/* Frames and wire bytes the capture thread has handed on. */
uint64_t ksd_pool_packets(const struct ksd_pool *p);
uint64_t ksd_pool_bytes(const struct ksd_pool *p);
/* Fanout: kernel drops (and frames received, if `received`) of the workers' own
 * sockets, the caller's not included; 0 without fanout. */
uint64_t ksd_pool_capture_drops(const struct ksd_pool *p, uint64_t *received);
/* Flows in the tables now (approximate while workers run). */
uint64_t ksd_pool_flows(const struct ksd_pool *p);
void ksd_pool_print_stats(struct ksd_pool *p, FILE *out);
/* Visit every worker's host records (call once the workers have stopped). */
void ksd_pool_hosts_each(struct ksd_pool *p, const struct ksd_corr_host_visit *v);

#endif
