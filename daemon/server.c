/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The server (server.h) and what ties its parts together: start-up (the
 * configuration, the node map, the broker, the event loop and its events),
 * the node map kept fresh (timer, kernel events), the worker's completions,
 * signals and reload, and the orderly stop. The parts: listener.c (the
 * socket), connection.c (a peer), dispatch.c and dispatch-dax.c (requests),
 * notify.c (systemd); their shared state is in server-internal.h.
 */
#include "server.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "broker.h"
#include "config.h"
#include "connection.h"
#include "dispatch.h"
#include "dispatch-dax.h"
#include "listener.h"
#include "log.h"
#include "notify.h"
#include "server-internal.h"
#include "uevent.h"

/* Kernel events come in bursts (one per memory block): the map is re-read this long after the first. */
#define UEVENT_SETTLE_MS 100

/* ======================================================================
 * Timers and signals
 * ====================================================================== */

static int read_map(struct server *s, const struct dkm_config *cfg, struct dkm_topology **ret)
{
	char err[512];
	int r = dkm_topology_read(s->opt->sysfs_root, cfg->kmem_nodes_set ? &cfg->kmem_nodes : NULL,
				  ret, err, sizeof(err));

	if (r < 0)
		log_error("reading the node map: %s", err[0] ? err : strerror(-r));
	return r;
}

void dkm_server_refresh_map(struct server *s)
{
	struct dkm_topology *t;

	if (read_map(s, s->cfg, &t) == 0)
		dkm_broker_set_topology(s->broker, t);
	dkm_broker_refresh_residency(s->broker);
	dkm_notify_status(s->broker);
}

static void on_refresh(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	dkm_server_refresh_map(arg);
}

/* Kernel device events: re-read the map once a burst has settled. */
static void on_uevent(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	int n = dkm_uevent_drain((int)fd);

	(void)what;
	if (n < 0) {
		log_warning("kernel device events: %s; the map is refreshed by the timer only",
			    strerror(-n));
		event_del(s->ev_uevent);
		return;
	}
	if (n > 0 && !evtimer_pending(s->ev_settle, NULL)) {
		struct timeval tv = { 0, UEVENT_SETTLE_MS * 1000 };

		evtimer_add(s->ev_settle, &tv);
	}
}

static void on_worker(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	(void)fd;
	(void)what;
	dkm_broker_dispatch_worker(s->broker);
}

static void add_refresh(struct server *s)
{
	struct timeval tv = { s->cfg->refresh_interval_ms / 1000,
			      (s->cfg->refresh_interval_ms % 1000) * 1000 };

	event_add(s->ev_refresh, &tv);
}

/* (Re)find the memory cgroup hierarchies that clients' cgroups are read from; log what they are. */
static void open_cgroups(struct server *s)
{
	const char *proc = s->opt->proc_root ? s->opt->proc_root : "/proc";
	const char *root = s->opt->cgroup_root ? s->opt->cgroup_root : "/sys/fs/cgroup";
	const struct dkm_cgroup_fs *fs;
	int r = dkm_broker_open_cgroups(s->broker, proc, root);

	if (r < 0) {
		log_warning("memory cgroups: cannot open %s or %s: %s; clients' cgroups are unknown "
			    "(the daemon populates no region)", proc, root, strerror(-r));
		return;
	}
	fs = dkm_broker_cgroups(s->broker);
	if (fs->v1_fd >= 0)
		log_info("memory cgroups: the v1 memory hierarchy at %s/memory", root);
	else if (fs->v2_fd >= 0 && fs->v2_memory)
		log_info("memory cgroups: the unified hierarchy at %s%s%s", root,
			 fs->v2_dir[0] ? "/" : "", fs->v2_dir);
	else
		log_info("memory cgroups: no memory controller under %s (no client is limited)",
			 root);
}

static void reload(struct server *s)
{
	struct dkm_config *cfg;
	struct dkm_topology *t;
	char err[512];

	dkm_notify_reloading();
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		goto out;
	dkm_config_init(cfg);
	if (dkm_config_load(cfg, s->opt->config_path, s->opt->config_must_exist, err,
			    sizeof(err)) < 0) {
		log_error("reload: %s; keeping the configuration in force", err);
		goto fail;
	}
	if (read_map(s, cfg, &t) < 0) {
		log_error("reload: keeping the configuration in force");
		goto fail;
	}
	if ((cfg->socket && s->cfg->socket && strcmp(cfg->socket, s->cfg->socket)) ||
	    cfg->socket_mode != s->cfg->socket_mode)
		log_notice("reload: socket settings take effect at the next start");
	dkm_broker_set_config(s->broker, cfg);
	dkm_broker_set_topology(s->broker, t);
	open_cgroups(s);
	dkm_config_free(s->cfg);
	free(s->cfg);
	s->cfg = cfg;
	dkm_dispatch_apply_policy(s, s->cfg);
	add_refresh(s);
	log_info("configuration reloaded from %s", s->opt->config_path);
	goto out;
fail:
	dkm_config_free(cfg);
	free(cfg);
out:
	dkm_notify_ready();
	dkm_notify_status(s->broker);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;

	(void)what;
	if (sig == SIGHUP) {
		reload(s);
		return;
	}
	log_info("%s: stopping", strsignal((int)sig));
	event_base_loopbreak(s->base);
}

/* ======================================================================
 * Run
 * ====================================================================== */

