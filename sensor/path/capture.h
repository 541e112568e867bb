/*
 * capture.h - packet sources: capture files (pcap, pcapng, standard input)
 * and live interfaces, through libpcap. The only module that includes pcap.h.
 */
#ifndef KSD_CAPTURE_H
#define KSD_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

struct ksd_frame {
    int64_t ts_us;       /* capture time, Unix microseconds */
    uint32_t caplen;     /* bytes captured */
    uint32_t len;        /* bytes on the wire */
    int linktype;        /* libpcap DLT of the source */
    const uint8_t *data; /* valid until the next ksd_capture_next() */
    uint32_t src;        /* offline: index of the input file (set by the caller), else 0 */
    int64_t at;          /* a walked file: byte offset of the frame's record, else -1 */
};

struct ksd_capture_stats {
    uint64_t received;  /* pcap_stats ps_recv (live) or frames read (file) */
    uint64_t dropped;   /* ps_drop: dropped by the kernel for lack of buffer space */
    uint64_t ifdropped; /* ps_ifdrop: dropped by the interface or driver */
};

struct ksd_capture_opts {
    int snaplen;        /* live: bytes per packet, default 262144 */
    int buffer_mb;      /* live: kernel buffer, default 64 MiB */
    int promisc;        /* live: promiscuous mode, default 1 */
    const char *filter; /* BPF expression or NULL */
};

struct ksd_capture;

/* Open a capture file ("-" is standard input). NULL and a message in err on failure. */
struct ksd_capture *ksd_capture_open_file(const char *path, const struct ksd_capture_opts *o,
                                          char *err, size_t errlen);
/* Open a live interface in immediate mode. NULL and a message in err on failure. */
struct ksd_capture *ksd_capture_open_live(const char *iface, const struct ksd_capture_opts *o,
                                          char *err, size_t errlen);
/* 1: a frame was read; 0: end of file (or stopped); -1: error (ksd_capture_error). Live
 * sources return 2 when no packet is waiting now: the caller does its idle work, then
 * ksd_capture_wait. */
int ksd_capture_next(struct ksd_capture *c, struct ksd_frame *f);
/* Live: sleep until a packet is waiting, other_fd (-1: none) is readable, timeout_ms
 * passed or a signal came (1: readable, 0: timeout or signal, -1: error). Files: 1 at once. */
int ksd_capture_wait(struct ksd_capture *c, int other_fd, int timeout_ms);
#define KSD_CAPTURE_MAX_AGENT_PORTS 16 /* agent ports the fanout program checks */

/*
 * Live: join the PACKET_FANOUT group `group` (one per process), in which the
 * kernel gives each packet to one socket by a hash of the client address
 * (capture.c), defragmenting first; the side on one of `agent_ports` (ports
 * where managed hosts listen) counts as the client. All sockets of a group
 * are opened alike. 0, or -1 and a message.
 */
int ksd_capture_fanout(struct ksd_capture *c, int group, const uint16_t *agent_ports, int n_agent,
                       char *err, size_t errlen);
/*
 * Offline: is path a regular file in classic pcap 2.4 format, which the
 * mapped walk reads (capture.c)? Is c read by it? Open c's file once more,
 * independently of c (its own offset and walk; the same file even if it has
 * been renamed since), with the same options: a worker reads it for itself.
 */
int ksd_capture_file_walkable(const char *path);
int ksd_capture_walked(const struct ksd_capture *c);
struct ksd_capture *ksd_capture_reopen(const struct ksd_capture *c,
                                       const struct ksd_capture_opts *o, char *err, size_t errlen);
/* A walked file (c from ksd_capture_reopen, say): the frame whose record is
 * at byte offset `at` (a ksd_frame.at of another handle on the file), where
 * it lies in the shared mapping, valid while c is open. Publishes how far c
 * has read, so that the pages before it may be dropped. 1, or 0. */
int ksd_capture_frame_at(struct ksd_capture *c, int64_t at, struct ksd_frame *f);
/* Start fetching the headers of the frame at `at` (no fault, no check of the record). */
void ksd_capture_prefetch_at(const struct ksd_capture *c, int64_t at);
const char *ksd_capture_error(const struct ksd_capture *c);
/* Ask a blocking ksd_capture_next to return (async-signal-safe). */
void ksd_capture_break(struct ksd_capture *c);
int ksd_capture_stats(struct ksd_capture *c, struct ksd_capture_stats *st);
/* Size of a capture file in bytes (0 for stdin/live) and bytes read so far. */
uint64_t ksd_capture_size(const struct ksd_capture *c);
uint64_t ksd_capture_offset(struct ksd_capture *c);
const char *ksd_capture_linktype_name(const struct ksd_capture *c);
void ksd_capture_close(struct ksd_capture *c);

/* ---- offline input lists ---- */

#define KSD_MAX_DIR_DEPTH   32    /* directory levels below an input directory */
#define KSD_MAX_INPUT_FILES 65535 /* capture files in one run (ksd_flow.src is 16 bits) */

/* The files of an offline run, in reading order (owned; ksd_capture_inputs_free). */
struct ksd_capture_inputs {
    char **paths; /* as given, or DIR/relative/path for files found in a directory */
    size_t n;
    size_t cap;
};

/*
 * Append `path` to `in`: a file (or "-") as it is; a directory: every pcap or
 * pcapng file below it (by magic number, whatever the name), recursively, in
 * byte order of names. Entries that are not captures (compressed captures
 * included), unreadable entries and symbolic links to directories are left
 * out, each reported once through skip(arg, path, reason). Returns 0, or -1
 * when memory or KSD_MAX_INPUT_FILES ran out.
 */
int ksd_capture_expand(const char *path, struct ksd_capture_inputs *in,
                       void (*skip)(void *arg, const char *path, const char *reason), void *arg);
void ksd_capture_inputs_free(struct ksd_capture_inputs *in);

/* Does filter compile (for Ethernet)? 0, or -1 with the reason in err: a bad
 * filter is bad usage, not a damaged input. */
int ksd_capture_filter_check(const char *filter, char *err, size_t errlen);

#endif
