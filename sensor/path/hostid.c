/*
 * hostid.c - the sensor-wide address -> (MAC, announced names, vendor
 * class) tables (see hostid.h). Same layout as learned.c: set-associative,
 * KSD_HOSTID_WAYS addresses per set, a new address takes a free way or the
 * least recently updated one; striped mutexes. Each binding keeps its own
 * expiry, so a MAC seen yesterday and a name from a lease that ran out are
 * not reported. What it does not do: decide what counts as the client's own
 * MAC or name (the worker does), keep history (the latest binding wins).
 */
#include "sensor/path/hostid.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sensor/path/addrkey.h"

struct binding {
    int64_t seen_us;    /* capture time it was last announced */
    int64_t expires_us; /* 0 = none */
};

/* MAC table entry: every client seen with a MAC, kept small. */
struct mac_entry {
    uint8_t family; /* 0 = free */
    uint8_t addr[16];
    uint8_t mac[6];
    struct binding b; /* also the entry's age for replacement */
};

/* Name table entry: addresses that announced a name or a vendor class. */
struct name_entry {
    uint8_t family; /* 0 = free */
    uint8_t addr[16];
    int64_t touched_us; /* latest update of any binding */
    struct binding name_b[KSD_NAME__COUNT];
    char name[KSD_NAME__COUNT][KSD_HOSTID_NAME_MAX];
    struct binding vendor_b;
    char vendor[KSD_HOSTID_NAME_MAX];
};

struct ksd_hostid {
    pthread_mutex_t lock[KSD_HOSTID_LOCKS];
    struct mac_entry mac[KSD_HOSTID_SETS][KSD_HOSTID_WAYS];
    struct name_entry name[KSD_HOSTID_NAME_SETS][KSD_HOSTID_WAYS];
};

const char *ksd_name_src_name(int src)
{
    static const char *const names[KSD_NAME__COUNT] = {"dhcp", "netbios", "mdns", "llmnr"};
    return src >= 0 && src < KSD_NAME__COUNT ? names[src] : "";
}

void ksd_mac_str(const uint8_t mac[6], char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
}

struct ksd_hostid *ksd_hostid_new(void)
{
    struct ksd_hostid *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    for (int i = 0; i < KSD_HOSTID_LOCKS; i++)
        pthread_mutex_init(&t->lock[i], NULL);
    return t;
}

void ksd_hostid_free(struct ksd_hostid *t)
{
    if (!t)
        return;
    for (int i = 0; i < KSD_HOSTID_LOCKS; i++)
        pthread_mutex_destroy(&t->lock[i]);
    free(t);
}

/* Way of addr in a set of KSD_HOSTID_WAYS entries of size sz whose first
 * bytes are (family, addr[16]); when absent and create, a free way or the one
 * with the oldest age(), cleared and keyed. NULL when absent. Called with the
 * set's lock held. */
static void *way_of(void *ways, size_t sz, int64_t (*age)(const void *), int family,
                    const uint8_t *addr, int create)
{
    uint8_t *w = ways, *old = w;
    for (int i = 0; i < KSD_HOSTID_WAYS; i++) {
        uint8_t *e = w + (size_t)i * sz;
        if (ksd_addrkey_eq(e[0], e + 1, family, addr))
            return e;
    }
    if (!create)
        return NULL;
    for (int i = 0; i < KSD_HOSTID_WAYS; i++) {
        uint8_t *e = w + (size_t)i * sz;
        if (!e[0]) {
            old = e;
            break;
        }
        if (age(e) < age(old))
            old = e;
    }
    memset(old, 0, sz);
    old[0] = (uint8_t)family;
    memcpy(old + 1, addr, family == 4 ? 4 : 16);
    return old;
}

static int64_t mac_age(const void *e)
{
    return ((const struct mac_entry *)e)->b.seen_us;
}

static int64_t name_age(const void *e)
{
    return ((const struct name_entry *)e)->touched_us;
}

static int live(const struct binding *b, int64_t at_us)
{
    return b->seen_us && b->seen_us <= at_us && b->expires_us > at_us;
}

/* Update binding b whose value (val, n bytes) lives at dst. */
static int set_value(struct binding *b, void *dst, const void *val, size_t n, int64_t now_us,
                     int64_t expires_us)
{
    int changed = !live(b, now_us) || memcmp(dst, val, n) != 0;
    memcpy(dst, val, n);
    b->seen_us = now_us;
    b->expires_us = expires_us;
    return changed;
}

