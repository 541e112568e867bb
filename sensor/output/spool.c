/*
 * spool.c - the on-disk queue of the Redis output (layout and recovery
 * rules in spool.h). With a spool, the emitter appends every event here as
 * it is pushed (a write(2) into the page cache) and sends from here, oldest
 * first; delivered records are retired by moving the read position, which
 * the file header keeps, so a run after a crash replays only what was not
 * acknowledged.
 *
 * What it does: append-only writes with pwrite(2) at a tracked end offset,
 * CRC-32 per record, skip-and-count of damaged regions, cut-off of a torn
 * last record at open, truncation to the header once everything was consumed,
 * a file that is not a spool refused untouched, an
 * exclusive flock so two sensors never share one spool.
 *
 * What it does not do: it never fsyncs on append (the emitter calls
 * ksd_spool_sync per its --spool-sync policy), it does not write the read
 * position durably (a crash may replay records delivered just before; the Redis
 * side deduplicates by event id), and it does not compact: space of consumed
 * records counts against the cap until the spool drains completely.
 *
 * Specifications: CRC-32 as in IEEE 802.3 / ITU-T V.42 (reflected polynomial
 * 0xEDB88320, initial value and final XOR 0xFFFFFFFF), computed by zlib.
 */
#include "sensor/output/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "dissectors/ksd.h"
#include "dissectors/rd.h"

#define SPOOL_VERSION                                                                              \
    3 /* 1: without the last five string fields, 2: without pcap (both still read) */
#define SPOOL_RBUF     (256 * 1024) /* read chunk; holds many maximal records */
#define SPOOL_MAX_SCAN (UINT64_MAX)

static const unsigned char spool_magic[4] = {'K', 'S', 'P', '1'};
static const unsigned char file_magic[8] = {'K', 'S', 'D', 'S', 'P', 'O', 'O', 'L'};

struct ksd_spool {
    int fd;                    /* spool file, flocked */
    pthread_mutex_t mu;        /* guards everything below */
    uint64_t max_bytes;        /* size cap, 0 = none */
    uint64_t rd;               /* offset of the oldest waiting record */
    uint64_t wr;               /* end of valid data; next append goes here */
    int dirty;                 /* appended or truncated since the last fsync */
    struct ksd_spool_stats st; /* counters; st.records, st.bytes kept current */
    unsigned char *wbuf;       /* append encoding buffer */
    size_t wcap;               /* its size */
    unsigned char *rbuf;       /* read buffer, SPOOL_RBUF bytes */
    uint64_t base;             /* first record offset: KSD_SPOOL_FILE_HDR, 0 legacy */
    uint64_t run_start;        /* records from here on were appended by this process */
    uint64_t damage_at;        /* offset of the first damage of the last walk */
};

uint32_t ksd_spool_crc32(uint32_t crc, const void *buf, size_t len)
{
    /* zlib's crc32 is the same CRC-32 (IEEE 802.3, reflected 0xEDB88320,
     * pre- and post-inverted), so files written before read the same */
    const unsigned char *p = buf;
    uLong c = crc;
    while (len > 0) {
        uInt n = len > 0x40000000u ? 0x40000000u : (uInt)len;
        c = crc32(c, p, n);
        p += n;
        len -= n;
    }
    return (uint32_t)c;
}

