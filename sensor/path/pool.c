/*
 * pool.c - capture thread -> worker threads (see pool.h).
 *
 * Ring records: a frame (header + captured bytes) or a reassembled datagram
 * (outer packet context + datagram bytes), the offset of a frame in a
 * walked file, and control records: "adopt the lists published in the
 * worker's slot", "the clock says" (live timers on an idle link), "the
 * walked file is this one" / "its end", and "end of input".
 *
 * A classic pcap file that capture.c walks through a mapping is dispatched
 * by offset: every worker holds a handle on the file (ksd_capture_reopen,
 * one shared mapping), the capture thread hashes each frame from its bytes
 * (quick_hash; no decode for a frame it does not keep) and queues only the
 * record's offset, 8 bytes (eight to a queued record), for the worker it
 * belongs to; that worker finds the frame where it lies, prefetching a few
 * frames ahead, and decodes it.
 * Nothing is copied, and the capture thread's share of the clients is set
 * so that both kinds of thread use the same CPU time (ksd_pool_offline_walked).
 * Every frame of a walked file is processed two frames late (take), so that
 * its flow table bucket, then its flow record, are fetched while the frames
 * before it are processed.
 * Every run uses one hash split (decided before the first file), so a flow
 * that continues from one file into the next stays in its worker.
 *
 * Nobody polls. A worker that finds its ring empty spins briefly, then
 * announces that it sleeps and waits on a futex; the producer wakes it once
 * KSD_POOL_WAKE_BATCH records are waiting or when the capture thread is about
 * to wait itself (ksd_pool_kick), so a busy worker costs the producer one
 * load per record and a system call only per batch. A full ring works the
 * same way the other way round: the producer sleeps until the worker has
 * freed half of it, so a slow worker slows the capture thread (the kernel
 * buffer absorbs a live burst, and a file is never read faster than it is
 * processed) rather than losing packets. Sleeps have a timeout, so a missed
 * wake-up costs latency, never a hang. The announce/check pairs are ordered
 * by sequentially consistent fences (the store-load pattern of a futex
 * handshake).
 */
#include "sensor/path/pool.h"

#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "dissectors/decode.h"
#include "dissectors/ipfrag.h"
#include "dissectors/ksd.h"
#include "sensor/path/budget.h"
#include "sensor/path/flow.h"
#include "sensor/path/lines.h"
#include "sensor/path/ring.h"
#include "signatures/sig.h"

enum {
    REC_FRAME =
        1,        /* struct rec_frame + struct ksd_pkt (decoded, pointers into the frame) + bytes */
    REC_DGRAM,    /* struct rec_dgram + bytes */
    REC_LISTS,    /* adopt slot->lists */
    REC_CLOCK,    /* int64_t wall-clock us: run timers (live) */
    REC_FILE,     /* struct rec_file: the walked file the next REC_AT records are in */
    REC_AT,       /* uint64_t[1..KSD_POOL_AT_BATCH]: record offset << 16 | input file
                     index: frames of that file, in order */
    REC_FILE_END, /* the end of that file: its handle is closed */
    REC_END,      /* end of input */
};

#define KSD_POOL_WAKE_BATCH 64         /* records queued before a sleeping worker is woken */
#define KSD_POOL_SPINS      2000       /* empty peeks before a worker sleeps */
#define KSD_POOL_SLEEP_NS   200000000L /* longest futex wait: a lost wake-up costs this */
#define KSD_POOL_MAX_SHARE  8          /* own and share are at most this */
#define KSD_POOL_MAX_SHARES (KSD_POOL_MAX_SHARE * KSD_POOL_MAX_WORKERS) /* own + share * others */
#define KSD_POOL_PUBLISH    16 /* records made visible to the worker at once */
#define KSD_POOL_AT_BATCH   8  /* frames' offsets in one REC_AT record (72 bytes) */
#define KSD_POOL_AT_AHEAD   6  /* frames of REC_AT records prefetched ahead of the one taken */
#define KSD_POOL_HELD       4  /* entries of held[] (a power of two) */
#define KSD_POOL_LATE       2  /* a walked file's frame is processed this many frames late */
#define KSD_POOL_AT_LAG     (72u << 10) /* REC_AT bytes queued at most (8192 frames) */

struct rec_frame {
    int64_t ts_us;
    uint32_t caplen;
    uint32_t len;
    int32_t linktype;
    uint32_t src;        /* input file index */
    const uint8_t *orig; /* where the frame was when it was decoded (never dereferenced) */
};

struct rec_dgram {
    int64_t ts_us;
    struct ksd_pkt outer; /* context of the fragments; pointers inside are not used */
    uint32_t len;
    uint32_t src; /* input file index */
};

struct rec_file {
    struct ksd_capture *cap; /* the worker's own handle on the file (it closes it) */
};

/* A frame taken for a worker, decoded, with its flow key made ahead (take_entry). */
struct held {
    struct ksd_frame fr;
    struct ksd_pkt pkt;
    struct ksd_flow_hint hint;
    int rc;
    int hinted;
};

/* A worker's slot. The capture thread (producer) and the worker thread
 * (consumer) run on different cores: what each writes often sits on cache
 * lines of its own, so that neither waits for a line the other has just
 * written (a field read every packet next to one written every packet made
 * the dispatch cost a cache miss per frame). */
