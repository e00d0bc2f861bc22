/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The environment variables of daxkmem(3) that change what the library
 * does: DAXKMEM_LOG, DAXKMEM_ABORT, DAXKMEM_PREFAULT. The library reads its
 * environment once per process, so each setting is tried in a child process
 * of its own (this test process never calls the library itself).
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "client-util.h"

/* Set name to value in the child (NULL: unset). */
static void env(const char *name, const char *value)
{
	if (value)
		setenv(name, value, 1);
	else
		unsetenv(name);
}

/* ---- DAXKMEM_LOG ---- */

struct log_case {
	const char *value; /* DAXKMEM_LOG, NULL for unset */
};

/* Child: three failures (over the quota, a bad alignment, a region too big); 0 if each failed. */
static int failures(void *arg)
{
	struct log_case *c = arg;
	int bad = 0;
	void *p;

	env("DAXKMEM_LOG", c->value);
	errno = 0;
	bad |= daxkmem_malloc(DAXKMEM_KIND_KMEM, 8 << 20) != NULL || errno != EDQUOT;
	bad |= daxkmem_posix_memalign(DAXKMEM_KIND_KMEM, &p, 4096, (size_t)1 << 50) != ENOMEM;
	errno = 0;
	bad |= daxkmem_region_get(DAXKMEM_KIND_KMEM_ALL, 8 << 20, 0) != NULL || errno != EDQUOT;
	return bad;
}

/* DAXKMEM_LOG=1 prints the reason of each failure on stderr; unset (or 0), nothing. */
START_TEST(test_log)
{
	struct daemon d;
	char out[8192];
	int status;

	start(&d, "quota = 4M");
	for (unsigned i = 0; i < 2; i++) {
		struct log_case quiet = { i ? "0" : NULL };

		status = run_child(failures, &quiet, out, sizeof(out), 10000);
		ck_assert_msg(status == 0, "DAXKMEM_LOG=%s: child %s", quiet.value ? quiet.value : "",
			      status_str(status));
		ck_assert_msg(out[0] == '\0', "DAXKMEM_LOG=%s, stderr: %s",
			      quiet.value ? quiet.value : "(unset)", out);
	}
	{
		struct log_case loud = { "1" };
		unsigned lines = 0;

		status = run_child(failures, &loud, out, sizeof(out), 10000);
		ck_assert_msg(status == 0, "child %s", status_str(status));
		/* the daemon's reason, for the malloc and for the region */
		ck_assert_msg(strstr(out, "is over its quota of 4.0 MiB"), "DAXKMEM_LOG=1, stderr: '%s'",
			      out);
		ck_assert_msg(strstr(out, "daxkmem_malloc(KMEM, 8388608): Disk quota exceeded"), "%s",
			      out);
		ck_assert_msg(strstr(out, "daxkmem_posix_memalign(KMEM, 4096, 1125899906842624): "
					  "Cannot allocate memory"),
			      "%s", out);
		ck_assert_msg(strstr(out, "KMEM_ALL of 8388608 bytes for CPU node 0:"), "%s", out);
		/* every line is the library's */
		for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n"), lines++)
			ck_assert_msg(!strncmp(l, "libdaxkmem-client: ", 19), "line: %s", l);
		ck_assert_uint_ge(lines, 4);
	}
	daemon_stop(&d);
}
END_TEST

/* ---- DAXKMEM_ABORT ---- */

struct misuse {
	const char *value; /* DAXKMEM_ABORT, NULL for unset */
	bool double_free;  /* else a pointer that is not a block */
};

static int misuse_child(void *arg)
{
	struct misuse *m = arg;
	int on_stack = 0;
	char *p;

	env("DAXKMEM_ABORT", m->value);
	p = daxkmem_malloc(DAXKMEM_KIND_KMEM, 64);
	if (!p)
		return 2;
	if (m->double_free) {
		daxkmem_free(DAXKMEM_KIND_KMEM, p);
		daxkmem_free(DAXKMEM_KIND_KMEM, p);
	} else {
		daxkmem_free(DAXKMEM_KIND_KMEM, &on_stack);
		daxkmem_free(DAXKMEM_KIND_KMEM, p);
	}
	/* still here: the heap works */
	p = daxkmem_malloc(DAXKMEM_KIND_KMEM, 64);
	if (!p)
		return 3;
	daxkmem_free(DAXKMEM_KIND_KMEM, p);
	return 0;
}

