/*
 * hostid.c - the sensor-wide address -> (MAC, announced names, vendor
 * class) tables (see hostid.h): one for MACs (small entries: every new flow
 * may add one), one for names and vendor class. Same layout as learned.c:
 * set-associative, KSD_HOSTID_WAYS addresses per set, a new address takes a
 * free way or the least recently updated one; striped mutexes. Each binding keeps its own
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
    int64_t since_us;   /* capture time it was first announced with this value */
    int64_t last_us;    /* capture time of the latest announcement */
    int64_t expires_us; /* 0 = none */
};

/* The start of every entry: its address and when it last changed. */
struct head {
    uint8_t family; /* 0 = free */
    uint8_t addr[16];
    int64_t touched_us;
};

/* MACs come from every new flow (a SYN flood too), so their entries are
 * small and apart from the names, which only announcements fill. */
struct mac_entry {
    struct head h;
    struct binding b;
    uint8_t mac[6];
};

struct name_entry {
    struct head h;
    struct binding name_b[KSD_NAME__COUNT];
    char name[KSD_NAME__COUNT][KSD_HOSTID_NAME_MAX];
    struct binding vendor_b;
    char vendor[KSD_HOSTID_NAME_MAX];
};

struct ksd_hostid {
    pthread_mutex_t lock[KSD_HOSTID_LOCKS];
    struct mac_entry macs[KSD_HOSTID_SETS][KSD_HOSTID_WAYS];
    struct name_entry names[KSD_HOSTID_SETS][KSD_HOSTID_WAYS];
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

/* The entry of addr among the KSD_HOSTID_WAYS entries of `stride` bytes at
 * ways, created (zeroed) when absent and create is set, replacing a free
 * or the least recently changed one; called with the set's lock held. */
static struct head *entry_of(void *ways, size_t stride, int family, const uint8_t *addr, int create)
{
    struct head *old = ways;
    for (int i = 0; i < KSD_HOSTID_WAYS; i++) {
        struct head *h = (struct head *)((char *)ways + stride * (size_t)i);
        if (ksd_addrkey_eq(h->family, h->addr, family, addr))
            return h;
    }
    if (!create)
        return NULL;
    for (int i = 0; i < KSD_HOSTID_WAYS; i++) {
        struct head *h = (struct head *)((char *)ways + stride * (size_t)i);
        if (!h->family) {
            old = h;
            break;
        }
        if (h->touched_us < old->touched_us)
            old = h;
    }
    memset(old, 0, stride);
    old->family = (uint8_t)family;
    memcpy(old->addr, addr, family == 4 ? 4 : 16);
    return old;
}

static int live(const struct binding *b, int64_t at_us)
{
    return b->since_us && b->since_us <= at_us && b->expires_us > at_us;
}

/* Update one binding whose value is (val, n bytes) at dst. */
static int set_binding(struct ksd_hostid *t, int family, const uint8_t *addr, int what, int src,
                       const void *val, size_t n, int64_t now_us, int64_t expires_us)
{
    if (!t || (family != 4 && family != 6))
        return -1;
    uint32_t s = ksd_addrkey_hash(family, addr) % KSD_HOSTID_SETS;
    pthread_mutex_t *lk = &t->lock[s % KSD_HOSTID_LOCKS];
    pthread_mutex_lock(lk);
    struct head *h;
    struct binding *b;
    void *dst;
    if (what == 0) {
        struct mac_entry *m =
            (struct mac_entry *)entry_of(t->macs[s], sizeof(struct mac_entry), family, addr, 1);
        h = &m->h;
        b = &m->b;
        dst = m->mac;
    } else {
        struct name_entry *e =
            (struct name_entry *)entry_of(t->names[s], sizeof(struct name_entry), family, addr, 1);
        h = &e->h;
        b = what == 1 ? &e->name_b[src] : &e->vendor_b;
        dst = what == 1 ? (void *)e->name[src] : (void *)e->vendor;
    }
    /* Workers' capture clocks differ a little: the same value again only
     * widens the binding's time span (it is no change, so no new fact). */
    int changed = !b->since_us || b->expires_us <= now_us || memcmp(dst, val, n) != 0;
    if (changed) {
        memcpy(dst, val, n);
        b->since_us = b->last_us = now_us;
        b->expires_us = expires_us;
    } else if (now_us >= b->last_us) {
        b->last_us = now_us; /* the latest announcement sets the expiry (a lease) */
        b->expires_us = expires_us;
    } else if (now_us < b->since_us) {
        b->since_us = now_us;
    }
    h->touched_us = now_us > h->touched_us ? now_us : h->touched_us;
    pthread_mutex_unlock(lk);
    return changed;
}

int ksd_hostid_set_mac(struct ksd_hostid *t, int family, const uint8_t *addr, const uint8_t mac[6],
                       int64_t now_us, int64_t expires_us)
{
    return set_binding(t, family, addr, 0, 0, mac, 6, now_us, expires_us);
}

int ksd_hostid_set_name(struct ksd_hostid *t, int family, const uint8_t *addr, int src,
                        const char *name, int64_t now_us, int64_t expires_us)
{
    char buf[KSD_HOSTID_NAME_MAX] = {0};
    if (src < 0 || src >= KSD_NAME__COUNT || !name || !*name)
        return -1;
    snprintf(buf, sizeof(buf), "%s", name);
    return set_binding(t, family, addr, 1, src, buf, sizeof(buf), now_us, expires_us);
}

int ksd_hostid_set_vendor(struct ksd_hostid *t, int family, const uint8_t *addr, const char *vendor,
                          int64_t now_us, int64_t expires_us)
{
    char buf[KSD_HOSTID_NAME_MAX] = {0};
    if (!vendor || !*vendor)
        return -1;
    snprintf(buf, sizeof(buf), "%s", vendor);
    return set_binding(t, family, addr, 2, 0, buf, sizeof(buf), now_us, expires_us);
}

int ksd_hostid_get(struct ksd_hostid *t, int family, const uint8_t *addr, int64_t at_us,
                   struct ksd_hostid_view *out)
{
    memset(out, 0, sizeof(*out));
    out->name_source = "";
    if (!t || (family != 4 && family != 6))
        return 0;
    uint32_t s = ksd_addrkey_hash(family, addr) % KSD_HOSTID_SETS;
    pthread_mutex_t *lk = &t->lock[s % KSD_HOSTID_LOCKS];
    int any = 0;
    pthread_mutex_lock(lk);
    const struct mac_entry *m =
        (const struct mac_entry *)entry_of(t->macs[s], sizeof(struct mac_entry), family, addr, 0);
    const struct name_entry *e = (const struct name_entry *)entry_of(
        t->names[s], sizeof(struct name_entry), family, addr, 0);
    if (m && live(&m->b, at_us)) {
        ksd_mac_str(m->mac, out->mac);
        any = 1;
    }
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
