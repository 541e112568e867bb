/*
 * fuzz_http.c - libFuzzer harness for dissectors/http.c: the probe, and
 * ksd_http_parse_request over the input as a client stream (pipelined
 * requests followed while KSD_OK), plus a sample of the prefixes of the
 * first request (up to 4096 bytes): never KSD_OK, and only KSD_EAGAIN when
 * the whole input is accepted (stateless re-parse contract).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dissectors/http.h"
#include "dissectors/ksd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_strings(const struct ksd_http_req *q)
{
    if (!memchr(q->method, 0, sizeof(q->method)) || !memchr(q->host, 0, sizeof(q->host)) ||
        !memchr(q->user_agent, 0, sizeof(q->user_agent)) ||
        !memchr(q->target_host, 0, sizeof(q->target_host)) || !memchr(q->path, 0, sizeof(q->path)))
        abort();
}

/* A proper prefix of a header block is never complete, and never rejected
 * when the whole input is accepted. */
static void check_prefix(const uint8_t *p, size_t n, int whole_rc)
{
    struct ksd_http_req part;
    size_t used;
    uint8_t *pre = malloc(n ? n : 1); /* exact size: ASan sees reads past n */

    if (!pre)
        return;
    memcpy(pre, p, n);
    int r = ksd_http_parse_request(pre, n, &part, &used);
    free(pre);
    if (r == KSD_OK || (whole_rc == KSD_OK && r != KSD_EAGAIN))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ksd_http_req whole, part;
    size_t used = 0, used2;
    uint8_t *p = malloc(size ? size : 1);

    if (!p)
        return 0;
    if (size)
        memcpy(p, data, size);
    (void)ksd_http_probe(p, size);

    int rc = ksd_http_parse_request(p, size, &whole, &used);
    if (rc == KSD_OK) {
        check_strings(&whole);
        if (used == 0 || used > size || used > KSD_HTTP_MAX_HEADER_BYTES)
            abort();
    }
    /* prefixes of the first request: about 16 spread out, and the last 3 */
    size_t lim = rc == KSD_OK ? used : size;
    if (lim <= 4096) {
        size_t step = lim / 16 ? lim / 16 : 1;
        for (size_t n = 0; n < lim; n += step)
            check_prefix(p, n, rc);
        for (size_t n = lim > 3 ? lim - 3 : 0; n < lim; n++)
            check_prefix(p, n, rc);
        if (rc == KSD_OK) {
            if (ksd_http_parse_request(p, used, &part, &used2) != KSD_OK || used2 != used ||
                memcmp(&part, &whole, sizeof(part)) != 0)
                abort();
        }
    }
    /* pipelined requests */
    size_t off = used;
    for (unsigned i = 0; rc == KSD_OK && i < 32 && off < size; i++) {
        rc = ksd_http_parse_request(p + off, size - off, &part, &used2);
        if (rc == KSD_OK) {
            check_strings(&part);
            off += used2;
        }
    }
    free(p);
    return 0;
}
