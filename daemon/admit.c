/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Admission control, the limits checked before anything is made. A
 * connection: max_clients and max_clients_per_uid. A region: the page size,
 * max_region_size, regions per client, per uid and in the whole daemon (its
 * descriptor limit), populations in flight per client, the uid's quota, the
 * quota of each [cgroup_quota] line that covers the client's cgroup (over
 * all the clients below it), the room the client's memory cgroup and its
 * ancestors have for a region charged to it (memory.max - memory.current -
 * what is granted below and not resident yet: advisory, the kernel's charge
 * is the guard), and that the client may run on the CPU node it names. The
 * checks run in that order and the first that fails is the answer. Whether
 * the nodes can take the memory (free memory, watermark, reserve, owed
 * bytes) is decided while planning, in plan.c.
 */
#include "admit.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "broker-internal.h"
#include "ledger.h"
#include "log.h"
#include "util/format.h"

/* Regions one client may have being populated at once. */
#define MAX_PENDING_PER_CLIENT 8

int dkm_admit_client(const struct dkm_broker *b, uid_t uid, char *msg, size_t msgsize)
{
	const struct dkm_client *c;
	unsigned same_uid = 0;

	if (b->nclients >= b->cfg->max_clients) {
		snprintf(msg, msgsize, "too many clients (max_clients=%u)", b->cfg->max_clients);
		return -EUSERS;
	}
	/* gone clients whose jobs still run count too: they still hold the worker */
	for (c = b->clients; c; c = c->next)
		if (c->uid == uid)
			same_uid++;
	if (same_uid >= b->cfg->max_clients_per_uid) {
		snprintf(msg, msgsize, "uid %u has %u connections (max_clients_per_uid=%u)",
			 (unsigned)uid, same_uid, b->cfg->max_clients_per_uid);
		return -EUSERS;
	}
	return 0;
}

/* Check that threads of pid may run on cpu_node's CPUs. */
static int check_cpu_node(struct dkm_broker *b, struct dkm_client *c, int cpu_node, char *msg,
			  size_t msgsize)
{
	const struct dkm_node *node = dkm_topology_node(b->topo, cpu_node);
	cpu_set_t *set;
	size_t setsize;
	int ncpus = 8192, bit;
	bool ok = false;

	if (!node || dkm_bitmap_empty(&node->cpus)) {
		snprintf(msg, msgsize, "CPU node %d is not an online node with CPUs", cpu_node);
		return -EINVAL;
	}
	set = CPU_ALLOC((size_t)ncpus);
	if (!set)
		return -ENOMEM;
	setsize = CPU_ALLOC_SIZE((size_t)ncpus);
	if (sched_getaffinity(c->pid, setsize, set) < 0) {
		/* the process is gone or hidden: its request cannot be checked */
		snprintf(msg, msgsize, "cannot read the CPU affinity of pid %d: %s", (int)c->pid,
			 strerror(errno));
		CPU_FREE(set);
		return -ESRCH;
	}
	dkm_bitmap_foreach(bit, &node->cpus)
		if (bit < ncpus && CPU_ISSET_S((size_t)bit, setsize, set)) {
			ok = true;
			break;
		}
	CPU_FREE(set);
	if (!ok) {
		char cpus[128];

		dkm_bitmap_format_list(&node->cpus, cpus, sizeof(cpus));
		snprintf(msg, msgsize, "pid %d may not run on CPU node %d (CPUs %s)", (int)c->pid,
			 cpu_node, cpus);
		return -EINVAL;
	}
	return 0;
}

/*
 * path[0..len) in at most max bytes: whole if it fits, else its head and its
 * tail joined by "..." (both ends of a cgroup path say something).
 */
static const char *short_path(const char *path, size_t len, size_t max, char *buf, size_t size)
{
	size_t head, tail;

	if (max >= size)
		max = size - 1;
	if (len <= max) {
		snprintf(buf, size, "%.*s", (int)len, path);
		return buf;
	}
	if (max < 3) {
		snprintf(buf, size, "%.*s", (int)max, "...");
		return buf;
	}
	head = (max - 3) / 3;
	tail = max - 3 - head;
	snprintf(buf, size, "%.*s...%.*s", (int)head, path, (int)tail, path + len - tail);
	return buf;
}

