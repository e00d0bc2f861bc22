/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daxkmem wire protocol, version 1: what daxkmemd and its clients say to each
 * other over a Unix stream socket. Both sides link this code (proto/).
 *
 * Every message is a header followed by payload_len bytes of payload, and
 * carries exactly nfds descriptors (SCM_RIGHTS, attached to the header's
 * first byte). All integers are in host byte order (the peers share a
 * kernel). Each message type has one payload layout below; its size is
 * checked exactly, so trailing bytes are an error.
 *
 * Versioning: bump DKM_PROTO_MINOR when adding a message type or using a
 * reserved field or flag bit in a compatible way (used only once HELLO /
 * HELLO_REPLY showed the peer's minor knows it: old peers drop a peer that
 * sends an unknown type or a non-zero reserved field); bump DKM_PROTO_MAJOR
 * for anything that changes an existing layout or meaning. The daemon
 * refuses a HELLO whose major it does not speak with an ERROR, so the
 * header, dkm_hello and dkm_error layouts never change.
 */
#ifndef DKM_PROTO_H
#define DKM_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define DKM_PROTO_MAGIC 0x4d4b5844u /* "DXKM" as little-endian bytes */
#define DKM_PROTO_MAJOR 1
#define DKM_PROTO_MINOR 2 /* 1: DEVICES, RECONFIGURE; 2: memory cgroups (REGION flag, CLIENTS, STATUS) */

/* Largest payload either side accepts; a header announcing more drops the peer. */
#define DKM_PROTO_MAX_PAYLOAD (256u * 1024)
/* Most descriptors in one message (REGION carries one). */
#define DKM_PROTO_MAX_FDS 1
/* Node ids the protocol can name (bits of dkm_nodeset). */
#define DKM_PROTO_MAX_NODES 1024
/* Ranges a region's placement plan may have (KMEM_ALL spills across nodes). */
#define DKM_PROTO_MAX_RANGES 16
#define DKM_PROTO_NAME_LEN 32
/* Longest cgroup path (bytes, without its NUL) that CLIENTS_REPLY and STATUS_REPLY carry, plus one. */
#define DKM_PROTO_CGROUP_PATH_MAX 1024

struct dkm_msg_header {
	uint32_t magic;       /* DKM_PROTO_MAGIC */
	uint16_t major;       /* DKM_PROTO_MAJOR of the sender */
	uint16_t type;        /* enum dkm_msg_type */
	uint32_t flags;       /* none defined in v1: must be 0 */
	uint32_t payload_len; /* bytes following the header */
	uint32_t nfds;        /* descriptors carried */
	uint32_t seq;         /* request: chosen by the client, from 1; reply: the request's seq;
			       * 0: an ERROR about the connection (refused at accept) */
};
_Static_assert(sizeof(struct dkm_msg_header) == 24, "header is 24 bytes on the wire");

/* Types are numbered in ranges: 0x01xx session, 0x02xx regions, 0x03xx information, 0x7fxx errors. */
enum dkm_msg_type {
	DKM_MSG_HELLO = 0x0101,          /* client -> daemon: dkm_hello */
	DKM_MSG_HELLO_REPLY = 0x0102,    /* daemon -> client: dkm_hello_reply */
	DKM_MSG_ALLOC_REGION = 0x0201,   /* client -> daemon: dkm_alloc_region */
	DKM_MSG_REGION = 0x0202,         /* daemon -> client: dkm_region + 1 fd (a memfd) */
	DKM_MSG_RELEASE_REGION = 0x0203, /* client -> daemon: dkm_release_region */
	DKM_MSG_RELEASED = 0x0204,       /* daemon -> client: dkm_release_region (the same id) */
	DKM_MSG_STATUS = 0x0301,         /* client -> daemon: no payload */
	DKM_MSG_STATUS_REPLY = 0x0302,   /* daemon -> client: dkm_status + nodes + distances */
	DKM_MSG_CLIENTS = 0x0303,        /* client -> daemon (root or admin group): no payload */
	DKM_MSG_CLIENTS_REPLY = 0x0304,  /* daemon -> client: dkm_clients + entries */
	DKM_MSG_DEVICES = 0x0401,        /* client -> daemon: no payload */
	DKM_MSG_DEVICES_REPLY = 0x0402,  /* daemon -> client: dkm_devices + entries */
	DKM_MSG_RECONFIGURE = 0x0403,    /* client -> daemon (uid 0 only): dkm_reconfigure */
	DKM_MSG_RECONFIGURE_REPLY = 0x0404, /* daemon -> client: dkm_reconfigure_reply + steps */
	DKM_MSG_ERROR = 0x7f01,          /* daemon -> client: dkm_error, reply to any request */
};

