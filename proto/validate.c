/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Validation of messages against proto.h (dkm_wire_validate in wire.h, and
 * the header check of validate.h): what each type's header and payload may
 * hold. Framing and descriptors are in wire.c.
 *
 * Header major: it must be DKM_PROTO_MAJOR, except on HELLO and ERROR, whose
 * layouts never change (proto.h). A HELLO of another major passes so that
 * the daemon can answer "unsupported protocol version N" with an ERROR
 * instead of dropping the client silently; an ERROR of another major passes
 * so that the client can show that answer.
 */
#include "validate.h"

#include <errno.h>
#include <string.h>

#include "wire.h"

static bool type_known(uint16_t type)
{
	return strcmp(dkm_msg_type_name(type), "unknown") != 0;
}

static unsigned type_nfds(uint16_t type)
{
	return type == DKM_MSG_REGION ? 1 : 0;
}

/* Payload size of a fixed-size type; for STATUS_REPLY and CLIENTS_REPLY the
 * size of their fixed part, with *variable set. */
static size_t type_size(uint16_t type, bool *variable)
{
	*variable = false;
	switch (type) {
	case DKM_MSG_HELLO:
		return sizeof(struct dkm_hello);
	case DKM_MSG_HELLO_REPLY:
		return sizeof(struct dkm_hello_reply);
	case DKM_MSG_ALLOC_REGION:
		return sizeof(struct dkm_alloc_region);
	case DKM_MSG_REGION:
		return sizeof(struct dkm_region);
	case DKM_MSG_RELEASE_REGION:
	case DKM_MSG_RELEASED:
		return sizeof(struct dkm_release_region);
	case DKM_MSG_STATUS:
	case DKM_MSG_CLIENTS:
	case DKM_MSG_DEVICES:
		return 0;
	case DKM_MSG_RECONFIGURE:
		return sizeof(struct dkm_reconfigure);
	case DKM_MSG_DEVICES_REPLY:
		*variable = true;
		return sizeof(struct dkm_devices);
	case DKM_MSG_RECONFIGURE_REPLY:
		*variable = true;
		return sizeof(struct dkm_reconfigure_reply);
	case DKM_MSG_STATUS_REPLY:
		*variable = true;
		return sizeof(struct dkm_status);
	case DKM_MSG_CLIENTS_REPLY:
		*variable = true;
		return sizeof(struct dkm_clients);
	case DKM_MSG_ERROR:
		return sizeof(struct dkm_error);
	default:
		return 0;
	}
}

