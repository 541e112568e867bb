/*
 * redis_helpers.h - throwaway Redis servers and sentinels for the emitter
 * tests (Redis is never mocked). Each server runs as a
 * child process on a free loopback port, in its own temporary directory,
 * with persistence off unless the test asks for it; PR_SET_PDEATHSIG kills it
 * if the test binary dies. Stop every server in the cmocka teardown.
 */
#ifndef KSD_TESTS_REDIS_HELPERS_H
#define KSD_TESTS_REDIS_HELPERS_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RH_MAX_EXTRA 24 /* extra command-line arguments per server */

struct rh_server {
    pid_t pid;                           /* child, 0 when not running */
    int port;                            /* TCP port on 127.0.0.1 */
    int sentinel;                        /* started as redis-sentinel */
    char dir[64];                        /* temporary directory, removed by rh_cleanup */
    char sock[128];                      /* unix socket path when requested, else "" */
    char conf[128];                      /* sentinel configuration file */
    const char *extra[RH_MAX_EXTRA + 1]; /* extra arguments, kept for restarts */
};

static inline void rh_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static inline long long rh_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A port nobody listens on right now (bind to port 0, read it, close). */
static inline int rh_free_port(void)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port = -1;
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static inline int rh_mktemp(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/ksd-test-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static inline int rh_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void rh_rmtree(const char *dir)
{
    if (dir[0])
        nftw(dir, rh_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Connect for reading back; NULL on failure. */
static inline redisContext *rh_connect(const struct rh_server *s)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", s->port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    if (c)
        redisSetTimeout(c, tv);
    return c;
}

/* Any reply to PING (even NOAUTH) means the server is up. */
static inline int rh_answers(const struct rh_server *s)
{
    redisContext *c = rh_connect(s);
    if (!c)
        return 0;
    redisReply *r = redisCommand(c, "PING");
    int ok = r != NULL;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return ok;
}

/* (Re)start the server: same port and directory when restarted. 0 or -1. */
static inline int rh_launch(struct rh_server *s)
{
    const char *argv[16 + RH_MAX_EXTRA];
    char port[16];
    int n = 0;
    if (!s->dir[0] && rh_mktemp(s->dir, sizeof(s->dir)) != 0)
        return -1;
    if (s->port <= 0)
        s->port = rh_free_port();
    if (s->port <= 0)
        return -1;
    snprintf(port, sizeof(port), "%d", s->port);
    if (s->sentinel) {
        argv[n++] = "redis-sentinel";
        argv[n++] = s->conf;
    } else {
        argv[n++] = "redis-server";
        argv[n++] = "--port";
        argv[n++] = port;
        argv[n++] = "--bind";
        argv[n++] = "127.0.0.1";
        argv[n++] = "--dir";
        argv[n++] = s->dir;
        argv[n++] = "--save";
        argv[n++] = "";
        argv[n++] = "--daemonize";
        argv[n++] = "no";
        for (int i = 0; s->extra[i] && i < RH_MAX_EXTRA; i++)
            argv[n++] = s->extra[i];
    }
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        char log[128];
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        snprintf(log, sizeof(log), "%s/server.log", s->dir);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    for (int i = 0; i < 200; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = 0;
            return -1;
        }
        if (rh_answers(s))
            return 0;
        rh_sleep_ms(25);
    }
    return -1;
}

/* Start a redis-server with extra arguments (NULL-terminated, may be NULL). */
static inline int rh_start(struct rh_server *s, const char *const *extra)
{
    int i = 0;
    for (; extra && extra[i] && i < RH_MAX_EXTRA; i++)
        s->extra[i] = extra[i];
    s->extra[i] = NULL;
    return rh_launch(s);
}

/* Start a sentinel monitoring 127.0.0.1:master_port as "mymaster". */
static inline int rh_start_sentinel(struct rh_server *s, int master_port, int quorum)
{
    if (rh_mktemp(s->dir, sizeof(s->dir)) != 0)
        return -1;
    s->port = rh_free_port();
    s->sentinel = 1;
    char dir[sizeof(s->dir)];
    memcpy(dir, s->dir, sizeof(dir));
    snprintf(s->conf, sizeof(s->conf), "%s/sentinel.conf", dir);
    FILE *f = fopen(s->conf, "w");
    if (!f)
        return -1;
    fprintf(f,
            "port %d\nbind 127.0.0.1\ndaemonize no\ndir %s\n"
            "sentinel monitor mymaster 127.0.0.1 %d %d\n"
            "sentinel down-after-milliseconds mymaster 1000\n"
            "sentinel failover-timeout mymaster 5000\n"
            "sentinel parallel-syncs mymaster 1\n",
            s->port, s->dir, master_port, quorum);
    fclose(f);
    return rh_launch(s);
}

static inline void rh_signal_wait(struct rh_server *s, int sig)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, sig);
    for (int i = 0; i < 500; i++) {
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            return;
        }
        rh_sleep_ms(10);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

/* Graceful stop (SIGTERM; SIGKILL after 5 s). */
static inline void rh_stop(struct rh_server *s)
{
    rh_signal_wait(s, SIGTERM);
}

/* Crash (SIGKILL). */
static inline void rh_kill(struct rh_server *s)
{
    rh_signal_wait(s, SIGKILL);
}

/* Stop and remove the directory. Safe on a zeroed or already cleaned server. */
static inline void rh_cleanup(struct rh_server *s)
{
    rh_kill(s);
    rh_rmtree(s->dir);
    s->dir[0] = '\0';
}

#endif