static pthread_mutex_t *lock_of(struct ksd_hostid *t, int family, const uint8_t *addr)
{
    return &t->lock[ksd_addrkey_hash(family, addr) % KSD_HOSTID_LOCKS];
}

/* Update one name binding (what 1: name of source src; 2: vendor class). */
static int set_name_binding(struct ksd_hostid *t, int family, const uint8_t *addr, int what,
                            int src, const char *val, int64_t now_us, int64_t expires_us)
{
    if (!t || (family != 4 && family != 6))
        return -1;
    uint32_t h = ksd_addrkey_hash(family, addr);
    pthread_mutex_t *lk = lock_of(t, family, addr);
    pthread_mutex_lock(lk);
    struct name_entry *e = way_of(t->name[h % KSD_HOSTID_NAME_SETS], sizeof(struct name_entry),
                                  name_age, family, addr, 1);
    int changed =
        what == 1
            ? set_value(&e->name_b[src], e->name[src], val, KSD_HOSTID_NAME_MAX, now_us, expires_us)
            : set_value(&e->vendor_b, e->vendor, val, KSD_HOSTID_NAME_MAX, now_us, expires_us);
    e->touched_us = now_us;
    pthread_mutex_unlock(lk);
    return changed;
}

int ksd_hostid_set_mac(struct ksd_hostid *t, int family, const uint8_t *addr, const uint8_t mac[6],
                       int64_t now_us, int64_t expires_us)
{
    if (!t || (family != 4 && family != 6))
        return -1;
    uint32_t h = ksd_addrkey_hash(family, addr);
    pthread_mutex_t *lk = lock_of(t, family, addr);
    pthread_mutex_lock(lk);
    struct mac_entry *e =
        way_of(t->mac[h % KSD_HOSTID_SETS], sizeof(struct mac_entry), mac_age, family, addr, 1);
    int changed = set_value(&e->b, e->mac, mac, 6, now_us, expires_us);
    pthread_mutex_unlock(lk);
    return changed;
}

int ksd_hostid_set_name(struct ksd_hostid *t, int family, const uint8_t *addr, int src,
                        const char *name, int64_t now_us, int64_t expires_us)
{
    char buf[KSD_HOSTID_NAME_MAX] = {0};
    if (src < 0 || src >= KSD_NAME__COUNT || !name || !*name)
        return -1;
    snprintf(buf, sizeof(buf), "%s", name);
    return set_name_binding(t, family, addr, 1, src, buf, now_us, expires_us);
}

int ksd_hostid_set_vendor(struct ksd_hostid *t, int family, const uint8_t *addr, const char *vendor,
                          int64_t now_us, int64_t expires_us)
{
    char buf[KSD_HOSTID_NAME_MAX] = {0};
    if (!vendor || !*vendor)
        return -1;
    snprintf(buf, sizeof(buf), "%s", vendor);
    return set_name_binding(t, family, addr, 2, 0, buf, now_us, expires_us);
}

int ksd_hostid_get(struct ksd_hostid *t, int family, const uint8_t *addr, int64_t at_us,
                   struct ksd_hostid_view *out)
{
    memset(out, 0, sizeof(*out));
    out->name_source = "";
    if (!t || (family != 4 && family != 6))
        return 0;
    uint32_t h = ksd_addrkey_hash(family, addr);
    pthread_mutex_t *lk = lock_of(t, family, addr);
    int any = 0;
    pthread_mutex_lock(lk);
    const struct mac_entry *m =
        way_of(t->mac[h % KSD_HOSTID_SETS], sizeof(struct mac_entry), mac_age, family, addr, 0);
    if (m && live(&m->b, at_us)) {
        ksd_mac_str(m->mac, out->mac);
        any = 1;
    }
    const struct name_entry *e = way_of(t->name[h % KSD_HOSTID_NAME_SETS],
                                        sizeof(struct name_entry), name_age, family, addr, 0);
    for (int src = 0; e && src < KSD_NAME__COUNT; src++)
        if (live(&e->name_b[src], at_us)) {
            snprintf(out->name, sizeof(out->name), "%s", e->name[src]);
            out->name_source = ksd_name_src_name(src);
            any = 1;
            break;
        }
    if (e && live(&e->vendor_b, at_us)) {
        snprintf(out->vendor, sizeof(out->vendor), "%s", e->vendor);
        any = 1;
    }
    pthread_mutex_unlock(lk);
    return any;
}
