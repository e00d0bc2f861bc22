/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The broker's lifecycle and its request flow: creating and freeing it (with
 * its worker thread), replacing the node map and configuration, clients
 * connecting and going away, and the three steps of a region that the
 * server drives: ALLOC_REGION (admit, plan, make the memfd, account, queue
 * its population), the worker's finished jobs (ready callback) and
 * RELEASE_REGION. The parts live in admit.c, plan.c, region.c, ledger.c,
 * worker.c and report.c; broker-internal.h holds the state they share.
 */
#include "broker.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admit.h"
#include "broker-internal.h"
#include "ledger.h"
#include "plan.h"
#include "region.h"
#include "util/format.h"
#include "worker.h"

/* ======================================================================
 * Lifecycle
 * ====================================================================== */

static void read_watermarks(struct dkm_broker *b)
{
	static uint64_t pages[MAX_NODES];
	int nslots = b->topo->nslots < MAX_NODES ? b->topo->nslots : MAX_NODES;

	if (dkm_read_high_watermarks("/proc/zoneinfo", pages, nslots) < 0)
		memset(pages, 0, sizeof(pages));
	for (int i = 0; i < nslots; i++)
		b->high_wmark[i] = pages[i] * (uint64_t)b->page_size;
}

int dkm_broker_new(const struct dkm_config *cfg, struct dkm_topology *t, dkm_region_ready_fn ready,
		   void *ctx, struct dkm_broker **ret)
{
	struct dkm_broker *b;
	int r;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->cfg = cfg;
	b->topo = t;
	b->ready = ready;
	b->ctx = ctx;
	b->next_client_id = 1;
	b->next_region_id = 1;
	b->max_regions = 1024;
	b->page_size = sysconf(_SC_PAGESIZE);
	b->cgfs.proc_fd = b->cgfs.v2_fd = b->cgfs.v1_fd = -1;
	b->cgfs.v2_dir = "";
	b->cgfs_err = -ENOENT;
	r = dkm_worker_start(&b->worker);
	if (r < 0)
		goto fail;
	read_watermarks(b);
	*ret = b;
	return 0;
fail:
	b->topo = NULL; /* the caller keeps it on failure */
	dkm_broker_free(b);
	return r;
}

struct dkm_broker *dkm_broker_free(struct dkm_broker *b)
{
	if (!b)
		return NULL;
	/* Jobs not run and jobs finished: their regions are on client lists and freed below. */
	dkm_worker_stop(&b->worker);
	while (b->clients) {
		struct dkm_client *c = b->clients;

		b->clients = c->next;
		while (c->regions) {
			struct dkm_grant *r = c->regions;

			c->regions = r->next;
			dkm_region_free(b, r);
		}
		free(c);
	}
	dkm_topology_free(b->topo);
	dkm_cgroup_fs_close(&b->cgfs);
	free(b);
	return NULL;
}

int dkm_broker_open_cgroups(struct dkm_broker *b, const char *proc_root, const char *cgroup_root)
{
	struct dkm_cgroup_fs fs;
	int r = dkm_cgroup_fs_open(&fs, proc_root, cgroup_root);

	/* clients keep their resolved paths; only new HELLOs and reads use the new layout */
	if (r < 0)
		return r;
	dkm_cgroup_fs_close(&b->cgfs);
	b->cgfs = fs;
	b->cgfs_err = 0;
	return 0;
}

const struct dkm_cgroup_fs *dkm_broker_cgroups(const struct dkm_broker *b)
{
	return b->cgfs_err ? NULL : &b->cgfs;
}

void dkm_broker_set_topology(struct dkm_broker *b, struct dkm_topology *t)
{
	dkm_topology_free(b->topo);
	b->topo = t;
	read_watermarks(b);
}

void dkm_broker_set_config(struct dkm_broker *b, const struct dkm_config *cfg)
{
	b->cfg = cfg;
}

const struct dkm_topology *dkm_broker_topology(const struct dkm_broker *b)
{
	return b->topo;
}

void dkm_broker_set_max_regions(struct dkm_broker *b, unsigned max)
{
	b->max_regions = max;
}

int dkm_broker_worker_fd(const struct dkm_broker *b)
{
	return b->worker.efd;
}

/* ======================================================================
 * Clients
 * ====================================================================== */

int dkm_broker_client_new(struct dkm_broker *b, pid_t pid, uid_t uid, gid_t gid,
			  struct dkm_client **ret, char *msg, size_t msgsize)
{
	struct dkm_client *c;
	int r;

	r = dkm_admit_client(b, uid, msg, msgsize);
	if (r < 0)
		return r;
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(msg, msgsize, "out of memory");
		return -ENOMEM;
	}
	c->id = b->next_client_id++;
	if (b->next_client_id == 0)
		b->next_client_id = 1;
	c->pid = pid;
	c->uid = uid;
	c->gid = gid;
	c->next = b->clients;
	b->clients = c;
	b->nclients++;
	*ret = c;
	return 0;
}

int dkm_broker_client_hello(struct dkm_broker *b, struct dkm_client *c, uint16_t minor, char *msg,
			    size_t msgsize)
{
	int r = b->cgfs_err ? b->cgfs_err : dkm_cgroup_resolve(&b->cgfs, c->pid, &c->cg);

	c->minor = minor;
	c->cg_known = r == 0;
	c->cg_error = r;
	if (r == -ESRCH) {
		snprintf(msg, msgsize, "pid %d is gone", (int)c->pid);
		return r;
	}
	if (r < 0 && b->cfg->ncgroup_quotas) {
		snprintf(msg, msgsize, "cannot read the memory cgroup of pid %d: %s", (int)c->pid,
			 strerror(-r));
		return -EACCES;
	}
	return 0;
}

