/*
 * capture.c - libpcap sources. Files are opened with microsecond timestamp
 * precision (nanosecond pcaps are converted by libpcap), any link type that
 * libpcap reads is passed through (the decoder decides what it knows). Live
 * capture uses immediate mode, a large kernel buffer and a non-blocking
 * handle: ksd_capture_next says "nothing now" and the caller, after its own
 * work (waking workers, timers), sleeps in poll(2) on libpcap's selectable
 * descriptor (ksd_capture_wait) until a packet, its timer or a signal,
 * after a 250 us pause when frames came since its last wait (a batch per
 * wake-up on a busy link). No thread spins on an idle link.
 *
 * Offline inputs: a directory stands for the capture files below it, found
 * by their magic number (pcap in either byte order and timestamp precision,
 * pcapng), in byte order of names, so a run is reproducible. Compressed
 * captures are not opened here (libpcap reads none): the message names the
 * pipe to use (`zcat F | ksd -r -`). A read error that lands on a pcap file
 * header is reported as what it is, captures concatenated with cat, with its
 * byte offset. It does not log: reasons go back to the caller.
 */
#include "sensor/path/capture.h"

#include <dirent.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct fmap;

struct ksd_capture {
    pcap_t *p;       /* libpcap handle */
    int live;        /* 1 for an interface */
    int fd;          /* live: pcap_get_selectable_fd, or -1 */
    uint64_t frames; /* frames returned */
    uint64_t waited; /* live: frames when ksd_capture_wait last returned */
    uint64_t size;   /* file size in bytes, 0 when unknown */
    FILE *fp;        /* the file libpcap reads (not owned: pcap_close closes it) */
    int linktype;    /* pcap_datalink, kept */
    /* the mapped walk (map_on): records from fm, this reader's slot in it */
    int map_on;
    int map_swapped;   /* the file's byte order is not ours */
    int map_ns;        /* nanosecond timestamps */
    uint32_t map_snap; /* the header's snapshot length as libpcap took it */
    uint64_t map_pos;  /* file offset of the next record */
    int map_far;       /* the mapping has other readers: prefetch far ahead (map_next) */
    uint64_t pf_pos;   /* prefetched up to here */
    struct fmap *fm;   /* NULL when the file is not walked */
    int slot;
    uint64_t chunk;          /* the chunk map_pos was in when last published */
    struct bpf_program prog; /* the filter for pcap_offline_filter (has_prog) */
    int has_prog;
    char err[PCAP_ERRBUF_SIZE + 512]; /* the last error, with advice where there is some */
};

