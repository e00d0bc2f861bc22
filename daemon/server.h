/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The server: a libevent loop on the Unix stream socket that moves messages
 * between peers and the broker. Socket activation (sd_listen_fds) or its own
 * socket; sd_notify READY=1/STATUS=/WATCHDOG=1; SIGTERM/SIGINT stop it,
 * SIGHUP reloads the configuration and the node map.
 */
#ifndef DKM_DAEMON_SERVER_H
#define DKM_DAEMON_SERVER_H

#include <stdbool.h>

struct dkm_server_options {
	const char *config_path;
	bool config_must_exist;
	const char *sysfs_root;
	const char *socket_path;      /* --socket: overrides socket= */
	const char *proc_root;        /* --proc-root: where /proc/PID/cgroup is read (NULL: /proc) */
	const char *cgroup_root;      /* --cgroup-root: the cgroup fs (NULL: /sys/fs/cgroup) */
};

/* Run until SIGTERM/SIGINT. Returns 0 on a clean stop, negative errno on failure to start. */
int dkm_server_run(const struct dkm_server_options *o);

#endif
