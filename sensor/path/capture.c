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
#include <linux/if_packet.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sys/socket.h>
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

int ksd_capture_wait(struct ksd_capture *c, int other_fd, int timeout_ms)
{
    if (!c->live)
        return 1;
    if (c->fd < 0) {
        /* no selectable descriptor: the blocking read's own timeout paces the caller */
        return 1;
    }
    struct pollfd pfd[2] = {{c->fd, POLLIN, 0}, {other_fd, POLLIN, 0}};
    int rc = poll(pfd, other_fd >= 0 ? 2 : 1, timeout_ms);
    if (rc < 0 && errno != EINTR) {
        snprintf(c->err, sizeof(c->err), "poll: %s", strerror(errno));
        return -1;
    }
    return rc > 0;
}

/*
 * The fanout program (classic BPF, run by the kernel on every packet before
 * it picks a socket; the socket is the result modulo the group size). It
 * hashes the client address of an IPv4 TCP or UDP packet, the client being
 * the side with the higher port (the ephemeral one), the same for both
 * directions; other IPv4 packets hash the XOR of the two addresses; anything
 * else goes to socket 0. So every flow of one client meets in one worker
 * (DNS-learned addresses, suppression, host records stay per worker), as the
 * pool's own dispatch does with its service-port rule. Offsets are relative
 * to the network header (SKF_NET_OFF), so the link layer does not matter.
 */
#define KSD_NET      (-0x100000)   /* SKF_NET_OFF */
#define KSD_AD_PROTO (-0x1000 + 0) /* SKF_AD_OFF + SKF_AD_PROTOCOL */
static const struct bpf_insn fanout_prog[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (bpf_u_int32)KSD_AD_PROTO),   /* 0: ethertype */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0800, 0, 21),              /* 1: IPv4, else 23 */
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, (bpf_u_int32)(KSD_NET + 9)),  /* 2: protocol */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 1, 0),                    /* 3: TCP: 5 */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 11),                  /* 4: UDP: 5, else 16 */
    BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, (bpf_u_int32)KSD_NET),       /* 5: X = header length */
    BPF_STMT(BPF_LD | BPF_H | BPF_IND, (bpf_u_int32)KSD_NET),        /* 6: source port */
    BPF_STMT(BPF_ST, 0),                                             /* 7: M[0] = it */
    BPF_STMT(BPF_LD | BPF_H | BPF_IND, (bpf_u_int32)(KSD_NET + 2)),  /* 8: destination port */
    BPF_STMT(BPF_LDX | BPF_W | BPF_MEM, 0),                          /* 9: X = source port */
    BPF_JUMP(BPF_JMP | BPF_JGT | BPF_X, 0, 3, 0),                    /* 10: dport > sport: 14 */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_X, 0, 4, 0),                    /* 11: equal: 16 */
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (bpf_u_int32)(KSD_NET + 12)), /* 12: client = source */
    BPF_STMT(BPF_JMP | BPF_JA, 6),                                   /* 13: to 20 */
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (bpf_u_int32)(KSD_NET + 16)), /* 14: client = dest. */
    BPF_STMT(BPF_JMP | BPF_JA, 4),                                   /* 15: to 20 */
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (bpf_u_int32)(KSD_NET + 12)), /* 16: both addresses */
    BPF_STMT(BPF_MISC | BPF_TAX, 0),                                 /* 17 */
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (bpf_u_int32)(KSD_NET + 16)), /* 18 */
    BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),                          /* 19 */
    BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 0x9e3779b1u),                /* 20: hash */
    BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16),                         /* 21 */
    BPF_STMT(BPF_RET | BPF_A, 0),                                    /* 22 */
    BPF_STMT(BPF_RET | BPF_K, 0),                                    /* 23: socket 0 */
};

int ksd_capture_fanout(struct ksd_capture *c, int group, char *err, size_t errlen)
{
    /* struct sock_fprog: the length, then the instructions (pcap's bpf_insn
     * has the kernel's sock_filter layout) */
    struct {
        unsigned short len;
        const struct bpf_insn *filter;
    } prog = {(unsigned short)(sizeof(fanout_prog) / sizeof(fanout_prog[0])), fanout_prog};
    int fd = pcap_fileno(c->p);
    int val = (group & 0xffff) | ((PACKET_FANOUT_CBPF | PACKET_FANOUT_FLAG_DEFRAG) << 16);
    if (!c->live || fd < 0) {
        snprintf(err, errlen, "not a live capture");
        return -1;
    }
    if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &val, sizeof(val)) < 0 ||
        setsockopt(fd, SOL_PACKET, PACKET_FANOUT_DATA, &prog, sizeof(prog)) < 0) {
        snprintf(err, errlen, "PACKET_FANOUT: %s", strerror(errno));
        return -1;
    }
    return 0;
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
