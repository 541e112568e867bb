/*
 * privdrop.c - switch from root to an unprivileged user and drop every
 * capability, once the capture socket and the files are open.
 *
 * Steps as root, in this order (each one needs a privilege the next one
 * removes): empty the capability bounding set with PR_CAPBSET_DROP (needs
 * CAP_SETPCAP), clear the ambient set, initgroups + setresgid (CAP_SETGID),
 * setresuid (CAP_SETUID; with PR_SET_KEEPCAPS off the kernel clears the
 * permitted and effective sets), an explicit capset() of all-zero sets
 * (inheritable too), PR_SET_NO_NEW_PRIVS, and then verification: uid/gid
 * are the user's in all three slots, setuid(0)/setgid(0) fail, capget()
 * reports nothing. See capabilities(7), prctl(2), credentials(7).
 *
 * What it does not do: no chroot (ksd reopens nothing by path after the
 * drop, except the signature file on SIGHUP, which must stay readable by
 * the user), no seccomp filter (the systemd unit sets one), no libcap: the
 * capset/capget system calls are used directly with the version 3 header.
 * It must run before any thread starts: capabilities, the bounding set and
 * no_new_privs belong to the calling thread.
 */
#include "sensor/privdrop.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#define PRIVDROP_PWBUF 16384 /* getpwnam_r buffer; NSS entries are small */

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Look a user up. Returns 1 found, 0 no such user, -1 lookup error (errno). */
static int lookup(const char *name, struct passwd *pw, char *buf, size_t buflen)
{
    struct passwd *res = NULL;
    int rc = getpwnam_r(name, pw, buf, buflen, &res);
    if (rc != 0) {
        /* glibc reports "not found" as 0 with res NULL, but some NSS modules
         * return ENOENT/ESRCH instead */
        if (rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM)
            return 0;
        errno = rc;
        return -1;
    }
    return res != NULL;
}

static int capget_all(struct __user_cap_data_struct data[2])
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    memset(data, 0, 2 * sizeof(data[0]));
    return (int)syscall(SYS_capget, &hdr, data);
}

static int capset_zero(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    return (int)syscall(SYS_capset, &hdr, data);
}

static int have_cap(int cap)
{
    struct __user_cap_data_struct data[2];
    if (capget_all(data) != 0 || cap < 0 || cap >= 64)
        return 0;
    return (data[cap / 32].effective >> (cap % 32)) & 1u;
}

/* Empty the bounding set. Returns 0, or -1 with errno and *bad = the capability. */
static int drop_bounding(int *bad)
{
    for (int cap = 0; cap < KSD_PRIVDROP_MAX_CAPS; cap++) {
        int in = prctl(PR_CAPBSET_READ, (unsigned long)cap, 0UL, 0UL, 0UL);
        if (in < 0 && errno == EINVAL)
            break; /* past the kernel's last capability */
        if (in <= 0)
            continue;
        if (prctl(PR_CAPBSET_DROP, (unsigned long)cap, 0UL, 0UL, 0UL) != 0) {
            *bad = cap;
            return -1;
        }
    }
    return 0;
}

static int bounding_empty(void)
{
    for (int cap = 0; cap < KSD_PRIVDROP_MAX_CAPS; cap++) {
        int in = prctl(PR_CAPBSET_READ, (unsigned long)cap, 0UL, 0UL, 0UL);
        if (in < 0 && errno == EINVAL)
            break;
        if (in > 0)
            return 0;
    }
    return 1;
}

/* Ambient capabilities: PR_CAP_AMBIENT exists since Linux 4.3; an older
 * kernel has none to clear. */
static int clear_ambient(void)
{
#ifdef PR_CAP_AMBIENT
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0UL, 0UL, 0UL) != 0 && errno != EINVAL)
        return -1;
#endif
    return 0;
}

/* Clear every capability set this thread holds and set no_new_privs. */
static int drop_caps(char *err, size_t errlen)
{
    if (clear_ambient() != 0)
        return fail(err, errlen, "cannot clear ambient capabilities: %s", strerror(errno));
    if (capset_zero() != 0)
        return fail(err, errlen, "capset: %s", strerror(errno));
    if (prctl(PR_SET_NO_NEW_PRIVS, 1UL, 0UL, 0UL, 0UL) != 0)
        return fail(err, errlen, "cannot set no_new_privs: %s", strerror(errno));
    struct __user_cap_data_struct data[2];
    if (capget_all(data) != 0)
        return fail(err, errlen, "capget: %s", strerror(errno));
    for (int i = 0; i < 2; i++)
        if (data[i].effective || data[i].permitted || data[i].inheritable)
            return fail(err, errlen, "capabilities still held after capset");
    return 0;
}

