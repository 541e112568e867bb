/*
 * http.c - HTTP/1.x request header dissector: finds the end of the header
 * block, parses the request line (method, target, version), and extracts
 * Host, User-Agent, Content-Length and Transfer-Encoding, plus the authority
 * of a CONNECT (authority-form) or absolute-form target.
 *
 * What it does not do: no responses, no bodies (the sensor skips them with
 * content_length / chunked), no HTTP/2 (the "PRI * HTTP/2.0" preface is
 * rejected as not HTTP/1.x), no HTTP/0.9, no percent-decoding, no header
 * other than the four above. It keeps no state: the stream layer re-calls
 * it from the start of the request with more bytes.
 *
 * Follows RFC 9112 section 2.2 (message parsing: bare LF accepted, empty
 * lines before the request line skipped), 3 (request line), 3.2 (origin-,
 * absolute-, authority- and asterisk-form targets), 5 (field lines), 5.2
 * (obs-fold: a continuation line is joined to the field with one space),
 * 6.1/6.3 (Transfer-Encoding chunked, Content-Length); RFC 9110 sections
 * 5.1 (case-insensitive field names), 5.6.2 (tokens), 7.2 (Host: first
 * instance wins here, port removed, IPv6 literal kept in brackets).
 */
#include <string.h>

#include "dissectors/http.h"
#include "dissectors/ksd.h"
#include "dissectors/rd.h"

/* A growing, always NUL-terminated output string that stops at the first
 * character that does not fit. */
struct http_str {
    char *s;    /* destination */
    size_t cap; /* its size, NUL included */
    size_t n;   /* characters written */
    int full;   /* a character did not fit: nothing more is appended */
};

static void http_str_init(struct http_str *d, char *s, size_t cap)
{
    d->s = s;
    d->cap = cap;
    d->n = 0;
    d->full = 0;
    s[0] = '\0';
}

/* Append one byte in the rendering of http.h (lower-cased when asked). */
static void http_put(struct http_str *d, uint8_t c, int lower)
{
    static const char esc[] = "abtnvfr"; /* \a..\r for 0x07..0x0d */
    char tmp[4];
    size_t k = 0;

    if (d->full)
        return;
    if (ksd_is_print(c)) {
        tmp[k++] = (char)(lower ? ksd_ascii_lower(c) : c);
    } else if (c >= 0x07 && c <= 0x0d) {
        tmp[k++] = '\\';
        tmp[k++] = esc[c - 0x07];
    } else {
        tmp[k++] = '\\';
        tmp[k++] = (char)('0' + ((c >> 6) & 7));
        tmp[k++] = (char)('0' + ((c >> 3) & 7));
        tmp[k++] = (char)('0' + (c & 7));
    }
    if (k >= d->cap - d->n) {
        d->full = 1;
        return;
    }
    memcpy(d->s + d->n, tmp, k);
    d->n += k;
    d->s[d->n] = '\0';
}

static void http_put_bytes(struct http_str *d, const uint8_t *b, size_t n, int lower)
{
    for (size_t i = 0; i < n && !d->full; i++)
        http_put(d, b[i], lower);
}