static void put_le(unsigned char *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The 18 string fields in payload order, as (pointer, capacity). Version 1
 * records (before community_id and the client's MAC and name existed) hold
 * the first SPOOL_NSTR_OLD, version 2 records (before pcap) the first
 * SPOOL_NSTR_V2; they decode with the others empty. */
#define SPOOL_NSTR     18
#define SPOOL_NSTR_OLD 13 /* version 1 */
#define SPOOL_NSTR_V2  17 /* version 2: all but pcap */
static void str_fields(struct ksd_event *ev, char *f[SPOOL_NSTR], size_t cap[SPOOL_NSTR])
{
    size_t i = 0;
#define SPOOL_F(x)                                                                                 \
    do {                                                                                           \
        f[i] = ev->x;                                                                              \
        cap[i] = sizeof(ev->x);                                                                    \
        i++;                                                                                       \
    } while (0)
    SPOOL_F(sensor);
    SPOOL_F(client);
    SPOOL_F(server);
    SPOOL_F(proto);
    SPOOL_F(evidence);
    SPOOL_F(indicator);
    SPOOL_F(rule);
    SPOOL_F(category);
    SPOOL_F(app);
    SPOOL_F(site);
    SPOOL_F(managed);
    SPOOL_F(ruleset);
    SPOOL_F(via);
    SPOOL_F(community_id);
    SPOOL_F(client_mac);
    SPOOL_F(client_name);
    SPOOL_F(client_name_source);
    SPOOL_F(pcap);
#undef SPOOL_F
}

int ksd_spool_encode(const struct ksd_event *ev, unsigned char *buf, size_t cap)
{
    char *f[SPOOL_NSTR];
    size_t fcap[SPOOL_NSTR];
    size_t n = 0;
    /* str_fields only reads the addresses; the event is not modified. */
    str_fields((struct ksd_event *)ev, f, fcap);
    if (cap < 29)
        return -1;
    buf[0] = SPOOL_VERSION;
    put_le(buf + 1, ev->id, 8);
    put_le(buf + 9, (uint64_t)ev->ts_us, 8);
    put_le(buf + 17, ev->sport, 2);
    put_le(buf + 19, ev->dport, 2);
    put_le(buf + 21, (uint32_t)ev->confidence, 4);
    put_le(buf + 25, ev->count, 4);
    n = 29;
    for (size_t i = 0; i < SPOOL_NSTR; i++) {
        size_t l = strnlen(f[i], fcap[i] - 1);
        if (l + 2 > cap - n)
            return -1;
        put_le(buf + n, l, 2);
        memcpy(buf + n + 2, f[i], l);
        n += 2 + l;
    }
    return (int)n;
}

int ksd_spool_decode(const unsigned char *buf, size_t len, struct ksd_event *ev)
{
    struct ksd_rd r = rd_make(buf, len);
    char *f[SPOOL_NSTR];
    size_t fcap[SPOOL_NSTR];
    memset(ev, 0, sizeof(*ev));
    uint8_t version = rd_u8(&r);
    if (version != SPOOL_VERSION && version != 1 && version != 2)
        return KSD_EINVAL;
    uint64_t id = rd_le32(&r);
    id |= (uint64_t)rd_le32(&r) << 32;
    uint64_t ts = rd_le32(&r);
    ts |= (uint64_t)rd_le32(&r) << 32;
    ev->id = id;
    ev->ts_us = (int64_t)ts;
    ev->sport = rd_le16(&r);
    ev->dport = rd_le16(&r);
    ev->confidence = (int)rd_le32(&r);
    ev->count = rd_le32(&r);
    str_fields(ev, f, fcap);
    for (size_t i = 0; i < SPOOL_NSTR; i++) {
        if ((i == SPOOL_NSTR_OLD && version == 1) || (i == SPOOL_NSTR_V2 && version == 2))
            break;
        size_t l = rd_le16(&r);
        if (rd_err(&r) || l >= fcap[i])
            return KSD_EINVAL;
        const uint8_t *p = rd_bytes(&r, l);
        if (rd_err(&r))
            return KSD_EINVAL;
        memcpy(f[i], p, l);
        f[i][l] = '\0';
    }
    if (rd_err(&r) || rd_left(&r) != 0)
        return KSD_EINVAL;
    return KSD_OK;
}

/*
 * Check the record at p[0..avail): its total length when valid (decoded into
 * *ev), 0 when it may be valid but avail is too short, -1 when damaged.
 */
static long rec_check(const unsigned char *p, size_t avail, struct ksd_event *ev)
{
    if (avail < KSD_SPOOL_HDR)
        return (avail < 4 || memcmp(p, spool_magic, 4) == 0) ? 0 : -1;
    if (memcmp(p, spool_magic, 4) != 0)
        return -1;
    uint32_t len = get_le32(p + 4);
    if (len == 0 || len > KSD_SPOOL_MAX_RECORD)
        return -1;
    if (len > avail - KSD_SPOOL_HDR)
        return 0;
    uint32_t crc = ksd_spool_crc32(0, p + 4, 4);
    crc = ksd_spool_crc32(crc, p + KSD_SPOOL_HDR, len);
    if (crc != get_le32(p + 8))
        return -1;
    if (ksd_spool_decode(p + KSD_SPOOL_HDR, len, ev) != KSD_OK)
        return -1;
    return (long)(KSD_SPOOL_HDR + len);
}

static ssize_t pread_full(int fd, unsigned char *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int pwrite_full(int fd, const unsigned char *buf, size_t n, uint64_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pwrite(fd, buf + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -EIO;
        done += (size_t)r;
    }
    return 0;
}

/*
 * Walk records in [pos, end). Valid events go to out[] (up to max; out may be
 * NULL to only count). Damaged regions are skipped by scanning for the next
 * magic and counted in *corrupt. *good_end receives the end of the last valid
 * record seen (or pos). Returns the number of valid records and sets *next to
 * where the walk stopped, or -errno.
 */
static long walk(struct ksd_spool *s, uint64_t pos, uint64_t end, struct ksd_event *out,
                 uint64_t max, uint64_t *next, uint64_t *good_end, uint64_t *corrupt)
{
    uint64_t got = 0;
    int in_damage = 0;
    struct ksd_event scratch;
    *good_end = pos;
    while (got < max && pos < end) {
        size_t want = end - pos < SPOOL_RBUF ? (size_t)(end - pos) : SPOOL_RBUF;
        ssize_t n = pread_full(s->fd, s->rbuf, want, pos);
        if (n < 0)
            return n;
        if (n == 0) /* file shorter than we believed: treat the rest as gone */
            break;
        size_t i = 0;
        int at_end = pos + (uint64_t)n >= end;
        while (got < max && i < (size_t)n) {
            struct ksd_event *ev = out ? &out[got] : &scratch;
            long r = rec_check(s->rbuf + i, (size_t)n - i, ev);
            if (r > 0) {
                got++;
                i += (size_t)r;
                in_damage = 0;
                *good_end = pos + i;
                continue;
            }
            if (r == 0 && !at_end)
                break; /* record continues in the next chunk */
            if (!in_damage) {
                if (*corrupt == 0)
                    s->damage_at = pos + i;
                (*corrupt)++;
                in_damage = 1;
            }
            const unsigned char *m = memmem(s->rbuf + i + 1, (size_t)n - i - 1, spool_magic, 4);
            if (m) {
                i = (size_t)(m - s->rbuf);
            } else if (at_end) {
                i = (size_t)n;
            } else {
                /* keep 3 bytes: a magic may straddle the chunk boundary */
                size_t keep = (size_t)n - 3;
                i = keep > i ? keep : i + 1;
                break;
            }
        }
        if (i == 0)
            break; /* cannot happen: SPOOL_RBUF > any record; never loop */
        pos += i;
    }
    *next = pos;
    return (long)got;
}

/* The file header with read position rd. 0 or -errno. */
static int write_header(struct ksd_spool *s, uint64_t rd)
{
    unsigned char h[KSD_SPOOL_FILE_HDR] = {0};
    memcpy(h, file_magic, 8);
    put_le(h + 8, KSD_SPOOL_FILE_VERSION, 4);
    put_le(h + 16, rd, 8);
    return pwrite_full(s->fd, h, sizeof(h), 0);
}

struct ksd_spool *ksd_spool_open(const char *path, uint64_t max_bytes, int *err)
{
    struct ksd_spool *s = calloc(1, sizeof(*s));
    struct stat sb;
    int e = 0;
    if (!s) {
        e = -ENOMEM;
        goto fail;
    }
    s->fd = -1;
    s->rbuf = malloc(SPOOL_RBUF);
    if (!s->rbuf) {
        e = -ENOMEM;
        goto fail;
    }
    s->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->fd < 0) {
        e = -errno;
        goto fail;
    }
    if (flock(s->fd, LOCK_EX | LOCK_NB) != 0) {
        e = -errno;
        goto fail;
    }
    if (fstat(s->fd, &sb) != 0) {
        e = -errno;
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        e = KSD_EINVAL;
        goto fail;
    }
    s->max_bytes = max_bytes;
    uint64_t size = (uint64_t)sb.st_size;
    unsigned char hdr[KSD_SPOOL_FILE_HDR];
    ssize_t hl = size > 0 ? pread_full(s->fd, hdr, sizeof(hdr), 0) : 0;
    if (hl < 0) {
        e = (int)hl;
        goto fail;
    }
    if (size == 0) {
        /* a new (or empty) file: ours from now on */
        if ((e = write_header(s, KSD_SPOOL_FILE_HDR)) != 0)
            goto fail;
        s->base = s->rd = s->wr = KSD_SPOOL_FILE_HDR;
    } else if (hl >= 4 && memcmp(hdr, spool_magic, 4) == 0) {
        /* written by a version without a file header: records from 0 */
        s->base = s->rd = 0;
    } else if (hl == KSD_SPOOL_FILE_HDR && memcmp(hdr, file_magic, 8) == 0) {
        if (get_le32(hdr + 8) != KSD_SPOOL_FILE_VERSION) {
            e = KSD_SPOOL_EVERSION;
            goto fail;
        }
        uint64_t rd = (uint64_t)get_le32(hdr + 16) | (uint64_t)get_le32(hdr + 20) << 32;
        s->base = KSD_SPOOL_FILE_HDR;
        s->rd = rd >= KSD_SPOOL_FILE_HDR && rd <= size ? rd : KSD_SPOOL_FILE_HDR;
    } else {
        e = KSD_SPOOL_EFOREIGN; /* never touched */
        goto fail;
    }
    if (size > s->base) {
        uint64_t next, good_end, corrupt = 0;
        long n = walk(s, s->rd, size, NULL, SPOOL_MAX_SCAN, &next, &good_end, &corrupt);
        if (n < 0) {
            e = (int)n;
            goto fail;
        }
        s->st.records = (uint64_t)n;
        /* damage between records is counted when the reader passes it;
         * a damaged tail is cut off here and counted once */
        if (good_end < size) {
            s->st.corrupt = 1;
            s->st.corrupt_at = good_end;
            /* a torn or damaged tail: cut it so appends follow valid data */
            if (ftruncate(s->fd, (off_t)good_end) != 0) {
                e = -errno;
                goto fail;
            }
            s->st.torn_bytes = size - good_end;
            s->dirty = 1;
        }
        s->wr = good_end;
    }
    s->run_start = s->wr;
    s->st.bytes = s->wr;
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        e = -ENOMEM;
        goto fail;
    }
    return s;
fail:
    if (s) {
        if (s->fd >= 0)
            close(s->fd);
        free(s->rbuf);
        free(s);
    }
    *err = e;
    return NULL;
}

void ksd_spool_close(struct ksd_spool *s)
{
    if (!s)
        return;
    ksd_spool_sync(s);
    close(s->fd);
    pthread_mutex_destroy(&s->mu);
    free(s->wbuf);
    free(s->rbuf);
    free(s);
}

int ksd_spool_append(struct ksd_spool *s, const struct ksd_event *evs, size_t n)
{
    const size_t maxrec = KSD_SPOOL_HDR + KSD_SPOOL_MAX_RECORD;
    int ret;
    size_t k = 0, len = 0;
    pthread_mutex_lock(&s->mu);
    if (n > 0 && s->wcap < n * maxrec) {
        unsigned char *nb = realloc(s->wbuf, n * maxrec);
        if (!nb) {
            ret = -ENOMEM;
            goto out;
        }
        s->wbuf = nb;
        s->wcap = n * maxrec;
    }
    for (k = 0; k < n; k++) {
        unsigned char *p = s->wbuf + len;
        int pl = ksd_spool_encode(&evs[k], p + KSD_SPOOL_HDR, KSD_SPOOL_MAX_RECORD);
        if (pl <= 0) /* cannot happen: every event fits KSD_SPOOL_MAX_RECORD */
            break;
        size_t rl = KSD_SPOOL_HDR + (size_t)pl;
        if (s->max_bytes && s->wr + len + rl > s->max_bytes)
            break;
        memcpy(p, spool_magic, 4);
        put_le(p + 4, (uint32_t)pl, 4);
        uint32_t crc = ksd_spool_crc32(0, p + 4, 4);
        crc = ksd_spool_crc32(crc, p + KSD_SPOOL_HDR, (size_t)pl);
        put_le(p + 8, crc, 4);
        len += rl;
    }
    if (len > 0) {
        ret = pwrite_full(s->fd, s->wbuf, len, s->wr);
        if (ret < 0)
            goto out; /* s->wr unchanged: a partial write is overwritten later */
        s->wr += len;
        s->dirty = 1;
    }
    s->st.cap_drops += n - k;
    s->st.records += k;
    s->st.appended += k;
    s->st.bytes = s->wr;
    ret = (int)k;
out:
    pthread_mutex_unlock(&s->mu);
    return ret;
}

int ksd_spool_peek(struct ksd_spool *s, struct ksd_event *out, size_t max, uint64_t *next)
{
    uint64_t pos, end, good_end, corrupt = 0;
    if (max > KSD_SPOOL_MAX_PEEK)
        max = KSD_SPOOL_MAX_PEEK;
    pthread_mutex_lock(&s->mu);
    pos = s->rd;
    end = s->wr;
    /* Reading needs no lock past this point: appends only write at or after
     * end, and only the (single) reader truncates, in ksd_spool_consume. The
     * lock is held anyway for rbuf, which is shared with nobody else but
     * keeps the invariant simple. */
    long n = walk(s, pos, end, out, max, next, &good_end, &corrupt);
    if (corrupt && s->st.corrupt == 0)
        s->st.corrupt_at = s->damage_at;
    s->st.corrupt += corrupt;
    pthread_mutex_unlock(&s->mu);
    return (int)n;
}

int ksd_spool_consume(struct ksd_spool *s, uint64_t next, size_t n)
{
    int ret = 0;
    pthread_mutex_lock(&s->mu);
    if (next > s->rd)
        s->rd = next <= s->wr ? next : s->wr;
    s->st.records -= n < s->st.records ? n : s->st.records;
    s->st.consumed += n;
    if (s->rd >= s->wr) {
        /* all delivered: an empty spool (in the current form) */
        if (ftruncate(s->fd, KSD_SPOOL_FILE_HDR) != 0 ||
            (ret = write_header(s, KSD_SPOOL_FILE_HDR)))
            ret = ret ? ret : -errno;
        s->base = s->rd = s->wr = s->run_start = KSD_SPOOL_FILE_HDR;
        s->st.records = 0;
        s->dirty = 1;
    } else if (s->base == KSD_SPOOL_FILE_HDR) {
        /* retire the delivered records: the header keeps the read position */
        unsigned char rd[8];
        put_le(rd, s->rd, 8);
        ret = pwrite_full(s->fd, rd, 8, 16);
        s->dirty = 1;
    }
    s->st.bytes = s->wr;
    pthread_mutex_unlock(&s->mu);
    return ret;
}

int ksd_spool_replaying(struct ksd_spool *s)
{
    pthread_mutex_lock(&s->mu);
    int r = s->rd < s->run_start;
    pthread_mutex_unlock(&s->mu);
    return r;
}

uint64_t ksd_spool_pending(struct ksd_spool *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t p = s->wr - s->rd;
    pthread_mutex_unlock(&s->mu);
    return p;
}

int ksd_spool_sync(struct ksd_spool *s)
{
    int ret = 0, dirty;
    pthread_mutex_lock(&s->mu);
    dirty = s->dirty;
    s->dirty = 0;
    pthread_mutex_unlock(&s->mu);
    /* fsync outside the lock so appends on the capture path never wait for
     * the disk; a concurrent append sets dirty again. */
    if (dirty && fdatasync(s->fd) != 0)
        ret = -errno;
    return ret;
}

void ksd_spool_get_stats(struct ksd_spool *s, struct ksd_spool_stats *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->st;
    pthread_mutex_unlock(&s->mu);
}
