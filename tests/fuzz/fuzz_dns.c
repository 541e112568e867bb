/*
 * fuzz_dns.c - libFuzzer harness for dissectors/dns.c: ksd_dns_parse on the
 * input as one message, the probe, and the input as a DNS-over-TCP stream
 * (every framed message parsed). Checks the output invariants: counts within
 * the caps, names NUL-terminated inside their buffers, err set exactly when
 * the return code is not KSD_OK.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dissectors/dns.h"
#include "dissectors/ksd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ksd_dns_msg msg;

static void check(int rc)
{
    if (msg.n_questions > KSD_DNS_MAX_QUESTIONS || msg.n_answers > KSD_DNS_MAX_ANSWERS)
        abort();
    if ((rc == KSD_OK) != (msg.err == KSD_DNS_OK))
        abort();
    if (rc != KSD_OK && rc != KSD_ETRUNC && rc != KSD_EINVAL && rc != KSD_ELIMIT)
        abort();
    for (unsigned i = 0; i < msg.n_questions; i++)
        if (!memchr(msg.q[i].name, 0, KSD_DNS_NAME_BUF))
            abort();
    for (unsigned i = 0; i < msg.n_answers; i++) {
        const struct ksd_dns_rr *rr = &msg.an[i];
        if (!memchr(rr->owner, 0, KSD_DNS_NAME_BUF) || !memchr(rr->target, 0, KSD_DNS_NAME_BUF))
            abort();
        if (rr->family != 0 && rr->family != 4 && rr->family != 6)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy so that ASan sees any read past the end */
    uint8_t *p = malloc(size ? size : 1);
    if (!p)
        return 0;
    if (size)
        memcpy(p, data, size);

    check(ksd_dns_parse(p, size, &msg));
    (void)ksd_dns_probe(p, size);

    size_t off = 0, mo, ml;
    for (unsigned i = 0; i < 64 && off < size; i++) {
        if (ksd_dns_tcp_frame(p + off, size - off, &mo, &ml) != KSD_OK)
            break;
        if (mo + ml > size - off)
            abort();
        check(ksd_dns_parse(p + off + mo, ml, &msg));
        off += mo + ml;
    }
    free(p);
    return 0;
}
