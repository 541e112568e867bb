/*
 * test_privdrop.c - sensor/privdrop.c: root drops to "nobody" with every
 * uid/gid slot switched, no way back to root and no capability left in any
 * set (read back from /proc/self/status); unknown users, uid-0 users and a
 * missing CAP_SETPCAP are refused; the default user is optional; a process
 * that is not root can only "drop" to itself. Every drop happens in a
 * forked child, so the test runner keeps its privileges. Skipped when not
 * run as root (except the unprivileged cases).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sensor/privdrop.h"

/* Child-side check: print the failed condition and exit with its line. */
#define CHILD_CHECK(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "child: %s:%d: %s\n", __FILE__, __LINE__, #cond);                      \
            _exit(__LINE__ % 250 + 1);                                                             \
        }                                                                                          \
    } while (0)

/* Run fn in a child process; returns its exit status (0 = every check held). */
static int in_child(void (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        fn();
        _exit(0);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    if (WIFSIGNALED(st))
        return 1000 + WTERMSIG(st);
    return WEXITSTATUS(st);
}

/* The hex value of a "Name:\tVALUE" line of /proc/self/status, or -1. */
static long long status_hex(const char *key)
{
    FILE *fp = fopen("/proc/self/status", "r");
    if (!fp)
        return -1;
    char line[256];
    size_t klen = strlen(key);
    long long v = -1;
    while (fgets(line, sizeof(line), fp)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            v = strtoll(line + klen + 1, NULL, 16);
            break;
        }
    }
    fclose(fp);
    return v;
}

static uid_t nobody_uid(void)
{
    struct passwd *pw = getpwnam("nobody");
    return pw ? pw->pw_uid : 0;
}

static void skip_unless_root_with_nobody(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "skip: needs root\n");
        skip();
    }
    if (nobody_uid() == 0) {
        fprintf(stderr, "skip: no user nobody\n");
        skip();
    }
}

/* ---- root drops to nobody ---------------------------------------------- */

static void child_drop_to_nobody(void)
{
    char err[256];
    uid_t nb = nobody_uid();
    int rc = ksd_privdrop("nobody", err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "child: ksd_privdrop: %s\n", err);
    CHILD_CHECK(rc == 0);
    CHILD_CHECK(err[0] == '\0');
    CHILD_CHECK(getuid() == nb && geteuid() == nb);
    CHILD_CHECK(getuid() != 0 && geteuid() != 0);
    CHILD_CHECK(getgid() != 0 && getegid() != 0);
    uid_t r, e, s;
    CHILD_CHECK(getresuid(&r, &e, &s) == 0 && r == nb && e == nb && s == nb);
    gid_t groups[64];
    int ng = getgroups(64, groups);
    CHILD_CHECK(ng >= 0);
    for (int i = 0; i < ng; i++)
        CHILD_CHECK(groups[i] != 0);
    errno = 0;
    CHILD_CHECK(setuid(0) == -1 && errno == EPERM);
    CHILD_CHECK(seteuid(0) == -1);
    CHILD_CHECK(setgid(0) == -1);
    CHILD_CHECK(status_hex("CapEff") == 0);
    CHILD_CHECK(status_hex("CapPrm") == 0);
    CHILD_CHECK(status_hex("CapBnd") == 0);
    CHILD_CHECK(status_hex("CapInh") == 0);
    CHILD_CHECK(status_hex("CapAmb") <= 0); /* -1: kernel without ambient caps */
    CHILD_CHECK(status_hex("NoNewPrivs") == 1);
}

static void test_privdrop_root_to_nobody_drops_ids_and_caps(void **state)
{
    (void)state;
    skip_unless_root_with_nobody();
    assert_int_equal(in_child(child_drop_to_nobody), 0);
}

/* ---- refusals ---------------------------------------------------------- */

static void child_unknown_user(void)
{
    char err[256];
    CHILD_CHECK(ksd_privdrop("ksd-no-such-user-x9", err, sizeof(err)) == -1);
    CHILD_CHECK(strstr(err, "ksd-no-such-user-x9: no such user") != NULL);
    CHILD_CHECK(getuid() == 0 && geteuid() == 0);
    CHILD_CHECK(status_hex("CapEff") != 0); /* nothing dropped */
}