/* A set of node ids, bit i of words[i / 64]. */
struct dkm_nodeset {
	uint64_t words[DKM_PROTO_MAX_NODES / 64];
};

/* ---- HELLO: first message of every connection ---- */
struct dkm_hello {
	uint16_t major;                  /* DKM_PROTO_MAJOR */
	uint16_t minor;                  /* DKM_PROTO_MINOR */
	uint32_t flags;                  /* 0 */
	char name[DKM_PROTO_NAME_LEN];   /* program name, NUL-padded; shown by CLIENTS */
};

struct dkm_hello_reply {
	uint16_t major;                  /* version the daemon speaks */
	uint16_t minor;
	uint32_t client_id;              /* this connection's id in STATUS/CLIENTS */
	uint64_t max_region_size;        /* bytes: larger ALLOC_REGION is refused */
	uint32_t max_regions;            /* regions this client may hold at once */
	uint32_t reserved;               /* 0 */
};

/* ---- Regions ---- */
enum dkm_kind {
	DKM_KIND_KMEM = 1,
	DKM_KIND_KMEM_ALL = 2,
	DKM_KIND_KMEM_PREFERRED = 3,
};

enum dkm_alloc_flags {
	DKM_ALLOC_NO_PREFAULT = 1u << 0, /* do not populate: pages fault in (and are charged) in the client */
	DKM_ALLOC_PREFAULT = 1u << 1,    /* populate even if the daemon's default is not to */
};
#define DKM_ALLOC_FLAGS_ALL (DKM_ALLOC_NO_PREFAULT | DKM_ALLOC_PREFAULT)

struct dkm_alloc_region {
	uint32_t kind;                   /* enum dkm_kind */
	uint32_t flags;                  /* enum dkm_alloc_flags; not both prefault bits */
	uint64_t size;                   /* bytes, > 0, a multiple of the page size */
	int32_t cpu_node;                /* node of the asking thread's CPU, checked against its affinity */
	uint32_t reserved;               /* 0 */
	struct dkm_nodeset kmem_nodes;   /* empty: the daemon's kmem nodes; else DAXKMEM_NODES, validated */
};

enum dkm_policy {
	DKM_POLICY_BIND = 2,             /* MPOL_BIND */
	DKM_POLICY_PREFERRED = 1,        /* MPOL_PREFERRED */
};

struct dkm_range {
	uint64_t offset;                 /* bytes into the region */
	uint64_t length;                 /* bytes */
	int32_t node;                    /* node the range is bound (or preferred) to */
	uint32_t policy;                 /* enum dkm_policy */
};

/*
 * dkm_region flags: DKM_ALLOC_PREFAULT when the daemon populated the region,
 * or (minor 2, sent only to a client whose HELLO said minor 2 or later)
 * DKM_REGION_CLIENT_POPULATE when the region is to be populated before use
 * and the client is to do it, so that its pages are charged to the client's
 * memory cgroup. Never both. A minor-1 client gets neither for such a
 * region: its pages fault in as it touches them (charged to it too).
 */
