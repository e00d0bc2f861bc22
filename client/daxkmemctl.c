/* SPDX-License-Identifier: GPL-2.0-or-later */
/* daxkmemctl: ask daxkmemd how its nodes, clients and dax devices stand; reconfigure devices. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "util/format.h"
#include "util/table.h"

static const char *const kind_names[] = { "dram", "kmem", "memory-only" };

static void usage(FILE *f)
{
	fprintf(f, "Usage: daxkmemctl [--socket PATH] COMMAND [--json]\n"
		   "       daxkmemctl reconfigure [--dry-run] [--mode system-ram|devdax]\n"
		   "                  [--online movable|normal] [DEVICE|UUID...]\n"
		   "Commands:\n"
		   "  status       nodes (kind, CPUs, total, free, brokered, resident, clients),\n"
		   "               distances and totals\n"
		   "  clients      connected clients and what they hold (root or admin_group)\n"
		   "  devices      dax devices: mode, size, node, online blocks, zone\n"
		   "  reconfigure  (root) bring devices to system-ram (default: those reconfigure=\n"
		   "               selects), or name them with --mode devdax to give them back\n"
		   "Options:\n"
		   "  --socket PATH   daemon socket (default $DAXKMEM_SOCKET or "
		   "/run/daxkmemd/daxkmemd.sock)\n"
		   "  --json          print JSON\n"
		   "  --dry-run       say what reconfigure would do; change nothing\n"
		   "  --mode MODE     reconfigure to system-ram (default) or devdax\n"
		   "  --online ZONE   online system-ram as movable or normal (default: online=)\n"
		   "  -h, --help      show this help\n");
}

static const char *size_or_unknown(uint64_t v, char *buf, size_t size)
{
	return v == UINT64_MAX ? "?" : dkm_format_bytes(v, buf, size);
}

static json_object *u64_json(uint64_t v)
{
	return v == UINT64_MAX ? NULL : json_object_new_uint64(v);
}

static int print_json(json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							      JSON_C_TO_STRING_SPACED |
							      JSON_C_TO_STRING_NOSLASHESCAPE);
	int r = s ? 0 : -ENOMEM;

	if (s)
		printf("%s\n", s);
	json_object_put(o);
	return r;
}

/* ---- memory cgroups (protocol minor 2) ---- */

static const char *cgroup_version_name(uint32_t v)
{
	return v == DKM_WIRE_CGROUP_V1 ? "v1" : v == DKM_WIRE_CGROUP_V2 ? "v2" : "none";
}

/*
 * Who a client's memory is charged to: with grants, by the bytes the daemon
 * populated; without, by what would happen to a region to be populated.
 */
static const char *charged_to(const struct dkm_client_cgroup *g, const uint64_t *granted)
{
	if (!granted || !*granted)
		return g->flags & DKM_CLIENT_CG_DAEMON_POPULATES ? "daemon" : "client";
	if (g->daemon_charged == 0)
		return "client";
	return g->daemon_charged >= *granted ? "daemon" : "both";
}

