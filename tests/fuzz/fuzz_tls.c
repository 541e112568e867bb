/*
 * fuzz_tls.c - libFuzzer harness for dissectors/tls.c (and through it ja.c
 * and x509.c): the input is tried as a bare handshake message, as a client
 * stream (also cut at a data-chosen length first, as a stream that grows
 * over calls), as a server stream and as a DER certificate.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dissectors/ksd.h"
#include "dissectors/tls.h"
#include "dissectors/x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ksd_tls_hello h;
    static struct ksd_tls_server s;
    static struct ksd_x509_cert c;
    size_t consumed = 0;

    ksd_tls_parse_hello(data, size, 't', &h);
    ksd_tls_probe(data, size);

    /* The stream as it grows: a prefix first, then everything. */
    if (size > 0) {
        size_t cut = (size_t)data[size - 1] * size / 256;
        consumed = 0;
        ksd_tls_client_stream(data, cut, &consumed, &h);
    }
    consumed = 0;
    for (int i = 0; i < 4; i++) {
        size_t before = consumed;
        if (ksd_tls_client_stream(data, size, &consumed, &h) != KSD_OK)
            break;
        if (ksd_tls_hello_ja(&h) && (strlen(h.ja3) != 32 || strlen(h.ja4) != 36))
            __builtin_trap();
        if (consumed <= before || consumed > size)
            __builtin_trap();
    }
    if (ksd_tls_server_stream(data, size, &s) == KSD_OK && ksd_tls_server_ja3s(&s) &&
        strlen(s.ja3s) != 32)
        __builtin_trap();
    ksd_x509_parse(data, size, &c);
    return 0;
}