/* Not root: only the current user is possible; shed any capabilities. */
static int drop_unprivileged(const char *user, char *err, size_t errlen)
{
    if (user) {
        struct passwd pw;
        char *buf = malloc(PRIVDROP_PWBUF);
        if (!buf)
            return fail(err, errlen, "out of memory");
        int found = lookup(user, &pw, buf, PRIVDROP_PWBUF);
        int err_no = errno;
        uid_t uid = found > 0 ? pw.pw_uid : 0;
        free(buf);
        if (found < 0)
            return fail(err, errlen, "user %s: lookup failed: %s", user, strerror(err_no));
        if (found == 0)
            return fail(err, errlen, "user %s: no such user", user);
        if (uid != getuid() || uid != geteuid())
            return fail(err, errlen, "cannot switch to user %s: not running as root", user);
    }
    if (have_cap(CAP_SETPCAP)) {
        int bad = -1;
        if (drop_bounding(&bad) != 0)
            return fail(err, errlen, "cannot drop capability %d from the bounding set: %s", bad,
                        strerror(errno));
    }
    return drop_caps(err, errlen);
}

int ksd_privdrop(const char *user, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    uid_t ru, eu, su;
    if (getresuid(&ru, &eu, &su) != 0)
        return fail(err, errlen, "getresuid: %s", strerror(errno));
    /* root only in the real or saved slot could come back later: become
     * root again now so that the switch below covers every slot */
    if (eu != 0 && (ru == 0 || su == 0) && seteuid(0) != 0)
        return fail(err, errlen, "cannot regain root to drop it for good: %s", strerror(errno));
    if (geteuid() != 0)
        return drop_unprivileged(user, err, errlen);

    int rc = -1;
    struct passwd pw;
    char *buf = malloc(PRIVDROP_PWBUF);
    if (!buf)
        return fail(err, errlen, "out of memory");
    const char *name = user ? user : KSD_PRIVDROP_DEFAULT_USER;
    int found = lookup(name, &pw, buf, PRIVDROP_PWBUF);
    if (found < 0) {
        fail(err, errlen, "user %s: lookup failed: %s", name, strerror(errno));
        goto out;
    }
    if (found == 0) {
        if (!user) {
            fail(err, errlen, "no user %s: staying root", name);
            rc = 1;
        } else {
            fail(err, errlen, "user %s: no such user", name);
        }
        goto out;
    }
    uid_t uid = pw.pw_uid;
    gid_t gid = pw.pw_gid;
    if (uid == 0 || gid == 0) {
        fail(err, errlen, "user %s has uid or gid 0: nothing to drop to", name);
        goto out;
    }

    int bad = -1;
    if (prctl(PR_SET_KEEPCAPS, 0UL, 0UL, 0UL, 0UL) != 0) {
        fail(err, errlen, "cannot clear keep-caps: %s", strerror(errno));
        goto out;
    }
    if (drop_bounding(&bad) != 0) {
        fail(err, errlen, "cannot drop capability %d from the bounding set (needs CAP_SETPCAP): %s",
             bad, strerror(errno));
        goto out;
    }
    if (clear_ambient() != 0) {
        fail(err, errlen, "cannot clear ambient capabilities: %s", strerror(errno));
        goto out;
    }
    if (initgroups(pw.pw_name, gid) != 0) {
        fail(err, errlen, "initgroups(%s): %s", name, strerror(errno));
        goto out;
    }
    if (setresgid(gid, gid, gid) != 0) {
        fail(err, errlen, "setresgid(%lu): %s", (unsigned long)gid, strerror(errno));
        goto out;
    }
    if (setresuid(uid, uid, uid) != 0) {
        fail(err, errlen, "setresuid(%lu): %s", (unsigned long)uid, strerror(errno));
        goto out;
    }
    if (drop_caps(err, errlen) != 0)
        goto out;

    /* Verify: no way back. */
    uid_t r, e, s;
    gid_t rg, eg, sg;
    if (getresuid(&r, &e, &s) != 0 || r != uid || e != uid || s != uid) {
        fail(err, errlen, "uid is not %lu in every slot after the switch", (unsigned long)uid);
        goto out;
    }
    if (getresgid(&rg, &eg, &sg) != 0 || rg != gid || eg != gid || sg != gid) {
        fail(err, errlen, "gid is not %lu in every slot after the switch", (unsigned long)gid);
        goto out;
    }
    if (setuid(0) == 0 || seteuid(0) == 0) {
        fail(err, errlen, "root could be regained after the switch");
        goto out;
    }
    if (setgid(0) == 0 || setegid(0) == 0) {
        fail(err, errlen, "gid 0 could be regained after the switch");
        goto out;
    }
    if (!bounding_empty()) {
        fail(err, errlen, "capability bounding set not empty after the switch");
        goto out;
    }
    rc = 0;
out:
    free(buf);
    return rc;
}