#define DKM_REGION_CLIENT_POPULATE (1u << 2)
#define DKM_REGION_FLAGS_ALL (DKM_ALLOC_FLAGS_ALL | DKM_REGION_CLIENT_POPULATE)

struct dkm_region {
	uint64_t id;                     /* the daemon's id: give it to RELEASE_REGION */
	uint64_t size;                   /* bytes, as asked */
	uint32_t kind;                   /* enum dkm_kind, as asked */
	uint32_t flags;                  /* DKM_ALLOC_PREFAULT or DKM_REGION_CLIENT_POPULATE (above) */
	uint32_t nranges;                /* valid entries of ranges, 1..DKM_PROTO_MAX_RANGES */
	uint32_t reserved;
	struct dkm_range ranges[DKM_PROTO_MAX_RANGES]; /* in offset order, covering [0, size) */
};

_Static_assert(sizeof(struct dkm_region) == 416, "REGION payload is 416 bytes");

struct dkm_release_region {
	uint64_t id;
};

/* ---- A client's memory cgroup (minor 2): in CLIENTS_REPLY and STATUS_REPLY ---- */
enum dkm_cgroup_version_wire {
	DKM_WIRE_CGROUP_NONE = 0,        /* no memory controller accounts the client */
	DKM_WIRE_CGROUP_V1 = 1,          /* the memory controller of a v1 hierarchy */
	DKM_WIRE_CGROUP_V2 = 2,          /* the unified hierarchy's */
};

enum dkm_client_cgroup_flags {
	/* the daemon read the client's cgroup at HELLO (else error says why it could not) */
	DKM_CLIENT_CG_KNOWN = 1u << 0,
	/* KNOWN, and no limit applies to what is charged there: the root, or no memory controller */
	DKM_CLIENT_CG_ROOT = 1u << 1,
	/* under the configuration in force, the daemon populates this client's regions that are
	 * to be populated before use (charged to the daemon's cgroup); else the client does */
	DKM_CLIENT_CG_DAEMON_POPULATES = 1u << 2,
};
#define DKM_CLIENT_CG_FLAGS_ALL (DKM_CLIENT_CG_KNOWN | DKM_CLIENT_CG_ROOT | DKM_CLIENT_CG_DAEMON_POPULATES)

/*
 * One client's memory cgroup, followed on the wire (after all the records of
 * the message) by its path: path_len bytes, no NUL among them, then a NUL.
 */
struct dkm_client_cgroup {
	uint32_t version;                /* enum dkm_cgroup_version_wire */
	uint32_t flags;                  /* enum dkm_client_cgroup_flags */
	int32_t error;                   /* 0 when KNOWN, else the positive errno of reading it */
	int32_t limits_error;            /* 0, or the positive errno of reading its limits just now */
	uint64_t limit;                  /* the binding limit (least room) on its path, UINT64_MAX none */
	uint64_t usage;                  /* that cgroup's usage (memory.current), 0 with no limit */
	uint64_t swap_limit;             /* v2: memory.swap.max with the least room, UINT64_MAX none */
	uint64_t swap_usage;             /* its memory.swap.current, 0 with no limit */
	uint64_t daemon_charged;         /* bytes of the client's regions the daemon populated */
	uint64_t owed;                   /* bytes of its other regions (charged to it) not yet resident */
	uint32_t limit_at;               /* the limit is that of path[0..limit_at) (0: no limit) */
	uint32_t swap_at;                /* the swap limit's cgroup, likewise */
	uint32_t path_len;               /* bytes of the path, < DKM_PROTO_CGROUP_PATH_MAX; 0 unknown */
	uint32_t reserved;               /* 0 */
};
_Static_assert(sizeof(struct dkm_client_cgroup) == 80, "cgroup record is 80 bytes");

/*
 * ---- STATUS_REPLY: dkm_status, nnodes dkm_status_node, then nnodes*nnodes uint8 distances;
 * with DKM_STATUS_SELF (minor 2) then the asking client's dkm_client_cgroup and its path ----
 */
