/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A client's session with daxkmemd: connect, HELLO, and one call per request
 * (blocking, one request at a time). Used by daxkmemctl, the tests and,
 * later, libdaxkmem-client. Errors are negative errnos; conn->err holds the
 * daemon's message for the last failed call.
 */
#ifndef DKM_CLIENT_CONN_H
#define DKM_CLIENT_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"
#include "wire.h"

struct dkm_conn {
	int fd;
	struct dkm_rx rx;
	uint32_t seq;
	int timeout_ms;                /* per call; -1 waits forever */
	struct dkm_hello_reply hello;  /* the daemon's answer to HELLO */
	char err[256];                 /* why the last call failed */
};

/* The socket to use: path if given, else $DAXKMEM_SOCKET, else the default. */
const char *dkm_conn_socket_path(const char *path);

/*
 * Connect to path (see dkm_conn_socket_path) and say HELLO as name. On
 * failure err says why ("cannot connect to PATH: ... (is daxkmemd running?)").
 */
int dkm_conn_open(const char *path, const char *name, struct dkm_conn **ret, char *err,
		  size_t errsize);
void dkm_conn_close(struct dkm_conn *c);

/* ALLOC_REGION: on success *ret_fd is the region's memfd (caller closes it). */
int dkm_conn_alloc(struct dkm_conn *c, const struct dkm_alloc_region *req,
		   struct dkm_region *ret_region, int *ret_fd);
int dkm_conn_release(struct dkm_conn *c, uint64_t id);
/*
 * What a client does with a REGION whose flags have DKM_REGION_CLIENT_POPULATE
 * (the region is to be populated before use, and the daemon left it to the
 * client so that the pages are charged to the client's memory cgroup):
 * populate its mapping addr[0..size) of the memfd fd in the calling thread,
 * with MADV_POPULATE_WRITE (or, on a kernel without it, before 5.14,
 * fallocate on fd from this process). The pages take the memfd's node
 * policy. 0, or a negative errno: -ENOMEM when the memory or the caller's
 * memory cgroup ran out (past its limit the kernel first reclaims and runs
 * the cgroup's OOM killer; the call fails only when that cannot help),
 * -EFAULT when the region was revoked meanwhile (EINTR is retried). On
 * failure the pages it did populate are punched out of fd again at once
 * (so that a cgroup at its limit has room for the caller to go on), and the
 * caller releases the region rather than use it.
 */
int dkm_region_populate(void *addr, size_t size, int fd);
/* STATUS / CLIENTS: *m holds the reply (dkm_msg_clear it). */
int dkm_conn_status(struct dkm_conn *c, struct dkm_msg *m);
int dkm_conn_clients(struct dkm_conn *c, struct dkm_msg *m);
/*
 * The cgroup records of minor 2 in a (validated) reply: entry i of a
 * CLIENTS_REPLY with DKM_CLIENTS_CGROUPS, the asking client's own in a
 * STATUS_REPLY with DKM_STATUS_SELF. false when the reply has none (a
 * minor-1 daemon). *path points into m.
 */
bool dkm_clients_cgroup(const struct dkm_msg *m, unsigned i, struct dkm_client_cgroup *g,
			const char **path);
bool dkm_status_self(const struct dkm_msg *m, struct dkm_client_cgroup *g, const char **path);
/* DEVICES / RECONFIGURE (uid 0): *m holds the reply (dkm_msg_clear it). */
int dkm_conn_devices(struct dkm_conn *c, struct dkm_msg *m);
int dkm_conn_reconfigure(struct dkm_conn *c, const struct dkm_reconfigure *req, struct dkm_msg *m);

#endif