static int apply_filter(struct ksd_capture *c, const char *filter, char *err, size_t errlen)
{
    struct bpf_program prog;
    if (!filter || !*filter)
        return 0;
    if (pcap_compile(c->p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
        snprintf(err, errlen, "bad filter '%s': %s", filter, pcap_geterr(c->p));
        return -1;
    }
    if (pcap_setfilter(c->p, &prog) < 0) {
        snprintf(err, errlen, "cannot set filter: %s", pcap_geterr(c->p));
        pcap_freecode(&prog);
        return -1;
    }
    if (c->live) {
        pcap_freecode(&prog);
        return 0;
    }
    c->prog = prog; /* the mapped walk filters with it (pcap_offline_filter) */
    c->has_prog = 1;
    return 0;
}

/* Is b (n >= 4 bytes) the magic number of a pcap file header (any byte order, us or ns)? */
static int pcap_magic(const uint8_t *b)
{
    static const uint8_t m[][4] = {{0xd4, 0xc3, 0xb2, 0xa1}, {0xa1, 0xb2, 0xc3, 0xd4},
                                   {0x4d, 0x3c, 0xb2, 0xa1}, {0xa1, 0xb2, 0x3c, 0x4d},
                                   {0x34, 0xcd, 0xb2, 0xa1}, {0xa1, 0xb2, 0xcd, 0x34}};
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
        if (memcmp(b, m[i], 4) == 0)
            return 1;
    return 0;
}

/* NULL when the first n bytes start a pcap or pcapng file, else why it is not one. */
static const char *not_capture(const uint8_t *b, size_t n)
{
    static const struct {
        uint8_t len, m[6];
        const char *why;
    } packed[] = {
        {2, {0x1f, 0x8b}, "compressed (gzip): read it through a pipe: zcat FILE | ksd -r -"},
        {6,
         {0xfd, '7', 'z', 'X', 'Z', 0},
         "compressed (xz): read it through a pipe: xzcat FILE | ksd -r -"},
        {4,
         {0x28, 0xb5, 0x2f, 0xfd},
         "compressed (zstd): read it through a pipe: zstdcat FILE | ksd -r -"},
        {3, {'B', 'Z', 'h'}, "compressed (bzip2): read it through a pipe: bzcat FILE | ksd -r -"},
        {4,
         {0x04, 0x22, 0x4d, 0x18},
         "compressed (lz4): read it through a pipe: lz4cat FILE | ksd -r -"},
        {4, {'P', 'K', 3, 4}, "a zip archive: unpack it first"},
    };
    static const uint8_t ng[4] = {0x0a, 0x0d, 0x0d, 0x0a};
    if (n == 0)
        return "empty file";
    if (n >= 4 && (pcap_magic(b) || memcmp(b, ng, 4) == 0))
        return NULL;
    for (size_t i = 0; i < sizeof(packed) / sizeof(packed[0]); i++)
        if (n >= packed[i].len && memcmp(b, packed[i].m, packed[i].len) == 0)
            return packed[i].why;
    return "not a pcap or pcapng file";
}

/* The first bytes of the file at path; -1 and errno when it cannot be read. */
static ssize_t head_of(const char *path, uint8_t *b, size_t n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -1;
    size_t got = fread(b, 1, n, fp);
    int bad = ferror(fp);
    fclose(fp);
    if (bad) {
        errno = EIO;
        return -1;
    }
    return (ssize_t)got;
}

/*
 * Take the mapped walk for a classic pcap file whose header libpcap has just
 * read: version 2.4, the usual magic numbers, a regular file. Anything else
 * (pcapng, standard input, old or modified formats) stays with libpcap.
 * KSD_CAPTURE_READER=libpcap in the environment keeps every file with
 * libpcap (a fallback, and how the tests compare the two readers).
 */
static int reader_libpcap(void)
{
    const char *rd = getenv("KSD_CAPTURE_READER");
    return rd && strcmp(rd, "libpcap") == 0;
}

/* Does the 24-byte file header h start a classic pcap 2.4 file the walk takes? */
static int walkable(const uint8_t *h)
{
    static const uint8_t m[][4] = {{0xd4, 0xc3, 0xb2, 0xa1},
                                   {0xa1, 0xb2, 0xc3, 0xd4},
                                   {0x4d, 0x3c, 0xb2, 0xa1},
                                   {0xa1, 0xb2, 0x3c, 0x4d}};
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        if (memcmp(h, m[i], 4) != 0)
            continue;
        int le = h[0] != 0xa1;
        uint16_t major = le ? (uint16_t)(h[4] | h[5] << 8) : (uint16_t)(h[4] << 8 | h[5]);
        uint16_t minor = le ? (uint16_t)(h[6] | h[7] << 8) : (uint16_t)(h[6] << 8 | h[7]);
        return major == 2 && minor == 4;
    }
    return 0;
}