enum dkm_status_flags {
	DKM_STATUS_SELF = 1u << 0,       /* the asking client's cgroup record follows (minor 2) */
};

struct dkm_status {
	uint32_t nnodes;                 /* online nodes */
	uint32_t nclients;               /* connected clients */
	uint64_t granted;                /* bytes granted to clients, all nodes */
	uint64_t resident;               /* of which resident */
	uint32_t kmem_from_config;       /* 1: kmem nodes named by kmem_nodes=, 0: detected */
	uint32_t flags;                  /* enum dkm_status_flags; only to a minor-2 client (0 before) */
};
_Static_assert(sizeof(struct dkm_status) == 32, "dkm_status is 32 bytes");

enum dkm_node_kind_wire {
	DKM_WIRE_NODE_DRAM = 0,
	DKM_WIRE_NODE_KMEM = 1,
	DKM_WIRE_NODE_MEMONLY = 2,
};

struct dkm_status_node {
	int32_t id;
	uint32_t kind;                   /* enum dkm_node_kind_wire */
	uint64_t mem_total;              /* bytes, UINT64_MAX unknown */
	uint64_t mem_free;               /* bytes, UINT64_MAX unknown */
	uint64_t granted;                /* bytes the broker granted on this node */
	uint64_t resident;               /* of which resident now */
	uint64_t released;               /* bytes returned (release, disconnect) since the daemon started */
	uint32_t nclients;               /* clients holding memory on it */
	uint32_t ncpus;
	char cpulist[64];                /* kernel list syntax, truncated with "..." */
};
/* Distances follow the node array: row i, column j is distance(node i, node j), 0 unknown. */

/*
 * ---- CLIENTS_REPLY: dkm_clients, then n dkm_client_entry; with DKM_CLIENTS_CGROUPS
 * (minor 2) then n dkm_client_cgroup (in the same order) and their n paths ----
 */
enum dkm_clients_flags {
	DKM_CLIENTS_CGROUPS = 1u << 0,   /* the cgroup records and paths follow (minor 2) */
};

struct dkm_clients {
	uint32_t n;
	uint32_t flags;                  /* enum dkm_clients_flags; only to a minor-2 client (0 before) */
};

struct dkm_client_entry {
	uint32_t client_id;
	int32_t pid;
	uint32_t uid;
	uint32_t gid;
	char name[DKM_PROTO_NAME_LEN];
	uint32_t nregions;
	uint32_t reserved;
	uint64_t granted;                /* bytes */
	uint64_t resident;               /* bytes */
	uint64_t released;               /* bytes this client returned so far */
};
_Static_assert(sizeof(struct dkm_client_entry) == 80, "client entry is 80 bytes");
_Static_assert(sizeof(struct dkm_status_node) == 120, "status node is 120 bytes");

/* ---- DEVICES_REPLY: dkm_devices, then n dkm_device_entry ---- */
enum dkm_dax_mode_wire {
	DKM_WIRE_DAX_SYSTEM_RAM = 0,     /* bound to kmem: its memory is a NUMA node's */
	DKM_WIRE_DAX_DEVDAX = 1,         /* bound to device_dax: /dev/daxR.N */
	DKM_WIRE_DAX_DISABLED = 2,       /* no driver */
	DKM_WIRE_DAX_OTHER = 3,          /* a driver daxkmemd does not manage */
};

enum dkm_devices_flags {
	DKM_DEVICES_RECONFIGURABLE = 1u << 0, /* the daemon reads the live /sys and can reconfigure */
};

struct dkm_devices {
	uint32_t n;
	uint32_t flags;                  /* enum dkm_devices_flags */
};

#define DKM_PROTO_UUID_LEN 40

