/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * End-to-end harness: each test gets its own temp directory, socket, config
 * and NOTIFY_SOCKET; daxkmemd runs in its own process group and readiness is
 * awaited on READY=1 (poll with a timeout, never a sleep).
 */
#ifndef DKM_E2E_HARNESS_H
#define DKM_E2E_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "conn.h"

struct daemon {
	pid_t pid;
	char dir[64];
	char sock[128];
	char conf[128];
	char log[128];
	int notify_fd;
};

/* Start daxkmemd with node 0 as the kmem node and extra config lines; fails the test on error. */
void daemon_start(struct daemon *d, const char *extra_conf);
/* Start with argv appended after the standard options, and no readiness wait if !wait. */
void daemon_start_args(struct daemon *d, const char *extra_conf, const char *const *extra_args);
/*
 * Run daxkmemd with args (after the program name) in the foreground, at most
 * timeout_ms; returns its exit status (-1 if it had to be killed) and its
 * output in out.
 */
int daemon_run_once(const char *const *args, char *out, size_t outsize, int timeout_ms);
/* The same for any program, as uid (unless (uid_t)-1). */
int run_program(const char *path, const char *const *args, uid_t uid, char *out, size_t outsize,
		int timeout_ms);
/* SIGTERM, wait, check exit status 0; remove the directory. */
void daemon_stop(struct daemon *d);
/* Number of descriptors the daemon has open. */
int daemon_nfds(const struct daemon *d);
/* Poll until the daemon has want descriptors open (connections close asynchronously). */
int daemon_nfds_settled(const struct daemon *d, int want, int timeout_ms);
/* The count when nothing transient is open. */
int daemon_nfds_quiet(const struct daemon *d);
/* True while the process exists. */
bool daemon_alive(const struct daemon *d);
/* Wait for a "KEY=..." line on the notify socket; returns it (static buffer) or NULL. */
const char *daemon_wait_notify(struct daemon *d, const char *prefix, int timeout_ms);

struct dkm_conn *client_open(const struct daemon *d, const char *name);
/* STATUS: granted bytes on node (-1: total of all). */
uint64_t status_granted(const struct daemon *d, int node);
unsigned status_clients(const struct daemon *d);
/* Poll STATUS until granted on node is want; true if reached within timeout. */
bool wait_granted(const struct daemon *d, int node, uint64_t want, int timeout_ms);

/*
 * The calling process's memory cgroup as the daemon reads it: the path of
 * the v1 memory hierarchy's line of /proc/self/cgroup, else of the "0::"
 * line. Fails the test if there is neither.
 */
void own_memory_cgroup(char *buf, size_t size);

/* A request for the CPU node the calling thread runs on. */
struct dkm_alloc_region alloc_req(uint32_t kind, uint64_t size, uint32_t flags);

/* ---- added for the daemon-side tests (test-limits.c, test-lifecycle.c) ---- */

struct daemon_opts {
	const char *conf;              /* the whole configuration file; NULL: as daemon_start */
	const char *extra_conf;        /* with conf NULL: lines after the standard ones */
	const char *const *args;       /* after the standard options */
	long nofile;                   /* > 0: the daemon's RLIMIT_NOFILE, soft and hard */
	void (*child_setup)(void);     /* run in the daemon's process just before exec */
};
/* daemon_start with the options above; waits for READY=1. */
void daemon_start_opts(struct daemon *d, const struct daemon_opts *o);
/* Times needle occurs in the daemon's log so far. */
int daemon_log_count(const struct daemon *d, const char *needle);
/* Poll until needle occurs at least n times in the log; true if it did within timeout. */
bool daemon_wait_log(const struct daemon *d, const char *needle, int n, int timeout_ms);
/* Like daemon_wait_notify, but returns the whole datagram (static buffer) holding the line. */
const char *daemon_wait_notify_msg(struct daemon *d, const char *prefix, int timeout_ms);
/* STATUS: the totals and node's entry; false if node is not in the map. */
bool status_node(const struct daemon *d, int node, struct dkm_status *st,
		 struct dkm_status_node *sn);

/* Write text to root/rel, making the directories on the way (a sysfs tree of a test's own). */
void tree_write(const char *root, const char *rel, const char *text);
/* fork(); the child runs as uid (and gid uid, no supplementary groups), or _exit(126). */
pid_t fork_as(uid_t uid);

/*
 * Throw away what the daemon sent to the notify socket. sd_notify blocks
 * once 10 datagrams are unread (net.unix.max_dgram_qlen), and the daemon
 * sends STATUS= whenever its totals change: a test that makes many changes
 * calls this while it waits.
 */
void daemon_drain_notify(struct daemon *d);

/* Open (through /proc) the daemon's memfd whose name starts with prefix, once it has one. */
int daemon_memfd(const struct daemon *d, const char *prefix, int timeout_ms);

/*
 * Start daxkmemd on the sysfs tree below sysfs_root (a fixture) with no
 * kmem_nodes line: the daemon detects the kmem nodes of the fixture itself.
 * extra_conf as for daemon_start; fails the test on error.
 */
void daemon_start_sysfs(struct daemon *d, const char *sysfs_root, const char *extra_conf);

#endif
