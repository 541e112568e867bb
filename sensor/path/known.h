/*
 * known.h - address lists an operator maintains: known hosts (CIDR ->
 * "managed" or "exception") and the site map (CIDR -> site name). Events and
 * host records carry the labels of their client; longest prefix wins.
 *
 * The two known-hosts labels mean: "managed", a host the management server
 * looks after (its product is expected until the migration reaches it);
 * "exception", a host allowed to run the product on purpose (a malware lab,
 * an analyst's machine, a waived host). The sensor only attaches the label;
 * what it changes is decided by the readers: an exception keeps its verdict
 * but is not unmanaged (ksd report --unmanaged), does not trip --fail-if-any,
 * is marked in tables and the dashboard, and is left out of the migration
 * trend (sensor/analyst/report.h, sensor/output/emit.c write_trend).
 *
 * File format, one entry per line, '#' starts a comment:
 *     10.1.0.0/16     managed        # known-hosts file
 *     10.1.2.3        exception
 *     10.1.0.0/16     hq-berlin      # sites file
 */
#ifndef KSD_KNOWN_H
#define KSD_KNOWN_H

#include <stddef.h>
#include <stdint.h>

#define KSD_KNOWN_MAX_ENTRIES 1000000 /* lines accepted per file */
#define KSD_KNOWN_LABEL_MAX   64

enum ksd_known_kind {
    KSD_KNOWN_HOSTS = 0, /* labels must be "managed" or "exception" */
    KSD_KNOWN_SITES,     /* labels are site names: letters, digits, '-', '_', '.' */
};

struct ksd_known;

/*
 * Load a file. On error returns NULL and writes "FILE:LINE: reason" (or
 * "FILE: reason") into err.
 */
struct ksd_known *ksd_known_load(const char *path, int kind, char *err, size_t errlen);
void ksd_known_free(struct ksd_known *k);
size_t ksd_known_count(const struct ksd_known *k);

/* Label of the longest prefix holding addr (family 4 or 6), or NULL. */
const char *ksd_known_lookup(const struct ksd_known *k, int family, const uint8_t *addr);

#endif
