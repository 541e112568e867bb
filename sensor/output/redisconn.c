/*
 * redisconn.c - how ksd reaches Redis, shared by the sensor's output thread
 * (emit.c), `ksd report` and the dashboard: target strings, the auth file and
 * the connection (Sentinel discovery with SENTINEL get-master-addr-by-name,
 * AUTH, and for Sentinel targets ROLE, so a demoted master is not taken).
 *
 * What it does not do: RESP3, TLS, Redis Cluster, AUTH towards the sentinels
 * themselves. It never puts a password in a message: error texts hold
 * hiredis' or the server's error strings, which do not contain it.
 */
#include "sensor/output/redisconn.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dissectors/ksd.h"

/* ---- target parsing ---- */

static int parse_port(const char *s, size_t n, int *port)
{
    long v = 0;
    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!ksd_is_digit((uint8_t)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

static int host_char_ok(char c)
{
    return ksd_is_print((uint8_t)c) && c != ' ' && c != '/' && c != ',' && c != '[' && c != ']';
}

/* "host:port" or "[v6]:port" in s[0..n). */
static int parse_hostport(const char *s, size_t n, struct ksd_redis_hostport *hp,
                          const char **reason)
{
    const char *host, *port;
    size_t hl, pl;
    if (n > 0 && s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (!rb || (size_t)(rb - s) + 1 >= n || rb[1] != ':') {
            *reason = "expected [ADDRESS]:PORT";
            return KSD_EINVAL;
        }
        host = s + 1;
        hl = (size_t)(rb - host);
        port = rb + 2;
        pl = n - (size_t)(port - s);
        for (size_t i = 0; i < hl; i++) {
            if (!(ksd_is_alnum((uint8_t)host[i]) || host[i] == ':' || host[i] == '.')) {
                *reason = "bad character in IPv6 address";
                return KSD_EINVAL;
            }
        }
    } else {
        const char *colon = NULL;
        for (size_t i = 0; i < n; i++)
            if (s[i] == ':')
                colon = s + i;
        if (!colon) {
            *reason = "missing :PORT";
            return KSD_EINVAL;
        }
        host = s;
        hl = (size_t)(colon - s);
        port = colon + 1;
        pl = n - hl - 1;
        for (size_t i = 0; i < hl; i++) {
            if (!host_char_ok(host[i]) || host[i] == ':') {
                *reason = "bad character in host (IPv6 needs [brackets])";
                return KSD_EINVAL;
            }
        }
    }
    if (hl == 0 || hl >= KSD_REDIS_MAX_HOST) {
        *reason = "empty or too long host";
        return KSD_EINVAL;
    }
    if (parse_port(port, pl, &hp->port) != 0) {
        *reason = "port must be 1..65535";
        return KSD_EINVAL;
    }
    memcpy(hp->host, host, hl);
    hp->host[hl] = '\0';
    return KSD_OK;
}

int ksd_redisconn_parse_target(const char *s, struct ksd_redis_target *out, const char **reason)
{
    struct ksd_redis_target tmp;
    struct ksd_redis_target *t = out ? out : &tmp;
    const char *dummy;
    if (!reason)
        reason = &dummy;
    memset(t, 0, sizeof(*t));
    if (!s || !*s) {
        *reason = "empty Redis target";
        return KSD_EINVAL;
    }
    size_t n = strlen(s);
    if (strncmp(s, "unix:", 5) == 0) {
        size_t pl = n - 5;
        if (pl == 0 || pl >= sizeof(t->path)) {
            *reason = "unix socket path empty or longer than 107 bytes";
            return KSD_EINVAL;
        }
        t->kind = KSD_REDIS_UNIX;
        memcpy(t->path, s + 5, pl + 1);
        return KSD_OK;
    }
    if (strncmp(s, "sentinel://", 11) == 0) {
        const char *list = s + 11;
        const char *slash = strchr(list, '/');
        if (!slash || slash == list) {
            *reason = "expected sentinel://HOST:PORT[,HOST:PORT...]/MASTER";
            return KSD_EINVAL;
        }
        size_t ml = strlen(slash + 1);
        if (ml == 0 || ml >= sizeof(t->master)) {
            *reason = "sentinel master name empty or too long";
            return KSD_EINVAL;
        }
        for (size_t i = 0; i < ml; i++) {
            if (!host_char_ok(slash[1 + i])) {
                *reason = "bad character in sentinel master name";
                return KSD_EINVAL;
            }
        }
        memcpy(t->master, slash + 1, ml + 1);
        const char *p = list;
        while (p < slash) {
            const char *comma = memchr(p, ',', (size_t)(slash - p));
            const char *end = comma ? comma : slash;
            if (t->nsentinels == KSD_REDIS_MAX_SENTINELS) {
                *reason = "too many sentinels (at most 8)";
                return KSD_EINVAL;
            }
            if (parse_hostport(p, (size_t)(end - p), &t->sentinels[t->nsentinels], reason) != 0)
                return KSD_EINVAL;
            t->nsentinels++;
            p = comma ? comma + 1 : slash;
            if (comma && p == slash) {
                *reason = "empty sentinel address";
                return KSD_EINVAL;
            }
        }
        t->kind = KSD_REDIS_SENTINEL;
        return KSD_OK;
    }
    t->kind = KSD_REDIS_TCP;
    return parse_hostport(s, n, &t->addr, reason);
}

/* ---- secret files ---- */

int ksd_redisconn_read_line(const char *path, char *buf, size_t cap, char *err, size_t errlen)
{
    char line[KSD_REDIS_MAX_SECRET + 160];
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return KSD_EINVAL;
    }
    int ok = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    size_t n = ok ? strlen(line) : 0;
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    int ret = KSD_OK;
    if (!ok) {
        snprintf(err, errlen, "%s: empty file", path);
        ret = KSD_EINVAL;
    } else if (n == 0) {
        snprintf(err, errlen, "%s: empty first line", path);
        ret = KSD_EINVAL;
    } else if (n >= cap) {
        snprintf(err, errlen, "%s: first line longer than %zu bytes", path, cap - 1);
        ret = KSD_EINVAL;
    } else {
        memcpy(buf, line, n + 1);
    }
    explicit_bzero(line, sizeof(line));
    return ret;
}

int ksd_redisconn_read_auth(const char *path, struct ksd_redis_auth *a, char *err, size_t errlen)
{
    char line[KSD_REDIS_MAX_SECRET + 130];
    int ret = KSD_EINVAL;
    memset(a, 0, sizeof(*a));
    if (ksd_redisconn_read_line(path, line, sizeof(line), err, errlen) != KSD_OK)
        return KSD_EINVAL;
    const char *sp = strchr(line, ' ');
    const char *pass = line;
    if (sp) {
        size_t ul = (size_t)(sp - line);
        if (ul == 0 || ul >= sizeof(a->user) || sp[1] == '\0') {
            snprintf(err, errlen, "%s: expected \"password\" or \"user password\"", path);
            goto out;
        }
        memcpy(a->user, line, ul);
        a->user[ul] = '\0';
        pass = sp + 1;
    }
    size_t pl = strlen(pass);
    if (pl >= sizeof(a->pass)) {
        snprintf(err, errlen, "%s: password too long", path);
        goto out;
    }
    memcpy(a->pass, pass, pl + 1);
    ret = KSD_OK;
out:
    explicit_bzero(line, sizeof(line));
    if (ret != KSD_OK)
        explicit_bzero(a, sizeof(*a));
    return ret;
}

/* ---- connection ---- */

static struct timeval ms_tv(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

static redisContext *open_ctx(const struct ksd_redisconn_opts *o, const char *host, int port,
                              const char *path, char *err, size_t errlen)
{
    redisContext *c;
    struct timeval tv = ms_tv(o->connect_timeout_ms);
    if (path)
        c = redisConnectUnixWithTimeout(path, tv);
    else
        c = redisConnectWithTimeout(host, port, tv);
    if (!c) {
        snprintf(err, errlen, "connect: out of memory");
        return NULL;
    }
    if (c->err) {
        snprintf(err, errlen, "connect: %s", c->errstr);
        redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, ms_tv(o->command_timeout_ms)) != REDIS_OK) {
        snprintf(err, errlen, "connect: cannot set socket timeout");
        redisFree(c);
        return NULL;
    }
    if (!path)
        redisEnableKeepAlive(c);
    return c;
}

/* Run one command synchronously; returns the reply (caller frees) or NULL. */
static redisReply *run(redisContext *c, int argc, const char **argv, char *err, size_t errlen)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    if (!r)
        snprintf(err, errlen, "command: %s", c->errstr[0] ? c->errstr : "no reply");
    return r;
}