int ksd_capture_file_walkable(const char *path)
{
    uint8_t h[24];
    struct stat sb;
    if (reader_libpcap() || strcmp(path, "-") == 0 || stat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
        return 0;
    return head_of(path, h, sizeof(h)) == (ssize_t)sizeof(h) && walkable(h);
}

struct fmap;
static struct ksd_capture *open_file(const char *path, const struct ksd_capture_opts *o, char *err,
                                     size_t errlen, struct fmap *share);

int ksd_capture_walked(const struct ksd_capture *c)
{
    return c->map_on;
}

struct ksd_capture *ksd_capture_reopen(const struct ksd_capture *c,
                                       const struct ksd_capture_opts *o, char *err, size_t errlen)
{
    char path[64];
    if (c->live || !c->fp || c->fp == stdin) {
        snprintf(err, errlen, "not a capture file");
        return NULL;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fileno(c->fp));
    return open_file(path, o, err, errlen, c->fm);
}

/* ---- the mapped walk ---- */

/* One read-only mapping of a whole file, shared by every handle that reads
 * it (ksd_capture_reopen: the workers of a pool), so each page is mapped
 * and dropped once, not once per reader. Readers publish their offsets; the
 * pages every reader has passed are dropped from the mapping (the resident
 * size stays a few chunks, whatever the file's size), pages just ahead of
 * the first reader are mapped in one call. How far the readers may drift
 * apart is the pool's to bound (pool.c, KSD_POOL_AT_LAG). */
#define KSD_MAP_CHUNK_SHIFT 20 /* 1 MiB: mapped ahead / dropped behind at once */
#define KSD_MAP_CHUNK       ((uint64_t)1 << KSD_MAP_CHUNK_SHIFT)
#define KSD_MAP_READERS     64
/* With other readers (the workers of a pool), the reader that walks the
 * file hands most frames on untouched, so the walk has little work to hide
 * its memory reads behind: the file is prefetched this far ahead of it, a
 * step at a time (two workers, no nDPI, four interleaved comparisons on a
 * noisy 2-core machine: 4% to 11% less wall time in three, 3% more in one;
 * with one worker it made no difference and stays off). */
#define KSD_MAP_AHEAD      (64u << 10)
#define KSD_MAP_AHEAD_STEP (2u << 10)
#define KSD_MAP_GONE       UINT64_MAX

struct fmap {
    const uint8_t *base;
    uint64_t size;                         /* bytes mapped */
    _Atomic uint64_t ready;                /* mapped in below this offset */
    _Atomic uint64_t dropped;              /* dropped below this offset */
    _Atomic uint64_t pos[KSD_MAP_READERS]; /* each reader's offset, KSD_MAP_GONE once done */
    _Atomic int readers;                   /* slots handed out */
    _Atomic int refs;
};

static struct fmap *fmap_new(int fd, uint64_t size)
{
    struct fmap *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    void *b = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (b == MAP_FAILED) {
        free(m);
        return NULL;
    }
    (void)madvise(b, size, MADV_SEQUENTIAL);
    m->base = b;
    m->size = size;
    atomic_store(&m->readers, 1);
    atomic_store(&m->refs, 1);
    return m;
}

/* A new reader of m, from the start; its slot, or -1 when all are taken. */
static int fmap_join(struct fmap *m)
{
    int slot = atomic_fetch_add(&m->readers, 1);
    if (slot >= KSD_MAP_READERS) {
        atomic_fetch_sub(&m->readers, 1);
        return -1;
    }
    atomic_store(&m->pos[slot], 0);
    atomic_fetch_add(&m->refs, 1);
    return slot;
}

static void fmap_leave(struct fmap *m, int slot)
{
    atomic_store(&m->pos[slot], KSD_MAP_GONE);
    if (atomic_fetch_sub(&m->refs, 1) == 1) {
        munmap((void *)m->base, m->size);
        free(m);
    }
}

static uint64_t fmap_slowest(struct fmap *m)
{
    uint64_t lo = KSD_MAP_GONE;
    int n = atomic_load(&m->readers);
    for (int i = 0; i < n && i < KSD_MAP_READERS; i++) {
        uint64_t v = atomic_load_explicit(&m->pos[i], memory_order_relaxed);
        lo = v < lo ? v : lo;
    }
    return lo;
}

/* A reader has entered another chunk at pos: publish it, drop what all
 * readers have passed, and map in what lies ahead. */
static void fmap_advance(struct fmap *m, int slot, uint64_t pos)
{
    atomic_store_explicit(&m->pos[slot], pos, memory_order_relaxed);
    uint64_t lo = fmap_slowest(m);
    /* one chunk is kept behind the slowest reader: a frame read just before
     * it may still be in use (the pool processes each frame two frames late),
     * and a page touched after its drop would stay mapped for good */
    uint64_t to = lo & ~(KSD_MAP_CHUNK - 1), d = atomic_load(&m->dropped);
    to = to >= KSD_MAP_CHUNK ? to - KSD_MAP_CHUNK : 0;
    /* with several readers (threads on other cores) a drop costs each of
     * them a TLB shootdown: drop 8 chunks at once then, not one */
    uint64_t batch = atomic_load_explicit(&m->readers, memory_order_relaxed) > 1 ? 8 : 1;
    if (to >= d + batch * KSD_MAP_CHUNK && atomic_compare_exchange_strong(&m->dropped, &d, to))
        (void)madvise((void *)(m->base + d), to - d, MADV_DONTNEED);
    uint64_t want = (pos & ~(KSD_MAP_CHUNK - 1)) + 2 * KSD_MAP_CHUNK;
    want = want < m->size ? want : m->size;
    uint64_t r = atomic_load(&m->ready);
    if (want > r && atomic_compare_exchange_strong(&m->ready, &r, want)) {
#ifdef MADV_POPULATE_READ
        (void)madvise((void *)(m->base + (r & ~(KSD_MAP_CHUNK - 1))),
                      want - (r & ~(KSD_MAP_CHUNK - 1)), MADV_POPULATE_READ);
#endif
    }
}

static void map_start(struct ksd_capture *c, struct fmap *share)
{
    uint8_t h[24];
    if (reader_libpcap() || c->fp == stdin || c->size < 24 ||
        pread(fileno(c->fp), h, sizeof(h), 0) != (ssize_t)sizeof(h) || !walkable(h))
        return;
    int le = h[0] != 0xa1;
    uint16_t one = 1;
    int host_le = *(const uint8_t *)&one == 1;
    c->map_swapped = le != host_le;
    c->map_ns = h[le ? 1 : 2] == 0x3c;
    if (pcap_major_version(c->p) != 2 || pcap_minor_version(c->p) != 4)
        return;
    int snap = pcap_snapshot(c->p);
    if (snap <= 0)
        return;
    if (share && share->size == c->size && (c->slot = fmap_join(share)) >= 0) {
        c->fm = share;
    } else {
        if (!(c->fm = fmap_new(fileno(c->fp), c->size)))
            return;
        c->slot = 0;
    }
    c->map_snap = (uint32_t)snap;
    c->map_pos = 24;
    c->chunk = UINT64_MAX;
    c->map_on = 1;
}

/* Entering another chunk: the shared mapping's bookkeeping, and a look at
 * the file's size (a file cut short under the walk is then read by libpcap,
 * which says so, rather than touching pages past its end). */
static void map_chunk(struct ksd_capture *c, uint64_t pos)
{
    struct stat sb;
    c->chunk = pos >> KSD_MAP_CHUNK_SHIFT;
    if (fstat(fileno(c->fp), &sb) == 0 && (uint64_t)sb.st_size < c->size)
        c->size = (uint64_t)sb.st_size;
    fmap_advance(c->fm, c->slot, pos);
    c->map_far = atomic_load_explicit(&c->fm->readers, memory_order_relaxed) > 1;
}

/* The next step of the file past KSD_MAP_AHEAD, asked for into the cache
 * (a prefetch past the end of the file does not fault). */
static void map_ahead(struct ksd_capture *c)
{
    uint64_t end = c->map_pos + KSD_MAP_AHEAD + KSD_MAP_AHEAD_STEP;
    uint64_t q = c->map_pos + KSD_MAP_AHEAD;
    if (c->pf_pos > q)
        q = c->pf_pos;
    if (end > c->size)
        end = c->size;
    for (q &= ~(uint64_t)63; q < end; q += 64)
        __builtin_prefetch(c->fm->base + q, 0, 2);
    c->pf_pos = end;
}

static uint32_t rd32(const uint8_t *p, int swapped)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return swapped ? __builtin_bswap32(v) : v;
}

