/*
 * known.c - known-host and site lists (known.h). Entries are kept sorted by
 * prefix length, longest first, so the first match is the longest prefix.
 * Lookups happen per detection event, not per packet, so a linear scan of a
 * few thousand prefixes costs nothing measurable; the list is immutable once
 * loaded and replaced by pointer on reload.
 */
#include "sensor/path/known.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    uint8_t family;
    uint8_t plen;
    uint8_t addr[16];
    char label[KSD_KNOWN_LABEL_MAX];
};

struct ksd_known {
    struct entry *v;
    size_t n;
};

static int by_plen_desc(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return (int)y->plen - (int)x->plen;
}

static int parse_prefix(const char *s, struct entry *e)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    if (alen == 0 || alen >= sizeof(buf))
        return -1;
    memcpy(buf, s, alen);
    buf[alen] = '\0';
    int max;
    if (inet_pton(AF_INET, buf, e->addr) == 1) {
        e->family = 4;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, e->addr) == 1) {
        e->family = 6;
        max = 128;
    } else {
        return -1;
    }
    long plen = max;
    if (slash) {
        char *end;
        errno = 0;
        plen = strtol(slash + 1, &end, 10);
        if (errno || end == slash + 1 || *end || plen < 0 || plen > max)
            return -1;
    }
    e->plen = (uint8_t)plen;
    /* clear host bits so lookups compare whole bytes */
    for (int i = 0; i < 16; i++) {
        int bits = (int)plen - i * 8;
        if (bits <= 0)
            e->addr[i] = 0;
        else if (bits < 8)
            e->addr[i] &= (uint8_t)(0xff << (8 - bits));
    }
    return 0;
}

static int valid_label(const char *s, int kind)
{
    if (kind == KSD_KNOWN_HOSTS)
        return strcmp(s, "managed") == 0 || strcmp(s, "exception") == 0;
    if (!*s || strlen(s) >= KSD_KNOWN_LABEL_MAX)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return 0;
    return 1;
}

struct ksd_known *ksd_known_load(const char *path, int kind, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct ksd_known *k = calloc(1, sizeof(*k));
    size_t cap = 0;
    char line[1024];
    int lineno = 0;
    if (!k)
        goto nomem;
    while (fgets(line, sizeof(line), fp)) {
        lineno++;
        size_t l = strlen(line);
        if (l == sizeof(line) - 1 && line[l - 1] != '\n') {
            snprintf(err, errlen, "%s:%d: line too long", path, lineno);
            goto fail;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *save = NULL;
        char *pfx = strtok_r(line, " \t\r\n", &save);
        if (!pfx)
            continue;
        char *label = strtok_r(NULL, " \t\r\n", &save);
        char *extra = strtok_r(NULL, " \t\r\n", &save);
        struct entry e;
        memset(&e, 0, sizeof(e));
        if (parse_prefix(pfx, &e) < 0) {
            snprintf(err, errlen, "%s:%d: bad address or prefix '%.64s'", path, lineno, pfx);
            goto fail;
        }
        if (!label) {
            snprintf(err, errlen, "%s:%d: missing %s after the prefix", path, lineno,
                     kind == KSD_KNOWN_HOSTS ? "label (managed or exception)" : "site name");
            goto fail;
        }
        if (!valid_label(label, kind)) {
            snprintf(err, errlen, "%s:%d: bad %s '%.64s'%s", path, lineno,
                     kind == KSD_KNOWN_HOSTS ? "label" : "site name", label,
                     kind == KSD_KNOWN_HOSTS ? " (expected managed or exception)" : "");
            goto fail;
        }
        if (extra) {
            snprintf(err, errlen, "%s:%d: unexpected '%.64s' after the label", path, lineno, extra);
            goto fail;
        }
        if (k->n >= KSD_KNOWN_MAX_ENTRIES) {
            snprintf(err, errlen, "%s:%d: more than %d entries", path, lineno,
                     KSD_KNOWN_MAX_ENTRIES);
            goto fail;
        }
        if (k->n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct entry *nv = realloc(k->v, ncap * sizeof(*nv));
            if (!nv)
                goto nomem;
            k->v = nv;
            cap = ncap;
        }
        snprintf(e.label, sizeof(e.label), "%s", label);
        k->v[k->n++] = e;
    }
    if (ferror(fp)) {
        snprintf(err, errlen, "%s: read error", path);
        goto fail;
    }
    fclose(fp);
    if (k->n > 0) /* an empty list has no array: qsort must not see NULL */
        qsort(k->v, k->n, sizeof(*k->v), by_plen_desc);
    return k;
nomem:
    snprintf(err, errlen, "%s: out of memory", path);
fail:
    fclose(fp);
    ksd_known_free(k);
    return NULL;
}

void ksd_known_free(struct ksd_known *k)
{
    if (!k)
        return;
    free(k->v);
    free(k);
}

size_t ksd_known_count(const struct ksd_known *k)
{
    return k ? k->n : 0;
}

const char *ksd_known_lookup(const struct ksd_known *k, int family, const uint8_t *addr)
{
    if (!k)
        return NULL;
    for (size_t i = 0; i < k->n; i++) {
        const struct entry *e = &k->v[i];
        if (e->family != family)
            continue;
        int full = e->plen / 8, rest = e->plen % 8;
        if (memcmp(e->addr, addr, (size_t)full) != 0)
            continue;
        if (rest && (addr[full] & (uint8_t)(0xff << (8 - rest))) != e->addr[full])
            continue;
        return e->label;
    }
    return NULL;
}