/* How to share budget bytes between two strings of lengths l1 and l2. */
static void share(size_t budget, size_t l1, size_t l2, size_t *m1, size_t *m2)
{
	size_t half = budget / 2;

	if (l1 + l2 <= budget) {
		*m1 = l1;
		*m2 = l2;
	} else if (l1 <= half) {
		*m1 = l1;
		*m2 = budget - l1;
	} else if (l2 <= half) {
		*m2 = l2;
		*m1 = budget - l2;
	} else {
		*m1 = half;
		*m2 = budget - half;
	}
}

/*
 * snprintf(msg, msgsize, fmt, ...) where the arguments PATH1 and PATH2 stand
 * for the paths p1[0..l1) and p2[0..l2) (l2 0: none), shortened by
 * short_path so that the whole message fits: the figures are never cut.
 */
#define FIT_PATHS(msg, msgsize, p1, l1, p2, l2, fmt, ...)                                         \
	do {                                                                                     \
		char s1_[DKM_CGROUP_PATH_MAX], s2_[DKM_CGROUP_PATH_MAX];                         \
		const char *PATH1 = "", *PATH2 = "";                                             \
		int fixed_ = snprintf(NULL, 0, fmt, __VA_ARGS__);                                \
		size_t budget_ = fixed_ >= 0 && (size_t)fixed_ + 1 < (msgsize)                   \
					 ? (msgsize) - 1 - (size_t)fixed_                        \
					 : 0;                                                    \
		size_t m1_, m2_;                                                                 \
                                                                                                 \
		share(budget_, (l1), (l2), &m1_, &m2_);                                          \
		PATH1 = short_path((p1), (l1), m1_, s1_, sizeof(s1_));                           \
		PATH2 = short_path((p2), (l2), m2_, s2_, sizeof(s2_));                           \
		snprintf((msg), (msgsize), fmt, __VA_ARGS__);                                    \
		(void)PATH1;                                                                     \
		(void)PATH2;                                                                     \
	} while (0)

/* Whether c's cgroup (known, of the hierarchy version v) lies at or below path[0..len). */
static bool client_under(const struct dkm_client *c, enum dkm_cgroup_version v, const char *path,
			 size_t len)
{
	char prefix[DKM_CGROUP_PATH_MAX];

	if (!c->cg_known || c->cg.version != v || len >= sizeof(prefix))
		return false;
	memcpy(prefix, path, len);
	prefix[len] = '\0';
	return dkm_cgroup_path_under(c->cg.path, prefix);
}

/*
 * Each [cgroup_quota] line covering c's cgroup: the bytes granted to all
 * clients below its path, with this request, stay within its quota.
 */
static int check_cgroup_quotas(struct dkm_broker *b, struct dkm_client *c, uint64_t size,
			       char *msg, size_t msgsize)
{
	const struct dkm_config *cfg = b->cfg;

	if (!cfg->ncgroup_quotas)
		return 0;
	if (!c->cg_known) {
		/* [cgroup_quota] came with a reload after this client's HELLO */
		snprintf(msg, msgsize, "cannot read the memory cgroup of pid %d: %s ([cgroup_quota] "
			 "needs it)", (int)c->pid, strerror(-c->cg_error));
		return -EACCES;
	}
	for (unsigned i = 0; i < cfg->ncgroup_quotas; i++) {
		const struct dkm_cgroup_quota *q = &cfg->cgroup_quotas[i];
		uint64_t used = 0;

		if (!q->bytes || !dkm_cgroup_path_under(c->cg.path, q->prefix))
			continue;
		for (const struct dkm_client *k = b->clients; k; k = k->next)
			if (k->cg_known && dkm_cgroup_path_under(k->cg.path, q->prefix))
				used += k->granted;
		if (used + size > q->bytes || used + size < used) {
			char qb[32], u[32], sz[32];
			size_t plen = strlen(q->prefix);

			dkm_format_bytes(q->bytes, qb, sizeof(qb));
			dkm_format_bytes(used, u, sizeof(u));
			dkm_format_bytes(size, sz, sizeof(sz));
			if (!strcmp(c->cg.path, q->prefix))
				FIT_PATHS(msg, msgsize, q->prefix, plen, "", 0,
					  "cgroup %s is over its quota of %s: %s granted, %s asked", PATH1,
					  qb, u, sz);
			else
				FIT_PATHS(msg, msgsize, q->prefix, plen, c->cg.path, strlen(c->cg.path),
					  "cgroup %s is over its quota of %s: %s granted, %s asked "
					  "(client in %s)", PATH1, qb, u, sz, PATH2);
			return -EDQUOT;
		}
	}
	return 0;
}

