/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The DAX_KMEM kinds' way to daxkmemd.
 *
 * MEMKIND_DAX_KMEM_NODES: memkind's node list of the KMEM nodes is parsed
 * with libnuma's numa_parse_nodestring, as memkind parses it, and given to
 * libdaxkmem-client as DAXKMEM_NODES (the daemon validates it); a
 * DAXKMEM_NODES set already wins, and MEMKIND_DAX_KMEM_NODES is ignored.
 * libdaxkmem-client has no other way in, so this is done with setenv, once,
 * from the library's constructor: before main() for a program linked to
 * memkind, inside dlopen() for an OpenMP runtime; the points where no other
 * thread of a well-behaved program reads the environment. Children inherit
 * the variable, as they inherit MEMKIND_DAX_KMEM_NODES.
 *
 * The probe: libomp asks memkind_check_available of every kind while it
 * initialises, so reaching the daemon must neither hang nor take long. The
 * library's own connection blocks in connect() (a daemon that stopped
 * accepting fills its backlog) and waits up to a minute for answers, so
 * before the first use of a DAX kind this file connects without blocking and
 * says HELLO itself, within DAXKMEM_MEMKIND_TIMEOUT milliseconds (default
 * 2000). If the daemon answers, the DAX kinds go to libdaxkmem-client;
 * otherwise they are unavailable for the life of the process, as memkind
 * decides the KMEM nodes once, and one line says why with DAXKMEM_LOG=1.
 */
#include <errno.h>
#include <numa.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "mk.h"
#include "util/bitmap.h"
#include "wire.h"

#define DEFAULT_TIMEOUT_MS 2000

static struct {
	pthread_once_t once;
	int verdict;            /* 0: the DAX kinds go to libdaxkmem-client; else a memkind error */
	int env_err;            /* MEMKIND_DAX_KMEM_NODES did not parse, or named no node */
	char env_value[128];    /* its value, for the message */
} D = { .once = PTHREAD_ONCE_INIT };

/* MEMKIND_DAX_KMEM_NODES -> DAXKMEM_NODES, before anything else runs (see above). */
__attribute__((constructor)) static void map_nodes_env(void)
{
	struct dkm_bitmap b = DKM_BITMAP_INIT;
	const char *s = secure_getenv("MEMKIND_DAX_KMEM_NODES");
	struct bitmask *mask;
	char list[512];

	if (!s || !*s)
		return;
	/* daxkmem's own setting, where given, is the one libdaxkmem-client uses */
	if (secure_getenv("DAXKMEM_NODES") && *secure_getenv("DAXKMEM_NODES"))
		return;
	snprintf(D.env_value, sizeof(D.env_value), "%s", s);
	if (numa_available() < 0 || !(mask = numa_parse_nodestring(s))) {
		D.env_err = MEMKIND_ERROR_ENVIRON;
		return;
	}
	for (unsigned n = 0; n < mask->size; n++)
		if (numa_bitmask_isbitset(mask, n) && dkm_bitmap_set(&b, n) < 0)
			D.env_err = MEMKIND_ERROR_ENVIRON;
	numa_bitmask_free(mask);
	if (dkm_bitmap_empty(&b) ||
	    dkm_bitmap_format_list(&b, list, sizeof(list)) >= sizeof(list))
		D.env_err = MEMKIND_ERROR_ENVIRON;
	dkm_bitmap_free(&b);
	if (!D.env_err)
		(void)setenv("DAXKMEM_NODES", list, 1);
}