/* The record at pos of the mapping into *f, if the walk takes it: the whole
 * record inside the file, no longer than the snapshot length. 1, or 0. */
static int map_record(const struct ksd_capture *c, uint64_t pos, struct ksd_frame *f)
{
    if (pos + 16 > c->size)
        return 0;
    const uint8_t *r = c->fm->base + pos;
    uint32_t caplen = rd32(r + 8, c->map_swapped);
    if (caplen > c->map_snap || pos + 16 + caplen > c->size)
        return 0;
    uint32_t frac = rd32(r + 4, c->map_swapped);
    f->ts_us = (int64_t)rd32(r, c->map_swapped) * 1000000 + (c->map_ns ? frac / 1000 : frac);
    f->caplen = caplen;
    f->len = rd32(r + 12, c->map_swapped);
    f->data = r + 16;
    f->linktype = c->linktype;
    f->at = (int64_t)pos;
    return 1;
}

/*
 * The next record by the mapped walk: 1 (a frame), 0 (end of file) or 3
 * (libpcap is to read the record at map_pos: the walk does not take it).
 */
static int map_next(struct ksd_capture *c, struct ksd_frame *f)
{
    for (;;) {
        uint64_t pos = c->map_pos;
        if ((pos >> KSD_MAP_CHUNK_SHIFT) != c->chunk)
            map_chunk(c, pos);
        if (pos == c->size)
            return 0;
        if (!map_record(c, pos, f))
            return 3;
        c->map_pos = pos + 16 + f->caplen;
        /* the next record's header and the frame headers after it: fetched
         * while this frame is processed, not when it is asked for (a
         * prefetch past the end of the file does not fault) */
        __builtin_prefetch(f->data + f->caplen);
        __builtin_prefetch(f->data + f->caplen + 64);
        if (c->map_far && c->pf_pos < c->map_pos + KSD_MAP_AHEAD)
            map_ahead(c);
        if (c->has_prog) {
            struct pcap_pkthdr ph;
            memset(&ph, 0, sizeof(ph));
            ph.caplen = f->caplen;
            ph.len = f->len;
            if (!pcap_offline_filter(&c->prog, &ph, f->data))
                continue;
        }
        c->frames++;
        return 1;
    }
}

static struct ksd_capture *open_file(const char *path, const struct ksd_capture_opts *o, char *err,
                                     size_t errlen, struct fmap *share)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    struct ksd_capture *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    FILE *fp;
    if (strcmp(path, "-") == 0) {
        fp = stdin;
    } else {
        fp = fopen(path, "rb");
        if (!fp) {
            snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
            free(c);
            return NULL;
        }
        struct stat sb;
        if (fstat(fileno(fp), &sb) == 0 && S_ISREG(sb.st_mode))
            c->size = (uint64_t)sb.st_size;
    }
    c->p = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
    if (!c->p) {
        uint8_t b[8];
        ssize_t n = fp != stdin ? head_of(path, b, sizeof(b)) : -1;
        const char *why = n >= 0 ? not_capture(b, (size_t)n) : NULL;
        if (why)
            snprintf(err, errlen, "%s: not a readable capture file: %s", path, why);
        else
            snprintf(err, errlen, "%s: not a readable capture file: %s", path, ebuf);
        if (fp != stdin)
            fclose(fp);
        free(c);
        return NULL;
    }
    c->fp = fp;
    c->linktype = pcap_datalink(c->p);
    if (apply_filter(c, o ? o->filter : NULL, err, errlen) < 0) {
        ksd_capture_close(c);
        return NULL;
    }
    map_start(c, share);
    return c;
}