struct slot {
    /* set up before the threads run, read-only after */
    struct ksd_pool *pool;
    struct ksd_worker *w;
    pthread_t thread;
    int started;
    /* fanout (live, one capture socket per worker): the worker reads its own
     * socket and the ring carries control records only */
    struct ksd_capture *cap; /* owned; NULL without fanout */
    int evfd;                /* eventfd: a control record is waiting (-1 without fanout) */
    struct ksd_ring ring;    /* its indexes on lines of their own (ring.h) */
    struct ksd_lists lists;  /* published by the capture thread before REC_LISTS */
    /* the producer's */
    _Alignas(64) uint32_t unsignalled; /* records pushed since the last wake check */
    uint32_t pushes;                   /* records reserved (for the soft limit's looks) */
    size_t soft;                       /* queue at most this many bytes (0: the ring) */
    _Atomic uint32_t psleep;           /* futex: 1 while the producer sleeps on a full ring */
    uint32_t atn;                      /* offsets in atq, not yet queued */
    uint64_t atq[KSD_POOL_AT_BATCH];   /* the next REC_AT record, filled frame by frame */
    /* the consumer's */
    _Alignas(64) uint32_t freed; /* records released since the last wake check */
    _Atomic uint32_t wsleep;     /* futex: 1 while the worker sleeps on an empty ring */
    struct ksd_capture *fcap;    /* the walked file REC_AT records point into (owned) */
    /* a walked file (frames stay where they are): frames wait two steps
     * (KSD_POOL_LATE) in held[], oldest at held[first], while their flow's
     * bucket and then record are fetched; the next one is decoded into the
     * free entry */
    struct held held[KSD_POOL_HELD];
    int first;
    int waiting;
    /* the worker's figures, read by the capture thread now and then */
    _Alignas(64) _Atomic uint64_t adopted; /* generation of the lists this worker uses */
    _Atomic uint64_t flows_now;            /* flows in the table, refreshed now and then */
    _Atomic uint64_t cpu_ns;               /* the thread's CPU time, refreshed now and then */
    _Atomic uint64_t cap_packets;          /* fanout: frames read from cap */
    _Atomic uint64_t cap_bytes;
    _Atomic uint64_t cap_recv;  /* pcap_stats of cap, refreshed by the clock */
    _Atomic uint64_t cap_drops; /* its kernel (and interface) drops */
};

struct ksd_pool {
    int n;
    /* ports (tcp, udp) of from-server port rules: there the receiver is the client */
    uint8_t agent_port[2][65536 / 8];
    struct slot slots[KSD_POOL_MAX_WORKERS];
    struct ksd_ipfrag *frag;  /* the dispatcher's reassembly (N > 1) */
    struct ksd_budget budget; /* --max-flows and --reassembly-mb over all workers */
    struct ksd_stats st;      /* the dispatcher's own counts (N > 1) */
    uint64_t generation;
    uint64_t packets, bytes;
    uint32_t own;    /* hash shares of the capture thread's own worker (see pick) */
    uint32_t share;  /* hash shares of every other worker */
    uint32_t shares; /* in all */
    uint8_t pick_of[KSD_POOL_MAX_SHARES]; /* share -> worker */
    int fanout;                           /* workers read their own sockets (ksd_pool_new_fanout) */
    int walked;                           /* every input is walked (ksd_pool_offline_walked) */
    int stable; /* the file being read now is walked: its frames stay valid */
    int at;     /* and the workers have handles on it: frames go by offset */
    int ndpi;   /* the workers classify with nDPI */
};

static void note_agent_ports(struct ksd_pool *p, const struct ksd_sigset *sigs);

static void nap(void)
{
    struct timespec ts = {0, 50000}; /* 50 us: only while a reload waits for the workers */
    nanosleep(&ts, NULL);
}

static void futex_wait(_Atomic uint32_t *word, uint32_t val)
{
    struct timespec ts = {0, KSD_POOL_SLEEP_NS};
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

/* Wake the thread sleeping on `word`, if it announced it sleeps. The caller
 * has just published (ring head or tail); the fence orders that store before
 * the load of the flag, as the sleeper orders its flag before its re-check. */
static void wake(_Atomic uint32_t *word)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(word, memory_order_relaxed) &&
        atomic_exchange_explicit(word, 0, memory_order_relaxed))
        syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Worker: the next record, sleeping while the ring is empty. */
static const uint8_t *next_rec(struct slot *s, uint32_t *type, size_t *len)
{
    const uint8_t *rec;
    for (int spins = 0;; spins++) {
        if ((rec = ksd_ring_peek(&s->ring, type, len)))
            return rec;
        if (spins < KSD_POOL_SPINS)
            continue;
        /* the producer may wait for room this worker has made */
        s->freed = 0;
        wake(&s->psleep);
        atomic_store_explicit(&s->wsleep, 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_seq_cst);
        if ((rec = ksd_ring_peek(&s->ring, type, len))) {
            atomic_store_explicit(&s->wsleep, 0, memory_order_relaxed);
            return rec;
        }
        futex_wait(&s->wsleep, 1);
        atomic_store_explicit(&s->wsleep, 0, memory_order_relaxed);
        spins = 0;
    }
}

/* Worker: drop the record; a producer waiting for room is woken once the
 * ring is half empty (or when this worker runs dry), not for every record. */
static void release_rec(struct slot *s)
{
    ksd_ring_release(&s->ring);
    if (++s->freed < KSD_POOL_WAKE_BATCH)
        return;
    s->freed = 0;
    size_t used = atomic_load_explicit(&s->ring.head, memory_order_relaxed) -
                  atomic_load_explicit(&s->ring.tail, memory_order_relaxed);
    if (used <= (s->soft ? s->soft : s->ring.cap) / 2)
        wake(&s->psleep);
}

/* The decoded packet's views into the frame, moved to the frame's copy in
 * the ring: the capture thread's decode is not done again by the worker.
 * Frames on a ring decoded KSD_DEC_OK, so only payload and l3 point in. */
static const uint8_t *moved(const uint8_t *p, const uint8_t *from, const uint8_t *to, size_t len)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)from;
    return p && a >= b && a <= b + len ? to + (a - b) : p;
}

