/*
 * classify.c - nDPI 4.2 glue (see classify.h).
 *
 * nDPI keeps a large per-flow struct (ndpi_detection_get_sizeof_ndpi_flow_struct)
 * for as long as it classifies; ksd frees it as soon as nDPI has decided or
 * after KSD_NDPI_MAX_PACKETS packets, so long-lived flows cost only ksd's own
 * flow record. Labels are nDPI's "Master.App" names (e.g. "TLS", "DNS",
 * "TLS.Kaspersky"); an undecided flow gets nDPI's port-based guess.
 */
#include "sensor/path/classify.h"

#include <errno.h>
#include <ndpi/ndpi_api.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ksd_classify {
    struct ndpi_detection_module_struct *mod;
    struct ndpi_flow_struct *scratch; /* for ksd_classify_by_name on a flow nDPI never saw */
};

struct ksd_classify_flow {
    uint32_t packets;
    struct ndpi_flow_struct *f;
};

/*
 * Modules are made and freed one at a time in the process: nDPI 4.2 counts
 * its patricia trees in a global that every module's making and freeing
 * update without a lock, and sets up libgcrypt in a module's making; the
 * workers replace their modules at the same moment on a reload (a race
 * valgrind's helgrind shows when two threads make modules at once).
 */
static pthread_mutex_t module_turn = PTHREAD_MUTEX_INITIALIZER;

/* A module with every protocol and the custom ones of protos_file; NULL
 * and a message in err on failure. Made in module_turn. */
static struct ndpi_detection_module_struct *module_new(const char *protos_file, char *err,
                                                       size_t errlen)
{
    pthread_mutex_lock(&module_turn);
    struct ndpi_detection_module_struct *mod = ndpi_init_detection_module(ndpi_no_prefs);
    if (!mod) {
        snprintf(err, errlen, "nDPI initialisation failed");
    } else {
        NDPI_PROTOCOL_BITMASK all;
        NDPI_BITMASK_SET_ALL(all);
        ndpi_set_protocol_detection_bitmask2(mod, &all);
        if (protos_file && ndpi_load_protocols_file(mod, protos_file) != 0) {
            snprintf(err, errlen, "%s: nDPI could not load the protocols file", protos_file);
            ndpi_exit_detection_module(mod);
            mod = NULL;
        } else {
            ndpi_finalize_initialization(mod);
        }
    }
    pthread_mutex_unlock(&module_turn);
    return mod;
}

static void module_free(struct ndpi_detection_module_struct *mod)
{
    pthread_mutex_lock(&module_turn);
    ndpi_exit_detection_module(mod);
    pthread_mutex_unlock(&module_turn);
}

struct ksd_classify *ksd_classify_new(const char *protos_file, char *err, size_t errlen)
{
    struct ksd_classify *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->mod = module_new(protos_file, err, errlen);
    if (!c->mod) {
        free(c);
        return NULL;
    }
    if (!(c->scratch = calloc(1, ndpi_detection_get_sizeof_ndpi_flow_struct()))) {
        snprintf(err, errlen, "out of memory");
        module_free(c->mod);
        free(c);
        return NULL;
    }
    return c;
}

void ksd_classify_free(struct ksd_classify *c)
{
    if (!c)
        return;
    module_free(c->mod);
    free(c->scratch);
    free(c);
}

size_t ksd_classify_flow_bytes(void)
{
    return sizeof(struct ksd_classify_flow) + ndpi_detection_get_sizeof_ndpi_flow_struct();
}

static void state_free(struct ksd_classify_flow **state)
{
    if (*state) {
        ndpi_free_flow((*state)->f);
        free(*state);
        *state = NULL;
    }
}

static void name_of(struct ksd_classify *c, ndpi_protocol p, char *label, size_t len)
{
    char buf[64];
    ndpi_protocol2name(c->mod, p, buf, sizeof(buf));
    snprintf(label, len, "%s", buf);
}

int ksd_classify_packet(struct ksd_classify *c, struct ksd_classify_flow **state, const uint8_t *l3,
                        size_t l3_len, int64_t ts_us, char *label, size_t label_len)
{
    return ksd_classify_packet_name(c, state, l3, l3_len, ts_us, label, label_len, NULL, 0);
}

