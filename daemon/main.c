/* SPDX-License-Identifier: GPL-2.0-or-later */
/* daxkmemd: options, configuration, and the actions they select. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "server.h"
#include "topology.h"

#ifndef DKM_VERSION
#define DKM_VERSION "unknown"
#endif

struct options {
	const char *config;
	bool config_given;
	const char *sysfs_root;
	const char *socket;
	const char *proc_root;
	const char *cgroup_root;
	bool print_topology;
	bool json;
	bool verbose;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: daxkmemd [OPTIONS]\n"
		"Broker of memory on KMEM DAX (persistent memory or CXL) NUMA nodes.\n"
		"\n"
		"  --foreground         run in the foreground (always the case; for scripts)\n"
		"  --socket PATH        listen on PATH (default from the configuration, "
		DKM_DEFAULT_SOCKET ")\n"
		"  -v, --verbose        log each client's requests (debug priority)\n"
		"  --print-topology     print the node map and the per-kind placement table, exit\n"
		"  --json               with --print-topology: print JSON (see daxkmemd(8))\n"
		"  --sysfs-root DIR     read sysfs below DIR instead of /sys\n"
		"  --proc-root DIR      read clients' /proc/PID/cgroup below DIR instead of /proc\n"
		"  --cgroup-root DIR    read memory cgroups below DIR instead of /sys/fs/cgroup\n"
		"  --config FILE        configuration file (default " DKM_DEFAULT_CONFIG ")\n"
		"  -h, --help           show this help\n"
		"  -V, --version        show the version\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
	enum { OPT_PRINT = 256, OPT_JSON, OPT_SYSFS, OPT_CONFIG, OPT_FOREGROUND, OPT_SOCKET,
	       OPT_PROC, OPT_CGROUP };
	static const struct option longopts[] = {
		{ "print-topology", no_argument, NULL, OPT_PRINT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "sysfs-root", required_argument, NULL, OPT_SYSFS },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "foreground", no_argument, NULL, OPT_FOREGROUND },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "proc-root", required_argument, NULL, OPT_PROC },
		{ "cgroup-root", required_argument, NULL, OPT_CGROUP },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->config = DKM_DEFAULT_CONFIG;
	o->sysfs_root = "/sys";
	while ((c = getopt_long(argc, argv, "hVv", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_PRINT:
			o->print_topology = true;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_SYSFS:
			o->sysfs_root = optarg;
			break;
		case OPT_CONFIG:
			o->config = optarg;
			o->config_given = true;
			break;
		case OPT_FOREGROUND:
			break;
		case OPT_SOCKET:
			o->socket = optarg;
			break;
		case OPT_PROC:
			o->proc_root = optarg;
			break;
		case OPT_CGROUP:
			o->cgroup_root = optarg;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_SUCCESS);
		case 'V':
			printf("daxkmemd %s\n", DKM_VERSION);
			exit(EXIT_SUCCESS);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "daxkmemd: unexpected argument \"%s\"\n", argv[optind]);
		return -EINVAL;
	}
	if (o->json && !o->print_topology) {
		fprintf(stderr, "daxkmemd: --json goes with --print-topology\n");
		return -EINVAL;
	}
	return 0;
}

static int print_topology(const struct options *o, const struct dkm_config *cfg)
{
	struct dkm_topology *t = NULL;
	struct dkm_placement_table *p = NULL;
	char err[512];
	int r;

	r = dkm_topology_read(o->sysfs_root, cfg->kmem_nodes_set ? &cfg->kmem_nodes : NULL, &t,
			      err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "daxkmemd: %s\n", err[0] ? err : strerror(-r));
		return r;
	}
	r = dkm_placement_compute(t, &p);
	if (r == 0) {
		if (o->json)
			r = dkm_topology_print_json(stdout, t, p);
		else
			dkm_topology_print(stdout, t, p);
	}
	if (r < 0)
		fprintf(stderr, "daxkmemd: %s\n", strerror(-r));
	if (fflush(stdout) != 0 && r == 0) {
		r = -errno;
		fprintf(stderr, "daxkmemd: writing the map: %s\n", strerror(errno));
	}
	dkm_placement_table_free(p);
	dkm_topology_free(t);
	return r;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct dkm_config cfg;
	char err[512];
	int r;

	if (parse_options(argc, argv, &o) < 0)
		return 2;
	dkm_log_init(o.verbose ? LOG_DEBUG : LOG_INFO);
	if (!o.print_topology) {
		struct dkm_server_options so = {
			.config_path = o.config,
			.config_must_exist = o.config_given,
			.sysfs_root = o.sysfs_root,
			.socket_path = o.socket,
			.proc_root = o.proc_root,
			.cgroup_root = o.cgroup_root,
		};

		return dkm_server_run(&so) < 0 ? 1 : 0;
	}
	dkm_config_init(&cfg);
	r = dkm_config_load(&cfg, o.config, o.config_given, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "daxkmemd: %s\n", err);
		dkm_config_free(&cfg);
		return 1;
	}
	r = print_topology(&o, &cfg);
	dkm_config_free(&cfg);
	return r < 0 ? 1 : 0;
}