static void rebase(struct ksd_pkt *k, const uint8_t *from, const uint8_t *to, size_t len)
{
    k->payload = moved(k->payload, from, to, len);
    k->l3 = moved(k->l3, from, to, len);
}

static void adopt(struct slot *s)
{
    ksd_worker_set_sigs(s->w, s->lists.sigs);
    ksd_worker_set_known(s->w, s->lists.known, s->lists.sites);
    if (s->lists.ndpi_protos)
        ksd_worker_reload_ndpi(s->w, s->lists.ndpi_protos);
    s->lists.ndpi_protos = NULL;
}

static void fanout_stats(struct slot *s);

/* CPU time of the calling thread, in ns. */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void note_cpu(struct slot *s)
{
    atomic_store_explicit(&s->cpu_ns, thread_cpu_ns(), memory_order_relaxed);
}

/* A control record (lists, clock, end); returns 1 at the end of input. */
static int control(struct slot *s, uint32_t type, const uint8_t *rec, uint64_t *gen)
{
    if (type == REC_LISTS) {
        adopt(s);
        atomic_store_explicit(&s->adopted, ++*gen, memory_order_release);
    } else if (type == REC_CLOCK) {
        int64_t now;
        memcpy(&now, rec, sizeof(now));
        ksd_worker_clock(s->w, now);
        if (s->cap)
            fanout_stats(s);
        atomic_store_explicit(&s->flows_now, ksd_worker_flows(s->w), memory_order_relaxed);
        note_cpu(s);
    }
    return type == REC_END;
}

/* Fanout: the worker's own socket and its control records. */
static void fanout_stats(struct slot *s)
{
    struct ksd_capture_stats cs;
    if (ksd_capture_stats(s->cap, &cs) == 0) {
        atomic_store_explicit(&s->cap_recv, cs.received, memory_order_relaxed);
        atomic_store_explicit(&s->cap_drops, cs.dropped + cs.ifdropped, memory_order_relaxed);
    }
    atomic_store_explicit(&s->flows_now, ksd_worker_flows(s->w), memory_order_relaxed);
}

static void *fanout_main(void *arg)
{
    struct slot *s = arg;
    uint64_t gen = 0, packets = 0, bytes = 0;
    int reading = 1;
    for (;;) {
        uint32_t type;
        size_t len;
        const uint8_t *rec;
        int end = 0;
        while (!end && (rec = ksd_ring_peek(&s->ring, &type, &len))) {
            end = control(s, type, rec, &gen);
            ksd_ring_release(&s->ring);
        }
        if (end)
            break;
        struct ksd_frame fr;
        memset(&fr, 0, sizeof(fr)); /* src 0: a live input */
        int n = 0, got = 2;
        while (reading && n < KSD_POOL_WAKE_BATCH && (got = ksd_capture_next(s->cap, &fr)) == 1) {
            ksd_worker_packet(s->w, &fr);
            packets++;
            bytes += fr.len;
            n++;
        }
        if (got == 0 || got < 0)
            reading = 0; /* stopped or failed: the capture thread says so for its own */
        atomic_store_explicit(&s->cap_packets, packets, memory_order_relaxed);
        atomic_store_explicit(&s->cap_bytes, bytes, memory_order_relaxed);
        if (n == 0) {
            uint64_t v;
            ksd_capture_wait(s->cap, s->evfd, KSD_POOL_SLEEP_NS / 1000000);
            if (read(s->evfd, &v, sizeof(v)) < 0)
                v = 0; /* nothing signalled (EAGAIN) */
        }
    }
    fanout_stats(s);
    ksd_worker_finish(s->w);
    atomic_store_explicit(&s->flows_now, 0, memory_order_relaxed);
    note_cpu(s);
    return NULL;
}

static uint32_t client_hash(const struct ksd_pool *p, const struct ksd_pkt *k);
static uint32_t pick(const struct ksd_pool *p, uint32_t h);
static void set_shares(struct ksd_pool *p, uint32_t own, uint32_t share);
static int quick_hash(const struct ksd_pool *p, const struct ksd_frame *fr, uint32_t *h);

/*
 * A frame of a walked file for this slot's worker, processed two frames
 * late: when it is taken its flow's hash bucket is fetched; when the next
 * one is taken the bucket is read and the flow record it leads to fetched;
 * when the one after is taken it is processed, record and bucket in the
 * cache. The table's two dependent misses overlap the work on the frames
 * before it instead of stalling it. The frames stay valid in the mapping;
 * the order is kept.
 */
static void take_oldest(struct slot *s)
{
    struct held *h = &s->held[s->first];
    ksd_worker_decoded_hint(s->w, &h->fr, &h->pkt, h->rc, h->hinted ? &h->hint : NULL);
    s->first = (s->first + 1) & (KSD_POOL_HELD - 1);
    s->waiting--;
}

static void take_flush(struct slot *s)
{
    while (s->waiting > 0)
        take_oldest(s);
}

/* The free entry, for the frame about to be taken (decode into its pkt,
 * then take_entry): no copy of frame, packet or key. */
static struct held *take_slot(struct slot *s)
{
    return &s->held[(s->first + s->waiting) & (KSD_POOL_HELD - 1)];
}

static void take_entry(struct slot *s, const struct ksd_frame *fr, int rc)
{
    struct held *h = take_slot(s);
    h->fr = *fr;
    h->rc = rc;
    h->hinted = rc == KSD_DEC_OK && ksd_worker_prefetch(s->w, &h->pkt, &h->hint);
    if (s->waiting > 0) { /* the frame taken before this one: its bucket has come */
        struct held *prev = &s->held[(s->first + s->waiting - 1) & (KSD_POOL_HELD - 1)];
        if (prev->hinted)
            ksd_worker_prefetch_flow(s->w, &prev->hint);
    }
    if (++s->waiting > KSD_POOL_LATE)
        take_oldest(s);
}

