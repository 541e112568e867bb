/*
 * fuzz_decode.c - libFuzzer harness for dissectors/decode.c and
 * dissectors/ipfrag.c.
 *
 * Input: a sequence of records, each [link-type selector (1 byte)]
 * [length (2 bytes, big-endian)][frame bytes]; a short last record takes
 * what is left. Every frame goes through ksd_decode; fragments go to one
 * reassembler per input, and completed datagrams through ksd_decode_ip.
 * Invariants checked: the payload view lies inside the frame (or the
 * reassembled buffer), captured payload never exceeds the declared one, a
 * reason is always a known enum value.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dissectors/decode.h"
#include "dissectors/ipfrag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int linktypes[] = {
    KSD_DLT_EN10MB,     KSD_DLT_NULL,       KSD_DLT_LOOP,
    KSD_DLT_RAW,        KSD_DLT_RAW14,      KSD_DLT_RAW101,
    KSD_DLT_IPV4,       KSD_DLT_IPV6,       KSD_DLT_PPP,
    KSD_DLT_LINUX_SLL,  KSD_DLT_LINUX_SLL2, KSD_DLT_IEEE802_11_RADIO,
    KSD_DLT_IEEE802_11, KSD_DLT_NFLOG,      4242,
};

static void check(int rc, const struct ksd_pkt *p, const uint8_t *buf, size_t len)
{
    if (rc < 0 || rc >= KSD_DEC__COUNT)
        abort();
    if (rc == KSD_DEC_OK) {
        if (p->payload_len > p->wire_payload_len)
            abort();
        if (p->payload_len && (p->payload < buf || p->payload + p->payload_len > buf + len))
            abort();
        if (p->layers > KSD_MAX_LAYERS)
            abort();
    }
    if (rc == KSD_DEC_FRAGMENT) {
        if (p->frag.data_len > p->frag.wire_len)
            abort();
        if (p->frag.data_len && (p->frag.data < buf || p->frag.data + p->frag.data_len > buf + len))
            abort();
        if (p->frag.hdr < buf || p->frag.hdr + p->frag.hdr_len > buf + len)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ksd_ipfrag *f = ksd_ipfrag_new();
    if (!f)
        return 0;
    size_t off = 0;
    uint64_t now = 0;
    for (int rec = 0; rec < 64 && off < size; rec++) {
        int lt = linktypes[data[off] % (sizeof(linktypes) / sizeof(linktypes[0]))];
        size_t n = size - off - 1;
        size_t hdr = 1;
        if (size - off >= 3) {
            size_t want = (size_t)data[off + 1] << 8 | data[off + 2];
            hdr = 3;
            n = size - off - 3;
            if (want < n)
                n = want;
        }
        const uint8_t *frame = data + off + hdr;
        off += hdr + n;
        /* copy to an exact-size buffer so ASan sees any over-read */
        uint8_t *buf = malloc(n ? n : 1);
        if (!buf)
            break;
        for (size_t i = 0; i < n; i++)
            buf[i] = frame[i];
        struct ksd_pkt p, q;
        int rc = ksd_decode(lt, buf, n, &p);
        check(rc, &p, buf, n);
        /* the shortcut for plain frames gives what the walk gives */
        if (ksd_decode_walked(lt, buf, n, &q) != rc || memcmp(&p, &q, sizeof(p)) != 0)
            abort();
        now += 1000000;
        if (rc == KSD_DEC_FRAGMENT) {
            const uint8_t *out;
            size_t out_len;
            if (ksd_ipfrag_add(f, &p, now, &out, &out_len) == 1) {
                struct ksd_pkt q = p;
                rc = ksd_decode_ip(out, out_len, &q);
                check(rc, &q, out, out_len);
            }
        }
        free(buf);
    }
    ksd_ipfrag_free(f);
    return 0;
}
