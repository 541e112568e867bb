/*
 * log.h - ksd's one logging sink (only sensor/ logs, once per failure): the program's own
 * messages (start, stop, reload, errors), never per-packet output. Messages
 * go to standard error as "ksd: message" or, after ksd_log_init(1, ...), to
 * syslog (facility daemon). Levels are syslog's: LOG_ERR, LOG_WARNING,
 * LOG_INFO (LOG_DEBUG is accepted too).
 */
#ifndef KSD_LOG_H
#define KSD_LOG_H

#include <stddef.h>
#include <syslog.h>

/* Longest message kept; a longer one is cut (the cut is marked with "..."). */
#define KSD_LOG_MAX_MSG 1024

/*
 * Choose the sink. use_syslog = 0: standard error (the default before any
 * call). use_syslog != 0: openlog(ident or "ksd", LOG_PID | LOG_NDELAY,
 * LOG_DAEMON); the socket to the syslog daemon is opened now, so call this
 * before ksd_privdrop() and before starting threads. `ident` is borrowed and
 * must live as long as the program (syslog keeps the pointer). Not
 * thread-safe; call once at start-up.
 */
void ksd_log_init(int use_syslog, const char *ident);

/*
 * Log one message. A trailing newline is not needed; control characters
 * (newlines included) are replaced by '?', so a value taken from the network
 * or a file cannot forge extra log lines. Safe to call from any thread after
 * ksd_log_init(); each message is written with one write.
 */
void ksd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * After a log rotation (SIGHUP): with syslog, reconnect to the daemon; when
 * standard error was a regular file at ksd_log_init, open that path again
 * (created when it was moved away, appended to otherwise) as standard error.
 * Otherwise nothing. 0, or -1 and a message in err (the old file is kept).
 * Call from one thread.
 */
int ksd_log_reopen(char *err, size_t errlen);

/* Close the syslog connection, if any, and go back to standard error. */
void ksd_log_close(void);

#endif
