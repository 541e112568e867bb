/*
 * hosttable.h - the flagged-host table `ksd --hosts` prints at the end of a
 * run: the host records the workers kept (sensor/path/correlate.h), turned
 * into the records `ksd report` reads from Redis and printed by the same
 * formatter, so that both tables say the same thing about the same events;
 * --hosts-csv and --hosts-json are that table in the report's CSV and JSON.
 */
#ifndef KSD_HOSTTABLE_H
#define KSD_HOSTTABLE_H

#include <stdio.h>

struct ksd_pool;

/* Write the host table of every worker of p (once the workers have stopped)
 * in fmt (enum ksd_report_format: table, CSV or JSON — the formats of `ksd
 * report`); out NULL only counts. Returns the number of hosts, or -1 on a
 * write error or when memory ran out. */
long ksd_hosttable_write(struct ksd_pool *p, int fmt, FILE *out);

#endif