/* Everything the header alone tells; checked as soon as it is complete. */
int dkm_wire_check_header(const struct dkm_msg_header *h)
{
	bool variable;
	size_t size;

	if (h->magic != DKM_PROTO_MAGIC)
		return -EPROTO;
	if (h->major != DKM_PROTO_MAJOR && h->type != DKM_MSG_HELLO && h->type != DKM_MSG_ERROR)
		return -EPROTO;
	if (h->flags != 0)
		return -EPROTO;
	if (h->payload_len > DKM_PROTO_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (h->nfds > DKM_PROTO_MAX_FDS)
		return -EPROTO;
	if (!type_known(h->type) || h->nfds != type_nfds(h->type))
		return -EPROTO;
	size = type_size(h->type, &variable);
	if (variable ? h->payload_len < size : h->payload_len != size)
		return -EPROTO;
	return 0;
}

static bool has_nul(const char *s, size_t n)
{
	return memchr(s, '\0', n) != NULL;
}

static bool alloc_flags_valid(uint32_t flags)
{
	return !(flags & ~DKM_ALLOC_FLAGS_ALL) && (flags & DKM_ALLOC_FLAGS_ALL) != DKM_ALLOC_FLAGS_ALL;
}

/* REGION: PREFAULT, NO_PREFAULT (not both) as in a request, or CLIENT_POPULATE alone. */
static bool region_flags_valid(uint32_t flags)
{
	if (flags & ~DKM_REGION_FLAGS_ALL)
		return false;
	if ((flags & DKM_REGION_CLIENT_POPULATE) && (flags & DKM_ALLOC_FLAGS_ALL))
		return false;
	return alloc_flags_valid(flags & DKM_ALLOC_FLAGS_ALL);
}

static bool node_valid(int32_t node)
{
	return node >= 0 && node < DKM_PROTO_MAX_NODES;
}

static int validate_region(const struct dkm_region *r)
{
	static const struct dkm_range zero;
	uint64_t off = 0;

	if (!dkm_kind_name(r->kind) || !region_flags_valid(r->flags) || r->size == 0 ||
	    r->reserved != 0 || r->nranges == 0 || r->nranges > DKM_PROTO_MAX_RANGES)
		return -EPROTO;
	for (unsigned i = 0; i < r->nranges; i++) {
		const struct dkm_range *g = &r->ranges[i];

		/* off <= size throughout, so size - off cannot wrap */
		if (g->offset != off || g->length == 0 || g->length > r->size - off ||
		    !node_valid(g->node) ||
		    (g->policy != DKM_POLICY_BIND && g->policy != DKM_POLICY_PREFERRED))
			return -EPROTO;
		off += g->length;
	}
	if (off != r->size)
		return -EPROTO;
	for (unsigned i = r->nranges; i < DKM_PROTO_MAX_RANGES; i++)
		if (memcmp(&r->ranges[i], &zero, sizeof(zero)) != 0)
			return -EPROTO;
	return 0;
}

/*
 * n cgroup records at p + off, then their paths, ending exactly at len:
 * each path is path_len bytes without a NUL, then a NUL; empty (unknown) or
 * absolute; limit_at and swap_at within it.
 */
static int validate_cgroups(const uint8_t *p, size_t off, size_t len, uint32_t n)
{
	size_t pos;

	/* n is bounded by the caller so that this cannot overflow */
	if (len < off || (len - off) / sizeof(struct dkm_client_cgroup) < n)
		return -EPROTO;
	pos = off + (size_t)n * sizeof(struct dkm_client_cgroup);
	for (uint32_t i = 0; i < n; i++) {
		struct dkm_client_cgroup g;
		const uint8_t *path;

		memcpy(&g, p + off + i * sizeof(g), sizeof(g));
		if (g.version > DKM_WIRE_CGROUP_V2 || (g.flags & ~DKM_CLIENT_CG_FLAGS_ALL) ||
		    g.error < 0 || g.limits_error < 0 || g.reserved != 0 ||
		    ((g.flags & DKM_CLIENT_CG_KNOWN) != 0) != (g.error == 0) ||
		    ((g.flags & DKM_CLIENT_CG_ROOT) && !(g.flags & DKM_CLIENT_CG_KNOWN)) ||
		    g.path_len >= DKM_PROTO_CGROUP_PATH_MAX || g.limit_at > g.path_len ||
		    g.swap_at > g.path_len)
			return -EPROTO;
		if (len - pos < (size_t)g.path_len + 1)
			return -EPROTO;
		path = p + pos;
		if (path[g.path_len] != '\0' || memchr(path, '\0', g.path_len) ||
		    (g.path_len > 0 && path[0] != '/'))
			return -EPROTO;
		pos += (size_t)g.path_len + 1;
	}
	return pos == len ? 0 : -EPROTO;
}

static int validate_status_reply(const uint8_t *p, size_t len)
{
	struct dkm_status st;
	size_t need;

	memcpy(&st, p, sizeof(st));
	if (st.nnodes > DKM_PROTO_MAX_NODES)
		return -EPROTO;
	/* nnodes <= 1024: no overflow */
	need = sizeof(st) + (size_t)st.nnodes * sizeof(struct dkm_status_node) +
	       (size_t)st.nnodes * st.nnodes;
	if (need > DKM_PROTO_MAX_PAYLOAD || (st.flags & ~DKM_STATUS_SELF))
		return -EPROTO;
	if (st.flags & DKM_STATUS_SELF ? validate_cgroups(p, need, len, 1) < 0 : need != len)
		return -EPROTO;
	if (st.kmem_from_config > 1)
		return -EPROTO;
	for (uint32_t i = 0; i < st.nnodes; i++) {
		struct dkm_status_node n;

		memcpy(&n, p + sizeof(st) + i * sizeof(n), sizeof(n));
		if (!node_valid(n.id) || n.kind > DKM_WIRE_NODE_MEMONLY ||
		    !has_nul(n.cpulist, sizeof(n.cpulist)))
			return -EPROTO;
	}
	return 0;
}

static int validate_clients_reply(const uint8_t *p, size_t len)
{
	struct dkm_clients c;
	size_t fixed;

	memcpy(&c, p, sizeof(c));
	if (c.n > (DKM_PROTO_MAX_PAYLOAD - sizeof(c)) / sizeof(struct dkm_client_entry) ||
	    (c.flags & ~DKM_CLIENTS_CGROUPS))
		return -EPROTO;
	fixed = sizeof(c) + (size_t)c.n * sizeof(struct dkm_client_entry);
	if (c.flags & DKM_CLIENTS_CGROUPS ? validate_cgroups(p, fixed, len, c.n) < 0 : fixed != len)
		return -EPROTO;
	for (uint32_t i = 0; i < c.n; i++) {
		struct dkm_client_entry e;

		memcpy(&e, p + sizeof(c) + i * sizeof(e), sizeof(e));
		if (!has_nul(e.name, sizeof(e.name)) || e.reserved != 0)
			return -EPROTO;
	}
	return 0;
}

static bool dax_mode_valid(uint32_t mode)
{
	return mode <= DKM_WIRE_DAX_OTHER;
}

static int validate_devices_reply(const uint8_t *p, size_t len)
{
	struct dkm_devices d;

	memcpy(&d, p, sizeof(d));
	if (d.n > (DKM_PROTO_MAX_PAYLOAD - sizeof(d)) / sizeof(struct dkm_device_entry))
		return -EPROTO;
	if (sizeof(d) + (size_t)d.n * sizeof(struct dkm_device_entry) != len ||
	    (d.flags & ~DKM_DEVICES_RECONFIGURABLE))
		return -EPROTO;
	for (uint32_t i = 0; i < d.n; i++) {
		struct dkm_device_entry e;

		memcpy(&e, p + sizeof(d) + i * sizeof(e), sizeof(e));
		if (!has_nul(e.name, sizeof(e.name)) || !e.name[0] || !has_nul(e.uuid, sizeof(e.uuid)) ||
		    !has_nul(e.driver, sizeof(e.driver)) || !dax_mode_valid(e.mode) ||
		    e.target_node < -1 || e.target_node >= DKM_PROTO_MAX_NODES || e.movable < -1 ||
		    e.movable > 1 || e.selected > 1 || e.online_blocks > e.blocks)
			return -EPROTO;
	}
	return 0;
}

static int validate_reconfigure(const struct dkm_reconfigure *r)
{
	if ((r->mode != DKM_WIRE_DAX_SYSTEM_RAM && r->mode != DKM_WIRE_DAX_DEVDAX) ||
	    (r->flags & ~DKM_RECONF_FLAGS_ALL) ||
	    (r->flags & (DKM_RECONF_MOVABLE | DKM_RECONF_NORMAL)) ==
		    (DKM_RECONF_MOVABLE | DKM_RECONF_NORMAL) ||
	    r->ndevices > DKM_RECONF_MAX_DEVICES || r->reserved != 0)
		return -EPROTO;
	for (unsigned i = 0; i < DKM_RECONF_MAX_DEVICES; i++) {
		if (!has_nul(r->devices[i], sizeof(r->devices[i])))
			return -EPROTO;
		/* named entries are not empty, the rest are */
		if ((i < r->ndevices) != (r->devices[i][0] != '\0'))
			return -EPROTO;
	}
	return 0;
}

static int validate_reconfigure_reply(const uint8_t *p, size_t len)
{
	struct dkm_reconfigure_reply r;

	memcpy(&r, p, sizeof(r));
	if (r.n > (DKM_PROTO_MAX_PAYLOAD - sizeof(r)) / sizeof(struct dkm_reconfigure_step))
		return -EPROTO;
	if (sizeof(r) + (size_t)r.n * sizeof(struct dkm_reconfigure_step) != len || r.error < 0)
		return -EPROTO;
	for (uint32_t i = 0; i < r.n; i++) {
		struct dkm_reconfigure_step s;

		memcpy(&s, p + sizeof(r) + i * sizeof(s), sizeof(s));
		if (!has_nul(s.name, sizeof(s.name)) || !has_nul(s.message, sizeof(s.message)) ||
		    s.action > DKM_WIRE_RECONF_REFUSED || s.error < 0 || !dax_mode_valid(s.before) ||
		    !dax_mode_valid(s.after) || s.node < -1 || s.node >= DKM_PROTO_MAX_NODES ||
		    s.movable < -1 || s.movable > 1 || s.online_after > s.blocks ||
		    (s.flags & ~(DKM_RECONF_STEP_AUTO_ONLINED | DKM_RECONF_STEP_ROLLED_BACK)) ||
		    s.reserved != 0)
			return -EPROTO;
	}
	return 0;
}

int dkm_wire_validate(const struct dkm_msg *m)
{
	const struct dkm_msg_header *h = &m->hdr;
	const uint8_t *p = m->payload;

	if (dkm_wire_check_header(h) < 0)
		return -EPROTO;
	if (h->payload_len > 0 && !p)
		return -EPROTO;
	for (unsigned i = 0; i < h->nfds; i++)
		if (m->fds[i] < 0)
			return -EPROTO;

	switch (h->type) {
	case DKM_MSG_HELLO: {
		struct dkm_hello x;

		/* x.major is not checked here: the daemon answers it. From a peer of
		 * another major, flags may mean something: it is refused anyway. */
		memcpy(&x, p, sizeof(x));
		if ((x.flags != 0 && h->major == DKM_PROTO_MAJOR) || !has_nul(x.name, sizeof(x.name)))
			return -EPROTO;
		return 0;
	}
	case DKM_MSG_HELLO_REPLY: {
		struct dkm_hello_reply x;

		memcpy(&x, p, sizeof(x));
		return x.reserved == 0 ? 0 : -EPROTO;
	}
	case DKM_MSG_ALLOC_REGION: {
		struct dkm_alloc_region x;

		memcpy(&x, p, sizeof(x));
		if (!dkm_kind_name(x.kind) || !alloc_flags_valid(x.flags) || x.size == 0 ||
		    x.reserved != 0 || x.cpu_node < -1 || x.cpu_node >= DKM_PROTO_MAX_NODES)
			return -EPROTO;
		return 0;
	}
	case DKM_MSG_REGION: {
		struct dkm_region x;

		memcpy(&x, p, sizeof(x));
		return validate_region(&x);
	}
	case DKM_MSG_RELEASE_REGION:
	case DKM_MSG_RELEASED:
	case DKM_MSG_STATUS:
	case DKM_MSG_CLIENTS:
	case DKM_MSG_DEVICES:
		return 0;
	case DKM_MSG_RECONFIGURE: {
		struct dkm_reconfigure x;

		memcpy(&x, p, sizeof(x));
		return validate_reconfigure(&x);
	}
	case DKM_MSG_DEVICES_REPLY:
		return validate_devices_reply(p, h->payload_len);
	case DKM_MSG_RECONFIGURE_REPLY:
		return validate_reconfigure_reply(p, h->payload_len);
	case DKM_MSG_STATUS_REPLY:
		return validate_status_reply(p, h->payload_len);
	case DKM_MSG_CLIENTS_REPLY:
		return validate_clients_reply(p, h->payload_len);
	case DKM_MSG_ERROR: {
		struct dkm_error x;

		memcpy(&x, p, sizeof(x));
		if (x.errno_value <= 0 || !has_nul(x.message, sizeof(x.message)))
			return -EPROTO;
		return 0;
	}
	default:
		return -EPROTO;
	}
}