struct ksd_capture *ksd_capture_open_file(const char *path, const struct ksd_capture_opts *o,
                                          char *err, size_t errlen)
{
    return open_file(path, o, err, errlen, NULL);
}

void ksd_capture_prefetch_at(const struct ksd_capture *c, int64_t at)
{
    if (c->fm && at >= 24 && (uint64_t)at + 80 <= c->size) {
        __builtin_prefetch(c->fm->base + at);
        __builtin_prefetch(c->fm->base + at + 64);
    }
}

int ksd_capture_frame_at(struct ksd_capture *c, int64_t at, struct ksd_frame *f)
{
    if (!c->fm || at < 24)
        return 0;
    uint64_t pos = (uint64_t)at;
    if (pos + 16 > c->size)
        return 0;
    if ((pos >> KSD_MAP_CHUNK_SHIFT) != c->chunk) { /* publish: the pages behind may go */
        c->chunk = pos >> KSD_MAP_CHUNK_SHIFT;
        fmap_advance(c->fm, c->slot, pos);
    }
    f->src = 0;
    return map_record(c, pos, f);
}

struct ksd_capture *ksd_capture_open_live(const char *iface, const struct ksd_capture_opts *o,
                                          char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    struct ksd_capture *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->live = 1;
    c->p = pcap_create(iface, ebuf);
    if (!c->p) {
        snprintf(err, errlen, "%s: %s", iface, ebuf);
        free(c);
        return NULL;
    }
    int snaplen = o && o->snaplen > 0 ? o->snaplen : 262144;
    int bufmb = o && o->buffer_mb > 0 ? o->buffer_mb : 64;
    pcap_set_snaplen(c->p, snaplen);
    pcap_set_promisc(c->p, o ? o->promisc : 1);
    pcap_set_immediate_mode(c->p, 1);
    pcap_set_buffer_size(c->p, bufmb * 1024 * 1024);
    pcap_set_timeout(c->p, 100);
    int rc = pcap_activate(c->p);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", iface,
                 rc == PCAP_ERROR ? pcap_geterr(c->p) : pcap_statustostr(rc));
        pcap_close(c->p);
        free(c);
        return NULL;
    }
    if (apply_filter(c, o ? o->filter : NULL, err, errlen) < 0) {
        ksd_capture_close(c);
        return NULL;
    }
    c->linktype = pcap_datalink(c->p);
    c->fd = pcap_get_selectable_fd(c->p);
    if (c->fd >= 0 && pcap_setnonblock(c->p, 1, ebuf) < 0) {
        snprintf(err, errlen, "%s: cannot make the capture non-blocking: %s", iface, ebuf);
        ksd_capture_close(c);
        return NULL;
    }
    return c;
}

/*
 * After a read error on a pcap file: libpcap has just read a 16-byte record
 * header whose length made no sense. When it (or the empty record before it)
 * is a pcap file header, the file is several captures joined with cat; say
 * so, with the offset.
 */
static void concatenated(struct ksd_capture *c)
{
    if (!c->fp || c->fp == stdin || pcap_file(c->p) == NULL)
        return;
    long end = ftell(c->fp), off = -1;
    uint8_t b[4];
    /* the 24-byte file header read as records: a 16-byte header with caplen 0
     * (thiszone, sigfigs), then snaplen, linktype and the first timestamp as
     * the next record header, whose length is refused */
    for (long back = 32; back >= 16 && off < 0; back -= 16)
        if (end >= back && pread(fileno(c->fp), b, sizeof(b), end - back) == (ssize_t)sizeof(b) &&
            pcap_magic(b))
            off = end - back;
    if (off < 0)
        return;
    snprintf(c->err, sizeof(c->err),
             "a second pcap file header at byte offset %ld: this file is several captures "
             "concatenated (cat a.pcap b.pcap); what comes before was read. Split it (head -c %ld "
             "FILE >first.pcap; tail -c +%ld FILE >rest.pcap) and give both files to ksd, or "
             "join captures with mergecap -w merged.pcap a.pcap b.pcap",
             off, off, off + 1);
}

/*
 * Waking up costs several microseconds (poll, two context switches), and in
 * immediate mode the kernel wakes the reader for every frame it finds
 * waiting: on a link busy enough to keep ksd up but not behind, each
 * wake-up found a frame or two. At 100,000 frames/s one worker spent 3.7 us
 * of CPU a frame, most of it waking up (`make bench-live` with
 * BENCH_LIVE_REPLAY=--pps=100000). So a reader that read frames since its
 * last wait first lets KSD_LIVE_GATHER_US pass, then polls: the next wake-up
 * finds a batch. A quiet link (no frame since the last wait) is polled at
 * once, so idle CPU and the first frame's delay do not change; an event
 * comes at most KSD_LIVE_GATHER_US later. The kernel ring holds the frames
 * meanwhile: at a million frames/s, 250 of them.
 */
