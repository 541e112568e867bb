/*
 * capture.c - libpcap sources. Files are opened with microsecond timestamp
 * precision (nanosecond pcaps are converted by libpcap), any link type that
 * libpcap reads is passed through (the decoder decides what it knows). Live
 * capture uses immediate mode, a large kernel buffer and a non-blocking
 * handle: ksd_capture_next says "nothing now" and the caller, after its own
 * work (waking workers, timers), sleeps in poll(2) on libpcap's selectable
 * descriptor (ksd_capture_wait) until a packet, its timer or a signal. No
 * thread spins on an idle link.
 */
#include "sensor/path/capture.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct ksd_capture {
    pcap_t *p;       /* libpcap handle */
    int live;        /* 1 for an interface */
    int fd;          /* live: pcap_get_selectable_fd, or -1 */
    uint64_t frames; /* frames returned */
    uint64_t size;   /* file size in bytes, 0 when unknown */
    FILE *fp;        /* the file libpcap reads (not owned: pcap_close closes it) */
    char err[PCAP_ERRBUF_SIZE + 64];
};

static int apply_filter(struct ksd_capture *c, const char *filter, char *err, size_t errlen)
{
    struct bpf_program prog;
    if (!filter || !*filter)
        return 0;
    if (pcap_compile(c->p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
        snprintf(err, errlen, "bad filter '%s': %s", filter, pcap_geterr(c->p));
        return -1;
    }
    if (pcap_setfilter(c->p, &prog) < 0) {
        snprintf(err, errlen, "cannot set filter: %s", pcap_geterr(c->p));
        pcap_freecode(&prog);
        return -1;
    }
    pcap_freecode(&prog);
    return 0;
}

struct ksd_capture *ksd_capture_open_file(const char *path, const struct ksd_capture_opts *o,
                                          char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    struct ksd_capture *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    FILE *fp;
    if (strcmp(path, "-") == 0) {
        fp = stdin;
    } else {
        fp = fopen(path, "rb");
        if (!fp) {
            snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
            free(c);
            return NULL;
        }
        struct stat sb;
        if (fstat(fileno(fp), &sb) == 0 && S_ISREG(sb.st_mode))
            c->size = (uint64_t)sb.st_size;
    }
    c->p = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
    if (!c->p) {
        snprintf(err, errlen, "%s: not a readable capture file: %s", path, ebuf);
        if (fp != stdin)
            fclose(fp);
        free(c);
        return NULL;
    }
    c->fp = fp;
    if (apply_filter(c, o ? o->filter : NULL, err, errlen) < 0) {
        ksd_capture_close(c);
        return NULL;
    }
    return c;
}

struct ksd_capture *ksd_capture_open_live(const char *iface, const struct ksd_capture_opts *o,
                                          char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    struct ksd_capture *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->live = 1;
    c->p = pcap_create(iface, ebuf);
    if (!c->p) {
        snprintf(err, errlen, "%s: %s", iface, ebuf);
        free(c);
        return NULL;
    }
    int snaplen = o && o->snaplen > 0 ? o->snaplen : 262144;
    int bufmb = o && o->buffer_mb > 0 ? o->buffer_mb : 64;
    pcap_set_snaplen(c->p, snaplen);
    pcap_set_promisc(c->p, o ? o->promisc : 1);
    pcap_set_immediate_mode(c->p, 1);
    pcap_set_buffer_size(c->p, bufmb * 1024 * 1024);
    pcap_set_timeout(c->p, 100);
    int rc = pcap_activate(c->p);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", iface,
                 rc == PCAP_ERROR ? pcap_geterr(c->p) : pcap_statustostr(rc));
        pcap_close(c->p);
        free(c);
        return NULL;
    }
    if (apply_filter(c, o ? o->filter : NULL, err, errlen) < 0) {
        ksd_capture_close(c);
        return NULL;
    }
    c->fd = pcap_get_selectable_fd(c->p);
    if (c->fd >= 0 && pcap_setnonblock(c->p, 1, ebuf) < 0) {
        snprintf(err, errlen, "%s: cannot make the capture non-blocking: %s", iface, ebuf);
        ksd_capture_close(c);
        return NULL;
    }
    return c;
}

int ksd_capture_wait(struct ksd_capture *c, int timeout_ms)
{
    if (!c->live)
        return 1;
    if (c->fd < 0) {
        /* no selectable descriptor: the blocking read's own timeout paces the caller */
        return 1;
    }
    struct pollfd pfd = {c->fd, POLLIN, 0};
    int rc = poll(&pfd, 1, timeout_ms);
    if (rc < 0 && errno != EINTR) {
        snprintf(c->err, sizeof(c->err), "poll: %s", strerror(errno));
        return -1;
    }
    return rc > 0;
}

int ksd_capture_next(struct ksd_capture *c, struct ksd_frame *f)
{
    struct pcap_pkthdr *h;
    const u_char *data;
    int rc = pcap_next_ex(c->p, &h, &data);
    if (rc == 1) {
        f->ts_us = (int64_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec;
        f->caplen = h->caplen;
        f->len = h->len;
        f->data = data;
        f->linktype = pcap_datalink(c->p);
        c->frames++;
        return 1;
    }
    if (rc == 0)
        return 2; /* live timeout */
    if (rc == PCAP_ERROR_BREAK)
        return 0;
    snprintf(c->err, sizeof(c->err), "%s", pcap_geterr(c->p));
    if (!c->live) {
        /* A file cut short mid-record is reported but what was read counts. */
        return -1;
    }
    return -1;
}

const char *ksd_capture_error(const struct ksd_capture *c)
{
    return c->err;
}

void ksd_capture_break(struct ksd_capture *c)
{
    if (c && c->p)
        pcap_breakloop(c->p);
}

int ksd_capture_stats(struct ksd_capture *c, struct ksd_capture_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (!c->live) {
        st->received = c->frames;
        return 0;
    }
    struct pcap_stat ps;
    if (pcap_stats(c->p, &ps) < 0)
        return -1;
    st->received = ps.ps_recv;
    st->dropped = ps.ps_drop;
    st->ifdropped = ps.ps_ifdrop;
    return 0;
}

uint64_t ksd_capture_size(const struct ksd_capture *c)
{
    return c->size;
}

uint64_t ksd_capture_offset(struct ksd_capture *c)
{
    if (c->live || !c->fp || c->fp == stdin)
        return 0;
    long off = ftell(c->fp);
    return off > 0 ? (uint64_t)off : 0;
}

const char *ksd_capture_linktype_name(const struct ksd_capture *c)
{
    const char *n = pcap_datalink_val_to_name(pcap_datalink(c->p));
    return n ? n : "unknown";
}

void ksd_capture_close(struct ksd_capture *c)
{
    if (!c)
        return;
    if (c->p)
        pcap_close(c->p);
    free(c);
}
