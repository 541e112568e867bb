/*
 * fuzz_netbios.c - libFuzzer harness for dissectors/netbios.c:
 * ksd_nbns_parse on the input. Checks: only the documented return codes,
 * the address count within its cap, the name NUL-terminated and printable,
 * and KSD_OK only with a name and at least one address.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dissectors/ksd.h"
#include "dissectors/netbios.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ksd_nbns_msg m;
    int rc = ksd_nbns_parse(data, size, &m);
    if (rc != KSD_OK && rc != KSD_ETRUNC && rc != KSD_EINVAL && rc != KSD_ENOTSUP)
        abort();
    if (m.n_addrs > KSD_NBNS_MAX_ADDRS)
        abort();
    const char *end = memchr(m.name, 0, sizeof(m.name));
    if (!end)
        abort();
    for (const char *s = m.name; s < end; s++)
        if (*s <= 0x20 || *s > 0x7e)
            abort();
    if (rc == KSD_OK && m.n_addrs == 0)
        abort();
    return 0;
}
