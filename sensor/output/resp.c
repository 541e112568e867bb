/*
 * resp.c - the slow paths of the RESP2 writer of resp.h: growing the
 * buffer (doubling from 64 KiB) and whole commands from an argument vector.
 * It does not read replies (hiredis does).
 */
#include "sensor/output/resp.h"

#include <stdlib.h>

int ksd_resp_grow(struct ksd_resp *r, size_t more)
{
    if (r->len + more <= r->cap)
        return 0;
    size_t cap = r->cap ? r->cap : 65536;
    while (cap < r->len + more)
        cap *= 2;
    char *b = realloc(r->buf, cap);
    if (!b) {
        r->oom = 1;
        return -1;
    }
    r->buf = b;
    r->cap = cap;
    return 0;
}

void ksd_resp_free(struct ksd_resp *r)
{
    free(r->buf);
    r->buf = NULL;
    r->len = r->cap = 0;
}

void ksd_resp_command(struct ksd_resp *r, int argc, const char *const *argv, const size_t *argl)
{
    ksd_resp_head(r, '*', argc > 0 ? (uint64_t)argc : 0);
    for (int i = 0; i < argc; i++)
        ksd_resp_bulk(r, argv[i], argl[i]);
}