/*
 * Bytes granted to regions charged to clients at or below path[0..len) of
 * hierarchy v that are not resident yet. Residency is re-read first for the
 * regions that count (one fstat each, for a single range), so that memory a
 * client populated since the last refresh is not counted twice, in the
 * cgroup's usage and as owed.
 */
static uint64_t owed_below(struct dkm_broker *b, enum dkm_cgroup_version v, const char *path,
			   size_t len, bool refresh)
{
	uint64_t sum = 0;

	for (struct dkm_client *k = b->clients; k; k = k->next) {
		if (!k->owed_charged || !client_under(k, v, path, len))
			continue;
		if (refresh)
			for (struct dkm_grant *r = k->regions; r; r = r->next)
				if (!r->prefault && r->ready)
					dkm_ledger_update_residency(b, r);
		sum += k->owed_charged;
	}
	return sum;
}

/*
 * The memory cgroup of c and its ancestors have room for size more bytes
 * charged to it: for each level with a limit, size plus what is granted
 * below it and not yet resident fits in limit - usage. -EDQUOT names the
 * level with the least room left (the deepest on a tie) and its figures.
 * Limits that cannot be read skip the check (it is advisory; logged once).
 */
static int check_memcg(struct dkm_broker *b, struct dkm_client *c, uint64_t size, char *msg,
		       size_t msgsize)
{
	struct dkm_cgroup_limits lim;
	const struct dkm_cgroup_level *worst = NULL;
	uint64_t worst_left = 0, worst_owed = 0;
	size_t top = DKM_CGROUP_PATH_MAX;
	bool v1 = c->cg.version == DKM_CGROUP_V1;
	int r;

	if (!c->cg_known || b->cgfs_err)
		return 0;
	r = dkm_cgroup_read_limits(&b->cgfs, &c->cg, 0, &lim);
	if (r < 0) {
		if (!c->cg_warned)
			log_warning("client %u (pid %d): reading the limits of cgroup %s: %s; its "
				    "requests are not checked against them", c->id, (int)c->pid,
				    c->cg.path, strerror(-r));
		c->cg_warned = true;
		return 0;
	}
	/* refresh residency once, for the widest level: every other lies below it */
	for (unsigned i = 0; i < lim.nlevels; i++)
		if (lim.levels[i].len < top)
			top = lim.levels[i].len;
	if (lim.nlevels)
		(void)owed_below(b, c->cg.version, c->cg.path, top, true);
	for (unsigned i = 0; i < lim.nlevels; i++) {
		const struct dkm_cgroup_level *l = &lim.levels[i];
		uint64_t room = l->usage < l->limit ? l->limit - l->usage : 0;
		uint64_t owed = owed_below(b, c->cg.version, c->cg.path, l->len, false);
		uint64_t left = room > owed ? room - owed : 0;

		if (size <= left)
			continue;
		if (!worst || left < worst_left || (left == worst_left && l->len > worst->len)) {
			worst = l;
			worst_left = left;
			worst_owed = owed;
		}
	}
	if (worst) {
		char sz[32], lm[32], us[32], ow[32], lf[32];
		const char *lname = v1 ? "memory.limit_in_bytes" : "memory.max";
		const char *uname = v1 ? "memory.usage_in_bytes" : "memory.current";
		size_t plen = strlen(c->cg.path);

		dkm_format_bytes(size, sz, sizeof(sz));
		dkm_format_bytes(worst->limit, lm, sizeof(lm));
		dkm_format_bytes(worst->usage, us, sizeof(us));
		dkm_format_bytes(worst_owed, ow, sizeof(ow));
		dkm_format_bytes(worst_left, lf, sizeof(lf));
		if (worst->len == plen)
			FIT_PATHS(msg, msgsize, c->cg.path, plen, "", 0,
				  "cgroup %s cannot take %s: %s %s, %s %s, %s granted not yet resident: "
				  "%s left", PATH1, sz, lname, lm, uname, us, ow, lf);
		else
			FIT_PATHS(msg, msgsize, c->cg.path, plen, c->cg.path, worst->len,
				  "cgroup %s cannot take %s: its ancestor %s has %s %s, %s %s, %s granted "
				  "not yet resident: %s left", PATH1, sz, PATH2, lname, lm, uname, us, ow,
				  lf);
		return -EDQUOT;
	}
	return 0;
}