static int timeout_ms(void)
{
	const char *s = secure_getenv("DAXKMEM_MEMKIND_TIMEOUT");
	char *end;
	long v;

	if (!s || !*s)
		return DEFAULT_TIMEOUT_MS;
	v = strtol(s, &end, 10);
	return *end || v < 0 || v > 3600000 ? DEFAULT_TIMEOUT_MS : (int)v;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An empty message, as dkm_msg_clear leaves one: what dkm_wire_call fills on success or ERROR. */
static void msg_init(struct dkm_msg *m)
{
	memset(m, 0, sizeof(*m));
	for (unsigned i = 0; i < DKM_PROTO_MAX_FDS; i++)
		m->fds[i] = -1;
}

static int left_ms(int64_t deadline)
{
	int64_t left = deadline - now_ms();

	return left > 0 ? (int)left : 0;
}

/*
 * Connect to the daemon and say HELLO, then ask for STATUS if status is not
 * NULL, all within the timeout, never blocking past it. 0, or a negative
 * errno with why filled in.
 */
static int probe(struct dkm_msg *status, char *why, size_t whysize)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = dkm_conn_socket_path(NULL);
	int timeout = timeout_ms(), fd, r;
	int64_t deadline = now_ms() + timeout;
	struct dkm_hello h = { .major = DKM_PROTO_MAJOR, .minor = DKM_PROTO_MINOR };
	struct dkm_rx rx;
	struct dkm_msg m;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(why, whysize, "socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(why, whysize, "socket: %s", strerror(-r));
		return r;
	}
	/* A Unix socket connects at once or not at all: EAGAIN is a full backlog, try again. */
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN && left_ms(deadline) > 0) {
			poll(NULL, 0, 10);
			continue;
		}
		r = -errno;
		if (r == -EAGAIN)
			snprintf(why, whysize, "daxkmemd at %s accepts no connection (waited %d ms)",
				 path, timeout);
		else
			snprintf(why, whysize, "cannot connect to %s: %s (is daxkmemd running?)", path,
				 strerror(-r));
		close(fd);
		return r;
	}
	dkm_rx_init(&rx);
	msg_init(&m);
	snprintf(h.name, sizeof(h.name), "%s (probe)", program_invocation_short_name);
	r = dkm_wire_call(fd, &rx, DKM_MSG_HELLO, 1, &h, sizeof(h), DKM_MSG_HELLO_REPLY, &m,
			  left_ms(deadline));
	if (r == 0 && status) {
		dkm_msg_clear(&m);
		r = dkm_wire_call(fd, &rx, DKM_MSG_STATUS, 2, NULL, 0, DKM_MSG_STATUS_REPLY, &m,
				  left_ms(deadline));
		if (r == 0) {
			*status = m;
			msg_init(&m);
		}
	}
	if (r == -ETIMEDOUT) {
		snprintf(why, whysize, "daxkmemd at %s did not answer within %d ms", path, timeout);
	} else if (r < 0 && m.hdr.type == DKM_MSG_ERROR && m.payload) {
		struct dkm_error e;

		memcpy(&e, m.payload, sizeof(e));
		snprintf(why, whysize, "daxkmemd at %s: %s", path, e.message);
	} else if (r < 0) {
		snprintf(why, whysize, "daxkmemd at %s: %s", path,
			 r == -ECONNRESET ? "the daemon closed the connection" : strerror(-r));
	}
	dkm_msg_clear(&m);
	dkm_rx_clear(&rx);
	close(fd);
	return r;
}

static void decide(void)
{
	char why[512];

	if (D.env_err) {
		D.verdict = D.env_err;
		dkm_mk_log("MEMKIND_DAX_KMEM_NODES=\"%s\" does not name nodes of this machine "
			   "(numa_parse_nodestring syntax): the MEMKIND_DAX_KMEM kinds are unavailable",
			   D.env_value);
		return;
	}
	if (probe(NULL, why, sizeof(why)) < 0) {
		D.verdict = MEMKIND_ERROR_UNAVAILABLE;
		dkm_mk_log("%s: the MEMKIND_DAX_KMEM kinds are unavailable", why);
	}
}

int dkm_mk_dax_ready(void)
{
	int saved = errno;

	pthread_once(&D.once, decide);
	errno = saved;
	return D.verdict;
}

/*
 * memkind reports the capacity of the KMEM nodes for DAX_KMEM and
 * DAX_KMEM_ALL, and none (-1) for DAX_KMEM_PREFERRED, whose allocations may
 * land anywhere. The nodes are DAXKMEM_NODES if set, else the daemon's.
 */
ssize_t dkm_mk_dax_capacity(memkind_t kind)
{
	struct dkm_bitmap want = DKM_BITMAP_INIT;
	const char *env = secure_getenv("DAXKMEM_NODES");
	struct dkm_status st;
	struct dkm_msg m;
	uint64_t total = 0;
	char why[512];
	int saved = errno;

	if (kind->dax == DAXKMEM_KIND_KMEM_PREFERRED || dkm_mk_dax_ready() != 0)
		return -1;
	if (env && *env && dkm_bitmap_parse_list(&want, env) < 0) {
		dkm_bitmap_free(&want);
		return -1;
	}
	if (probe(&m, why, sizeof(why)) < 0) {
		dkm_mk_log("memkind_get_capacity(%s): %s", kind->name, why);
		dkm_bitmap_free(&want);
		errno = saved;
		return -1;
	}
	memcpy(&st, m.payload, sizeof(st));
	for (unsigned i = 0; i < st.nnodes; i++) {
		struct dkm_status_node n;

		memcpy(&n, (char *)m.payload + sizeof(st) + i * sizeof(n), sizeof(n));
		if (n.mem_total == UINT64_MAX)
			continue;
		if (dkm_bitmap_empty(&want) ? n.kind == DKM_WIRE_NODE_KMEM
					    : n.id >= 0 && dkm_bitmap_test(&want, (unsigned)n.id))
			total += n.mem_total;
	}
	dkm_msg_clear(&m);
	dkm_bitmap_free(&want);
	errno = saved;
	return total ? (ssize_t)total : -1;
}