static void test_privdrop_unknown_user_fails_and_keeps_root(void **state)
{
    (void)state;
    skip_unless_root_with_nobody();
    assert_int_equal(in_child(child_unknown_user), 0);
}

static void child_root_user(void)
{
    char err[256];
    CHILD_CHECK(ksd_privdrop("root", err, sizeof(err)) == -1);
    CHILD_CHECK(strstr(err, "uid or gid 0") != NULL);
}

static void test_privdrop_uid0_user_refused(void **state)
{
    (void)state;
    skip_unless_root_with_nobody();
    assert_int_equal(in_child(child_root_user), 0);
}

static void child_short_err_buffer(void)
{
    char err[8];
    memset(err, 'x', sizeof(err));
    CHILD_CHECK(ksd_privdrop("ksd-no-such-user-x9", err, sizeof(err)) == -1);
    CHILD_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
    CHILD_CHECK(strcmp(err, "user ks") == 0);
    CHILD_CHECK(ksd_privdrop("ksd-no-such-user-x9", NULL, 0) == -1);
}

static void test_privdrop_error_text_truncated_and_terminated(void **state)
{
    (void)state;
    skip_unless_root_with_nobody();
    assert_int_equal(in_child(child_short_err_buffer), 0);
}

/* Without CAP_SETPCAP the bounding set cannot be emptied: refuse, do not
 * half-drop silently. */
static void child_no_setpcap(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    CHILD_CHECK(syscall(SYS_capget, &hdr, data) == 0);
    data[CAP_SETPCAP / 32].effective &= ~(1u << (CAP_SETPCAP % 32));
    data[CAP_SETPCAP / 32].permitted &= ~(1u << (CAP_SETPCAP % 32));
    CHILD_CHECK(syscall(SYS_capset, &hdr, data) == 0);
    char err[256];
    CHILD_CHECK(ksd_privdrop("nobody", err, sizeof(err)) == -1);
    CHILD_CHECK(strstr(err, "bounding set") != NULL);
    CHILD_CHECK(strstr(err, "CAP_SETPCAP") != NULL);
}

static void test_privdrop_without_setpcap_refused(void **state)
{
    (void)state;
    skip_unless_root_with_nobody();
    assert_int_equal(in_child(child_no_setpcap), 0);
}

/* ---- default user ------------------------------------------------------ */

static void child_default_user(void)
{
    char err[256];
    struct passwd *pw = getpwnam(KSD_PRIVDROP_DEFAULT_USER);
    uid_t want = pw ? pw->pw_uid : 0;
    int rc = ksd_privdrop(NULL, err, sizeof(err));
    if (want == 0) {
        /* no "ksd" user: stay root, say why */
        CHILD_CHECK(rc == 1);
        CHILD_CHECK(strstr(err, "no user ksd") != NULL);
        CHILD_CHECK(getuid() == 0 && geteuid() == 0);
        CHILD_CHECK(status_hex("CapEff") != 0);
    } else {
        CHILD_CHECK(rc == 0);
        CHILD_CHECK(getuid() == want && geteuid() == want);
        CHILD_CHECK(status_hex("CapEff") == 0);
    }
}

static void test_privdrop_null_user_uses_ksd_or_stays_root(void **state)
{
    (void)state;
    skip_unless_root_with_nobody();
    assert_int_equal(in_child(child_default_user), 0);
}

/* ---- not root ---------------------------------------------------------- */

static void child_unprivileged(void)
{
    char err[256];
    if (geteuid() == 0)
        CHILD_CHECK(ksd_privdrop("nobody", err, sizeof(err)) == 0);
    struct passwd *me = getpwuid(getuid());
    uid_t before = getuid();
    CHILD_CHECK(ksd_privdrop(NULL, err, sizeof(err)) == 0);
    if (me) {
        char name[256];
        snprintf(name, sizeof(name), "%s", me->pw_name);
        CHILD_CHECK(ksd_privdrop(name, err, sizeof(err)) == 0);
    }
    CHILD_CHECK(ksd_privdrop("root", err, sizeof(err)) == -1);
    CHILD_CHECK(strstr(err, "not running as root") != NULL);
    CHILD_CHECK(ksd_privdrop("ksd-no-such-user-x9", err, sizeof(err)) == -1);
    CHILD_CHECK(strstr(err, "no such user") != NULL);
    CHILD_CHECK(getuid() == before);
    CHILD_CHECK(status_hex("CapEff") == 0);
    CHILD_CHECK(status_hex("NoNewPrivs") == 1);
}