/* A frame of a REC_AT record: the frame at that offset of the walked file,
 * where it lies. */
static void frame_at(struct slot *s, uint64_t v)
{
    struct ksd_frame fr;
    if (!s->fcap || ksd_capture_frame_at(s->fcap, (int64_t)(v >> 16), &fr) != 1)
        return; /* cannot be: the capture thread has just read it there */
    fr.src = (uint32_t)(v & 0xffff);
    take_entry(s, &fr, ksd_decode(fr.linktype, fr.data, fr.caplen, &take_slot(s)->pkt));
}

/* REC_AT: its frames in order, each one's frame header fetched
 * KSD_POOL_AT_AHEAD frames before its turn (from the next record too). */
static void frames_at(struct slot *s, const uint8_t *rec, size_t len)
{
    uint64_t v[2 * KSD_POOL_AT_BATCH];
    size_t n = len / sizeof(v[0]), m = n;
    if (n > KSD_POOL_AT_BATCH)
        n = m = KSD_POOL_AT_BATCH; /* cannot be: the producer writes at most that */
    memcpy(v, rec, n * sizeof(v[0]));
    uint32_t t2;
    size_t l2;
    const uint8_t *next = ksd_ring_peek_ahead(&s->ring, ksd_ring_rec_len(len), &t2, &l2);
    if (next && t2 == REC_AT && l2 / sizeof(v[0]) <= KSD_POOL_AT_BATCH) {
        memcpy(v + n, next, l2);
        m += l2 / sizeof(v[0]);
    }
    for (size_t i = 0; i < n; i++) {
        if (s->fcap && i + KSD_POOL_AT_AHEAD < m)
            ksd_capture_prefetch_at(s->fcap, (int64_t)(v[i + KSD_POOL_AT_AHEAD] >> 16));
        frame_at(s, v[i]);
    }
}

static void *worker_main(void *arg)
{
    struct slot *s = arg;
    uint64_t gen = 0, n_at = 0;
    uint32_t type;
    size_t len;
    for (;;) {
        const uint8_t *rec = next_rec(s, &type, &len);
        if (type == REC_AT) {
            frames_at(s, rec, len);
            release_rec(s);
            if ((++n_at & 0x1ff) == 0)
                atomic_store_explicit(&s->flows_now, ksd_worker_flows(s->w), memory_order_relaxed);
            continue;
        }
        take_flush(s); /* a frame held back is processed before anything else */
        if (type == REC_FILE) {
            struct rec_file rf;
            memcpy(&rf, rec, sizeof(rf));
            ksd_capture_close(s->fcap); /* NULL, or a file whose end was not signalled */
            s->fcap = rf.cap;
        } else if (type == REC_FILE_END) {
            ksd_capture_close(s->fcap);
            s->fcap = NULL;
        } else if (type == REC_FRAME) {
            struct rec_frame h;
            struct ksd_pkt pkt;
            memcpy(&h, rec, sizeof(h));
            memcpy(&pkt, rec + sizeof(h), sizeof(pkt));
            struct ksd_frame fr = {
                h.ts_us, h.caplen, h.len, h.linktype, rec + sizeof(h) + sizeof(pkt), h.src, -1};
            rebase(&pkt, h.orig, fr.data, fr.caplen);
            ksd_worker_decoded(s->w, &fr, &pkt, KSD_DEC_OK);
        } else if (type == REC_DGRAM) {
            struct rec_dgram h;
            memcpy(&h, rec, sizeof(h));
            ksd_worker_set_source(s->w, h.src);
            ksd_worker_datagram(s->w, h.ts_us, &h.outer, rec + sizeof(h), h.len);
        } else if (control(s, type, rec, &gen)) {
            release_rec(s);
            break;
        }
        release_rec(s);
        if ((ksd_worker_stats(s->w)->packets & 0xfff) == 0)
            atomic_store_explicit(&s->flows_now, ksd_worker_flows(s->w), memory_order_relaxed);
    }
    ksd_capture_close(s->fcap);
    s->fcap = NULL;
    ksd_worker_finish(s->w);
    atomic_store_explicit(&s->flows_now, 0, memory_order_relaxed);
    note_cpu(s);
    return NULL;
}

/* Room for a record of len bytes, sleeping while the ring is full. */
/* More than the soft limit queued (a walked file: the worker may not lag
 * far behind, since the pages it has still to read stay mapped)? */
static int over_soft(struct slot *s)
{
    if (!s->soft)
        return 0;
    size_t head = s->ring.phead;
    if (head - s->ring.tail_cache <= s->soft)
        return 0;
    s->ring.tail_cache = atomic_load_explicit(&s->ring.tail, memory_order_acquire);
    return head - s->ring.tail_cache > s->soft;
}

static void *reserve(struct slot *s, size_t len)
{
    void *dst;
    /* the soft limit is looked at every 32 records: near it, every look
     * would read the worker's tail from the other core */
    int look = s->soft && (++s->pushes & 31) == 0;
    while ((look && over_soft(s)) || !(dst = ksd_ring_reserve(&s->ring, len))) {
        /* full: the worker must run; sleep until it has made room */
        ksd_ring_publish(&s->ring);
        s->unsignalled = 0;
        wake(&s->wsleep);
        atomic_store_explicit(&s->psleep, 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_seq_cst);
        if (!(look && over_soft(s)) && (dst = ksd_ring_reserve(&s->ring, len))) {
            atomic_store_explicit(&s->psleep, 0, memory_order_relaxed);
            break;
        }
        futex_wait(&s->psleep, 1);
        atomic_store_explicit(&s->psleep, 0, memory_order_relaxed);
    }
    return dst;
}