int dkm_admit_region(struct dkm_broker *b, struct dkm_client *c,
		     const struct dkm_alloc_region *req, bool charged_to_client, char *msg,
		     size_t msgsize)
{
	uint64_t quota, used;
	unsigned uid_regions, uid_clients;
	int r;

	if (req->size % (uint64_t)b->page_size) {
		snprintf(msg, msgsize, "size %" PRIu64 " is not a multiple of the page size %ld",
			 req->size, b->page_size);
		return -EINVAL;
	}
	if (req->size > b->cfg->max_region_size) {
		char s[32], m[32];

		snprintf(msg, msgsize, "%s is larger than max_region_size %s",
			 dkm_format_bytes(req->size, s, sizeof(s)),
			 dkm_format_bytes(b->cfg->max_region_size, m, sizeof(m)));
		return -EFBIG;
	}
	if (c->nregions >= b->cfg->max_regions_per_client) {
		snprintf(msg, msgsize, "client holds %u regions (max_regions_per_client=%u)",
			 c->nregions, b->cfg->max_regions_per_client);
		return -EMFILE;
	}
	dkm_ledger_uid_usage(b, c->uid, &used, &uid_regions, &uid_clients);
	if (uid_regions >= b->cfg->max_regions_per_uid) {
		snprintf(msg, msgsize, "uid %u holds %u regions (max_regions_per_uid=%u)",
			 (unsigned)c->uid, uid_regions, b->cfg->max_regions_per_uid);
		return -EMFILE;
	}
	if (b->nregions >= b->max_regions) {
		snprintf(msg, msgsize, "the daemon holds %u regions, as many as its descriptor limit "
			 "allows", b->nregions);
		return -ENFILE;
	}
	if (c->pending >= MAX_PENDING_PER_CLIENT) {
		snprintf(msg, msgsize, "%u regions of this client are being populated already",
			 c->pending);
		return -EBUSY;
	}
	quota = dkm_config_quota(b->cfg, c->uid);
	if (quota && (used + req->size > quota || used + req->size < used)) {
		char q[32], u[32], s[32];

		snprintf(msg, msgsize, "uid %u is over its quota of %s: %s granted, %s asked",
			 (unsigned)c->uid, dkm_format_bytes(quota, q, sizeof(q)),
			 dkm_format_bytes(used, u, sizeof(u)),
			 dkm_format_bytes(req->size, s, sizeof(s)));
		return -EDQUOT;
	}
	r = check_cgroup_quotas(b, c, req->size, msg, msgsize);
	if (r == 0 && charged_to_client)
		r = check_memcg(b, c, req->size, msg, msgsize);
	if (r < 0)
		return r;
	return check_cpu_node(b, c, req->cpu_node, msg, msgsize);
}