static void test_privdrop_unprivileged_only_to_self(void **state)
{
    (void)state;
    if (geteuid() == 0 && nobody_uid() == 0)
        skip();
    assert_int_equal(in_child(child_unprivileged), 0);
}

/* Started without root but with capabilities (systemd User= plus
 * AmbientCapabilities=, or file capabilities): they are shed. */
static void child_unprivileged_with_caps(void)
{
    uid_t nb = nobody_uid();
    CHILD_CHECK(prctl(PR_SET_KEEPCAPS, 1UL, 0UL, 0UL, 0UL) == 0);
    CHILD_CHECK(setresgid(nb, nb, nb) == 0);
    CHILD_CHECK(setresuid(nb, nb, nb) == 0);
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    data[0].permitted = data[0].effective = (1u << CAP_NET_RAW) | (1u << CAP_NET_ADMIN);
    CHILD_CHECK(syscall(SYS_capset, &hdr, data) == 0);
    CHILD_CHECK(status_hex("CapEff") == ((1LL << CAP_NET_RAW) | (1LL << CAP_NET_ADMIN)));
    char err[256];
    CHILD_CHECK(ksd_privdrop(NULL, err, sizeof(err)) == 0);
    CHILD_CHECK(getuid() == nb);
    CHILD_CHECK(status_hex("CapEff") == 0);
    CHILD_CHECK(status_hex("CapPrm") == 0);
    CHILD_CHECK(status_hex("CapInh") == 0);
    CHILD_CHECK(status_hex("NoNewPrivs") == 1);
}

static void test_privdrop_unprivileged_with_caps_sheds_them(void **state)
{
    (void)state;
    skip_unless_root_with_nobody();
    assert_int_equal(in_child(child_unprivileged_with_caps), 0);
}

/* Root parked in the saved uid (seteuid away) is still root: the switch
 * covers every slot. */
static void child_root_in_saved_uid(void)
{
    uid_t nb = nobody_uid();
    CHILD_CHECK(seteuid(nb) == 0);
    CHILD_CHECK(geteuid() == nb && getuid() == 0);
    char err[256];
    int rc = ksd_privdrop("nobody", err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "child: ksd_privdrop: %s\n", err);
    CHILD_CHECK(rc == 0);
    uid_t r, e, s;
    CHILD_CHECK(getresuid(&r, &e, &s) == 0 && r == nb && e == nb && s == nb);
    CHILD_CHECK(seteuid(0) == -1);
    CHILD_CHECK(status_hex("CapPrm") == 0);
    CHILD_CHECK(status_hex("CapBnd") == 0);
}

static void test_privdrop_root_in_saved_uid_dropped_too(void **state)
{
    (void)state;
    skip_unless_root_with_nobody();
    assert_int_equal(in_child(child_root_in_saved_uid), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_privdrop_root_to_nobody_drops_ids_and_caps),
        cmocka_unit_test(test_privdrop_unknown_user_fails_and_keeps_root),
        cmocka_unit_test(test_privdrop_uid0_user_refused),
        cmocka_unit_test(test_privdrop_error_text_truncated_and_terminated),
        cmocka_unit_test(test_privdrop_without_setpcap_refused),
        cmocka_unit_test(test_privdrop_null_user_uses_ksd_or_stays_root),
        cmocka_unit_test(test_privdrop_unprivileged_only_to_self),
        cmocka_unit_test(test_privdrop_unprivileged_with_caps_sheds_them),
        cmocka_unit_test(test_privdrop_root_in_saved_uid_dropped_too),
    };
    return cmocka_run_group_tests_name("privdrop", tests, NULL, NULL);
}