/* AUTH and, when asked, ROLE on a fresh connection. 0, or -1 (err set). */
static int setup_ctx(redisContext *c, const struct ksd_redis_auth *a, int check_role, char *err,
                     size_t errlen)
{
    redisReply *r;
    if (a && a->pass[0]) {
        const char *argv[3] = {"AUTH", a->user, a->pass};
        if (a->user[0])
            r = run(c, 3, argv, err, errlen);
        else {
            argv[1] = a->pass;
            r = run(c, 2, argv, err, errlen);
        }
        if (!r)
            return -1;
        if (r->type != REDIS_REPLY_STATUS) {
            snprintf(err, errlen, "AUTH failed: %s",
                     r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
            freeReplyObject(r);
            return -1;
        }
        freeReplyObject(r);
    }
    if (check_role) {
        const char *argv[1] = {"ROLE"};
        r = run(c, 1, argv, err, errlen);
        if (!r)
            return -1;
        int ok = r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
                 r->element[0]->type == REDIS_REPLY_STRING &&
                 strcmp(r->element[0]->str, "master") == 0;
        freeReplyObject(r);
        if (!ok) {
            snprintf(err, errlen, "ROLE: sentinel's master is not (yet) a master");
            return -1;
        }
    }
    return 0;
}

/* Ask one sentinel for the master address. 0 or -1. */
static int ask_sentinel(const struct ksd_redis_target *t, const struct ksd_redisconn_opts *o,
                        const struct ksd_redis_hostport *s, struct ksd_redis_hostport *master,
                        char *err, size_t errlen)
{
    redisContext *c = open_ctx(o, s->host, s->port, NULL, err, errlen);
    int ret = -1;
    if (!c)
        return -1;
    const char *argv[3] = {"SENTINEL", "get-master-addr-by-name", t->master};
    redisReply *r = run(c, 3, argv, err, errlen);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING &&
        r->element[0]->len < sizeof(master->host) &&
        parse_port(r->element[1]->str, r->element[1]->len, &master->port) == 0) {
        memcpy(master->host, r->element[0]->str, r->element[0]->len);
        master->host[r->element[0]->len] = '\0';
        ret = 0;
    } else if (r) {
        snprintf(err, errlen, "sentinel: does not know the master");
    }
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return ret;
}