/* nDPI's host name, lower-cased, printable ASCII only. */
static void copy_name(const struct ksd_classify_flow *s, char *name, size_t name_len)
{
    if (!name || !name_len)
        return;
    size_t i = 0;
    const char *h = s->f->host_server_name;
    for (; i + 1 < name_len && i < sizeof(s->f->host_server_name) && h[i]; i++) {
        char ch = h[i];
        name[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : (ch > 0x20 && ch < 0x7f) ? ch : '?';
    }
    name[i] = '\0';
}

int ksd_classify_packet_name(struct ksd_classify *c, struct ksd_classify_flow **state,
                             const uint8_t *l3, size_t l3_len, int64_t ts_us, char *label,
                             size_t label_len, char *name, size_t name_len)
{
    if (name && name_len)
        name[0] = '\0';
    if (!*state) {
        struct ksd_classify_flow *s = calloc(1, sizeof(*s));
        if (!s)
            return 0;
        s->f = calloc(1, ndpi_detection_get_sizeof_ndpi_flow_struct());
        if (!s->f) {
            free(s);
            return 0;
        }
        *state = s;
    }
    struct ksd_classify_flow *s = *state;
    if (l3_len > 0xffff)
        l3_len = 0xffff;
    ndpi_protocol p = ndpi_detection_process_packet(c->mod, s->f, l3, (unsigned short)l3_len,
                                                    (uint64_t)(ts_us / 1000));
    s->packets++;
    if (p.app_protocol != NDPI_PROTOCOL_UNKNOWN || p.master_protocol != NDPI_PROTOCOL_UNKNOWN) {
        name_of(c, p, label, label_len);
        copy_name(s, name, name_len);
        state_free(state);
        return 1;
    }
    if (s->packets >= KSD_NDPI_MAX_PACKETS) {
        copy_name(s, name, name_len);
        ksd_classify_giveup(c, state, label, label_len);
        return 1;
    }
    return 0;
}

void ksd_classify_by_name(struct ksd_classify *c, struct ksd_classify_flow **state, int proto,
                          const char *sni, const uint8_t *client_ip4, const uint8_t *server_ip4,
                          char *label, size_t label_len)
{
    u_int16_t master = proto == KSD_CLASSIFY_QUIC  ? NDPI_PROTOCOL_QUIC
                       : proto == KSD_CLASSIFY_DNS ? NDPI_PROTOCOL_DNS
                                                   : NDPI_PROTOCOL_TLS;
    ndpi_protocol p;
    memset(&p, 0, sizeof(p));
    p.master_protocol = NDPI_PROTOCOL_UNKNOWN;
    p.app_protocol = master;
    size_t n = sni ? strlen(sni) : 0;
    if (n > 0 && n < 256) {
        struct ndpi_flow_struct *f = *state ? (*state)->f : c->scratch;
        char name[256];
        memcpy(name, sni, n + 1);
        if (f && ndpi_match_hostname_protocol(c->mod, f, master, name, (u_int)n) &&
            f->detected_protocol_stack[0] != NDPI_PROTOCOL_UNKNOWN &&
            f->detected_protocol_stack[0] != master) {
            p.master_protocol = master;
            p.app_protocol = f->detected_protocol_stack[0];
        }
        if (f == c->scratch) { /* clean for the next flow */
            ndpi_free_flow_data(f);
            memset(f, 0, ndpi_detection_get_sizeof_ndpi_flow_struct());
        }
    }
    const uint8_t *ips[2] = {client_ip4, server_ip4};
    for (int i = 0; i < 2 && p.master_protocol == NDPI_PROTOCOL_UNKNOWN; i++) {
        if (!ips[i])
            continue;
        struct in_addr a;
        memcpy(&a.s_addr, ips[i], 4);
        u_int16_t id = ndpi_network_ptree_match(c->mod, &a);
        if (id != NDPI_PROTOCOL_UNKNOWN && id != master) {
            p.master_protocol = master;
            p.app_protocol = id;
        }
    }
    name_of(c, p, label, label_len);
    state_free(state);
}

void ksd_classify_giveup(struct ksd_classify *c, struct ksd_classify_flow **state, char *label,
                         size_t label_len)
{
    if (!*state)
        return;
    uint8_t guessed = 0;
    ndpi_protocol p = ndpi_detection_giveup(c->mod, (*state)->f, 1, &guessed);
    if (p.app_protocol != NDPI_PROTOCOL_UNKNOWN || p.master_protocol != NDPI_PROTOCOL_UNKNOWN)
        name_of(c, p, label, label_len);
    else
        snprintf(label, label_len, "Unknown");
    state_free(state);
}

int ksd_classify_write_protos(const char *path, const char *const *domains, size_t n)
{
    FILE *fp = fopen(path, "w");
    if (!fp)
        return -errno;
    fprintf(fp, "# generated by ksd from the domain rules; do not edit\n");
    for (size_t i = 0; i < n; i++) {
        const char *d = domains[i];
        const char *star = strrchr(d, '*');
        if (star) {
            d = strchr(star, '.');
            if (!d || !d[1])
                continue;
            d++;
        }
        if (strchr(d, '"'))
            continue;
        fprintf(fp, "host:\"%s\"@Kaspersky\n", d);
    }
    int rc = ferror(fp) ? -EIO : 0;
    if (fclose(fp) != 0 && rc == 0)
        rc = -errno;
    return rc;
}
