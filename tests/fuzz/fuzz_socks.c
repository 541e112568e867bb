/*
 * fuzz_socks.c - libFuzzer harness for dissectors/socks.c: the probe, and
 * ksd_socks_parse_client over the input as the client's bytes. An accepted
 * request consumes at most the input, holds NUL-terminated text and a version
 * of 4 or 5; every proper prefix of it needs more bytes, and parsing exactly
 * the consumed bytes gives the same request (stateless re-parse contract).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dissectors/ksd.h"
#include "dissectors/socks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parse a copy of exactly n bytes, so that ASan sees reads past them. */
static int parse_copy(const uint8_t *p, size_t n, struct ksd_socks_req *q, size_t *used)
{
    uint8_t *c = malloc(n ? n : 1);
    if (!c)
        abort();
    memcpy(c, p, n);
    int rc = ksd_socks_parse_client(c, n, q, used);
    free(c);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ksd_socks_req whole, part;
    size_t used = 0, used2 = 0;

    (void)ksd_socks_probe(data, size);
    int rc = parse_copy(data, size, &whole, &used);
    if (rc != KSD_OK && rc != KSD_EAGAIN && rc != KSD_EINVAL)
        abort();
    if (rc != KSD_OK)
        return 0;
    if (used == 0 || used > size || (whole.version != 4 && whole.version != 5) ||
        !memchr(whole.target, 0, sizeof(whole.target)))
        abort();
    for (size_t n = 0; n < used; n++)
        if (parse_copy(data, n, &part, &used2) != KSD_EAGAIN)
            abort();
    if (parse_copy(data, used, &part, &used2) != KSD_OK || used2 != used ||
        memcmp(&part, &whole, sizeof(part)) != 0)
        abort();
    return 0;
}