static void client_unlink_free(struct dkm_broker *b, struct dkm_client *c)
{
	struct dkm_client **pp;

	for (pp = &b->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	b->nclients--;
	free(c);
}

void dkm_broker_client_gone(struct dkm_broker *b, struct dkm_client *c)
{
	struct dkm_grant **pp = &c->regions;
	struct dkm_job *dropped;

	c->gone = true;
	c->conn = NULL;
	/* Jobs not started are dropped now; a running one stops at its next chunk. */
	dropped = dkm_worker_cancel(&b->worker, c);
	while (dropped) {
		struct dkm_job *j = dropped;

		dropped = j->next;
		j->region->job = NULL;
		j->region->ready = true; /* nothing runs on it any more */
		c->pending--;
		free(j);
	}
	/* Ready regions go now; regions being populated go when their job returns. */
	while (*pp) {
		struct dkm_grant *r = *pp;

		if (!r->ready) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		dkm_region_free(b, r);
	}
	if (c->pending == 0)
		client_unlink_free(b, c);
}

bool dkm_broker_is_admin(const struct dkm_broker *b, const struct dkm_client *c)
{
	return c->uid == 0 || (b->cfg->admin_group != (gid_t)-1 && c->gid == b->cfg->admin_group);
}

/* ======================================================================
 * Regions
 * ====================================================================== */

int dkm_broker_alloc(struct dkm_broker *b, struct dkm_client *c, const struct dkm_alloc_region *req,
		     uint32_t seq, struct dkm_grant **ret, char *msg, size_t msgsize)
{
	struct dkm_grant *r;
	bool populate, by_daemon;
	int err;

	/*
	 * Who populates a region to be populated: the daemon only where
	 * daemon_prefault= lets it for this client's cgroup, which must be
	 * known; otherwise the client, so that its cgroup is charged.
	 */
	populate = req->flags & DKM_ALLOC_PREFAULT      ? true
		   : req->flags & DKM_ALLOC_NO_PREFAULT ? false
							: b->cfg->prefault;
	by_daemon = populate && c->cg_known && dkm_config_daemon_prefaults(b->cfg, c->cg.is_root);
	err = dkm_admit_region(b, c, req, !by_daemon, msg, msgsize);
	if (err < 0)
		return err;

	r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(msg, msgsize, "out of memory");
		return -ENOMEM;
	}
	r->owner = c;
	r->size = req->size;
	r->kind = req->kind;
	r->seq = seq;
	r->fd = -1;
	r->prefault = by_daemon;
	r->client_populate = populate && !by_daemon;
	err = dkm_plan(b, c, req, r, msg, msgsize);
	if (err == 0)
		err = dkm_region_make_memfd(b, c, r, msg, msgsize);
	if (err < 0) {
		free(r);
		return err;
	}
	r->id = b->next_region_id++;
	r->next = c->regions;
	c->regions = r;
	dkm_ledger_account(b, r, true);

	if (!r->prefault) {
		r->ready = true;
		if (r->client_populate)
			dkm_ledger_unsettled_add(b, r);
		*ret = r;
		return 0;
	}
	r->job = calloc(1, sizeof(*r->job));
	if (!r->job) {
		dkm_ledger_unlink(r);
		dkm_region_free(b, r);
		snprintf(msg, msgsize, "out of memory");
		return -ENOMEM;
	}
	r->job->region = r;
	r->job->fd = r->fd;
	r->job->size = r->size;
	c->pending++;
	dkm_worker_queue(&b->worker, r->job);
	*ret = r;
	return 1;
}

void dkm_broker_dispatch_worker(struct dkm_broker *b)
{
	struct dkm_job *done = dkm_worker_take_done(&b->worker);

	while (done) {
		struct dkm_job *j = done;
		struct dkm_grant *r = j->region;
		struct dkm_client *c = r->owner;
		uint32_t seq = r->seq;
		int err = j->err;

		done = j->next;
		free(j);
		r->job = NULL;
		r->ready = true;
		c->pending--;
		if (c->gone || err) {
			char msg[256] = "";

			if (err && !c->gone)
				snprintf(msg, sizeof(msg), "populating %s for node %d: %s",
					 dkm_format_bytes(r->size, (char[32]){ 0 }, 32), r->ranges[0].node,
					 strerror(err));
			dkm_ledger_unlink(r);
			dkm_region_free(b, r);
			if (c->gone) {
				if (c->pending == 0)
					client_unlink_free(b, c);
				continue;
			}
			/* the callback may end the connection and free c: nothing touches c after */
			if (b->ready)
				b->ready(b->ctx, c, NULL, seq, -err, msg);
			continue;
		}
		dkm_ledger_update_residency(b, r);
		if (b->ready)
			b->ready(b->ctx, c, r, seq, 0, NULL);
	}
}

int dkm_broker_release(struct dkm_broker *b, struct dkm_client *c, uint64_t id, char *msg,
		       size_t msgsize)
{
	for (struct dkm_grant *r = c->regions; r; r = r->next) {
		if (r->id != id)
			continue;
		if (!r->ready) {
			snprintf(msg, msgsize, "region %" PRIu64 " is still being populated", id);
			return -EBUSY;
		}
		dkm_ledger_unlink(r);
		dkm_region_free(b, r);
		return 0;
	}
	snprintf(msg, msgsize, "this client holds no region %" PRIu64, id);
	return -ENOENT;
}