/* Publish the reserved record; a sleeping worker is woken per batch, or at
 * once for a control record. */
static void commit(struct slot *s, size_t len, uint32_t type)
{
    ksd_ring_commit(&s->ring, len, type);
    int control = type != REC_FRAME && type != REC_DGRAM && type != REC_AT;
    /* published every KSD_POOL_PUBLISH records (a divisor of the wake batch), or at once */
    if (++s->unsignalled % KSD_POOL_PUBLISH == 0 || control)
        ksd_ring_publish(&s->ring);
    if (s->evfd >= 0) { /* after the publish: a fanout worker woken now must find the record */
        uint64_t one = 1;
        if (write(s->evfd, &one, sizeof(one)) < 0)
            one = 0; /* the counter is full: the worker has a wake-up pending anyway */
    }
    if (s->unsignalled >= KSD_POOL_WAKE_BATCH || control) {
        s->unsignalled = 0;
        wake(&s->wsleep);
    }
}

/* The offsets gathered for the next REC_AT record, queued now. */
static void at_flush(struct slot *s)
{
    if (!s->atn)
        return;
    size_t len = s->atn * sizeof(s->atq[0]);
    uint8_t *dst = reserve(s, len);
    memcpy(dst, s->atq, len);
    commit(s, len, REC_AT);
    s->atn = 0;
}

static void push(struct slot *s, uint32_t type, const void *h, size_t hlen, const void *data,
                 size_t dlen)
{
    at_flush(s); /* frames before this record stay before it */
    uint8_t *dst = reserve(s, hlen + dlen);
    if (hlen)
        memcpy(dst, h, hlen);
    if (dlen)
        memcpy(dst + hlen, data, dlen);
    commit(s, hlen + dlen, type);
}

/* A decoded frame: header, the decoded packet and the bytes, in one record. */
static void push_frame(struct slot *s, const struct ksd_frame *fr, const struct ksd_pkt *pkt)
{
    struct rec_frame h = {fr->ts_us, fr->caplen, fr->len, fr->linktype, fr->src, fr->data};
    size_t len = sizeof(h) + sizeof(*pkt) + fr->caplen;
    at_flush(s);
    uint8_t *dst = reserve(s, len);
    memcpy(dst, &h, sizeof(h));
    memcpy(dst + sizeof(h), pkt, sizeof(*pkt));
    memcpy(dst + sizeof(h) + sizeof(*pkt), fr->data, fr->caplen);
    commit(s, len, REC_FRAME);
}

void ksd_pool_kick(struct ksd_pool *p)
{
    for (int i = 1; i < p->n; i++) {
        struct slot *s = &p->slots[i];
        if (s->started)
            at_flush(s); /* offsets gathered for a record not yet full */
        if (s->started && s->unsignalled) {
            ksd_ring_publish(&s->ring);
            s->unsignalled = 0;
            wake(&s->wsleep);
        }
    }
}

void ksd_pool_clock(struct ksd_pool *p, int64_t now_us)
{
    ksd_worker_clock(p->slots[0].w, now_us);
    for (int i = 1; i < p->n; i++)
        if (p->slots[i].started)
            push(&p->slots[i], REC_CLOCK, &now_us, sizeof(now_us), NULL, 0);
}

