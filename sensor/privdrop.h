/*
 * privdrop.h - give up root after the privileged work is done: switch to an
 * unprivileged user and drop every Linux capability, for good.
 *
 * Call order in main: open the live capture (needs
 * CAP_NET_RAW, CAP_NET_ADMIN), read the configuration and signature files,
 * open the output files and the syslog socket, then ksd_privdrop(), then
 * start threads. Capabilities, the bounding set and no_new_privs are
 * per-thread: a thread created before the call keeps its privileges.
 */
#ifndef KSD_PRIVDROP_H
#define KSD_PRIVDROP_H

#include <stddef.h>

/* The user ksd switches to when none is named and one by this name exists. */
#define KSD_PRIVDROP_DEFAULT_USER "ksd"

/* Upper bound on capability numbers probed (the kernel has about 41). */
#define KSD_PRIVDROP_MAX_CAPS 64

/*
 * Drop privileges.
 *
 * As root (effective uid 0): look `user` up; empty the capability bounding
 * set (needs CAP_SETPCAP); set the supplementary groups to the user's
 * (initgroups), then real, effective and saved gid and uid (setresgid,
 * setresuid); clear the ambient, inheritable, permitted and effective
 * capability sets (raw capset, no libcap); set no_new_privs; and verify
 * that setuid(0) and setgid(0) now fail and that no capability is left.
 * Returns 0.
 *
 * user == NULL as root: use KSD_PRIVDROP_DEFAULT_USER if it exists;
 * otherwise change nothing and return 1 (the caller logs a warning that ksd
 * keeps running as root).
 *
 * Not root: nothing to switch. Returns 0 when `user` is NULL or names the
 * current user, after clearing any capabilities the process holds (file
 * capabilities or ambient ones) and setting no_new_privs; -1 otherwise.
 *
 * Returns -1 with a one-line reason in err (errlen bytes, always
 * terminated) when the user is unknown, has uid 0, or any step fails. After
 * -1 the process may be half-dropped: the caller must exit.
 */
int ksd_privdrop(const char *user, char *err, size_t errlen);

#endif