/* tchar of RFC 9110 5.6.2 */
static int http_is_tchar(uint8_t c)
{
    return ksd_is_alnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int http_is_ows(uint8_t c)
{
    return c == ' ' || c == '\t';
}

/* Case-insensitive comparison of (b, n) with a lower-case literal. */
static int http_eq(const uint8_t *b, size_t n, const char *lit)
{
    size_t l = strlen(lit);

    if (n != l)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (ksd_ascii_lower(b[i]) != (uint8_t)lit[i])
            return 0;
    return 1;
}

/* Find the next line at the cursor. On success *line is a reader over the
 * line without its LF (and without a CR before the LF), the cursor moves
 * past the LF, and 1 is returned; 0 when no LF is within the window. */
static int http_line(struct ksd_rd *r, struct ksd_rd *line)
{
    size_t left = rd_left(r); /* at most KSD_HTTP_MAX_HEADER_BYTES */
    uint8_t c = 0;

    for (size_t i = 0; i < left; i++) {
        if (!rd_peek_ok(r, i, &c) || c != '\n')
            continue;
        size_t n = i;
        if (n > 0 && rd_peek_ok(r, n - 1, &c) && c == '\r')
            n--;
        *line = rd_sub(r, n);
        rd_skip(r, i - n + 1);
        return 1;
    }
    return 0;
}

/* Copy a reader's remaining bytes (at most cap) into buf; returns the count. */
static size_t http_copy(struct ksd_rd *r, uint8_t *buf, size_t cap)
{
    size_t n = rd_left(r);
    if (n > cap)
        n = cap;
    const uint8_t *b = rd_bytes(r, n);
    if (b && n)
        memcpy(buf, b, n);
    return n;
}

/* ------------------------------------------------------- request line */

/* Check the method and the bytes of a (possibly incomplete) request line:
 * KSD_OK when they can start an HTTP request, KSD_EINVAL otherwise. */
static int http_check_line_prefix(struct ksd_rd r)
{
    size_t left = rd_left(&r);
    size_t i = 0;
    uint8_t c = 0;

    for (; i < left; i++) {
        rd_peek_ok(&r, i, &c);
        if (c == ' ')
            break;
        if (!http_is_tchar(c) || i >= KSD_HTTP_MAX_METHOD)
            return KSD_EINVAL;
    }
    if (i == 0 && left > 0)
        return KSD_EINVAL;
    for (; i < left; i++) {
        rd_peek_ok(&r, i, &c);
        if (c == '\n')
            break;
        if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
            return KSD_EINVAL;
    }
    return KSD_OK;
}

/* Host of an authority (host[:port], userinfo removed) into dst. */
static void http_authority(const uint8_t *a, size_t n, char *dst, size_t cap, uint16_t *port)
{
    struct http_str d;
    size_t host_end = n, port_at = n;

    for (size_t i = n; i > 0; i--) {
        if (a[i - 1] == '@') { /* userinfo@host */
            a += i;
            n -= i;
            host_end = port_at = n;
            break;
        }
    }
    if (n > 0 && a[0] == '[') {
        for (size_t i = 1; i < n; i++) {
            if (a[i] == ']') {
                host_end = i + 1;
                if (host_end < n && a[host_end] == ':')
                    port_at = host_end + 1;
                break;
            }
        }
    } else {
        size_t colons = 0, last = 0;
        for (size_t i = 0; i < n; i++)
            if (a[i] == ':') {
                colons++;
                last = i;
            }
        if (colons == 1) {
            host_end = last;
            port_at = last + 1;
        }
    }
    if (port_at < n) {
        uint32_t v = 0;
        size_t i = port_at;
        for (; i < n && ksd_is_digit(a[i]) && v <= 65535; i++)
            v = v * 10 + (uint32_t)(a[i] - '0');
        *port = (i == n && v <= 65535) ? (uint16_t)v : 0;
    }
    if (host_end > 0 && a[host_end - 1] == '.')
        host_end--;
    http_str_init(&d, dst, cap);
    for (size_t i = 0; i < host_end; i++)
        if (a[i] <= 0x20 || a[i] == 0x7f)
            return; /* a control byte (or HTAB, space) cannot be in a host: no evidence */
    http_put_bytes(&d, a, host_end, 1);
}

/* Request target (RFC 9112 3.2): fills path, target_host, target_port. */
static void http_target(const uint8_t *t, size_t n, struct ksd_http_req *out)
{
    struct http_str d;
    size_t i = 0;

    http_str_init(&d, out->path, sizeof(out->path));
    if (out->is_connect) { /* authority-form */
        http_authority(t, n, out->target_host, sizeof(out->target_host), &out->target_port);
        out->has_target_host = out->target_host[0] != '\0';
        return;
    }
    /* absolute-form: scheme "://" authority path-abempty [ "?" query ] */
    while (i < n && (ksd_is_alnum(t[i]) || t[i] == '+' || t[i] == '-' || t[i] == '.'))
        i++;
    if (i > 0 && ksd_is_alpha(t[0]) && n - i >= 3 && t[i] == ':' && t[i + 1] == '/' &&
        t[i + 2] == '/') {
        size_t scheme_len = i, a = i + 3, e = a;
        uint16_t port = 0;
        if (http_eq(t, scheme_len, "http") || http_eq(t, scheme_len, "ws"))
            port = 80;
        else if (http_eq(t, scheme_len, "https") || http_eq(t, scheme_len, "wss"))
            port = 443;
        while (e < n && t[e] != '/' && t[e] != '?' && t[e] != '#')
            e++;
        http_authority(t + a, e - a, out->target_host, sizeof(out->target_host), &port);
        out->target_port = port;
        out->has_target_host = out->target_host[0] != '\0';
        if (e == n || t[e] != '/')
            http_put(&d, '/', 0);
        http_put_bytes(&d, t + e, n - e, 0);
        return;
    }
    http_put_bytes(&d, t, n, 0); /* origin-form or asterisk-form */
}

/* Parse a complete request line (CR/LF removed). */
static int http_request_line(struct ksd_rd line, struct ksd_http_req *out)
{
    uint8_t buf[KSD_HTTP_VALUE_BUF];
    size_t n = rd_left(&line);
    size_t m = 0, last_sp = 0, t0, t1;
    uint8_t c = 0;

    if (http_check_line_prefix(line) != KSD_OK)
        return KSD_EINVAL;
    while (m < n && rd_peek_ok(&line, m, &c) && c != ' ')
        m++;
    if (m == 0 || m == n)
        return KSD_EINVAL;
    for (size_t i = n; i > m; i--)
        if (rd_peek_ok(&line, i - 1, &c) && c == ' ') {
            last_sp = i - 1;
            break;
        }
    /* HTTP-version = "HTTP/" DIGIT "." DIGIT, only 1.x accepted */
    if (n - last_sp - 1 != 8)
        return KSD_EINVAL;
    struct ksd_rd v = line;
    rd_skip(&v, last_sp + 1);
    const uint8_t *ver = rd_bytes(&v, 8);
    if (!ver || !http_eq(ver, 5, "http/") || ver[5] != '1' || ver[6] != '.' ||
        !ksd_is_digit(ver[7]))
        return KSD_EINVAL;
    out->version_minor = (uint8_t)(ver[7] - '0');

    const uint8_t *meth = rd_bytes(&line, m);
    memcpy(out->method, meth, m);
    out->method[m] = '\0';
    out->is_connect = m == 7 && memcmp(meth, "CONNECT", 7) == 0;

    t0 = m;
    t1 = last_sp;
    while (t0 < t1 && rd_peek_ok(&line, t0 - m, &c) && c == ' ')
        t0++;
    while (t1 > t0 && rd_peek_ok(&line, t1 - 1 - m, &c) && c == ' ')
        t1--;
    if (t1 == t0)
        return KSD_EINVAL;
    rd_skip(&line, t0 - m);
    struct ksd_rd tr = rd_sub(&line, t1 - t0);
    size_t tn = http_copy(&tr, buf, sizeof(buf));
    http_target(buf, tn, out);
    return KSD_OK;
}

/* ------------------------------------------------------------ headers */

/* Host value (RFC 9110 7.2), normalised as the oracle does. */
static void http_host(const uint8_t *v, size_t n, struct ksd_http_req *out)
{
    struct http_str d;

    if (n > 0 && v[0] == '[') {
        for (size_t i = 1; i < n; i++)
            if (v[i] == ']') {
                n = i + 1;
                break;
            }
    } else {
        size_t colons = 0, last = 0;
        for (size_t i = 0; i < n; i++)
            if (v[i] == ':') {
                colons++;
                last = i;
            }
        if (colons == 1) {
            size_t i = last + 1;
            while (i < n && ksd_is_digit(v[i]))
                i++;
            if (i == n)
                n = last;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (v[i] < 0x20 || v[i] == 0x7f) { /* NUL, CR, HTAB, ... cannot be in a uri-host */
            out->host_bad = 1;
            return;
        }
    if (n > 0 && v[n - 1] == '.')
        n--;
    http_str_init(&d, out->host, sizeof(out->host));
    http_put_bytes(&d, v, n, 1);
    out->has_host = 1;
}

struct http_field {
    uint8_t name[32];                /* lower-cased field name (prefix when longer) */
    size_t name_len;                 /* its real length */
    uint8_t val[KSD_HTTP_VALUE_BUF]; /* value, OWS trimmed, folds joined by SP */
    size_t val_len;                  /* bytes in val */
    int active;                      /* a field is pending */
};

static void http_apply(struct http_field *f, struct ksd_http_req *out, int *cl_seen)
{
    const uint8_t *nm = f->name;
    size_t nl = f->name_len;

    if (!f->active)
        return;
    f->active = 0;
    if (http_eq(nm, nl, "host")) {
        if (!out->has_host && !out->host_bad)
            http_host(f->val, f->val_len, out);
    } else if (http_eq(nm, nl, "user-agent")) {
        if (!out->has_ua) {
            struct http_str d;
            http_str_init(&d, out->user_agent, sizeof(out->user_agent));
            http_put_bytes(&d, f->val, f->val_len, 0);
            out->has_ua = 1;
        }
    } else if (http_eq(nm, nl, "content-length")) {
        uint64_t v = 0;
        size_t i = 0;
        for (; i < f->val_len && ksd_is_digit(f->val[i]); i++) {
            if (v > (UINT64_MAX - 9) / 10)
                break;
            v = v * 10 + (uint64_t)(f->val[i] - '0');
        }
        if (!*cl_seen && i == f->val_len && i > 0 && f->val_len < sizeof(f->val)) {
            out->content_length = v;
            *cl_seen = 1;
        }
    } else if (http_eq(nm, nl, "transfer-encoding")) {
        size_t s = f->val_len;
        while (s > 0 && f->val[s - 1] != ',')
            s--;
        while (s < f->val_len && http_is_ows(f->val[s]))
            s++;
        out->chunked = http_eq(f->val + s, f->val_len - s, "chunked");
    }
}

/* Append the OWS-trimmed bytes of r to the field value. */
static void http_append_value(struct http_field *f, struct ksd_rd *r)
{
    uint8_t buf[KSD_HTTP_VALUE_BUF];
    size_t n = http_copy(r, buf, sizeof(buf));
    size_t a = 0;

    while (a < n && http_is_ows(buf[a]))
        a++;
    while (n > a && http_is_ows(buf[n - 1]))
        n--;
    if (f->val_len > 0 && n > a && f->val_len < sizeof(f->val))
        f->val[f->val_len++] = ' ';
    size_t room = sizeof(f->val) - f->val_len;
    if (n - a > room)
        n = a + room;
    memcpy(f->val + f->val_len, buf + a, n - a);
    f->val_len += n - a;
}

/* Start a field from a field line; a line that is not "token: value" is
 * ignored (f stays inactive). */
static void http_field_line(struct http_field *f, struct ksd_rd line)
{
    size_t n = rd_left(&line), i = 0;
    uint8_t c = 0;

    for (; i < n; i++) {
        rd_peek_ok(&line, i, &c);
        if (c == ':' || !http_is_tchar(c))
            break;
    }
    if (i == 0 || i == n || c != ':')
        return;
    f->name_len = i;
    for (size_t k = 0; k < i && k < sizeof(f->name); k++)
        f->name[k] = ksd_ascii_lower(rd_u8(&line));
    rd_skip(&line, i - (i < sizeof(f->name) ? i : sizeof(f->name)) + 1);
    f->val_len = 0;
    f->active = 1;
    http_append_value(f, &line);
}

static int http_more(size_t len)
{
    return len >= KSD_HTTP_MAX_HEADER_BYTES ? KSD_ELIMIT : KSD_EAGAIN;
}

int ksd_http_parse_request(const uint8_t *p, size_t len, struct ksd_http_req *out, size_t *consumed)
{
    struct ksd_rd r = rd_make(p, len < KSD_HTTP_MAX_HEADER_BYTES ? len : KSD_HTTP_MAX_HEADER_BYTES);
    struct ksd_rd line;
    struct http_field f;
    int cl_seen = 0, rc;
    uint8_t c = 0;

    memset(out, 0, sizeof(*out));
    f.active = 0;

    /* RFC 9112 2.2: empty lines before the request line. */
    for (unsigned i = 0; i < KSD_HTTP_MAX_LEADING_EOL; i++) {
        if (!rd_peek_ok(&r, 0, &c))
            return http_more(len);
        if (c == '\n') {
            rd_skip(&r, 1);
        } else if (c == '\r') {
            if (!rd_peek_ok(&r, 1, &c))
                return http_more(len);
            if (c != '\n')
                return KSD_EINVAL;
            rd_skip(&r, 2);
        } else {
            break;
        }
    }
    if (http_check_line_prefix(r) != KSD_OK)
        return KSD_EINVAL;
    if (!http_line(&r, &line))
        return http_more(len);
    rc = http_request_line(line, out);
    if (rc != KSD_OK)
        goto fail;

    for (unsigned i = 0;; i++) {
        if (!http_line(&r, &line)) {
            rc = http_more(len);
            goto fail;
        }
        if (rd_left(&line) == 0)
            break;
        if (i >= KSD_HTTP_MAX_HEADERS) {
            rc = KSD_ELIMIT;
            goto fail;
        }
        rd_peek_ok(&line, 0, &c);
        if (http_is_ows(c)) { /* obs-fold */
            if (f.active)
                http_append_value(&f, &line);
            continue;
        }
        http_apply(&f, out, &cl_seen);
        http_field_line(&f, line);
    }
    http_apply(&f, out, &cl_seen);
    *consumed = rd_off(&r);
    return KSD_OK;

fail:
    memset(out, 0, sizeof(*out));
    return rc;
}

/* ---------------------------------------------------------------- probe */

int ksd_http_probe(const uint8_t *p, size_t len)
{
    static const char *const methods[] = {
        "GET",
        "POST",
        "HEAD",
        "PUT",
        "DELETE",
        "OPTIONS",
        "CONNECT",
        "PATCH",
        "TRACE",
        "PROPFIND",
        "PROPPATCH",
        "MKCOL",
        "COPY",
        "MOVE",
        "LOCK",
        "UNLOCK",
        "SEARCH",
        "REPORT",
        "MKCALENDAR",
        "ACL",
        "BIND",
        "UNBIND",
        "REBIND",
        "MKACTIVITY",
        "CHECKOUT",
        "CHECKIN",
        "UNCHECKOUT",
        "MERGE",
        "LABEL",
        "UPDATE",
        "VERSION-CONTROL",
        "MKWORKSPACE",
        "ORDERPATCH",
    };
    struct ksd_rd r = rd_make(p, len);

    for (size_t i = 0; i < KSD_ARRAY_LEN(methods); i++) {
        size_t n = strlen(methods[i]);
        if (!rd_has(&r, n + 1))
            continue;
        struct ksd_rd t = r;
        const uint8_t *b = rd_bytes(&t, n + 1);
        if (memcmp(b, methods[i], n) == 0 && b[n] == ' ')
            return 1;
    }
    return 0;
}
