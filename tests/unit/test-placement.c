/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <string.h>

#include "test-common.h"
#include "topology.h"
#include "util/format.h"

struct map {
	struct dkm_topology *t;
	struct dkm_placement_table *p;
};

static struct map load(const char *root, const char *override)
{
	struct dkm_bitmap ov = DKM_BITMAP_INIT;
	struct map m = { 0 };
	char err[256];

	if (override)
		ck_assert_int_eq(dkm_bitmap_parse_list(&ov, override), 0);
	ck_assert_int_eq(dkm_topology_read(root, override ? &ov : NULL, &m.t, err, sizeof(err)), 0);
	ck_assert_int_eq(dkm_placement_compute(m.t, &m.p), 0);
	dkm_bitmap_free(&ov);
	return m;
}

static void unload(struct map *m)
{
	dkm_placement_table_free(m->p);
	dkm_topology_free(m->t);
}

static const char *ints(const int *v, unsigned n)
{
	static char buf[4][128];
	static unsigned k;

	k = (k + 1) % 4;
	return dkm_format_ints(v, n, buf[k], sizeof(buf[k]));
}

START_TEST(test_seed)
{
	struct map m = load(FIXTURE("seed"), NULL);
	const struct dkm_placement *r;

	ck_assert_uint_eq(m.p->nrows, 2);
	ck_assert_ptr_null(dkm_placement_for(m.p, 2));

	r = dkm_placement_for(m.p, 0);
	ck_assert_int_eq(r->status, DKM_PLACE_OK);
	ck_assert_str_eq(ints(r->kmem, r->nkmem), "2");
	ck_assert_int_eq(r->closest_distance, 17);
	ck_assert_str_eq(ints(r->all, r->nall), "2,3");
	ck_assert_int_eq(r->pref_status, DKM_PLACE_OK);
	/* the seed: "Node 2 ... then Node 0, Node 3 and ending in Node 1" */
	ck_assert_str_eq(ints(r->pref, r->npref), "2,0,3,1");
	ck_assert_str_eq(r->message, "");

	r = dkm_placement_for(m.p, 1);
	ck_assert_str_eq(ints(r->kmem, r->nkmem), "3");
	ck_assert_str_eq(ints(r->all, r->nall), "3,2");
	ck_assert_str_eq(ints(r->pref, r->npref), "3,1,2,0");
	unload(&m);
}
END_TEST

START_TEST(test_one_socket)
{
	struct map m = load(FIXTURE("one-socket"), NULL);
	const struct dkm_placement *r = dkm_placement_for(m.p, 0);

	ck_assert_uint_eq(m.p->nrows, 1);
	ck_assert_str_eq(ints(r->kmem, r->nkmem), "1");
	ck_assert_str_eq(ints(r->all, r->nall), "1");
	ck_assert_str_eq(ints(r->pref, r->npref), "1,0");
	unload(&m);
}
END_TEST

START_TEST(test_tie)
{
	struct map m = load(FIXTURE("tie"), NULL);
	const struct dkm_placement *r = dkm_placement_for(m.p, 0);

	/* KMEM and KMEM_ALL still work and say which nodes they use */
	ck_assert_int_eq(r->status, DKM_PLACE_OK);
	ck_assert_str_eq(ints(r->kmem, r->nkmem), "1,2");
	ck_assert_str_eq(ints(r->all, r->nall), "1,2");
	/* PREFERRED is refused, naming the CPU node and the tied nodes */
	ck_assert_int_eq(r->pref_status, DKM_PLACE_TIE);
	ck_assert_uint_eq(r->npref, 0);
	ck_assert_str_eq(r->message,
			 "KMEM_PREFERRED is not possible for CPU node 0: kmem nodes 1,2 are equally "
			 "close (distance 17); it needs one closest kmem node");
	unload(&m);
}
END_TEST

START_TEST(test_no_kmem)
{
	struct map m = load(FIXTURE("no-kmem"), NULL);
	const struct dkm_placement *r = dkm_placement_for(m.p, 0);

	ck_assert_uint_eq(m.p->nrows, 1);
	ck_assert_int_eq(r->status, DKM_PLACE_NO_KMEM);
	ck_assert_int_eq(r->pref_status, DKM_PLACE_NO_KMEM);
	ck_assert_uint_eq(r->nkmem, 0);
	ck_assert_uint_eq(r->nall, 0);
	ck_assert_ptr_nonnull(strstr(r->message, "no KMEM node"));
	unload(&m);

	/* node 1 (memory-only HBM) named by configuration */
	m = load(FIXTURE("no-kmem"), "1");
	r = dkm_placement_for(m.p, 0);
	ck_assert_str_eq(ints(r->kmem, r->nkmem), "1");
	ck_assert_str_eq(ints(r->pref, r->npref), "1,0");
	unload(&m);
}
END_TEST

START_TEST(test_cpu_node_as_kmem)
{
	/* The host e2e set-up: node 0, which has CPUs, configured as the kmem node. */
	struct map m = load(FIXTURE("seed"), "0");
	const struct dkm_placement *r;

	r = dkm_placement_for(m.p, 0);
	ck_assert_str_eq(ints(r->kmem, r->nkmem), "0");
	ck_assert_int_eq(r->closest_distance, 10);
	/* from 0: 2 (17, headless), 1 (21), 3 (28) */
	ck_assert_str_eq(ints(r->pref, r->npref), "0,2,1,3");
	r = dkm_placement_for(m.p, 1);
	ck_assert_str_eq(ints(r->kmem, r->nkmem), "0");
	ck_assert_int_eq(r->closest_distance, 21);
	unload(&m);
}
END_TEST

START_TEST(test_unknown_distance)
{
	struct map m = load(FIXTURE("bad-distance"), NULL);
	const struct dkm_placement *r = dkm_placement_for(m.p, 0);

	ck_assert_int_eq(r->status, DKM_PLACE_NO_DISTANCE);
	ck_assert_int_eq(r->pref_status, DKM_PLACE_NO_DISTANCE);
	ck_assert_str_eq(r->message, "distance from CPU node 0 to kmem node 1 is unknown");
	unload(&m);
}
END_TEST

static Suite *placement_suite(void)
{
	Suite *s = suite_create("placement");
	TCase *tc = tcase_create("kinds");

	tcase_add_test(tc, test_seed);
	tcase_add_test(tc, test_one_socket);
	tcase_add_test(tc, test_tie);
	tcase_add_test(tc, test_no_kmem);
	tcase_add_test(tc, test_cpu_node_as_kmem);
	tcase_add_test(tc, test_unknown_distance);
	suite_add_tcase(s, tc);
	return s;
}

DKM_TEST_MAIN(placement_suite)
