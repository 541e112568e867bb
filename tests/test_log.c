/*
 * test_log.c - sensor/log.c: the standard-error format "ksd: message",
 * control characters replaced so one call is one line, long messages cut
 * with a marker, nothing on standard error once syslog is chosen, and a
 * log file (standard error a regular file) reopened by path after a rename.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sensor/log.h"

struct capture {
    int saved;      /* the real stderr */
    char path[64];  /* temporary file standing in for stderr */
    char buf[4096]; /* what was written */
};

static void cap_begin(struct capture *c)
{
    snprintf(c->path, sizeof(c->path), "/tmp/ksd-log-XXXXXX");
    int fd = mkstemp(c->path);
    assert_true(fd >= 0);
    fflush(stderr);
    c->saved = dup(STDERR_FILENO);
    assert_true(c->saved >= 0);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    close(fd);
}

static size_t cap_end(struct capture *c)
{
    fflush(stderr);
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    int fd = open(c->path, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, c->buf, sizeof(c->buf) - 1);
    close(fd);
    unlink(c->path);
    assert_true(n >= 0);
    c->buf[n] = '\0';
    return (size_t)n;
}

static void test_log_stderr_prefix_and_newline(void **state)
{
    (void)state;
    struct capture c;
    ksd_log_init(0, "ksd");
    cap_begin(&c);
    ksd_log(LOG_ERR, "capturing on %s (%d)", "eth0", 42);
    ksd_log(LOG_INFO, "second");
    cap_end(&c);
    assert_string_equal(c.buf, "ksd: capturing on eth0 (42)\nksd: second\n");
}

static void test_log_control_chars_cannot_forge_lines(void **state)
{
    (void)state;
    struct capture c;
    ksd_log_init(0, NULL);
    cap_begin(&c);
    ksd_log(LOG_WARNING, "%s", "bad\nksd: forged\r\x1b[2J\x7f");
    cap_end(&c);
    assert_string_equal(c.buf, "ksd: bad?ksd: forged??[2J?\n");
}

static void test_log_long_message_cut_with_marker(void **state)
{
    (void)state;
    struct capture c;
    char big[3000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ksd_log_init(0, NULL);
    cap_begin(&c);
    ksd_log(LOG_ERR, "%s", big);
    size_t n = cap_end(&c);
    /* "ksd: " + (KSD_LOG_MAX_MSG - 1) bytes ending in "..." + "\n" */
    assert_int_equal(n, 5 + KSD_LOG_MAX_MSG - 1 + 1);
    assert_memory_equal(c.buf + n - 4, "...\n", 4);
    assert_int_equal(c.buf[5], 'a');
}

static void test_log_syslog_mode_leaves_stderr_alone(void **state)
{
    (void)state;
    struct capture c;
    cap_begin(&c);
    ksd_log_init(1, "ksd-test");
    ksd_log(LOG_INFO, "to syslog %d", 1);
    ksd_log_close();
    ksd_log(LOG_INFO, "back on stderr");
    cap_end(&c);
    assert_string_equal(c.buf, "ksd: back on stderr\n");
}

static void test_log_reopen_after_rename(void **state)
{
    (void)state;
    struct capture c;
    char moved[80], err[256];
    cap_begin(&c); /* standard error is now a regular file: the log file */
    ksd_log_init(0, "ksd");
    ksd_log(LOG_INFO, "before");
    snprintf(moved, sizeof(moved), "%s.1", c.path);
    assert_int_equal(rename(c.path, moved), 0);
    ksd_log(LOG_INFO, "between");
    assert_int_equal(ksd_log_reopen(err, sizeof(err)), 0);
    ksd_log(LOG_INFO, "after");
    cap_end(&c); /* reads (and removes) the file at the original path */
    assert_string_equal(c.buf, "ksd: after\n");
    int fd = open(moved, O_RDONLY);
    assert_true(fd >= 0);
    char old[256];
    ssize_t n = read(fd, old, sizeof(old) - 1);
    close(fd);
    unlink(moved);
    assert_true(n > 0);
    old[n] = '\0';
    assert_string_equal(old, "ksd: before\nksd: between\n");
    ksd_log_init(0, "ksd"); /* standard error is the terminal or pipe again */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_stderr_prefix_and_newline),
        cmocka_unit_test(test_log_control_chars_cannot_forge_lines),
        cmocka_unit_test(test_log_long_message_cut_with_marker),
        cmocka_unit_test(test_log_syslog_mode_leaves_stderr_alone),
        cmocka_unit_test(test_log_reopen_after_rename),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
