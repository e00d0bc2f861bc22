/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The server's shared state: one struct server per daemon, on the stack of
 * dkm_server_run, reached by every part of the server (listener.c,
 * connection.c, dispatch.c, dispatch-dax.c, server.c). Each part keeps to
 * its own fields, grouped below by the file that owns them; the first group
 * is read by all. Everything here belongs to the event loop thread.
 */
#ifndef DKM_DAEMON_SERVER_INTERNAL_H
#define DKM_DAEMON_SERVER_INTERNAL_H

#include <stdbool.h>

#include "server.h"

struct conn;
struct dkm_broker;
struct dkm_config;
struct event;
struct event_base;

struct server {
	const struct dkm_server_options *opt;
	struct event_base *base;
	struct dkm_config *cfg;
	struct dkm_broker *broker;
	bool live;                    /* the map is the live /sys: devices can be reconfigured */

	/* listener.c */
	int listen_fd;
	bool activated;
	char *socket_path;            /* ours to unlink at exit, or NULL */
	struct event *ev_accept, *ev_accept_resume;

	/* connection.c */
	struct event *ev_reap;        /* frees dead connections outside their callbacks */
	struct conn *conns;
	struct conn *dead;
	unsigned nconns;

	/* server.c */
	struct event *ev_worker, *ev_refresh, *ev_watchdog;
	struct event *ev_sig[3];
	int uevent_fd;                /* kernel device events, -1 without them */
	struct event *ev_uevent, *ev_settle;
};

/* Re-read the node map, hand it to the broker, refresh residency and STATUS= (server.c). */
void dkm_server_refresh_map(struct server *s);

#endif
