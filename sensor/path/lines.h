/*
 * lines.h - allocation on whole cache lines, for the state of one worker
 * thread. Objects malloc places side by side (one worker's flow table next
 * to another's) share the cache line where they meet; when both threads
 * write their own object's edge every packet, the line moves between the
 * cores every packet (false sharing). An object that starts and ends on a
 * line boundary shares none.
 */
#ifndef KSD_LINES_H
#define KSD_LINES_H

#include <stdlib.h>
#include <string.h>

#define KSD_LINE 64

/* n bytes, zeroed, on whole 64-byte lines; free() releases them. NULL when out of memory. */
static inline void *ksd_zalloc_lines(size_t n)
{
    size_t sz = (n + KSD_LINE - 1) & ~(size_t)(KSD_LINE - 1);
    void *p = aligned_alloc(KSD_LINE, sz ? sz : KSD_LINE);
    if (p)
        memset(p, 0, sz ? sz : KSD_LINE);
    return p;
}

#endif