#define KSD_LIVE_GATHER_US 250

int ksd_capture_wait(struct ksd_capture *c, int other_fd, int timeout_ms)
{
    if (!c->live)
        return 1;
    if (c->fd < 0) {
        /* no selectable descriptor: the blocking read's own timeout paces the caller */
        return 1;
    }
    int busy = c->frames != c->waited;
    c->waited = c->frames;
    if (busy && timeout_ms > 0) {
        struct timespec gather = {0, KSD_LIVE_GATHER_US * 1000L};
        if (nanosleep(&gather, NULL) < 0)
            return 1; /* a signal: the caller looks at it before sleeping again */
    }
    struct pollfd pfd[2] = {{c->fd, POLLIN, 0}, {other_fd, POLLIN, 0}};
    int rc = poll(pfd, other_fd >= 0 ? 2 : 1, timeout_ms);
    if (rc < 0 && errno != EINTR) {
        snprintf(c->err, sizeof(c->err), "poll: %s", strerror(errno));
        return -1;
    }
    return rc > 0;
}

/*
 * The fanout program (classic BPF, run by the kernel on every packet before
 * it picks a socket; the socket is the result modulo the group size). It
 * hashes the client address of an IPv4 TCP or UDP packet, the same for both
 * directions: the side on an agent port (where the managed host listens,
 * e.g. KSC's UDP 15000), else the side with the higher port (the ephemeral
 * one); equal ports and other IPv4 packets hash the XOR of the addresses;
 * anything else goes to socket 0. So every flow of one client meets in one
 * worker (DNS-learned addresses, suppression, host records and port
 * prerequisites stay per worker), as the pool's own dispatch does. Offsets
 * are relative to the network header (SKF_NET_OFF): any link layer.
 */
#define KSD_NET              (-0x100000)   /* SKF_NET_OFF */
#define KSD_AD_PROTO         (-0x1000 + 0) /* SKF_AD_OFF + SKF_AD_PROTOCOL */
#define KSD_FANOUT_MAX_INSNS (40 + 2 * KSD_CAPTURE_MAX_AGENT_PORTS)

enum { L_SRC = 1, L_DST, L_PAIR, L_HASH, L_RET0 }; /* jump targets, resolved below */

struct prog {
    struct bpf_insn in[KSD_FANOUT_MAX_INSNS];
    int jt[KSD_FANOUT_MAX_INSNS], jf[KSD_FANOUT_MAX_INSNS]; /* label or 0 = next */
    int label[L_RET0 + 1];
    int n;
};

static void op(struct prog *p, uint16_t code, uint32_t k, int jt, int jf)
{
    struct bpf_insn i = {code, 0, 0, k};
    p->in[p->n] = i;
    p->jt[p->n] = jt;
    p->jf[p->n] = jf;
    p->n++;
}

