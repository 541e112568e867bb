/*
 * fuzz_sig.c - libFuzzer harness for the rule-file loader: arbitrary bytes go
 * to ksd_sig_load_buf; when they load, every matcher runs on names, paths
 * and addresses taken from the loaded rules and from the input itself, and
 * the set is freed. Checks the invariants a caller relies on: failure leaves
 * *out NULL with a reason; success gives a version and consistent counts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "signatures/sig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(const struct ksd_sigset *s, const uint8_t *data, size_t size)
{
    char buf[300];
    size_t n = size < sizeof(buf) - 1 ? size : sizeof(buf) - 1;
    memcpy(buf, data, n);
    buf[n] = '\0';

    /* the input's own bytes as a name, path, UA, DN and fingerprint */
    (void)ksd_sig_match_domain(s, buf, n);
    (void)ksd_sig_match_domain(s, buf, strlen(buf));
    (void)ksd_sig_match_http_path(s, buf, buf);
    (void)ksd_sig_match_http_ua(s, buf);
    (void)ksd_sig_match_cert(s, buf, buf);
    (void)ksd_sig_match_ja3(s, buf);
    (void)ksd_sig_match_ja4(s, buf);
    uint8_t addr[16] = {0};
    memcpy(addr, data, size < 16 ? size : 16);
    (void)ksd_sig_match_addr(s, 4, addr);
    (void)ksd_sig_match_addr(s, 6, addr);
    (void)ksd_sig_match_port(s, 6, (uint16_t)(size ? data[0] << 8 | data[size - 1] : 0));
    (void)ksd_sig_match_port(s, 17, (uint16_t)size);

    /* every rule's own pattern, and a name one label below it */
    size_t total = ksd_sig_count(s, -1), sum = 0;
    for (int k = 0; k < KSD_RULE__COUNT; k++)
        sum += ksd_sig_count(s, k);
    if (sum != total)
        abort();
    for (size_t i = 0; i < total && i < 64; i++) {
        const struct ksd_rule *r = ksd_sig_rule_at(s, i);
        if (r == NULL || r->id == NULL || r->pattern == NULL || r->source == NULL ||
            r->category == NULL || r->confidence > 100)
            abort();
        size_t pl = strlen(r->pattern);
        switch (r->kind) {
            case KSD_RULE_DOMAIN: {
                const struct ksd_rule *m = ksd_sig_match_domain(s, r->pattern, pl);
                if (r->match == KSD_SIG_EXACT && m != r)
                    abort(); /* an exact rule always wins for its own name */
                if (pl + 3 < sizeof(buf)) {
                    memcpy(buf, "ab.", 3);
                    memcpy(buf + 3, r->pattern, pl + 1);
                    (void)ksd_sig_match_domain(s, buf, pl + 3);
                }
                (void)ksd_sig_host_allowed(r, r->pattern, pl);
                break;
            }
            case KSD_RULE_HTTP_PATH:
                (void)ksd_sig_match_http_path(s, r->host ? r->host->pattern : NULL, r->pattern);
                break;
            case KSD_RULE_PORT:
                if (ksd_sig_match_port(s, r->proto, r->port_lo) == NULL)
                    abort();
                break;
            case KSD_RULE_JA3:
                if (ksd_sig_match_ja3(s, r->pattern) != r)
                    abort();
                break;
            case KSD_RULE_JA4:
                if (ksd_sig_match_ja4(s, r->pattern) != r)
                    abort();
                break;
            case KSD_RULE_CERT:
                if (ksd_sig_match_cert(s, r->pattern, r->pattern) == NULL)
                    abort();
                break;
            case KSD_RULE_HTTP_UA:
                if (ksd_sig_match_http_ua(s, r->pattern) == NULL)
                    abort();
                break;
            default:
                break;
        }
    }
    (void)ksd_sig_memory(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ksd_sigset *s = NULL;
    struct ksd_sig_error err;
    int rc = ksd_sig_load_buf("fuzz", (const char *)data, size, &s, &err);
    if (rc != 0) {
        if (s != NULL || err.reason[0] == '\0')
            abort();
        return 0;
    }
    if (s == NULL || ksd_sig_version(s)[0] == '\0')
        abort();
    exercise(s, data, size);
    ksd_sig_free(s);
    return 0;
}