struct dkm_device_entry {
	char name[DKM_PROTO_NAME_LEN];   /* "dax0.0" */
	char uuid[DKM_PROTO_UUID_LEN];   /* uuid of its namespace, "" if none or unknown */
	char driver[DKM_PROTO_NAME_LEN]; /* bound driver, "" if none */
	uint32_t mode;                   /* enum dkm_dax_mode_wire */
	int32_t target_node;             /* -1 unknown */
	uint64_t size;                   /* bytes, UINT64_MAX unknown */
	uint32_t blocks;                 /* memory blocks (system-ram) */
	uint32_t online_blocks;
	int32_t movable;                 /* 1 movable zone, 0 normal zone, -1 n.a. */
	uint32_t selected;               /* 1: the configuration's reconfigure= selects it */
	uint64_t granted;                /* bytes the broker granted on its target node */
};

/* ---- RECONFIGURE: devices to system-ram or back to devdax ---- */
enum dkm_reconfigure_flags {
	DKM_RECONF_DRY_RUN = 1u << 0,    /* say what would be done, do nothing */
	DKM_RECONF_MOVABLE = 1u << 1,    /* online into ZONE_MOVABLE (overrides online=) */
	DKM_RECONF_NORMAL = 1u << 2,     /* online into the normal zone (overrides online=) */
};
#define DKM_RECONF_FLAGS_ALL (DKM_RECONF_DRY_RUN | DKM_RECONF_MOVABLE | DKM_RECONF_NORMAL)
#define DKM_RECONF_MAX_DEVICES 16

struct dkm_reconfigure {
	uint32_t mode;                   /* DKM_WIRE_DAX_SYSTEM_RAM or DKM_WIRE_DAX_DEVDAX */
	uint32_t flags;                  /* enum dkm_reconfigure_flags; not MOVABLE and NORMAL */
	uint32_t ndevices;               /* 0: the devices reconfigure= selects (system-ram only) */
	uint32_t reserved;               /* 0 */
	char devices[DKM_RECONF_MAX_DEVICES][DKM_PROTO_UUID_LEN]; /* names or namespace uuids */
};

enum dkm_reconfigure_action_wire {
	DKM_WIRE_RECONF_NONE = 0,        /* already as asked */
	DKM_WIRE_RECONF_TO_RAM = 1,
	DKM_WIRE_RECONF_ONLINE = 2,      /* system-ram whose offline blocks were onlined */
	DKM_WIRE_RECONF_TO_DEVDAX = 3,
	DKM_WIRE_RECONF_REFUSED = 4,     /* not touched: its node has grants, unknown driver */
};

enum dkm_reconfigure_step_flags {
	DKM_RECONF_STEP_AUTO_ONLINED = 1u << 0, /* the kernel onlined the blocks itself */
	DKM_RECONF_STEP_ROLLED_BACK = 1u << 1,  /* a failure was undone */
};

struct dkm_reconfigure_reply {
	uint32_t n;                      /* steps that follow */
	int32_t error;                   /* 0, or the positive errno of the first failed step */
};

struct dkm_reconfigure_step {
	char name[DKM_PROTO_NAME_LEN];
	uint32_t action;                 /* enum dkm_reconfigure_action_wire */
	int32_t error;                   /* 0 or a positive errno */
	uint32_t before, after;          /* enum dkm_dax_mode_wire */
	int32_t node;                    /* target node, -1 unknown */
	uint32_t blocks;
	uint32_t online_after;
	int32_t movable;                 /* after: 1, 0, -1 */
	uint32_t flags;                  /* enum dkm_reconfigure_step_flags */
	uint32_t reserved;
	char message[256];               /* what was done (or would be), and the state left */
};

/* ---- ERROR: the request failed; errno_value says how, message says why ---- */
struct dkm_error {
	int32_t errno_value;             /* positive errno: ENOSPC, EDQUOT, EINVAL, EPROTO, EPERM ... */
	uint32_t request_type;           /* type of the request that failed */
	char message[256];               /* NUL-terminated text naming the object and figures */
};

#endif
