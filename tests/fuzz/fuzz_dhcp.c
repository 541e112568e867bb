/*
 * fuzz_dhcp.c - libFuzzer harness for dissectors/dhcp.c: ksd_dhcp_parse on
 * the input. Checks: only the documented return codes, every name
 * NUL-terminated inside its buffer and printable ASCII only.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dissectors/dhcp.h"
#include "dissectors/ksd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *s)
{
    const char *end = memchr(s, 0, KSD_DHCP_NAME_MAX);
    if (!end)
        abort();
    for (; s < end; s++)
        if (*s < 0x20 || *s > 0x7e)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ksd_dhcp_msg m;
    int rc = ksd_dhcp_parse(data, size, &m);
    if (rc != KSD_OK && rc != KSD_ETRUNC && rc != KSD_EINVAL && rc != KSD_ELIMIT)
        abort();
    if ((rc == KSD_OK || rc == KSD_ELIMIT) && m.op != 1 && m.op != 2)
        abort();
    check_name(m.host);
    check_name(m.fqdn);
    check_name(m.vendor);
    return 0;
}
