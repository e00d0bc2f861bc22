/* SPDX-License-Identifier: GPL-2.0-or-later */
/* daxkmemctl: ask daxkmemd how its nodes and clients stand. */
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
		   "Commands:\n"
		   "  status     nodes (kind, CPUs, total, free, brokered, resident, clients),\n"
		   "             distances and totals\n"
		   "  clients    connected clients and what they hold (root or admin_group)\n"
		   "Options:\n"
		   "  --socket PATH   daemon socket (default $DAXKMEM_SOCKET or "
		   "/run/daxkmemd/daxkmemd.sock)\n"
		   "  --json          print JSON\n"
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
	}
	dkm_msg_clear(&m);
	return r;
}

static int clients(struct dkm_conn *c, bool json)
{
	struct dkm_clients hdr;
	const struct dkm_client_entry *e;
	struct dkm_msg m;
	int r;

	r = dkm_conn_clients(c, &m);
	if (r < 0) {
		fprintf(stderr, "daxkmemctl: clients: %s\n", c->err);
		return r;
	}
	memcpy(&hdr, m.payload, sizeof(hdr));
	e = (const struct dkm_client_entry *)((const char *)m.payload + sizeof(hdr));
	if (json) {
		json_object *a = json_object_new_array();

		for (unsigned i = 0; i < hdr.n; i++) {
			struct dkm_client_entry x;
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
			json_object_array_add(a, o);
		}
		r = print_json(a);
	} else {
		static const char *const head[] = { "~ID", "~PID", "~UID", "NAME", "~REGIONS",
						    "~GRANTED", "~RESIDENT", "~RELEASED", NULL };
		struct dkm_table tab;

		dkm_table_init(&tab, head);
		for (unsigned i = 0; i < hdr.n; i++) {
			struct dkm_client_entry x;
			char id[16], pid[16], uid[16], nr[16], g[32], rs[32], rl[32];
			const char *row[8];

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
			row[5] = dkm_format_bytes(x.granted, g, sizeof(g));
			row[6] = dkm_format_bytes(x.resident, rs, sizeof(rs));
			row[7] = dkm_format_bytes(x.released, rl, sizeof(rl));
			dkm_table_row(&tab, row);
		}
		dkm_table_print(&tab, stdout, "");
		dkm_table_free(&tab);
	}
	dkm_msg_clear(&m);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *socket = NULL, *cmd;
	struct dkm_conn *c;
	bool json = false;
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
	if (optind < argc) {
		fprintf(stderr, "daxkmemctl: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (strcmp(cmd, "status") && strcmp(cmd, "clients")) {
		fprintf(stderr, "daxkmemctl: unknown command \"%s\"\n", cmd);
		usage(stderr);
		return 2;
	}
	r = dkm_conn_open(socket, "daxkmemctl", &c, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "daxkmemctl: %s\n", err);
		return 1;
	}
	r = !strcmp(cmd, "status") ? status(c, json) : clients(c, json);
	dkm_conn_close(c);
	return r < 0 ? 1 : 0;
}
