/*
 * hosttable.h - the flagged-host table `ksd --hosts` prints at the end of a
 * run: the host records the workers kept (sensor/path/correlate.h), turned
 * into the records `ksd report` reads from Redis and printed by the same
 * formatter, so that both tables say the same thing about the same events.
 */
#ifndef KSD_HOSTTABLE_H
#define KSD_HOSTTABLE_H

#include <stdio.h>

struct ksd_pool;

/* Print the host table of every worker of p (once the workers have
 * stopped). 0, or -1 on a write error or when memory ran out. */
int ksd_hosttable_print(struct ksd_pool *p, FILE *out);

#endif
