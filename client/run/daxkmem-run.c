/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daxkmem-run: run a program with daxkmem's drop-ins in place. --memkind
 * puts the directory of the memkind drop-in (libmemkind.so.0) first on the
 * program's LD_LIBRARY_PATH, then execs it. Exit status as env(1): the
 * program's own, 125 for an error of daxkmem-run, 126 for a program that
 * cannot be run, 127 for one that is not found.
 *
 * The drop-ins' directory: $DAXKMEM_RUN_LIBDIR if set; else the installed
 * one, found relative to this executable first (an installed tree moved or
 * staged elsewhere), then at the path baked in at build time.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef DKM_RUN_PKGLIBDIR
#error "DKM_RUN_PKGLIBDIR (the installed drop-in directory) must be defined"
#endif
#ifndef DKM_RUN_REL_PKGLIBDIR
#define DKM_RUN_REL_PKGLIBDIR "" /* bindir or libdir absolute: no relative lookup */
#endif

#define EXIT_USAGE 125
#define EXIT_CANNOT_RUN 126
#define EXIT_NOT_FOUND 127

#define MEMKIND_SONAME "libmemkind.so.0"

/* What to set up before the program runs; one field per mode option. */
struct options {
	bool memkind;      /* --memkind: the memkind drop-in on the library path */
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: daxkmem-run [OPTION...] [--] PROGRAM [ARGUMENT...]\n"
		   "Run PROGRAM with daxkmem's drop-ins in place.\n"
		   "Options:\n"
		   "  --memkind      programs using memkind get daxkmem's libmemkind.so.0: its\n"
		   "                 MEMKIND_DAX_KMEM kinds are served by daxkmemd\n"
		   "  -h, --help     show this help\n"
		   "  -V, --version  show the version\n"
		   "Environment: DAXKMEM_RUN_LIBDIR (the drop-ins' directory, default %s),\n"
		   "and those of daxkmem-memkind(7) and daxkmem(3), which PROGRAM reads.\n"
		   "Exit status: PROGRAM's, or 125 (daxkmem-run failed), 126 (PROGRAM cannot be\n"
		   "run), 127 (PROGRAM not found).\n",
		   DKM_RUN_PKGLIBDIR);
}

/* dir holds the memkind drop-in. */
static bool has_memkind(const char *dir)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, MEMKIND_SONAME) >= sizeof(path))
		return false;
	return access(path, R_OK) == 0;
}

/* The drop-ins' directory, or NULL with the reason on stderr. */
static const char *dropin_dir(char *buf, size_t size)
{
	const char *env = getenv("DAXKMEM_RUN_LIBDIR");
	char exe[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		if (has_memkind(env))
			return env;
		fprintf(stderr, "daxkmem-run: DAXKMEM_RUN_LIBDIR=%s has no %s\n", env, MEMKIND_SONAME);
		return NULL;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0 && *DKM_RUN_REL_PKGLIBDIR) {
		char *slash;

		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			if ((size_t)snprintf(buf, size, "%s/%s", exe, DKM_RUN_REL_PKGLIBDIR) < size &&
			    has_memkind(buf)) {
				char *real = realpath(buf, NULL);

				if (real && strlen(real) < size)
					strcpy(buf, real);
				free(real);
				return buf;
			}
		}
	}
	if (has_memkind(DKM_RUN_PKGLIBDIR))
		return DKM_RUN_PKGLIBDIR;
	fprintf(stderr, "daxkmem-run: the memkind drop-in is not installed: no %s/%s\n",
		DKM_RUN_PKGLIBDIR, MEMKIND_SONAME);
	return NULL;
}

/* Put dir first on LD_LIBRARY_PATH (once: an inner daxkmem-run adds nothing). 0 or -1. */
static int prepend_library_path(const char *dir)
{
	const char *old = getenv("LD_LIBRARY_PATH");
	size_t dlen = strlen(dir);
	char *val;
	int r;

	if (old && !strncmp(old, dir, dlen) && (old[dlen] == ':' || old[dlen] == '\0'))
		return 0;
	/* an empty old value adds no empty element, which would mean the current directory */
	if (old && *old) {
		val = malloc(dlen + 1 + strlen(old) + 1);
		if (!val)
			return -1;
		sprintf(val, "%s:%s", dir, old);
	} else {
		val = strdup(dir);
		if (!val)
			return -1;
	}
	r = setenv("LD_LIBRARY_PATH", val, 1);
	free(val);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "memkind", no_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = { 0 };
	char buf[PATH_MAX];
	int c;

	/* "+": options end at PROGRAM, whose own options are its business */
	while ((c = getopt_long(argc, argv, "+hV", long_opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			o.memkind = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("daxkmem-run %s\n", DKM_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "daxkmem-run: no PROGRAM to run\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!o.memkind) {
		fprintf(stderr, "daxkmem-run: nothing to put in place: give --memkind\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (o.memkind) {
		const char *dir = dropin_dir(buf, sizeof(buf));

		if (!dir)
			return EXIT_USAGE;
		if (prepend_library_path(dir) < 0) {
			fprintf(stderr, "daxkmem-run: setting LD_LIBRARY_PATH: %s\n", strerror(errno));
			return EXIT_USAGE;
		}
	}
	execvp(argv[optind], argv + optind);
	c = errno;
	fprintf(stderr, "daxkmem-run: %s: %s\n", argv[optind], strerror(c));
	return c == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN;
}