/* DAXKMEM_ABORT=1 aborts on an invalid or a double free; without it, both are reported and ignored. */
START_TEST(test_abort)
{
	struct daemon d;
	char out[4096];

	start(&d, NULL);
	for (unsigned i = 0; i < 2; i++) {
		bool dbl = i == 1;
		const char *what = dbl ? "double free" : "not a block allocated by libdaxkmem-client";
		struct misuse abort1 = { "1", dbl }, unset = { NULL, dbl }, zero = { "0", dbl };
		int status = run_child(misuse_child, &abort1, out, sizeof(out), 10000);

		ck_assert_msg(status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
			      "DAXKMEM_ABORT=1, %s: child %s: %s", what, status_str(status), out);
		ck_assert_msg(strstr(out, what), "%s", out);
		status = run_child(misuse_child, &unset, out, sizeof(out), 10000);
		ck_assert_msg(status == 0, "%s: child %s: %s", what, status_str(status), out);
		ck_assert_msg(strstr(out, what), "%s", out);
		status = run_child(misuse_child, &zero, out, sizeof(out), 10000);
		ck_assert_msg(status == 0, "DAXKMEM_ABORT=0, %s: child %s: %s", what,
			      status_str(status), out);
	}
	daemon_stop(&d);
}
END_TEST

/* ---- DAXKMEM_PREFAULT ---- */

struct prefault_case {
	const char *value; /* DAXKMEM_PREFAULT, NULL for unset */
	bool resident;     /* expected: every page resident, or none */
};

#define BIG (8u << 20)

/*
 * Bytes allocated to the memfds the library holds (the regions of its
 * heap), and their total size. Populated pages of a memfd are its blocks;
 * mincore(2) does not show pages that fallocate(2) populated until they are
 * touched, st_blocks does.
 */
static void memfd_usage(uint64_t *allocated, uint64_t *size, unsigned *n)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;

	*allocated = *size = 0;
	*n = 0;
	if (!dir)
		return;
	while ((e = readdir(dir))) {
		char path[300], link[256];
		struct stat st;
		ssize_t len;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (strncmp(link, "/memfd:daxkmem:", 15) || stat(path, &st) < 0)
			continue;
		*allocated += (uint64_t)st.st_blocks * 512;
		*size += (uint64_t)st.st_size;
		(*n)++;
	}
	closedir(dir);
}

/*
 * Child: a large block (a region of its heap, of its own) and a region at
 * the daemon's default (prefault -1); 0 if both are populated (or not) as
 * expected. Only the heap's header of the block's span is written here.
 */
static int prefault_child(void *arg)
{
	struct prefault_case *c = arg;
	uint64_t allocated, size;
	daxkmem_region_t *r;
	struct stat st;
	unsigned n;
	char *p;

	env("DAXKMEM_PREFAULT", c->value);
	p = daxkmem_malloc(DAXKMEM_KIND_KMEM, BIG);
	if (!p)
		return 2;
	memfd_usage(&allocated, &size, &n);
	if (n != 1 || size < BIG || (c->resident ? allocated < size : allocated > 64 * 1024)) {
		fprintf(stderr, "heap: %u memfds of %llu bytes, %llu allocated\n", n,
			(unsigned long long)size, (unsigned long long)allocated);
		return 3;
	}
	r = daxkmem_region_get(DAXKMEM_KIND_KMEM_ALL, BIG, -1);
	if (!r)
		return 4;
	if (fstat(daxkmem_region_fd(r), &st) < 0 || st.st_size != BIG ||
	    (uint64_t)st.st_blocks * 512 != (c->resident ? BIG : 0)) {
		fprintf(stderr, "region: %lld bytes, %lld allocated\n", (long long)st.st_size,
			(long long)st.st_blocks * 512);
		return 5;
	}
	daxkmem_region_release(r);
	daxkmem_free(DAXKMEM_KIND_KMEM, p);
	return 0;
}

/*
 * DAXKMEM_PREFAULT=0: regions come unpopulated although the daemon
 * prefaults by default; =1: populated although it does not; unset: the
 * daemon's prefault= decides.
 */
START_TEST(test_prefault)
{
	static const struct {
		const char *conf;
		struct prefault_case c;
	} cases[] = {
		{ NULL, { NULL, true } },
		{ NULL, { "0", false } },
		{ "prefault = no", { NULL, false } },
		{ "prefault = no", { "1", true } },
	};
	char out[4096];

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct prefault_case c = cases[i].c;
		struct daemon d;
		int status;

		start(&d, cases[i].conf);
		status = run_child(prefault_child, &c, out, sizeof(out), 20000);
		ck_assert_msg(status == 0, "%s, DAXKMEM_PREFAULT=%s: child %s: %s",
			      cases[i].conf ? cases[i].conf : "prefault = yes (default)",
			      c.value ? c.value : "(unset)", status_str(status), out);
		daemon_stop(&d);
	}
}
END_TEST

static Suite *env_suite(void)
{
	Suite *s = suite_create("client-env-e2e");
	TCase *tc = tcase_create("environment");

	tcase_timeout(tc, 120);
	tcase_add_test(tc, test_log);
	tcase_add_test(tc, test_abort);
	tcase_add_test(tc, test_prefault);
	suite_add_tcase(s, tc);
	return s;
}

DKM_TEST_MAIN(env_suite)
