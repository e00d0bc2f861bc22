/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libdaxkmem-client against a daemon reading a fixture sysfs tree
 * (--sysfs-root): topologies this machine does not have. Refusals happen
 * before the daemon binds anything, so they can be tested on fixtures whose
 * kmem nodes do not exist here; a grant can only be made on node 0, the
 * one node this machine has.
 */
#include <errno.h>
#include <numaif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client-util.h"

static const daxkmem_kind_t kinds[] = { DAXKMEM_KIND_KMEM, DAXKMEM_KIND_KMEM_ALL,
					DAXKMEM_KIND_KMEM_PREFERRED };

struct try_arg {
	daxkmem_kind_t kind;
	void *p;
	int err;       /* errno of the allocation */
	int available; /* daxkmem_check_available */
};

static void try_kind(void *arg)
{
	struct try_arg *a = arg;

	a->available = daxkmem_check_available(a->kind);
	errno = 0;
	a->p = daxkmem_malloc(a->kind, 100);
	a->err = errno;
}

static void try_region(void *arg)
{
	struct try_arg *a = arg;

	errno = 0;
	a->p = daxkmem_region_get(a->kind, 4096, 0);
	a->err = errno;
}

/*
 * Two kmem nodes equally close to CPU node 0 (fixture "tie"): KMEM_PREFERRED
 * cannot be used, as daxkmem(3) says: daxkmem_check_available says EINVAL,
 * allocations fail with EINVAL, and the reason given (DAXKMEM_LOG=1) is the
 * tie, not anything else that could say EINVAL.
 */
START_TEST(test_preferred_tie_refused)
{
	struct daemon d;
	struct try_arg a = { .kind = DAXKMEM_KIND_KMEM_PREFERRED };
	char *out;

	start_sysfs(&d, FIXTURE("tie"), NULL);
	setenv("DAXKMEM_LOG", "1", 1);
	out = capture_stderr(try_kind, &a);
	ck_assert_int_eq(a.available, EINVAL);
	ck_assert_ptr_null(a.p);
	ck_assert_int_eq(a.err, EINVAL);
	ck_assert_msg(strstr(out, "KMEM_PREFERRED is not possible for CPU node 0: kmem nodes 1,2 are "
				  "equally close (distance 17)"),
		      "%s", out);
	/* the region API says the same */
	a.p = NULL;
	out = capture_stderr(try_region, &a);
	ck_assert_ptr_null(a.p);
	ck_assert_int_eq(a.err, EINVAL);
	ck_assert_msg(strstr(out, "kmem nodes 1,2 are equally close"), "%s", out);
	ck_assert_uint_eq(status_granted(&d, -1), 0);
	daemon_stop(&d);
}
END_TEST

/* No KMEM node at all (fixture "no-kmem"): every kind says ENODEV, through every entry point. */
START_TEST(test_no_kmem_node_enodev)
{
	struct daemon d;

	start_sysfs(&d, FIXTURE("no-kmem"), NULL);
	for (unsigned k = 0; k < 3; k++) {
		struct try_arg a = { .kind = kinds[k] };
		void *p = NULL;

		try_kind(&a);
		ck_assert_msg(a.available == ENODEV, "%s: check_available %d",
			      daxkmem_kind_name(kinds[k]), a.available);
		ck_assert_ptr_null(a.p);
		ck_assert_msg(a.err == ENODEV, "%s: errno %d", daxkmem_kind_name(kinds[k]), a.err);
		errno = 0;
		ck_assert_ptr_null(daxkmem_calloc(kinds[k], 10, 10));
		ck_assert_int_eq(errno, ENODEV);
		ck_assert_int_eq(daxkmem_posix_memalign(kinds[k], &p, 4096, 100), ENODEV);
		ck_assert_ptr_null(p);
		errno = 0;
		ck_assert_ptr_null(daxkmem_region_get(kinds[k], 4096, 0));
		ck_assert_int_eq(errno, ENODEV);
	}
	daemon_stop(&d);
}
END_TEST

/* Child: an allocation of a->kind fails with EINVAL, the reason on stderr. */
static int refused_logged(void *arg)
{
	struct try_arg *a = arg;

	setenv("DAXKMEM_LOG", "1", 1);
	try_kind(a);
	return a->p == NULL && a->err == EINVAL ? 0 : 1;
}

/*
 * DAXKMEM_NODES is what the daemon places on (fixture "one-socket": CPU
 * node 0 and kmem node 1, which does not exist here). Without it the daemon
 * plans on node 1 and cannot bind there; with DAXKMEM_NODES=0 it plans on
 * node 0, which works: so the override, not the daemon's choice, decided.
 */
START_TEST(test_daxkmem_nodes_used_for_placement)
{
	struct daemon d;
	struct try_arg a = { .kind = DAXKMEM_KIND_KMEM };
	char out[4096];
	int status;

	start_sysfs(&d, FIXTURE("one-socket"), NULL);
	/* without the override, in a child (the library reads its environment once) */
	status = run_child(refused_logged, &a, out, sizeof(out), 10000);
	ck_assert_msg(status == 0, "child %s: %s", status_str(status), out);
	ck_assert_msg(strstr(out, "to node 1: Invalid argument"), "%s", out);

	setenv("DAXKMEM_NODES", "0", 1);
	try_kind(&a);
	ck_assert_msg(a.p != NULL, "errno %d", a.err);
	{
		unsigned long mask;

		ck_assert_int_eq(policy_of(a.p, &mask), MPOL_BIND);
		ck_assert_uint_eq(mask, 1);
	}
	ck_assert_uint_gt(status_granted(&d, 0), 0);
	ck_assert_uint_eq(status_granted(&d, 1), 0);
	daxkmem_free(DAXKMEM_KIND_DETECT, a.p);
	daemon_stop(&d);
}
END_TEST

static Suite *topology_suite(void)
{
	Suite *s = suite_create("client-topology-e2e");
	TCase *tc = tcase_create("fixtures");

	tcase_timeout(tc, 120);
	tcase_add_test(tc, test_preferred_tie_refused);
	tcase_add_test(tc, test_no_kmem_node_enodev);
	tcase_add_test(tc, test_daxkmem_nodes_used_for_placement);
	suite_add_tcase(s, tc);
	return s;
}

DKM_TEST_MAIN(topology_suite)
