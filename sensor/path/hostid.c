/*
 * hostid.c - the sensor-wide address -> (MAC, announced names, vendor
 * class) tables (see hostid.h). Same layout as learned.c: set-associative,
 * two candidate sets of KSD_HOSTID_WAYS addresses per address (addrkey.h),
 * a new address takes a free way of the emptier set or the least recently
 * updated way of both; striped mutexes. An address's name sets are its MAC
 * sets modulo KSD_HOSTID_NAME_SETS, so the same two mutexes guard both
 * tables' sets. Each binding keeps its own expiry, so a MAC seen yesterday
 * and a name from a lease that ran out are not reported. What it does not
 * do: decide what counts as the client's own MAC or name (the worker does),
 * keep history (the latest binding wins).
 */
#include "sensor/path/hostid.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sensor/path/addrkey.h"

struct binding {
    int64_t since_us;   /* capture time it was first announced with this value */
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
    uint64_t seed; /* of the set hash: random per table */
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

/* The name set beside MAC set s: guarded by the same mutex (KSD_HOSTID_LOCKS
 * divides both set counts). The two MAC sets may share a name set: way_of
 * then looks at it twice, harmlessly. */
#define NAME_SET(t, s) ((t)->name[(s) % KSD_HOSTID_NAME_SETS])
_Static_assert((KSD_HOSTID_SETS & (KSD_HOSTID_SETS - 1)) == 0 &&
                   KSD_HOSTID_SETS % KSD_HOSTID_NAME_SETS == 0 &&
                   KSD_HOSTID_NAME_SETS % KSD_HOSTID_LOCKS == 0,
               "set counts: powers of two, the locks dividing both");

struct ksd_hostid *ksd_hostid_new(void)
{
    struct ksd_hostid *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->seed = ksd_mix_seed(t);
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

/* Way of addr in its two sets (w0, w1) of KSD_HOSTID_WAYS entries of size
 * sz whose first bytes are (family, addr[16]); when absent and create, a
 * free way of the set with more of them or else the one of both with the
 * oldest age(), cleared and keyed. NULL when absent. Called with the sets'
 * locks held. */
static void *way_of(void *w0, void *w1, size_t sz, int64_t (*age)(const void *), int family,
                    const uint8_t *addr, int create)
{
    uint8_t *set[2] = {w0, w1}, *free_way[2] = {NULL, NULL}, *old = NULL;
    int nfree[2] = {0, 0};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < KSD_HOSTID_WAYS; i++) {
            uint8_t *e = set[k] + (size_t)i * sz;
            if (ksd_addrkey_eq(e[0], e + 1, family, addr))
                return e;
            if (!e[0]) {
                free_way[k] = free_way[k] ? free_way[k] : e;
                nfree[k]++;
            } else if (!old || age(e) < age(old)) {
                old = e;
            }
        }
    if (!create)
        return NULL;
    if (free_way[0] || free_way[1])
        old = nfree[1] > nfree[0] ? free_way[1] : free_way[0];
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
    return b->since_us && b->since_us <= at_us && b->expires_us > at_us;
}

/* Update binding b whose value (val, n bytes) lives at dst. */
static int set_value(struct binding *b, void *dst, const void *val, size_t n, int64_t now_us,
                     int64_t expires_us)
{
    /* Workers' capture clocks differ a little: the same value again is no
     * change (no second fact) and only widens the binding's span; the
     * latest announcement sets the expiry (a lease). */
    int changed = !b->since_us || b->expires_us <= now_us || memcmp(dst, val, n) != 0;
    if (changed) {
        memcpy(dst, val, n);
        b->since_us = b->seen_us = now_us;
        b->expires_us = expires_us;
    } else if (now_us >= b->seen_us) {
        b->seen_us = now_us;
        b->expires_us = expires_us;
    } else if (now_us < b->since_us) {
        b->since_us = now_us;
    }
    return changed;
}

/* Update one name binding (what 1: name of source src; 2: vendor class). */
static int set_name_binding(struct ksd_hostid *t, int family, const uint8_t *addr, int what,
                            int src, const char *val, int64_t now_us, int64_t expires_us)
{
    if (!t || (family != 4 && family != 6))
        return -1;
    uint32_t set[2];
    ksd_addrkey_sets(t->seed, family, addr, KSD_HOSTID_SETS, set);
    ksd_addrkey_lock(t->lock, KSD_HOSTID_LOCKS, set);
    struct name_entry *e = way_of(NAME_SET(t, set[0]), NAME_SET(t, set[1]),
                                  sizeof(struct name_entry), name_age, family, addr, 1);
    int changed =
        what == 1
            ? set_value(&e->name_b[src], e->name[src], val, KSD_HOSTID_NAME_MAX, now_us, expires_us)
            : set_value(&e->vendor_b, e->vendor, val, KSD_HOSTID_NAME_MAX, now_us, expires_us);
    e->touched_us = now_us;
    ksd_addrkey_unlock(t->lock, KSD_HOSTID_LOCKS, set);
    return changed;
}

int ksd_hostid_set_mac(struct ksd_hostid *t, int family, const uint8_t *addr, const uint8_t mac[6],
                       int64_t now_us, int64_t expires_us)
{
    if (!t || (family != 4 && family != 6))
        return -1;
    uint32_t set[2];
    ksd_addrkey_sets(t->seed, family, addr, KSD_HOSTID_SETS, set);
    ksd_addrkey_lock(t->lock, KSD_HOSTID_LOCKS, set);
    struct mac_entry *e =
        way_of(t->mac[set[0]], t->mac[set[1]], sizeof(struct mac_entry), mac_age, family, addr, 1);
    int changed = set_value(&e->b, e->mac, mac, 6, now_us, expires_us);
    ksd_addrkey_unlock(t->lock, KSD_HOSTID_LOCKS, set);
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
    uint32_t set[2];
    ksd_addrkey_sets(t->seed, family, addr, KSD_HOSTID_SETS, set);
    int any = 0;
    ksd_addrkey_lock(t->lock, KSD_HOSTID_LOCKS, set);
    const struct mac_entry *m =
        way_of(t->mac[set[0]], t->mac[set[1]], sizeof(struct mac_entry), mac_age, family, addr, 0);
    if (m && live(&m->b, at_us)) {
        ksd_mac_str(m->mac, out->mac);
        any = 1;
    }
    const struct name_entry *e = way_of(NAME_SET(t, set[0]), NAME_SET(t, set[1]),
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
    ksd_addrkey_unlock(t->lock, KSD_HOSTID_LOCKS, set);
    return any;
}
