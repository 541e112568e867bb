/*
 * log.c - the program's log sink: standard error ("ksd: message") or
 * syslog(3), facility LOG_DAEMON, with the process id.
 *
 * What it does not do: no per-packet logging (malformed traffic is counted,
 * never logged), no log files of its own (under systemd, standard error
 * goes to the journal; with --syslog to the local syslog daemon), no rate
 * limiting. When standard error is a regular file (a shell redirection,
 * systemd's StandardError=append:FILE), ksd_log_reopen opens that path again
 * after a rotation, so logrotate can move it away like --json. Follows RFC 5424 section 6.2.1 only
 * by using syslog's severity names; the wire format is the C library's.
 *
 * The sink is chosen once at start-up and read-only afterwards (like the
 * configuration, the only global state besides statistics).
 */
#include "sensor/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int log_to_syslog;             /* set once by ksd_log_init, read-only afterwards */
static const char *log_ident = "ksd"; /* syslog ident (borrowed) */
static char log_path[PATH_MAX];       /* standard error's file at start-up, or "" */

void ksd_log_init(int use_syslog, const char *ident)
{
    struct stat sb;
    ssize_t n;
    log_path[0] = '\0';
    if (fstat(STDERR_FILENO, &sb) == 0 && S_ISREG(sb.st_mode) &&
        (n = readlink("/proc/self/fd/2", log_path, sizeof(log_path) - 1)) > 0 && log_path[0] == '/')
        log_path[n] = '\0';
    else
        log_path[0] = '\0';
    log_ident = ident && *ident ? ident : "ksd";
    if (use_syslog) {
        openlog(ident && *ident ? ident : "ksd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
        log_to_syslog = 1;
    } else {
        log_to_syslog = 0;
    }
}

int ksd_log_reopen(char *err, size_t errlen)
{
    if (log_to_syslog) {
        closelog();
        openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
        return 0;
    }
    if (!log_path[0])
        return 0;
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot reopen the log file: %s", log_path, strerror(errno));
        return -1;
    }
    int rc = dup2(fd, STDERR_FILENO);
    close(fd);
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot reopen the log file: %s", log_path, strerror(errno));
        return -1;
    }
    return 0;
}

void ksd_log_close(void)
{
    if (log_to_syslog)
        closelog();
    log_to_syslog = 0;
}

/* Replace control bytes (and DEL) so one call is always one log line. */
static void scrub(char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch == 0x7f)
            *s = '?';
    }
}

void ksd_log(int level, const char *fmt, ...)
{
    char msg[KSD_LOG_MAX_MSG];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0) {
        strcpy(msg, "(message could not be formatted)");
    } else if ((size_t)n >= sizeof(msg)) {
        memcpy(msg + sizeof(msg) - 4, "...", 4);
    }
    scrub(msg);
    if (log_to_syslog) {
        syslog(level, "%s", msg);
        return;
    }
    /* One write per message, so lines from several threads do not mix. */
    char line[KSD_LOG_MAX_MSG + 8];
    int len = snprintf(line, sizeof(line), "ksd: %s\n", msg);
    if (len < 0)
        return;
    if ((size_t)len >= sizeof(line))
        len = (int)sizeof(line) - 1;
    ssize_t w = write(STDERR_FILENO, line, (size_t)len);
    (void)w;
}