static struct ksd_pool *pool_make(int workers, const struct ksd_worker_conf *wc,
                                  struct ksd_sink *sink, const struct ksd_lists *lists,
                                  struct ksd_capture *const *caps)
{
    struct ksd_pool *p = ksd_zalloc_lines(sizeof(*p)); /* the slots' lines (struct slot) */
    if (!p)
        return NULL;
    if (workers < 1)
        workers = 1;
    if (workers > KSD_POOL_MAX_WORKERS)
        workers = KSD_POOL_MAX_WORKERS;
    p->n = workers;
    p->ndpi = wc->ndpi;
    set_shares(p, wc->ndpi ? 1 : 0, KSD_POOL_SHARE);
    p->fanout = caps != NULL;
    struct ksd_worker_conf c = *wc;
    if (!c.budget) {
        long mb = c.reassembly_mb > 0 ? c.reassembly_mb : KSD_REASSEMBLY_MB_DEFAULT;
        ksd_budget_init(&p->budget, (uint64_t)(c.max_flows > 0 ? c.max_flows : 1000000),
                        (uint64_t)mb << 20, workers);
        c.budget = &p->budget;
    }
    for (int i = 0; i < workers; i++) {
        struct slot *s = &p->slots[i];
        s->pool = p;
        s->evfd = -1;
        s->cap = caps && i > 0 ? caps[i] : NULL;
        s->lists = *lists;
        s->lists.ndpi_protos = NULL; /* loaded by ksd_worker_new from wc */
        if (!(s->w = ksd_worker_new(&c, sink)))
            goto fail;
        ksd_worker_set_index(s->w, i);
        adopt(s);
    }
    if (workers == 1)
        return p;
    note_agent_ports(p, lists->sigs);
    if (!(p->frag = ksd_ipfrag_new()))
        goto fail;
    /* worker 0 runs in the capture thread; the others get a thread and a
     * ring (with fanout, for control records only, and their own socket) */
    for (int i = 1; i < workers; i++) {
        struct slot *s = &p->slots[i];
        if (ksd_ring_init(&s->ring, p->fanout ? 1u << 16 : KSD_POOL_RING_BYTES) < 0)
            goto fail;
        if (p->fanout && (s->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
            goto fail;
        if (pthread_create(&s->thread, NULL, p->fanout ? fanout_main : worker_main, s) != 0)
            goto fail;
        s->started = 1;
    }
    return p;
fail:
    ksd_pool_finish(p);
    ksd_pool_free(p);
    return NULL;
}

struct ksd_pool *ksd_pool_new(int workers, const struct ksd_worker_conf *wc, struct ksd_sink *sink,
                              const struct ksd_lists *lists)
{
    return pool_make(workers, wc, sink, lists, NULL);
}

struct ksd_pool *ksd_pool_new_fanout(int workers, const struct ksd_worker_conf *wc,
                                     struct ksd_sink *sink, const struct ksd_lists *lists,
                                     struct ksd_capture *const *caps)
{
    return pool_make(workers, wc, sink, lists, caps);
}

static int agent_port(const struct ksd_pool *p, uint8_t proto, uint16_t port)
{
    if (proto != 6 && proto != 17)
        return 0;
    return (p->agent_port[proto == 17][port >> 3] >> (port & 7)) & 1;
}

/* Ports on which the managed host listens (from-server port rules, e.g. KSC's
 * UDP 15000 connection requests), so that the agent's flows meet in one
 * worker with its TCP 13000 flows. */
static void note_agent_ports(struct ksd_pool *p, const struct ksd_sigset *sigs)
{
    memset(p->agent_port, 0, sizeof(p->agent_port));
    size_t n = sigs ? ksd_sig_count(sigs, -1) : 0;
    for (size_t i = 0; i < n; i++) {
        const struct ksd_rule *r = ksd_sig_rule_at(sigs, i);
        if (!r || r->kind != KSD_RULE_PORT || r->dir != KSD_SIG_FROM_SERVER)
            continue;
        for (uint32_t port = r->port_lo; port <= r->port_hi; port++)
            p->agent_port[r->proto == 17][port >> 3] |= (uint8_t)(1u << (port & 7));
    }
}

/* The client of a packet's flow, from the ports alone (same for both directions). */
static uint32_t client_hash(const struct ksd_pool *p, const struct ksd_pkt *k)
{
    size_t alen = k->family == 4 ? 4 : 16;
    int s_svc = ksd_flow_is_service_port(k->proto, k->sport);
    int d_svc = ksd_flow_is_service_port(k->proto, k->dport);
    const uint8_t *a;
    if (agent_port(p, k->proto, k->dport) && !agent_port(p, k->proto, k->sport))
        a = k->dst;
    else if (agent_port(p, k->proto, k->sport) && !agent_port(p, k->proto, k->dport))
        a = k->src;
    else if (d_svc && !s_svc)
        a = k->src;
    else if (s_svc && !d_svc)
        a = k->dst;
    else
        a = memcmp(k->src, k->dst, alen) <= 0 ? k->src : k->dst;
    /* one multiplication, not a byte loop: every frame is hashed here */
    uint64_t x;
    if (alen == 4) {
        uint32_t v;
        memcpy(&v, a, 4);
        x = v;
    } else {
        uint64_t u, v;
        memcpy(&u, a, 8);
        memcpy(&v, a + 8, 8);
        x = u ^ (v * 0x9e3779b97f4a7c15ull);
    }
    x *= 0xff51afd7ed558ccdull;
    return (uint32_t)(x >> 32) ^ (uint32_t)(x >> 7);
}

/*
 * The client hash of a frame of a walked file (ksd_pool_file_begin), from
 * the bytes, without the decoder: most frames belong to another worker and
 * need no more. Only the plain case: Ethernet, IPv4 (no fragment) or IPv6
 * (no extension header) straight to TCP or UDP, on no port the decoder
 * takes for a tunnel (ksd_udp_tunnel), headers captured. There the decoder finds the same addresses
 * and ports, so the hash is client_hash's; anything else returns 0 and is decoded. A frame whose
 * decode then fails is counted by the worker that took it, once.
 */
static int quick_hash(const struct ksd_pool *p, const struct ksd_frame *fr, uint32_t *h)
{
    const uint8_t *b = fr->data;
    size_t n = fr->caplen;
    if (fr->linktype != KSD_DLT_EN10MB || n < 14 + 20 + 4)
        return 0;
    struct ksd_pkt k;
    size_t l4;
    uint16_t et = (uint16_t)(b[12] << 8 | b[13]);
    if (et == 0x0800) {
        const uint8_t *ip = b + 14;
        size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
        if ((ip[0] >> 4) != 4 || ihl < 20 || (ip[6] & 0x3f) || ip[7] || 14 + ihl + 4 > n)
            return 0; /* a fragment (MF or an offset), or short */
        k.family = 4;
        k.proto = ip[9];
        memcpy(k.src, ip + 12, 4);
        memcpy(k.dst, ip + 16, 4);
        l4 = 14 + ihl;
    } else if (et == 0x86dd) {
        const uint8_t *ip = b + 14;
        if ((ip[0] >> 4) != 6 || 14 + 40 + 4 > n)
            return 0;
        k.family = 6;
        k.proto = ip[6];
        memcpy(k.src, ip + 8, 16);
        memcpy(k.dst, ip + 24, 16);
        l4 = 14 + 40;
    } else {
        return 0;
    }
    if (k.proto != 6 && k.proto != 17)
        return 0;
    k.sport = (uint16_t)(b[l4] << 8 | b[l4 + 1]);
    k.dport = (uint16_t)(b[l4 + 2] << 8 | b[l4 + 3]);
    if (k.proto == 17 && ksd_udp_tunnel(k.sport, k.dport))
        return 0;
    *h = client_hash(p, &k);
    return 1;
}

/*
 * The worker of a client hash. Worker 0 runs in the capture thread, which
 * also reads and dispatches every frame, so it takes `own` shares of the
 * hash space and every other worker `share`. Measured with make bench on two
 * cores, when frames are copied into the rings (live without fanout,
 * pcapng, standard input): with nDPI (heavy work per flow) the capture
 * thread does best keeping a quarter of the clients (own 1, share 3);
 * without nDPI its reading and copying alone match a worker's load, and it
 * keeps none. Walked files: ksd_pool_offline_walked.
 */
static uint32_t pick(const struct ksd_pool *p, uint32_t h)
{
    return p->pick_of[(uint64_t)h * p->shares >> 32]; /* h scaled to [0, shares): no division */
}

/* The share table of pick: `own` shares for worker 0, `share` for each other. */
static void set_shares(struct ksd_pool *p, uint32_t own, uint32_t share)
{
    p->own = own;
    p->share = share;
    p->shares = own + share * (uint32_t)(p->n - 1);
    for (uint32_t s = 0; s < p->shares; s++)
        p->pick_of[s] = (uint8_t)(s < own ? 0 : 1 + (s - own) / share);
}

/* A frame of a walked file for another worker: its offset, queued with the
 * next KSD_POOL_AT_BATCH - 1 in one record (9 bytes a frame). */
static void push_at(struct slot *s, const struct ksd_frame *fr)
{
    s->atq[s->atn++] = (uint64_t)fr->at << 16 | (fr->src & 0xffff);
    if (s->atn == KSD_POOL_AT_BATCH)
        at_flush(s);
}

void ksd_pool_packet(struct ksd_pool *p, const struct ksd_frame *fr)
{
    p->packets++;
    p->bytes += fr->len;
    struct ksd_pkt pkt;
    if (p->n == 1 && p->stable && fr->at >= 0) { /* frames libpcap read do not stay */
        take_entry(&p->slots[0], fr,
                   ksd_decode(fr->linktype, fr->data, fr->caplen, &take_slot(&p->slots[0])->pkt));
        return;
    }
    if (p->n == 1 || p->fanout) { /* with fanout the kernel has chosen this worker */
        ksd_worker_packet(p->slots[0].w, fr);
        return;
    }
    uint32_t qh;
    int walked = p->at && fr->at >= 0;
    if (walked && quick_hash(p, fr, &qh)) { /* most frames: no decode for another worker */
        uint32_t k = pick(p, qh);
        if (k == 0)
            take_entry(
                &p->slots[0], fr,
                ksd_decode(fr->linktype, fr->data, fr->caplen, &take_slot(&p->slots[0])->pkt));
        else
            push_at(&p->slots[k], fr);
        return;
    }
    take_flush(&p->slots[0]);
    int rc = ksd_decode(fr->linktype, fr->data, fr->caplen, &pkt);
    if (rc == KSD_DEC_FRAGMENT) {
        const uint8_t *dg;
        size_t dglen;
        p->st.packets++;
        p->st.bytes += fr->len;
        p->st.decode[KSD_DEC_FRAGMENT]++;
        ksd_ipfrag_expire(p->frag, (uint64_t)fr->ts_us);
        if (ksd_ipfrag_add(p->frag, &pkt, (uint64_t)fr->ts_us, &dg, &dglen) != 1)
            return;
        struct ksd_pkt inner = pkt;
        if (ksd_decode_ip(dg, dglen, &inner) != KSD_DEC_OK)
            inner = pkt; /* the worker counts the failure */
        struct rec_dgram h;
        memset(&h, 0, sizeof(h));
        h.ts_us = fr->ts_us;
        h.outer = pkt;
        h.len = (uint32_t)dglen;
        h.src = fr->src;
        uint32_t di = pick(p, client_hash(p, &inner));
        if (di == 0) {
            ksd_worker_set_source(p->slots[0].w, fr->src);
            ksd_worker_datagram(p->slots[0].w, fr->ts_us, &pkt, dg, dglen);
        } else {
            push(&p->slots[di], REC_DGRAM, &h, sizeof(h), dg, dglen);
        }
        return;
    }
    uint32_t idx = rc == KSD_DEC_OK ? pick(p, client_hash(p, &pkt)) : 0;
    if (idx == 0)
        ksd_worker_decoded(p->slots[0].w, fr, &pkt, rc);
    else if (walked)
        push_at(&p->slots[idx], fr); /* that worker decodes it where it lies */
    else
        push_frame(&p->slots[idx], fr, &pkt);
}

/* Measured with make bench on two cores (the cpu: line of --stats): the
 * capture thread walks the file and hashes every frame (about 0.25 s of
 * the 2M-frame mix), the others find their frames by offset and decode
 * them (about 0.05 s); with these shares both threads use about the same
 * CPU time: 3 of 7 with nDPI, 3 of 8 without. */
void ksd_pool_offline_walked(struct ksd_pool *p)
{
    if (p->n == 1 || p->fanout)
        return;
    p->walked = 1;
    if (p->ndpi)
        set_shares(p, 3, 4); /* 3 of 7 with two workers */
    else
        set_shares(p, 3, 5); /* 3 of 8 */
}

void ksd_pool_file_begin(struct ksd_pool *p, struct ksd_capture *c,
                         const struct ksd_capture_opts *co)
{
    struct ksd_capture *own[KSD_POOL_MAX_WORKERS] = {NULL};
    char err[256];
    int i;
    p->at = 0;
    p->stable = ksd_capture_walked(c) && !p->fanout;
    if (!p->walked || !p->stable)
        return;
    for (i = 1; i < p->n; i++)
        if (!(own[i] = ksd_capture_reopen(c, co, err, sizeof(err))) ||
            !ksd_capture_walked(own[i])) {
            ksd_capture_close(own[i]);
            break;
        }
    if (i < p->n) { /* no descriptor or mapping left, say: this file's frames are copied */
        for (int j = 1; j < i; j++)
            ksd_capture_close(own[j]);
        return;
    }
    for (i = 1; i < p->n; i++) {
        struct rec_file rf = {own[i]};
        p->slots[i].soft = KSD_POOL_AT_LAG;
        push(&p->slots[i], REC_FILE, &rf, sizeof(rf), NULL, 0);
    }
    p->at = 1;
}

void ksd_pool_file_end(struct ksd_pool *p)
{
    take_flush(&p->slots[0]);
    for (int i = 1; i < p->n && p->at; i++) {
        push(&p->slots[i], REC_FILE_END, NULL, 0, NULL, 0);
        p->slots[i].soft = 0;
    }
    p->at = 0;
    p->stable = 0;
}

void ksd_pool_set_lists(struct ksd_pool *p, const struct ksd_lists *lists)
{
    take_flush(&p->slots[0]); /* frames read before the reload are processed before it */
    if (p->n == 1) {
        p->slots[0].lists = *lists;
        adopt(&p->slots[0]);
        return;
    }
    p->generation++;
    note_agent_ports(p, lists->sigs);
    p->slots[0].lists = *lists;
    adopt(&p->slots[0]);
    for (int i = 1; i < p->n; i++) {
        struct slot *s = &p->slots[i];
        /* the worker reads s->lists only after this record, which the ring orders */
        s->lists = *lists;
        push(s, REC_LISTS, NULL, 0, NULL, 0);
    }
    for (int i = 1; i < p->n; i++)
        while (atomic_load_explicit(&p->slots[i].adopted, memory_order_acquire) < p->generation)
            nap();
}

void ksd_pool_finish(struct ksd_pool *p)
{
    take_flush(&p->slots[0]);
    /* the end of input first: the other workers finish their queues and
     * flush their flows while worker 0 flushes its own */
    for (int i = 1; i < p->n; i++)
        if (p->slots[i].started)
            push(&p->slots[i], REC_END, NULL, 0, NULL, 0);
    if (p->slots[0].w)
        ksd_worker_finish(p->slots[0].w);
    for (int i = 1; i < p->n; i++) {
        struct slot *s = &p->slots[i];
        if (!s->started)
            continue;
        pthread_join(s->thread, NULL);
        s->started = 0;
    }
    for (int i = 0; i < p->n; i++) /* every worker has drained: a last look */
        if (p->slots[i].w)
            ksd_worker_settle_pending(p->slots[i].w);
}

void ksd_pool_free(struct ksd_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++) {
        ksd_worker_free(p->slots[i].w);
        ksd_ring_destroy(&p->slots[i].ring);
        ksd_capture_close(p->slots[i].cap);
        ksd_capture_close(p->slots[i].fcap);
        if (p->slots[i].evfd >= 0)
            close(p->slots[i].evfd);
    }
    ksd_ipfrag_free(p->frag);
    free(p);
}

int ksd_pool_workers(const struct ksd_pool *p)
{
    return p->n;
}

uint64_t ksd_pool_packets(const struct ksd_pool *p)
{
    uint64_t n = p->packets;
    for (int i = 1; i < p->n && p->fanout; i++)
        n += atomic_load_explicit(&p->slots[i].cap_packets, memory_order_relaxed);
    return n;
}

uint64_t ksd_pool_bytes(const struct ksd_pool *p)
{
    uint64_t n = p->bytes;
    for (int i = 1; i < p->n && p->fanout; i++)
        n += atomic_load_explicit(&p->slots[i].cap_bytes, memory_order_relaxed);
    return n;
}

uint64_t ksd_pool_capture_drops(const struct ksd_pool *p, uint64_t *received)
{
    uint64_t n = 0, r = 0;
    for (int i = 1; i < p->n && p->fanout; i++) {
        n += atomic_load_explicit(&p->slots[i].cap_drops, memory_order_relaxed);
        r += atomic_load_explicit(&p->slots[i].cap_recv, memory_order_relaxed);
    }
    if (received)
        *received = r;
    return n;
}

uint64_t ksd_pool_flows(const struct ksd_pool *p)
{
    if (p->n == 1)
        return ksd_worker_flows(p->slots[0].w);
    uint64_t n = ksd_worker_flows(p->slots[0].w);
    for (int i = 1; i < p->n; i++)
        n += atomic_load_explicit(&p->slots[i].flows_now, memory_order_relaxed);
    return n;
}

void ksd_pool_print_stats(struct ksd_pool *p, FILE *out)
{
    struct ksd_worker *ws[KSD_POOL_MAX_WORKERS];
    for (int i = 0; i < p->n; i++)
        ws[i] = p->slots[i].w;
    ksd_workers_print_stats(ws, p->n, p->n > 1 ? &p->st : NULL,
                            p->frag ? ksd_ipfrag_stats(p->frag) : NULL, out);
    /* called by the capture thread: its own time is read now, the workers'
     * as they last noted it (at the end, or at a clock tick when live) */
    p->slots[0].cpu_ns = thread_cpu_ns();
    fprintf(out, "cpu:");
    for (int i = 0; i < p->n; i++)
        fprintf(out, "%s worker %d%s %.3f s %llu packets", i ? "," : "", i,
                i ? "" : " (capture thread)",
                (double)atomic_load_explicit(&p->slots[i].cpu_ns, memory_order_relaxed) / 1e9,
                (unsigned long long)ksd_worker_stats(p->slots[i].w)->packets);
    fprintf(out, "\n");
}

void ksd_pool_hosts_each(struct ksd_pool *p, const struct ksd_corr_host_visit *v)
{
    struct ksd_worker *ws[KSD_POOL_MAX_WORKERS];
    for (int i = 0; i < p->n; i++)
        ws[i] = p->slots[i].w;
    ksd_workers_hosts_each(ws, p->n, v);
}