redisContext *ksd_redisconn_open(const struct ksd_redis_target *t, const struct ksd_redis_auth *a,
                                 const struct ksd_redisconn_opts *o, char *where, size_t wlen,
                                 enum ksd_redisconn_fail *fail, char *err, size_t errlen)
{
    redisContext *c = NULL;
    char at[KSD_REDIS_MAX_HOST + 16] = "";
    *fail = KSD_REDISCONN_CONNECT;
    if (t->kind == KSD_REDIS_SENTINEL) {
        for (int i = 0; i < t->nsentinels && i < KSD_REDIS_MAX_SENTINELS && !c; i++) {
            struct ksd_redis_hostport m;
            if (ask_sentinel(t, o, &t->sentinels[i], &m, err, errlen) != 0)
                continue;
            c = open_ctx(o, m.host, m.port, NULL, err, errlen);
            if (c && setup_ctx(c, a, o->check_role, err, errlen) != 0) {
                *fail = KSD_REDISCONN_AUTH;
                redisFree(c);
                c = NULL;
            }
            snprintf(at, sizeof(at), "%s:%d", m.host, m.port);
        }
    } else {
        if (t->kind == KSD_REDIS_UNIX) {
            c = open_ctx(o, NULL, 0, t->path, err, errlen);
            snprintf(at, sizeof(at), "unix:%s", t->path);
        } else {
            c = open_ctx(o, t->addr.host, t->addr.port, NULL, err, errlen);
            snprintf(at, sizeof(at), strchr(t->addr.host, ':') ? "[%s]:%d" : "%s:%d", t->addr.host,
                     t->addr.port);
        }
        if (c && setup_ctx(c, a, 0, err, errlen) != 0) {
            *fail = KSD_REDISCONN_AUTH;
            redisFree(c);
            c = NULL;
        }
    }
    if (!c)
        return NULL;
    *fail = KSD_REDISCONN_OK;
    if (where)
        snprintf(where, wlen, "%s", at);
    return c;
}
