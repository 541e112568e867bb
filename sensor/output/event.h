/*
 * event.h - a detection event, as README.md "Events" and ksd(8) DETECTION
 * EVENTS describe it, and its JSON encoding. Every field is a fixed-size,
 * NUL-terminated copy: an event owns no pointers, so it can be queued,
 * spooled to disk and sent to Redis from another thread without any
 * lifetime question.
 */
#ifndef KSD_EVENT_H
#define KSD_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "dissectors/community_id.h"

#define KSD_EV_INDICATOR_MAX 512

struct ksd_event {
    uint64_t id;     /* sensor-unique id: ms block start, worker, sequence; idempotency key */
    int64_t ts_us;   /* capture time of the packet that completed the evidence, Unix us */
    char sensor[64]; /* --sensor-id */
    char client[46]; /* host believed to run the product (text address) */
    char server[46]; /* its peer */
    uint16_t sport;  /* client port */
    uint16_t dport;  /* server port */
    char proto[8];   /* "tcp", "udp" */
    char
        evidence[16]; /* dns, sni, quic_sni, http_host, http_ua, cert, ja3, ja4, ip, dns_ip, port */
    char indicator[KSD_EV_INDICATOR_MAX]; /* observed value (any bytes; escaped on output) */
    char rule[64];                        /* rule id */
    char category[16];                    /* rule category */
    int confidence;                       /* 0..100 */
    char app[32];                         /* nDPI application label, "" when unknown */
    char site[64];                        /* site from the site map, "" when none */
    char managed[16];                     /* "managed", "exception" or "" */
    char ruleset[64];                     /* version line of the rule file that matched */
    char via[256]; /* dns_ip: the name the address was learned from; a DNS name reached
                      through a CNAME chain: the question name; else "" */
    char community_id[KSD_COMMUNITY_ID_MAX]; /* the flow's Community ID v1, seed 0 */
    char client_mac[18];        /* the client's MAC when known, "aa:bb:cc:dd:ee:ff", else "" */
    char client_name[64];       /* a name the client announced for itself, else "" */
    char client_name_source[8]; /* "dhcp", "netbios", "mdns", "llmnr", or "" */
    uint32_t count;             /* detections folded into this event (first of the window = 1) */
    char pcap[256];             /* offline runs: the capture file the packet came from; else "" */
};

/*
 * Write `ev` as one JSON object (no newline) into buf. Strings are escaped so
 * that no byte of a captured value can break the JSON: ", \ and control
 * characters are escaped, bytes >= 0x80 that are not valid UTF-8 become
 * \u00XX. Returns the length written, or -1 if cap is too small (buf then
 * holds an empty string).
 */
int ksd_event_json(const struct ksd_event *ev, char *buf, size_t cap);

/* Escape one string as JSON (with the quotes) into buf; returns length or -1. */
int ksd_json_string(const char *s, size_t n, char *buf, size_t cap);

/* Format Unix microseconds as "2026-11-26T23:00:00.123456Z" (28 bytes with NUL). */
void ksd_format_ts(int64_t ts_us, char out[32]);

/*
 * A line-oriented output file (--json, --facts): lines are built in a
 * buffer and written with write(2) only as whole lines, so a reader that
 * tails the file (or a pipe) never sees half a line; ksd_event_out_flush
 * writes what is complete (the caller does it at least once a second).
 * Not thread-safe: the caller serialises (struct ksd_sink's lock).
 */
struct ksd_event_out;

/* Open `path` for writing (truncated; "-" is standard output). NULL and a message on failure. */
struct ksd_event_out *ksd_event_out_open(const char *path, char *err, size_t errlen);
/* Append n bytes to the line being built. */
void ksd_event_out_put(struct ksd_event_out *o, const char *s, size_t n);
/* End the line being built ('\n'); whole lines are written once the buffer is full. */
void ksd_event_out_end(struct ksd_event_out *o);
/* Write every complete line now. 0, or -1 when a write failed (the lines are dropped). */
int ksd_event_out_flush(struct ksd_event_out *o);
/*
 * After a rotation: write what is complete, close, and open the path again
 * (created if it was moved away, appended to if it is still there). Standard
 * output is kept. 0, or -1 and a message (the old descriptor is kept).
 */
int ksd_event_out_reopen(struct ksd_event_out *o, char *err, size_t errlen);
/* Lines written and lines lost to write errors so far. */
uint64_t ksd_event_out_lines(const struct ksd_event_out *o);
uint64_t ksd_event_out_lost(const struct ksd_event_out *o);
/* Flush and close (NULL is a no-op). */
void ksd_event_out_close(struct ksd_event_out *o);

#endif
