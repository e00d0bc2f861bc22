/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daxkmemd.conf(5): an ini file of "key = value" lines, a [quota]
 * section of "user-or-uid = size" lines and a [cgroup_quota] section of
 * "/cgroup/path = size" lines. Unknown keys, unknown sections, bad values and
 * keys given twice are errors that name the file and line.
 */
#ifndef DKM_DAEMON_CONFIG_H
#define DKM_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/bitmap.h"

#define DKM_DEFAULT_CONFIG "/etc/daxkmemd/daxkmemd.conf"
#define DKM_DEFAULT_SOCKET "/run/daxkmemd/daxkmemd.sock"

enum dkm_reconfigure_policy {
	DKM_RECONFIGURE_NONE,         /* touch no device (default) */
	DKM_RECONFIGURE_ALL,          /* every dax device */
	DKM_RECONFIGURE_LIST,         /* the devices named (dax0.0) or whose namespace uuid is given */
};

struct dkm_quota {
	uid_t uid;
	uint64_t bytes;               /* 0: unlimited */
};

/* daemon_prefault=: who populates a region that is to be populated before use. */
enum dkm_daemon_prefault {
	DKM_DAEMON_PREFAULT_ROOT_ONLY, /* the daemon for clients in the root cgroup, else the client (default) */
	DKM_DAEMON_PREFAULT_ALWAYS,    /* the daemon, always (pages charged to the daemon's cgroup) */
	DKM_DAEMON_PREFAULT_NEVER,     /* the client, always */
};

/* Most [cgroup_quota] lines. */
#define DKM_MAX_CGROUP_QUOTAS 1024

/* A [cgroup_quota] line: the clients whose cgroup lies at or below prefix hold at most bytes. */
struct dkm_cgroup_quota {
	char *prefix;                 /* absolute, checked by dkm_cgroup_path_check, no trailing slash */
	uint64_t bytes;               /* 0: unlimited */
};

struct dkm_config {
	char *socket;                 /* socket=: path when not socket-activated */
	mode_t socket_mode;           /* socket_mode= */
	gid_t socket_group;           /* socket_group=, (gid_t)-1: keep the daemon's */
	bool socket_group_set;
	gid_t admin_group;            /* admin_group=, (gid_t)-1: root only */
	struct dkm_bitmap kmem_nodes; /* kmem_nodes=: replaces detection when not empty */
	bool kmem_nodes_set;          /* the key was given */
	uint64_t reserve;             /* reserve=: bytes kept free per node above the high watermark */
	bool prefault;                /* prefault=: populate regions before handing them out */
	uint64_t max_region_size;     /* max_region_size= */
	unsigned max_regions_per_client;
	unsigned max_regions_per_uid;
	unsigned max_clients;
	unsigned max_clients_per_uid;
	uint64_t quota;               /* quota=: default per-uid bytes, 0 unlimited */
	struct dkm_quota *quotas;     /* [quota] section */
	unsigned nquotas;
	unsigned refresh_interval_ms; /* refresh_interval_ms= */
	enum dkm_reconfigure_policy reconfigure; /* reconfigure=: which devdax devices to make system-ram */
	char **reconfigure_list;      /* DKM_RECONFIGURE_LIST: device names or namespace uuids */
	unsigned nreconfigure_list;
	bool online_movable;          /* online=movable (default) or normal */
	enum dkm_daemon_prefault daemon_prefault; /* daemon_prefault= */
	struct dkm_cgroup_quota *cgroup_quotas;   /* [cgroup_quota] section, in file order */
	unsigned ncgroup_quotas;
};

/* Defaults of every key. */
void dkm_config_init(struct dkm_config *c);
void dkm_config_free(struct dkm_config *c);

/*
 * Load path into c (which keeps its defaults for keys not given). A missing
 * file is -ENOENT only when must_exist; otherwise the defaults stand.
 * Errors: -ENOENT, -EACCES etc. opening; -EINVAL for content, with err naming
 * "path:line: what is wrong"; -ENOMEM.
 */
int dkm_config_load(struct dkm_config *c, const char *path, bool must_exist, char *err,
		    size_t errsize);

/* The quota of a uid in bytes (0: unlimited). */
uint64_t dkm_config_quota(const struct dkm_config *c, uid_t uid);

/*
 * Whether the daemon itself populates a region to be populated before use,
 * for a client whose memory cgroup is the root (or who is in none:
 * dkm_cgroup.is_root); otherwise the client populates it.
 */
bool dkm_config_daemon_prefaults(const struct dkm_config *c, bool client_in_root);

/*
 * The [cgroup_quota] line that covers path (dkm_cgroup_path_under) with the
 * longest prefix, NULL if none. Every line covering path applies: a caller
 * enforcing the quotas checks each (loop over cgroup_quotas).
 */
const struct dkm_cgroup_quota *dkm_config_cgroup_quota(const struct dkm_config *c,
						       const char *path);

/* "root-only", "always" or "never". */
const char *dkm_daemon_prefault_name(enum dkm_daemon_prefault p);

/* "64M", "1G", "4096" -> bytes (K/M/G/T are powers of 1024); 0 or -EINVAL/-ERANGE. */
int dkm_parse_size(const char *s, uint64_t *ret);

#endif