static void fanout_program(struct prog *p, const uint16_t *agent, int n_agent)
{
    memset(p, 0, sizeof(*p));
    op(p, BPF_LD | BPF_W | BPF_ABS, (uint32_t)KSD_AD_PROTO, 0, 0);
    op(p, BPF_JMP | BPF_JEQ | BPF_K, 0x0800, 0, L_RET0);
    op(p, BPF_LD | BPF_B | BPF_ABS, (uint32_t)(KSD_NET + 9), 0, 0);
    op(p, BPF_JMP | BPF_JEQ | BPF_K, 6, -1, 0); /* -1: the instruction after the next */
    op(p, BPF_JMP | BPF_JEQ | BPF_K, 17, 0, L_PAIR);
    op(p, BPF_LDX | BPF_B | BPF_MSH, (uint32_t)KSD_NET, 0, 0);
    op(p, BPF_LD | BPF_H | BPF_IND, (uint32_t)KSD_NET, 0, 0); /* source port */
    op(p, BPF_ST, 0, 0, 0);
    op(p, BPF_LD | BPF_H | BPF_IND, (uint32_t)(KSD_NET + 2), 0, 0); /* destination port */
    op(p, BPF_ST, 1, 0, 0);
    for (int i = 0; i < n_agent; i++)
        op(p, BPF_JMP | BPF_JEQ | BPF_K, agent[i], L_DST, 0);
    op(p, BPF_LD | BPF_W | BPF_MEM, 0, 0, 0);
    for (int i = 0; i < n_agent; i++)
        op(p, BPF_JMP | BPF_JEQ | BPF_K, agent[i], L_SRC, 0);
    op(p, BPF_LD | BPF_W | BPF_MEM, 1, 0, 0);
    op(p, BPF_LDX | BPF_W | BPF_MEM, 0, 0, 0);
    op(p, BPF_JMP | BPF_JGT | BPF_X, 0, L_DST, 0);
    op(p, BPF_JMP | BPF_JEQ | BPF_X, 0, L_PAIR, L_SRC);
    p->label[L_SRC] = p->n;
    op(p, BPF_LD | BPF_W | BPF_ABS, (uint32_t)(KSD_NET + 12), 0, 0);
    op(p, BPF_JMP | BPF_JA, 0, L_HASH, 0);
    p->label[L_DST] = p->n;
    op(p, BPF_LD | BPF_W | BPF_ABS, (uint32_t)(KSD_NET + 16), 0, 0);
    op(p, BPF_JMP | BPF_JA, 0, L_HASH, 0);
    p->label[L_PAIR] = p->n;
    op(p, BPF_LD | BPF_W | BPF_ABS, (uint32_t)(KSD_NET + 12), 0, 0);
    op(p, BPF_MISC | BPF_TAX, 0, 0, 0);
    op(p, BPF_LD | BPF_W | BPF_ABS, (uint32_t)(KSD_NET + 16), 0, 0);
    op(p, BPF_ALU | BPF_XOR | BPF_X, 0, 0, 0);
    p->label[L_HASH] = p->n;
    op(p, BPF_ALU | BPF_MUL | BPF_K, 0x9e3779b1u, 0, 0);
    op(p, BPF_ALU | BPF_RSH | BPF_K, 16, 0, 0);
    op(p, BPF_RET | BPF_A, 0, 0, 0);
    p->label[L_RET0] = p->n;
    op(p, BPF_RET | BPF_K, 0, 0, 0);
    /* labels to relative offsets: jt/jf of conditional jumps, k of BPF_JA */
    for (int i = 0; i < p->n; i++) {
        int t = p->jt[i] == -1 ? i + 2 : p->jt[i] ? p->label[p->jt[i]] : i + 1;
        int f = p->jf[i] ? p->label[p->jf[i]] : i + 1;
        if (p->in[i].code == (BPF_JMP | BPF_JA))
            p->in[i].k = (uint32_t)(t - i - 1);
        else if (BPF_CLASS(p->in[i].code) == BPF_JMP) {
            p->in[i].jt = (u_char)(t - i - 1);
            p->in[i].jf = (u_char)(f - i - 1);
        }
    }
}

