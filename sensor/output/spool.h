/*
 * spool.h - the on-disk queue of the Redis output: an append-only file of
 * serialized detection events, sent in order and retired once Redis has
 * them.
 *
 * File layout (all integers little-endian): a 24-byte header
 *
 *   "KSDSPOOL" | u32 version (2) | u32 0 | u64 read position
 *
 * (the offset of the oldest record not yet delivered), then the records.
 * A file that is neither empty, nor starts with this header, nor with a
 * record (the headerless form of earlier versions, read from offset 0) is
 * not a spool and is refused untouched. Records:
 *
 *   0        4        8        12
 *   +--------+--------+--------+------------------------+
 *   | "KSP1" |  len   | crc32  |  payload (len bytes)   |   ... next record
 *   +--------+--------+--------+------------------------+
 *
 *   crc32 = CRC-32 (IEEE 802.3, reflected 0xEDB88320) over the 4 len bytes
 *           followed by the payload, so a damaged length is detected too.
 *
 * Payload (one event, ksd_spool_encode):
 *   u8 version (1) | u64 id | i64 ts_us | u16 sport | u16 dport |
 *   i32 confidence | u32 count | 13 x (u16 n | n bytes): sensor client server
 *   proto evidence indicator rule category app site managed ruleset via
 *
 * A record that fails any check (magic, length bound, CRC, payload decode) is
 * skipped: the reader scans forward for the next magic that starts a valid
 * record and counts one corruption per skipped region. It never trusts a bad
 * length. A torn record at the end of the file (crash during write) is cut
 * off when the file is opened.
 *
 * Thread safety: every function may be called from any thread; an internal
 * mutex serializes them. Only one reader (ksd_spool_peek/consume) at a time.
 */
#ifndef KSD_SPOOL_H
#define KSD_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "sensor/output/event.h"

#define KSD_SPOOL_HDR          12      /* record: magic + len + crc */
#define KSD_SPOOL_FILE_HDR     24      /* file: magic, version, read position */
#define KSD_SPOOL_FILE_VERSION 2       /* the file header's version */
#define KSD_SPOOL_EFOREIGN     (-1000) /* ksd_spool_open: the file is not a spool */
#define KSD_SPOOL_EVERSION     (-1001) /* ksd_spool_open: a spool of another version */
#define KSD_SPOOL_MAX_RECORD   4096    /* payload bound; a larger length is corruption */
#define KSD_SPOOL_MAX_PEEK     1024    /* events per ksd_spool_peek call */

struct ksd_spool;

struct ksd_spool_stats {
    uint64_t records;    /* records waiting (appended, not consumed) */
    uint64_t bytes;      /* file size (grows until the spool is fully consumed) */
    uint64_t appended;   /* records appended since open */
    uint64_t consumed;   /* records consumed since open */
    uint64_t corrupt;    /* damaged regions skipped (including a torn tail) */
    uint64_t cap_drops;  /* events refused because the size cap was reached */
    uint64_t torn_bytes; /* bytes of a torn last record cut off at open */
    uint64_t corrupt_at; /* byte offset of the first damage counted */
};

/*
 * Open (creating with mode 0600 if needed) the spool at path, take an
 * exclusive flock on it, scan it and cut off a torn tail. Records left by a
 * previous run from its read position on are waiting to be read. max_bytes
 * caps the file size (0 = no cap). Returns NULL with *err = -errno,
 * KSD_EINVAL (not a regular file), KSD_SPOOL_EFOREIGN or KSD_SPOOL_EVERSION
 * on failure; a refused file is not modified. The caller frees with
 * ksd_spool_close.
 */
struct ksd_spool *ksd_spool_open(const char *path, uint64_t max_bytes, int *err);

/* fsync if anything was appended since the last sync, then close and free. */
void ksd_spool_close(struct ksd_spool *s);

/*
 * Append evs[0..n) in order with one write(2) (no fsync). Stops at the size
 * cap: returns the number appended (0..n; the rest are counted in
 * cap_drops), or -errno on a write error (then nothing was appended).
 */
int ksd_spool_append(struct ksd_spool *s, const struct ksd_event *evs, size_t n);

/*
 * Read up to max (<= KSD_SPOOL_MAX_PEEK) events from the oldest waiting one,
 * without removing them. *next receives the position after the last record
 * read (or after skipped damage); pass it to ksd_spool_consume. Returns the
 * number of events (0 with *next past the read position means only damage was
 * found), or -errno.
 */
int ksd_spool_peek(struct ksd_spool *s, struct ksd_event *out, size_t max, uint64_t *next);

/*
 * Mark everything before next (from ksd_spool_peek) as delivered; n is the
 * number of events it held. The new read position goes to the file header
 * (a write into the page cache); when nothing is left waiting, the file is
 * truncated to its header. Returns 0 or -errno.
 */
int ksd_spool_consume(struct ksd_spool *s, uint64_t next, size_t n);

/* 1 while the oldest waiting record was left by an earlier run. */
int ksd_spool_replaying(struct ksd_spool *s);

/* Bytes waiting to be read (0 = empty). */
uint64_t ksd_spool_pending(struct ksd_spool *s);

/* fsync the file if it changed since the last sync. Returns 0 or -errno. */
int ksd_spool_sync(struct ksd_spool *s);

void ksd_spool_get_stats(struct ksd_spool *s, struct ksd_spool_stats *out);

/* CRC-32 (IEEE, reflected), continuing from crc (start with 0). */
uint32_t ksd_spool_crc32(uint32_t crc, const void *buf, size_t len);

/* Serialize ev into buf; returns the length or -1 if cap is too small. */
int ksd_spool_encode(const struct ksd_event *ev, unsigned char *buf, size_t cap);

/* Parse a payload into ev (every string NUL-terminated). 0 or KSD_EINVAL. */
int ksd_spool_decode(const unsigned char *buf, size_t len, struct ksd_event *ev);

#endif