int dkm_server_run(const struct dkm_server_options *o)
{
	static const int sigs[3] = { SIGTERM, SIGINT, SIGHUP };
	struct server s = { .opt = o, .listen_fd = -1, .uevent_fd = -1 };
	struct dkm_topology *t = NULL;
	char err[512];
	int r;

	signal(SIGPIPE, SIG_IGN);
	{
		/* each region held costs a descriptor: take all the kernel allows */
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	s.cfg = calloc(1, sizeof(*s.cfg));
	if (!s.cfg)
		return -ENOMEM;
	dkm_config_init(s.cfg);
	r = dkm_config_load(s.cfg, o->config_path, o->config_must_exist, err, sizeof(err));
	if (r < 0) {
		log_error("%s", err);
		goto out;
	}
	{
		char real[4096];

		s.live = realpath(o->sysfs_root, real) && !strcmp(real, "/sys");
	}
	r = read_map(&s, s.cfg, &t);
	if (r < 0)
		goto out;
	for (unsigned i = 0; i < t->nproblems; i++)
		log_warning("node map: %s", t->problems[i]);
	r = dkm_broker_new(s.cfg, t, dkm_dispatch_region_ready, &s, &s.broker);
	if (r < 0) {
		dkm_topology_free(t);
		log_error("starting the broker: %s", strerror(-r));
		goto out;
	}
	open_cgroups(&s);
	s.base = event_base_new();
	if (!s.base) {
		r = -ENOMEM;
		goto out;
	}
	r = dkm_listener_open(&s);
	if (r < 0)
		goto out;
	r = dkm_connections_init(&s);
	if (r < 0)
		goto out;
	s.ev_worker = event_new(s.base, dkm_broker_worker_fd(s.broker), EV_READ | EV_PERSIST,
				on_worker, &s);
	s.ev_refresh = event_new(s.base, -1, EV_PERSIST, on_refresh, &s);
	for (int i = 0; i < 3; i++)
		s.ev_sig[i] = evsignal_new(s.base, sigs[i], on_signal, &s);
	if (!s.ev_worker || !s.ev_refresh || !s.ev_sig[0] || !s.ev_sig[1] || !s.ev_sig[2]) {
		r = -ENOMEM;
		goto out;
	}
	{
		/* regions are bounded by descriptors: the limit less room for connections */
		struct rlimit rl;
		rlim_t max = 1024;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
			max = rl.rlim_cur;
		else if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
			max = 1u << 20;
		max = max > (rlim_t)s.cfg->max_clients + 128 ? max - s.cfg->max_clients - 64 : max / 2;
		dkm_broker_set_max_regions(s.broker, (unsigned)(max > (1u << 24) ? 1u << 24 : max));
	}
	if (s.live) {
		/* subscribe before reconfiguring, so that no change is missed */
		s.uevent_fd = dkm_uevent_open();
		if (s.uevent_fd < 0)
			log_warning("kernel device events: %s; the node map is refreshed every %u ms only",
				    strerror(-s.uevent_fd), s.cfg->refresh_interval_ms);
		s.ev_settle = evtimer_new(s.base, on_refresh, &s);
		if (s.uevent_fd >= 0 && s.ev_settle)
			s.ev_uevent = event_new(s.base, s.uevent_fd, EV_READ | EV_PERSIST, on_uevent, &s);
		if (s.ev_uevent)
			event_add(s.ev_uevent, NULL);
	}
	dkm_dispatch_apply_policy(&s, s.cfg);
	dkm_listener_start(&s);
	event_add(s.ev_worker, NULL);
	for (int i = 0; i < 3; i++)
		event_add(s.ev_sig[i], NULL);
	add_refresh(&s);
	s.ev_watchdog = dkm_notify_watchdog_new(s.base);
	{
		const struct dkm_topology *m = dkm_broker_topology(s.broker);
		struct dkm_bitmap kmem = DKM_BITMAP_INIT;
		char list[128];

		for (unsigned i = 0; i < m->nnodes; i++)
			if (m->nodes[i].kind == DKM_NODE_KMEM)
				(void)dkm_bitmap_set(&kmem, (unsigned)m->nodes[i].id);
		dkm_bitmap_format_list(&kmem, list, sizeof(list));
		log_info("serving %s; kmem nodes: %s%s", s.socket_path ? s.socket_path : "the systemd socket",
			 list[0] ? list : "none",
			 m->kmem_from_config ? " (from kmem_nodes= in the configuration)" : "");
		dkm_bitmap_free(&kmem);
	}
	dkm_notify_ready();
	dkm_notify_status(s.broker);
	event_base_dispatch(s.base);
	dkm_notify_stopping();
	r = 0;
out:
	dkm_connections_end(&s);
	dkm_broker_free(s.broker);
	dkm_listener_close(&s);
	if (s.ev_worker)
		event_free(s.ev_worker);
	if (s.ev_refresh)
		event_free(s.ev_refresh);
	if (s.ev_watchdog)
		event_free(s.ev_watchdog);
	if (s.ev_uevent)
		event_free(s.ev_uevent);
	if (s.ev_settle)
		event_free(s.ev_settle);
	if (s.uevent_fd >= 0)
		close(s.uevent_fd);
	for (int i = 0; i < 3; i++)
		if (s.ev_sig[i])
			event_free(s.ev_sig[i]);
	if (s.base)
		event_base_free(s.base);
	dkm_config_free(s.cfg);
	free(s.cfg);
	return r;
}