int ksd_capture_fanout(struct ksd_capture *c, int group, const uint16_t *agent_ports, int n_agent,
                       char *err, size_t errlen)
{
    struct prog prog;
    if (n_agent > KSD_CAPTURE_MAX_AGENT_PORTS)
        n_agent = KSD_CAPTURE_MAX_AGENT_PORTS;
    fanout_program(&prog, agent_ports, n_agent);
    /* struct sock_fprog: the length, then the instructions (pcap's bpf_insn
     * has the kernel's sock_filter layout) */
    struct {
        unsigned short len;
        const struct bpf_insn *filter;
    } fprog = {(unsigned short)prog.n, prog.in};
    int fd = pcap_fileno(c->p);
    uint32_t mode = PACKET_FANOUT_CBPF | PACKET_FANOUT_FLAG_DEFRAG;
    uint32_t val = ((uint32_t)group & 0xffffu) | (mode << 16);
    if (!c->live || fd < 0) {
        snprintf(err, errlen, "not a live capture");
        return -1;
    }
    if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &val, sizeof(val)) < 0 ||
        setsockopt(fd, SOL_PACKET, PACKET_FANOUT_DATA, &fprog, sizeof(fprog)) < 0) {
        snprintf(err, errlen, "PACKET_FANOUT: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int ksd_capture_next(struct ksd_capture *c, struct ksd_frame *f)
{
    struct pcap_pkthdr *h;
    const u_char *data;
    if (c->map_on) {
        int m = map_next(c, f);
        if (m != 3)
            return m;
        /* this record is libpcap's: from its offset, then back to the walk */
        if (fseeko(c->fp, (off_t)c->map_pos, SEEK_SET) != 0) {
            snprintf(c->err, sizeof(c->err), "seek: %s", strerror(errno));
            return -1;
        }
        c->map_on = 0;
    }
    int rc = pcap_next_ex(c->p, &h, &data);
    if (rc == 1) {
        f->ts_us = (int64_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec;
        f->caplen = h->caplen;
        f->len = h->len;
        f->data = data;
        f->linktype = c->linktype;
        f->at = -1;
        c->frames++;
        if (c->map_pos) { /* a record the walk left to libpcap: the walk goes on after it */
            off_t at = ftello(c->fp);
            if (at > 0) {
                c->map_pos = (uint64_t)at;
                c->map_on = 1;
            }
        }
        return 1;
    }
    if (rc == 0)
        return 2; /* live timeout */
    if (rc == PCAP_ERROR_BREAK)
        return 0;
    snprintf(c->err, sizeof(c->err), "%s", pcap_geterr(c->p));
    if (!c->live)
        concatenated(c); /* what was read before the error counts */
    return -1;
}

const char *ksd_capture_error(const struct ksd_capture *c)
{
    return c->err;
}

void ksd_capture_break(struct ksd_capture *c)
{
    if (c && c->p)
        pcap_breakloop(c->p);
}

int ksd_capture_stats(struct ksd_capture *c, struct ksd_capture_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (!c->live) {
        st->received = c->frames;
        return 0;
    }
    struct pcap_stat ps;
    if (pcap_stats(c->p, &ps) < 0)
        return -1;
    st->received = ps.ps_recv;
    st->dropped = ps.ps_drop;
    st->ifdropped = ps.ps_ifdrop;
    return 0;
}

uint64_t ksd_capture_size(const struct ksd_capture *c)
{
    return c->size;
}

uint64_t ksd_capture_offset(struct ksd_capture *c)
{
    if (c->live || !c->fp || c->fp == stdin)
        return 0;
    if (c->map_on)
        return c->map_pos;
    long off = ftell(c->fp);
    return off > 0 ? (uint64_t)off : 0;
}

const char *ksd_capture_linktype_name(const struct ksd_capture *c)
{
    const char *n = pcap_datalink_val_to_name(pcap_datalink(c->p));
    return n ? n : "unknown";
}

void ksd_capture_close(struct ksd_capture *c)
{
    if (!c)
        return;
    if (c->fm)
        fmap_leave(c->fm, c->slot);
    if (c->has_prog)
        pcap_freecode(&c->prog);
    if (c->p)
        pcap_close(c->p);
    free(c);
}

/* ---- offline input lists ---------------------------------------------------- */

static int add_input(struct ksd_capture_inputs *in, const char *path)
{
    if (in->n >= KSD_MAX_INPUT_FILES)
        return -1;
    if (in->n == in->cap) {
        size_t cap = in->cap ? 2 * in->cap : 64;
        char **p = realloc(in->paths, cap * sizeof(*p));
        if (!p)
            return -1;
        in->paths = p;
        in->cap = cap;
    }
    if (!(in->paths[in->n] = strdup(path)))
        return -1;
    in->n++;
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int walk(const char *dir, int depth, struct ksd_capture_inputs *in,
                void (*skip)(void *, const char *, const char *), void *arg)
{
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, by_name);
    if (n < 0) {
        skip(arg, dir, strerror(errno));
        return 0;
    }
    int rc = 0;
    size_t dl = strlen(dir);
    const char *sep = dl && dir[dl - 1] == '/' ? "" : "/";
    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        char *full = NULL;
        struct stat ls, st;
        if (rc < 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            goto next;
        if (asprintf(&full, "%s%s%s", dir, sep, name) < 0) {
            full = NULL;
            rc = -1;
            goto next;
        }
        if (lstat(full, &ls) < 0 || stat(full, &st) < 0) {
            skip(arg, full, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            if (S_ISLNK(ls.st_mode))
                skip(arg, full, "symbolic link to a directory: not followed");
            else if (depth >= KSD_MAX_DIR_DEPTH)
                skip(arg, full, "too deep (more than 32 directory levels)");
            else
                rc = walk(full, depth + 1, in, skip, arg);
        } else if (!S_ISREG(st.st_mode)) {
            skip(arg, full, "not a regular file");
        } else {
            uint8_t b[8];
            ssize_t got = head_of(full, b, sizeof(b));
            const char *why = got < 0 ? strerror(errno) : not_capture(b, (size_t)got);
            if (why)
                skip(arg, full, why);
            else if (add_input(in, full) < 0)
                rc = -1;
        }
    next:
        free(full);
        free(ents[i]);
    }
    free(ents);
    return rc;
}

int ksd_capture_expand(const char *path, struct ksd_capture_inputs *in,
                       void (*skip)(void *arg, const char *path, const char *reason), void *arg)
{
    struct stat st;
    if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return walk(path, 0, in, skip, arg);
    return add_input(in, path); /* opening it reports what is wrong */
}

int ksd_capture_filter_check(const char *filter, char *err, size_t errlen)
{
    struct bpf_program prog;
    if (!filter || !*filter)
        return 0;
    pcap_t *p = pcap_open_dead(DLT_EN10MB, 262144);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN);
    if (rc < 0)
        snprintf(err, errlen, "bad filter '%s': %s", filter, pcap_geterr(p));
    else
        pcap_freecode(&prog);
    pcap_close(p);
    return rc < 0 ? -1 : 0;
}

void ksd_capture_inputs_free(struct ksd_capture_inputs *in)
{
    for (size_t i = 0; i < in->n; i++)
        free(in->paths[i]);
    free(in->paths);
    memset(in, 0, sizeof(*in));
}
