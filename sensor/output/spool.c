/*
 * spool.c - the on-disk overflow spool of the Redis output (layout and
 * recovery rules in spool.h). The emitter appends here when its in-memory
 * ring is full or Redis is unreachable, and replays from here, oldest first,
 * once Redis answers again.
 *
 * What it does: append-only writes with pwrite(2) at a tracked end offset,
 * CRC-32 per record, skip-and-count of damaged regions, cut-off of a torn
 * last record at open, truncation to zero once everything was consumed, an
 * exclusive flock so two sensors never share one spool.
 *
 * What it does not do: it never fsyncs on append (the emitter calls
 * ksd_spool_sync about once a second and at stop), it does not persist the
 * read position (after a crash the whole file is replayed again; the Redis
 * side deduplicates by event id), and it does not compact: space of consumed
 * records counts against the cap until the spool drains completely.
 *
 * Specifications: CRC-32 as in IEEE 802.3 / ITU-T V.42 (reflected polynomial
 * 0xEDB88320, initial value and final XOR 0xFFFFFFFF).
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

#include "dissectors/ksd.h"
#include "dissectors/rd.h"

#define SPOOL_VERSION  2            /* 1: without the last four string fields (still read) */
#define SPOOL_RBUF     (256 * 1024) /* read chunk; holds many maximal records */
#define SPOOL_MAX_SCAN (UINT64_MAX)

static const unsigned char spool_magic[4] = {'K', 'S', 'P', '1'};

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
};

static const uint32_t crc_table[256] = {
    0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu, 0xe963a535u,
    0x9e6495a3u, 0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u, 0x09b64c2bu, 0x7eb17cbdu,
    0xe7b82d07u, 0x90bf1d91u, 0x1db71064u, 0x6ab020f2u, 0xf3b97148u, 0x84be41deu, 0x1adad47du,
    0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u, 0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu,
    0x14015c4fu, 0x63066cd9u, 0xfa0f3d63u, 0x8d080df5u, 0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u,
    0xa2677172u, 0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu, 0x35b5a8fau, 0x42b2986cu,
    0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u, 0x26d930acu,
    0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u, 0xcfba9599u, 0xb8bda50fu,
    0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u, 0x2f6f7c87u, 0x58684c11u, 0xc1611dabu,
    0xb6662d3du, 0x76dc4190u, 0x01db7106u, 0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu,
    0x9fbfe4a5u, 0xe8b8d433u, 0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu,
    0x086d3d2du, 0x91646c97u, 0xe6635c01u, 0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
    0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u, 0x65b0d9c6u, 0x12b7e950u, 0x8bbeb8eau,
    0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u, 0x4db26158u, 0x3ab551ceu,
    0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u, 0xa4d1c46du, 0xd3d6f4fbu, 0x4369e96au,
    0x346ed9fcu, 0xad678846u, 0xda60b8d0u, 0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u,
    0x5005713cu, 0x270241aau, 0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u,
    0xce61e49fu, 0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u,
    0xb7bd5c3bu, 0xc0ba6cadu, 0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au, 0xead54739u,
    0x9dd277afu, 0x04db2615u, 0x73dc1683u, 0xe3630b12u, 0x94643b84u, 0x0d6d6a3eu, 0x7a6a5aa8u,
    0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u, 0xf00f9344u, 0x8708a3d2u, 0x1e01f268u,
    0x6906c2feu, 0xf762575du, 0x806567cbu, 0x196c3671u, 0x6e6b06e7u, 0xfed41b76u, 0x89d32be0u,
    0x10da7a5au, 0x67dd4accu, 0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u, 0xd6d6a3e8u,
    0xa1d1937eu, 0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
    0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u, 0x316e8eefu,
    0x4669be79u, 0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u, 0xcc0c7795u, 0xbb0b4703u,
    0x220216b9u, 0x5505262fu, 0xc5ba3bbeu, 0xb2bd0b28u, 0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u,
    0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du, 0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au,
    0x9c0906a9u, 0xeb0e363fu, 0x72076785u, 0x05005713u, 0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu,
    0x0cb61b38u, 0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u, 0x86d3d2d4u, 0xf1d4e242u,
    0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u, 0x88085ae6u,
    0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u, 0x616bffd3u, 0x166ccf45u,
    0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u, 0xa7672661u, 0xd06016f7u, 0x4969474du,
    0x3e6e77dbu, 0xaed16a4au, 0xd9d65adcu, 0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u,
    0x47b2cf7fu, 0x30b5ffe9u, 0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u,
    0xcdd70693u, 0x54de5729u, 0x23d967bfu, 0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
    0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du};

uint32_t ksd_spool_crc32(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    crc = ~crc;
    for (size_t i = 0; i < len; i++)
        crc = crc_table[(crc ^ p[i]) & 0xffu] ^ (crc >> 8);
    return ~crc;
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

/* The 17 string fields in payload order, as (pointer, capacity). Version 1
 * records (before community_id and the client's MAC and name existed) hold
 * the first SPOOL_NSTR_OLD; they decode with those four empty. */
#define SPOOL_NSTR     17
#define SPOOL_NSTR_OLD 13
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
    if (version != SPOOL_VERSION && version != 1)
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
        if (i == SPOOL_NSTR_OLD && version == 1)
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
    if (size > 0) {
        uint64_t next, good_end, corrupt = 0;
        long n = walk(s, 0, size, NULL, SPOOL_MAX_SCAN, &next, &good_end, &corrupt);
        if (n < 0) {
            e = (int)n;
            goto fail;
        }
        s->st.records = (uint64_t)n;
        if (good_end < size) {
            /* a torn or damaged tail: cut it so appends follow valid data */
            if (ftruncate(s->fd, (off_t)good_end) != 0) {
                e = -errno;
                goto fail;
            }
            s->st.torn_bytes = size - good_end;
            s->st.corrupt++;
            s->dirty = 1;
        }
        s->wr = good_end;
        if (n == 0 && s->wr > 0) {
            /* nothing valid at all: start afresh */
            if (ftruncate(s->fd, 0) != 0) {
                e = -errno;
                goto fail;
            }
            s->wr = 0;
        }
    }
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
        if (ftruncate(s->fd, 0) != 0)
            ret = -errno;
        s->rd = s->wr = 0;
        s->st.records = 0;
        s->st.bytes = 0;
        s->dirty = 1;
    }
    pthread_mutex_unlock(&s->mu);
    return ret;
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
