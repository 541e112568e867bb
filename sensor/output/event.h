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
    char via[256];  /* dns_ip: the name the address was learned from; else "" */
    uint32_t count; /* detections folded into this event (first of the window = 1) */
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

#endif