static json_object *str_json(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

/* The cgroup object of daxkmemctl's JSON; granted NULL for the asking client itself. */
static json_object *cgroup_json(const struct dkm_client_cgroup *g, const char *path,
				const uint64_t *granted)
{
	json_object *o = json_object_new_object();
	bool known = g->flags & DKM_CLIENT_CG_KNOWN;

	json_object_object_add(o, "path", known ? json_object_new_string(path) : NULL);
	json_object_object_add(o, "version", json_object_new_string(cgroup_version_name(g->version)));
	json_object_object_add(o, "error", str_json(known ? NULL : strerror(g->error)));
	json_object_object_add(o, "root", json_object_new_boolean(g->flags & DKM_CLIENT_CG_ROOT));
	json_object_object_add(o, "daemon_populates",
			       json_object_new_boolean(g->flags & DKM_CLIENT_CG_DAEMON_POPULATES));
	json_object_object_add(o, "charged_to", json_object_new_string(charged_to(g, granted)));
	json_object_object_add(o, "daemon_charged", json_object_new_uint64(g->daemon_charged));
	if (granted)
		json_object_object_add(o, "client_charged",
				       json_object_new_uint64(*granted - (g->daemon_charged < *granted
									  ? g->daemon_charged
									  : *granted)));
	json_object_object_add(o, "owed", json_object_new_uint64(g->owed));
	if (g->limit != UINT64_MAX) {
		json_object_object_add(o, "limit", json_object_new_uint64(g->limit));
		json_object_object_add(o, "usage", json_object_new_uint64(g->usage));
		json_object_object_add(o, "limit_cgroup", json_object_new_string_len(
						  path, (int)(g->limit_at > 1 ? g->limit_at : 1)));
	} else {
		json_object_object_add(o, "limit", NULL);
		json_object_object_add(o, "usage", NULL);
		json_object_object_add(o, "limit_cgroup", NULL);
	}
	if (g->swap_limit != UINT64_MAX) {
		json_object_object_add(o, "swap_limit", json_object_new_uint64(g->swap_limit));
		json_object_object_add(o, "swap_usage", json_object_new_uint64(g->swap_usage));
		json_object_object_add(o, "swap_cgroup", json_object_new_string_len(
						  path, (int)(g->swap_at > 1 ? g->swap_at : 1)));
	} else {
		json_object_object_add(o, "swap_limit", NULL);
		json_object_object_add(o, "swap_usage", NULL);
		json_object_object_add(o, "swap_cgroup", NULL);
	}
	json_object_object_add(o, "limits_error", str_json(g->limits_error ? strerror(g->limits_error)
								       : NULL));
	return o;
}

/* The CGROUP column: the path, or why it is unknown. */
static const char *cgroup_cell(const struct dkm_client_cgroup *g, const char *path, char *buf,
			       size_t size)
{
	if (!(g->flags & DKM_CLIENT_CG_KNOWN))
		snprintf(buf, size, "? (%s)", strerror(g->error));
	else if (g->version == DKM_WIRE_CGROUP_NONE)
		snprintf(buf, size, "%s (no memory controller)", path);
	else
		snprintf(buf, size, "%s", path);
	return buf;
}

/* The LIMIT column: the binding limit, with its cgroup when that is an ancestor. */
static const char *limit_cell(const struct dkm_client_cgroup *g, const char *path, char *buf,
			      size_t size)
{
	char l[32];

	if (g->limits_error)
		snprintf(buf, size, "? (%s)", strerror(g->limits_error));
	else if (g->limit == UINT64_MAX)
		snprintf(buf, size, "-");
	else if (g->limit_at < g->path_len)
		snprintf(buf, size, "%s (%.*s)", dkm_format_bytes(g->limit, l, sizeof(l)),
			 (int)(g->limit_at > 1 ? g->limit_at : 1), path);
	else
		snprintf(buf, size, "%s", dkm_format_bytes(g->limit, l, sizeof(l)));
	return buf;
}

static int status(struct dkm_conn *c, bool json)
{
	struct dkm_status st;
	const struct dkm_status_node *nodes;
	const uint8_t *dist;
	struct dkm_msg m;
	int r;

	r = dkm_conn_status(c, &m);
	if (r < 0) {
		fprintf(stderr, "daxkmemctl: status: %s\n", c->err);
		return r;
	}
	memcpy(&st, m.payload, sizeof(st));
	nodes = (const struct dkm_status_node *)((const char *)m.payload + sizeof(st));
	dist = (const uint8_t *)(nodes + st.nnodes);
	if (json) {
		json_object *o = json_object_new_object(), *a = json_object_new_array();

		json_object_object_add(o, "clients", json_object_new_int64(st.nclients));
		json_object_object_add(o, "granted", json_object_new_uint64(st.granted));
		json_object_object_add(o, "resident", json_object_new_uint64(st.resident));
		json_object_object_add(o, "kmem_source",
				       json_object_new_string(st.kmem_from_config ? "config" : "dax"));
		for (unsigned i = 0; i < st.nnodes; i++) {
			struct dkm_status_node n;
			json_object *no = json_object_new_object(), *d = json_object_new_object();

			memcpy(&n, &nodes[i], sizeof(n));
			json_object_object_add(no, "id", json_object_new_int(n.id));
			json_object_object_add(no, "kind", json_object_new_string(
						   n.kind < 3 ? kind_names[n.kind] : "?"));
			json_object_object_add(no, "cpulist", json_object_new_string(n.cpulist));
			json_object_object_add(no, "mem_total", u64_json(n.mem_total));
			json_object_object_add(no, "mem_free", u64_json(n.mem_free));
			json_object_object_add(no, "granted", json_object_new_uint64(n.granted));
			json_object_object_add(no, "resident", json_object_new_uint64(n.resident));
			json_object_object_add(no, "released", json_object_new_uint64(n.released));
			json_object_object_add(no, "clients", json_object_new_int64(n.nclients));
			for (unsigned j = 0; j < st.nnodes; j++) {
				char key[16];
				uint8_t v = dist[i * st.nnodes + j];

				snprintf(key, sizeof(key), "%d", nodes[j].id);
				json_object_object_add(d, key, v ? json_object_new_int(v) : NULL);
			}
			json_object_object_add(no, "distances", d);
			json_object_array_add(a, no);
		}
		json_object_object_add(o, "nodes", a);
		{
			struct dkm_client_cgroup g;
			const char *path;

			if (dkm_status_self(&m, &g, &path))
				json_object_object_add(o, "self", cgroup_json(&g, path, NULL));
		}
		r = print_json(o);
	} else {
		static const char *const head[] = { "~NODE", "KIND", "CPUS", "~TOTAL", "~FREE",
						    "~BROKERED", "~RESIDENT", "~RELEASED", "~CLIENTS",
						    NULL };
		struct dkm_table tab;
		char g[32], rs[32];

		dkm_table_init(&tab, head);
		for (unsigned i = 0; i < st.nnodes; i++) {
			struct dkm_status_node n;
			char id[16], tot[32], fr[32], gr[32], res[32], rel[32], cl[16];
			const char *row[9];

			memcpy(&n, &nodes[i], sizeof(n));
			snprintf(id, sizeof(id), "%d", n.id);
			snprintf(cl, sizeof(cl), "%u", n.nclients);
			row[0] = id;
			row[1] = n.kind < 3 ? kind_names[n.kind] : "?";
			row[2] = n.cpulist[0] ? n.cpulist : "-";
			row[3] = size_or_unknown(n.mem_total, tot, sizeof(tot));
			row[4] = size_or_unknown(n.mem_free, fr, sizeof(fr));
			row[5] = dkm_format_bytes(n.granted, gr, sizeof(gr));
			row[6] = dkm_format_bytes(n.resident, res, sizeof(res));
			row[7] = dkm_format_bytes(n.released, rel, sizeof(rel));
			row[8] = cl;
			dkm_table_row(&tab, row);
		}
		printf("Nodes (kmem nodes %s)\n",
		       st.kmem_from_config ? "named by kmem_nodes= in the daemon's configuration"
					   : "detected from dax devices in system-ram mode");
		dkm_table_print(&tab, stdout, "  ");
		dkm_table_free(&tab);
		printf("\nDistances\n  node");
		for (unsigned j = 0; j < st.nnodes; j++)
			printf(" %4d", nodes[j].id);
		printf("\n");
		for (unsigned i = 0; i < st.nnodes; i++) {
			printf("  %4d", nodes[i].id);
			for (unsigned j = 0; j < st.nnodes; j++) {
				uint8_t v = dist[i * st.nnodes + j];

				if (v)
					printf(" %4u", v);
				else
					printf(" %4s", "?");
			}
			printf("\n");
		}
		printf("\nTotals: %u client%s, %s brokered, %s resident\n", st.nclients,
		       st.nclients == 1 ? "" : "s", dkm_format_bytes(st.granted, g, sizeof(g)),
		       dkm_format_bytes(st.resident, rs, sizeof(rs)));
		{
			struct dkm_client_cgroup cg;
			const char *path;
			char cell[1200], lim[1200], u[32];

			if (dkm_status_self(&m, &cg, &path)) {
				printf("\nThis client: memory cgroup %s (%s), limit %s",
				       cgroup_cell(&cg, path, cell, sizeof(cell)),
				       cgroup_version_name(cg.version),
				       limit_cell(&cg, path, lim, sizeof(lim)));
				if (cg.limit != UINT64_MAX && !cg.limits_error)
					printf(", %s used", dkm_format_bytes(cg.usage, u, sizeof(u)));
				printf("\n  regions to be populated before use are populated by %s\n",
				       cg.flags & DKM_CLIENT_CG_DAEMON_POPULATES
					       ? "the daemon (charged to the daemon's cgroup)"
					       : "the client (charged to its cgroup)");
			}
		}
	}
	dkm_msg_clear(&m);
	return r;
}

static int clients(struct dkm_conn *c, bool json)
{
	struct dkm_clients hdr;
	const struct dkm_client_entry *e;
	bool cgroups;
	struct dkm_msg m;
	int r;

	r = dkm_conn_clients(c, &m);
	if (r < 0) {
		fprintf(stderr, "daxkmemctl: clients: %s\n", c->err);
		return r;
	}
	memcpy(&hdr, m.payload, sizeof(hdr));
	cgroups = hdr.flags & DKM_CLIENTS_CGROUPS;
	e = (const struct dkm_client_entry *)((const char *)m.payload + sizeof(hdr));
	if (json) {
		json_object *a = json_object_new_array();

		for (unsigned i = 0; i < hdr.n; i++) {
			struct dkm_client_entry x;
			struct dkm_client_cgroup g;
			const char *path;
			json_object *o = json_object_new_object();

			memcpy(&x, &e[i], sizeof(x));
			json_object_object_add(o, "id", json_object_new_int64(x.client_id));
			json_object_object_add(o, "pid", json_object_new_int(x.pid));
			json_object_object_add(o, "uid", json_object_new_int64(x.uid));
			json_object_object_add(o, "gid", json_object_new_int64(x.gid));
			json_object_object_add(o, "name", json_object_new_string(x.name));
			json_object_object_add(o, "regions", json_object_new_int64(x.nregions));
			json_object_object_add(o, "granted", json_object_new_uint64(x.granted));
			json_object_object_add(o, "resident", json_object_new_uint64(x.resident));
			json_object_object_add(o, "released", json_object_new_uint64(x.released));
			if (cgroups && dkm_clients_cgroup(&m, i, &g, &path))
				json_object_object_add(o, "cgroup", cgroup_json(&g, path, &x.granted));
			json_object_array_add(a, o);
		}
		r = print_json(a);
	} else {
		static const char *const head[] = { "~ID", "~PID", "~UID", "NAME", "~REGIONS",
						    "~GRANTED", "~RESIDENT", "~RELEASED", "CHARGED",
						    "CGROUP", "~LIMIT", "~USED", NULL };
		struct dkm_table tab;

		dkm_table_init(&tab, head);
		for (unsigned i = 0; i < hdr.n; i++) {
			struct dkm_client_entry x;
			struct dkm_client_cgroup g;
			const char *path;
			char id[16], pid[16], uid[16], nr[16], gr[32], rs[32], rl[32], u[32];
			char cg[1200], lim[1200];
			const char *row[12];

			memcpy(&x, &e[i], sizeof(x));
			snprintf(id, sizeof(id), "%u", x.client_id);
			snprintf(pid, sizeof(pid), "%d", x.pid);
			snprintf(uid, sizeof(uid), "%u", x.uid);
			snprintf(nr, sizeof(nr), "%u", x.nregions);
			row[0] = id;
			row[1] = pid;
			row[2] = uid;
			row[3] = x.name;
			row[4] = nr;
			row[5] = dkm_format_bytes(x.granted, gr, sizeof(gr));
			row[6] = dkm_format_bytes(x.resident, rs, sizeof(rs));
			row[7] = dkm_format_bytes(x.released, rl, sizeof(rl));
			if (cgroups && dkm_clients_cgroup(&m, i, &g, &path)) {
				row[8] = charged_to(&g, &x.granted);
				row[9] = cgroup_cell(&g, path, cg, sizeof(cg));
				row[10] = limit_cell(&g, path, lim, sizeof(lim));
				row[11] = g.limit != UINT64_MAX && !g.limits_error
						  ? dkm_format_bytes(g.usage, u, sizeof(u))
						  : "-";
			} else {
				/* a daemon of protocol 1.1 or older does not say */
				row[8] = row[9] = row[10] = row[11] = "?";
			}
			dkm_table_row(&tab, row);
		}
		dkm_table_print(&tab, stdout, "");
		dkm_table_free(&tab);
	}
	dkm_msg_clear(&m);
	return r;
}

static const char *const mode_names[] = { "system-ram", "devdax", "disabled", "other" };
static const char *const action_names[] = { "none", "system-ram", "online", "devdax", "refused" };

static const char *zone_name(int32_t movable, uint32_t online)
{
	if (!online)
		return "-";
	return movable == 1 ? "movable" : movable == 0 ? "normal" : "?";
}

static int devices(struct dkm_conn *c, bool json)
{
	struct dkm_devices hdr;
	const uint8_t *p;
	struct dkm_msg m;
	int r;

	r = dkm_conn_devices(c, &m);
	if (r < 0) {
		fprintf(stderr, "daxkmemctl: devices: %s\n", c->err);
		return r;
	}
	memcpy(&hdr, m.payload, sizeof(hdr));
	p = (const uint8_t *)m.payload + sizeof(hdr);
	if (json) {
		json_object *root = json_object_new_object(), *a = json_object_new_array();

		json_object_object_add(root, "reconfigurable",
				       json_object_new_boolean(hdr.flags & DKM_DEVICES_RECONFIGURABLE));
		for (unsigned i = 0; i < hdr.n; i++) {
			struct dkm_device_entry e;
			json_object *o = json_object_new_object();

			memcpy(&e, p + i * sizeof(e), sizeof(e));
			json_object_object_add(o, "name", json_object_new_string(e.name));
			json_object_object_add(o, "mode", json_object_new_string(mode_names[e.mode]));
			json_object_object_add(o, "driver", e.driver[0] ? json_object_new_string(e.driver)
								       : NULL);
			json_object_object_add(o, "size", u64_json(e.size));
			json_object_object_add(o, "node", e.target_node >= 0
								 ? json_object_new_int(e.target_node)
								 : NULL);
			json_object_object_add(o, "blocks", json_object_new_int64(e.blocks));
			json_object_object_add(o, "online_blocks", json_object_new_int64(e.online_blocks));
			json_object_object_add(o, "movable", e.movable < 0 ? NULL
							     : json_object_new_boolean(e.movable));
			json_object_object_add(o, "uuid", e.uuid[0] ? json_object_new_string(e.uuid) : NULL);
			json_object_object_add(o, "selected", json_object_new_boolean(e.selected));
			json_object_object_add(o, "granted", json_object_new_uint64(e.granted));
			json_object_array_add(a, o);
		}
		json_object_object_add(root, "devices", a);
		r = print_json(root);
	} else if (!hdr.n) {
		printf("no dax devices\n");
	} else {
		static const char *const head[] = { "DEVICE", "MODE", "~SIZE", "~NODE", "~ONLINE",
						    "ZONE", "SELECTED", "~GRANTED", "UUID", NULL };
		struct dkm_table tab;

		dkm_table_init(&tab, head);
		for (unsigned i = 0; i < hdr.n; i++) {
			struct dkm_device_entry e;
			char sz[32], node[16], online[32], g[32];
			const char *row[9];

			memcpy(&e, p + i * sizeof(e), sizeof(e));
			snprintf(node, sizeof(node), e.target_node >= 0 ? "%d" : "?", e.target_node);
			if (e.mode == DKM_WIRE_DAX_SYSTEM_RAM)
				snprintf(online, sizeof(online), "%u/%u", e.online_blocks, e.blocks);
			else
				snprintf(online, sizeof(online), "-");
			row[0] = e.name;
			row[1] = mode_names[e.mode];
			row[2] = size_or_unknown(e.size, sz, sizeof(sz));
			row[3] = node;
			row[4] = online;
			row[5] = zone_name(e.movable, e.online_blocks);
			row[6] = e.selected ? "yes" : "no";
			row[7] = dkm_format_bytes(e.granted, g, sizeof(g));
			row[8] = e.uuid[0] ? e.uuid : "-";
			dkm_table_row(&tab, row);
		}
		dkm_table_print(&tab, stdout, "");
		dkm_table_free(&tab);
		if (!(hdr.flags & DKM_DEVICES_RECONFIGURABLE))
			printf("(the daemon reads a sysfs root other than /sys: "
			       "it cannot reconfigure these)\n");
	}
	dkm_msg_clear(&m);
	return r;
}

static int reconfigure(struct dkm_conn *c, const struct dkm_reconfigure *req, bool json)
{
	struct dkm_reconfigure_reply rep;
	const uint8_t *p;
	struct dkm_msg m;
	int r;

	r = dkm_conn_reconfigure(c, req, &m);
	if (r < 0) {
		fprintf(stderr, "daxkmemctl: reconfigure: %s\n", c->err);
		return r;
	}
	memcpy(&rep, m.payload, sizeof(rep));
	p = (const uint8_t *)m.payload + sizeof(rep);
	if (json) {
		json_object *root = json_object_new_object(), *a = json_object_new_array();

		json_object_object_add(root, "dry_run",
				       json_object_new_boolean(req->flags & DKM_RECONF_DRY_RUN));
		json_object_object_add(root, "error", rep.error ? json_object_new_string(
								     strerror(rep.error)) : NULL);
		for (unsigned i = 0; i < rep.n; i++) {
			struct dkm_reconfigure_step st;
			json_object *o = json_object_new_object();

			memcpy(&st, p + i * sizeof(st), sizeof(st));
			json_object_object_add(o, "name", json_object_new_string(st.name));
			json_object_object_add(o, "action",
					       json_object_new_string(action_names[st.action]));
			json_object_object_add(o, "error", st.error ? json_object_new_string(
								      strerror(st.error)) : NULL);
			json_object_object_add(o, "errno", json_object_new_int(st.error));
			json_object_object_add(o, "before", json_object_new_string(mode_names[st.before]));
			json_object_object_add(o, "after", json_object_new_string(mode_names[st.after]));
			json_object_object_add(o, "node", st.node >= 0 ? json_object_new_int(st.node)
								     : NULL);
			json_object_object_add(o, "blocks", json_object_new_int64(st.blocks));
			json_object_object_add(o, "online_blocks",
					       json_object_new_int64(st.online_after));
			json_object_object_add(o, "movable", st.movable < 0 ? NULL
							     : json_object_new_boolean(st.movable));
			json_object_object_add(o, "auto_onlined", json_object_new_boolean(
						       st.flags & DKM_RECONF_STEP_AUTO_ONLINED));
			json_object_object_add(o, "rolled_back", json_object_new_boolean(
						       st.flags & DKM_RECONF_STEP_ROLLED_BACK));
			json_object_object_add(o, "message", json_object_new_string(st.message));
			json_object_array_add(a, o);
		}
		json_object_object_add(root, "steps", a);
		r = print_json(root);
	} else {
		for (unsigned i = 0; i < rep.n; i++) {
			struct dkm_reconfigure_step st;

			memcpy(&st, p + i * sizeof(st), sizeof(st));
			if (st.error)
				fprintf(stderr, "daxkmemctl: %s: %s (%s)\n", st.name, st.message,
					strerror(st.error));
			else
				printf("%s: %s\n", st.name, st.message);
		}
		if (!rep.n)
			printf("no device selected\n");
	}
	dkm_msg_clear(&m);
	return rep.error ? -rep.error : r;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "mode", required_argument, NULL, 'm' },
		{ "online", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *socket = NULL, *cmd;
	struct dkm_conn *c;
	bool json = false, reconf_opts = false;
	struct dkm_reconfigure req = { .mode = DKM_WIRE_DAX_SYSTEM_RAM };
	char err[512];
	int opt, r;

	/* options may come before or after the command (getopt permutes) */
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			socket = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'n':
			req.flags |= DKM_RECONF_DRY_RUN;
			reconf_opts = true;
			break;
		case 'm':
			if (!strcmp(optarg, "system-ram")) {
				req.mode = DKM_WIRE_DAX_SYSTEM_RAM;
			} else if (!strcmp(optarg, "devdax")) {
				req.mode = DKM_WIRE_DAX_DEVDAX;
			} else {
				fprintf(stderr, "daxkmemctl: --mode: \"%s\" is not system-ram or devdax\n",
					optarg);
				return 2;
			}
			reconf_opts = true;
			break;
		case 'o':
			req.flags &= ~(uint32_t)(DKM_RECONF_MOVABLE | DKM_RECONF_NORMAL);
			if (!strcmp(optarg, "movable")) {
				req.flags |= DKM_RECONF_MOVABLE;
			} else if (!strcmp(optarg, "normal")) {
				req.flags |= DKM_RECONF_NORMAL;
			} else {
				fprintf(stderr, "daxkmemctl: --online: \"%s\" is not movable or normal\n",
					optarg);
				return 2;
			}
			reconf_opts = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind++];
	if (strcmp(cmd, "status") && strcmp(cmd, "clients") && strcmp(cmd, "devices") &&
	    strcmp(cmd, "reconfigure")) {
		fprintf(stderr, "daxkmemctl: unknown command \"%s\"\n", cmd);
		usage(stderr);
		return 2;
	}
	if (strcmp(cmd, "reconfigure")) {
		if (optind < argc) {
			fprintf(stderr, "daxkmemctl: unexpected argument \"%s\"\n", argv[optind]);
			return 2;
		}
		if (reconf_opts) {
			fprintf(stderr, "daxkmemctl: --dry-run, --mode and --online go with reconfigure\n");
			return 2;
		}
	}
	for (; optind < argc; optind++) {
		if (req.ndevices == DKM_RECONF_MAX_DEVICES) {
			fprintf(stderr, "daxkmemctl: at most %d devices at a time\n",
				DKM_RECONF_MAX_DEVICES);
			return 2;
		}
		if (!argv[optind][0] || strlen(argv[optind]) >= sizeof(req.devices[0])) {
			fprintf(stderr, "daxkmemctl: \"%s\" is not a device name or uuid\n",
				argv[optind]);
			return 2;
		}
		strcpy(req.devices[req.ndevices++], argv[optind]);
	}
	if (!strcmp(cmd, "reconfigure") && req.mode == DKM_WIRE_DAX_DEVDAX && !req.ndevices) {
		fprintf(stderr, "daxkmemctl: reconfigure --mode devdax: name the devices\n");
		return 2;
	}
	r = dkm_conn_open(socket, "daxkmemctl", &c, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "daxkmemctl: %s\n", err);
		return 1;
	}
	if (!strcmp(cmd, "status"))
		r = status(c, json);
	else if (!strcmp(cmd, "clients"))
		r = clients(c, json);
	else if (!strcmp(cmd, "devices"))
		r = devices(c, json);
	else
		r = reconfigure(c, &req, json);
	dkm_conn_close(c);
	return r < 0 ? 1 : 0;
}
