/*
 * http.h - HTTP/1.x request header dissector (RFC 9110, RFC 9112): request
 * line, Host, User-Agent, the target authority of CONNECT and absolute-form
 * requests, and the body framing headers the sensor needs to skip a body.
 *
 * Pure functions over (bytes, len): no I/O, no globals, no allocation, no
 * state between calls (a stream dissector that re-parses from the start of
 * the request when more bytes arrive). Strings in the output struct are
 * NUL-terminated copies.
 *
 * Rendering of header values and the path: printable ASCII (0x20..0x7e) is
 * copied, BEL BS HT LF VT FF CR become \a \b \t \n \v \f \r, every other byte
 * (NUL, other controls, 0x7f, bytes >= 0x80) a three-digit octal escape
 * "\ooo" - the same rule as DNS names (dns.h). A value that does not fit its
 * buffer is cut at a character boundary (never inside an escape).
 */
#ifndef KSD_HTTP_H
#define KSD_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define KSD_HTTP_MAX_HEADERS      100   /* header lines (continuation lines included) */
#define KSD_HTTP_MAX_HEADER_BYTES 16384 /* request line + headers + blank line */
#define KSD_HTTP_MAX_METHOD       15    /* method token bytes */
#define KSD_HTTP_MAX_LEADING_EOL  4     /* empty lines tolerated before the request line */
#define KSD_HTTP_VALUE_BUF        1024  /* scratch for one (unfolded) header value */

struct ksd_http_req {
    char method[16];         /* request method token, as sent (case kept) */
    char host[256];          /* Host value: lower-cased, port stripped, "[v6]" kept with
                                brackets, one trailing dot removed */
    uint8_t has_host;        /* a Host header was present (host may be "" for "Host:") */
    uint8_t host_bad;        /* the first Host value held a NUL or control byte: not
                                evidence (has_host 0, host empty, later Hosts ignored) */
    char user_agent[512];    /* User-Agent value, case kept, truncated to fit */
    uint8_t has_ua;          /* a User-Agent header was present */
    char target_host[256];   /* host of a CONNECT authority or absolute-form target, same
                                normalisation as host (never used as the Host fact) */
    uint16_t target_port;    /* its port: explicit, else scheme default (80/443), else 0 */
    uint8_t has_target_host; /* target_host is set */
    uint8_t is_connect;      /* method is CONNECT */
    char path[512];          /* origin-form target, path of absolute-form ("/" when
                                empty), "*" for asterisk-form, "" for CONNECT; truncated */
    uint8_t version_minor;   /* x of HTTP/1.x */
    uint64_t content_length; /* first valid Content-Length, else 0 */
    uint8_t chunked;         /* Transfer-Encoding ends with chunked */
};

/*
 * Parse the header block of one request. `p` holds in-order client bytes
 * starting at a request line (up to KSD_HTTP_MAX_LEADING_EOL empty lines
 * before it are skipped). Header names are case-insensitive; lines may end
 * in CRLF or a bare LF; obs-fold continuation lines are joined to their
 * field with one space; the first Host and User-Agent win. The function
 * keeps no state: call again from the same start when more bytes arrived.
 *
 * Returns KSD_OK when the header block is complete (*consumed = bytes of the
 * empty lines skipped + request line + header lines + the blank line, so a
 * pipelined request or the body starts at p + *consumed); KSD_EAGAIN when it
 * is incomplete and len < KSD_HTTP_MAX_HEADER_BYTES; KSD_EINVAL when the
 * bytes are not an HTTP/1.x request (the sensor stops looking: decided as
 * early as possible, e.g. at the first byte that cannot be in a method);
 * KSD_ELIMIT when the block exceeds KSD_HTTP_MAX_HEADER_BYTES or
 * KSD_HTTP_MAX_HEADERS lines. *out is filled only on KSD_OK (zeroed
 * otherwise); *consumed is written only on KSD_OK.
 */
int ksd_http_parse_request(const uint8_t *p, size_t len, struct ksd_http_req *out,
                           size_t *consumed);

/*
 * 1 when p starts with a known method token followed by a space: GET POST
 * HEAD PUT DELETE OPTIONS CONNECT PATCH TRACE and the WebDAV methods
 * (PROPFIND PROPPATCH MKCOL COPY MOVE LOCK UNLOCK SEARCH REPORT MKCALENDAR
 * ...); 0 otherwise, including when p is too short to tell.
 */
int ksd_http_probe(const uint8_t *p, size_t len);

#endif
