/*
 * hostid.h - what the network says about each address, sensor-wide: its
 * MAC address and the names it announced for itself (DHCP host name or
 * FQDN, NetBIOS, mDNS, LLMNR) and its DHCP vendor class, each with the
 * capture time it was last seen and an expiry (the DHCP lease, else the
 * configured --name-age). Shared by the workers: DHCP and multicast
 * announcements are dispatched to another worker than the client's flows.
 * MACs and names live in two tables: every client with a MAC takes a small
 * MAC entry (48 bytes: a flood of new addresses costs at most 3 MiB), and
 * only addresses that announce a name take a name entry.
 */
#ifndef KSD_HOSTID_H
#define KSD_HOSTID_H

#include <stddef.h>
#include <stdint.h>

#define KSD_HOSTID_SETS      16384 /* MAC table: sets of KSD_HOSTID_WAYS addresses, 65,536 kept */
#define KSD_HOSTID_NAME_SETS 4096  /* name table: sets of KSD_HOSTID_WAYS addresses, 16,384 kept */
#define KSD_HOSTID_WAYS      4
#define KSD_HOSTID_LOCKS     64
#define KSD_HOSTID_NAME_MAX  64 /* name bytes kept, with NUL */

/* Name sources, in the order of preference when several are bound. */
enum ksd_name_src {
    KSD_NAME_DHCP = 0,
    KSD_NAME_NETBIOS,
    KSD_NAME_MDNS,
    KSD_NAME_LLMNR,
    KSD_NAME__COUNT,
};

/* "dhcp", "netbios", "mdns", "llmnr" (the event's client_name_source). */
const char *ksd_name_src_name(int src);

struct ksd_hostid;

/* What is bound to one address at some time ("" when nothing). */
struct ksd_hostid_view {
    char mac[18]; /* "aa:bb:cc:dd:ee:ff" */
    char name[KSD_HOSTID_NAME_MAX];
    const char *name_source; /* ksd_name_src_name, or "" */
    char vendor[KSD_HOSTID_NAME_MAX];
};

struct ksd_hostid *ksd_hostid_new(void);
void ksd_hostid_free(struct ksd_hostid *t);

/* Bind a MAC to addr until expires_us. Returns 1 when the binding is new or
 * changed (worth a fact), 0 when it was already so, -1 when not stored. */
int ksd_hostid_set_mac(struct ksd_hostid *t, int family, const uint8_t *addr, const uint8_t mac[6],
                       int64_t now_us, int64_t expires_us);
/* Bind a name announced through src; same returns. */
int ksd_hostid_set_name(struct ksd_hostid *t, int family, const uint8_t *addr, int src,
                        const char *name, int64_t now_us, int64_t expires_us);
/* Bind a DHCP vendor class; same returns. */
int ksd_hostid_set_vendor(struct ksd_hostid *t, int family, const uint8_t *addr, const char *vendor,
                          int64_t now_us, int64_t expires_us);

/* What was bound to addr at at_us. Returns 1 when anything was. */
int ksd_hostid_get(struct ksd_hostid *t, int family, const uint8_t *addr, int64_t at_us,
                   struct ksd_hostid_view *out);

void ksd_mac_str(const uint8_t mac[6], char out[18]);

#endif
