/*
 * log.c - the program's log sink: standard error ("ksd: message") or
 * syslog(3), facility LOG_DAEMON, with the process id.
 *
 * What it does not do: no per-packet logging (malformed traffic is counted,
 * STYLE.md rule 11), no log files of its own (under systemd, standard error
 * goes to the journal; with --syslog to the local syslog daemon), no rate
 * limiting. Follows RFC 5424 section 6.2.1 only by using syslog's severity
 * names; the wire format is the C library's.
 *
 * The sink is chosen once at start-up and read-only afterwards (STYLE.md
 * rule 18: configuration is the only global state).
 */
#include "sensor/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int log_to_syslog; /* set once by ksd_log_init, read-only afterwards */

void ksd_log_init(int use_syslog, const char *ident)
{
    if (use_syslog) {
        openlog(ident && *ident ? ident : "ksd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
        log_to_syslog = 1;
    } else {
        log_to_syslog = 0;
    }
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
