/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <string.h>

#include "test-common.h"
#include "topology.h"

#define MIB (1024ull * 1024)

static struct dkm_topology *load(const char *root, const char *override)
{
	struct dkm_bitmap ov = DKM_BITMAP_INIT;
	struct dkm_topology *t = NULL;
	char err[256];
	int r;

	if (override)
		ck_assert_int_eq(dkm_bitmap_parse_list(&ov, override), 0);
	r = dkm_topology_read(root, override ? &ov : NULL, &t, err, sizeof(err));
	ck_assert_msg(r == 0, "reading %s: %d %s", root, r, err);
	dkm_bitmap_free(&ov);
	return t;
}

static bool has_problem(const struct dkm_topology *t, const char *needle)
{
	for (unsigned i = 0; i < t->nproblems; i++)
		if (strstr(t->problems[i], needle))
			return true;
	return false;
}

static const char *cpus_of(const struct dkm_node *n, char *buf, size_t size)
{
	dkm_bitmap_format_list(&n->cpus, buf, size);
	return buf;
}

static const struct dkm_dax_dev *dax_named(const struct dkm_topology *t, const char *name)
{
	for (unsigned i = 0; i < t->ndax; i++)
		if (!strcmp(t->dax[i].name, name))
			return &t->dax[i];
	return NULL;
}

START_TEST(test_seed)
{
	static const int dist[4][4] = {
		{ 10, 21, 17, 28 }, { 21, 10, 28, 17 }, { 17, 28, 10, 28 }, { 28, 17, 28, 10 }
	};
	struct dkm_topology *t = load(FIXTURE("seed"), NULL);
	const struct dkm_node *n;
	const struct dkm_dax_dev *d;
	char buf[64];

	ck_assert_uint_eq(t->nnodes, 4);
	ck_assert_uint_eq(t->nproblems, 0);
	ck_assert(!t->kmem_from_config);
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++)
			ck_assert_int_eq(dkm_topology_distance(t, i, j), dist[i][j]);

	n = dkm_topology_node(t, 0);
	ck_assert_int_eq(n->kind, DKM_NODE_DRAM);
	ck_assert_str_eq(cpus_of(n, buf, sizeof(buf)), "0");
	ck_assert_uint_eq(n->mem_total, 458 * MIB);
	ck_assert_uint_eq(n->mem_free, 401 * MIB);
	ck_assert_int_eq(n->tier, 4);
	ck_assert_uint_eq(n->ndax, 0);

	n = dkm_topology_node(t, 1);
	ck_assert_int_eq(n->kind, DKM_NODE_DRAM);
	ck_assert_str_eq(cpus_of(n, buf, sizeof(buf)), "1");

	n = dkm_topology_node(t, 2);
	ck_assert_int_eq(n->kind, DKM_NODE_KMEM);
	ck_assert(dkm_bitmap_empty(&n->cpus));
	ck_assert_uint_eq(n->mem_total, 896 * MIB);
	ck_assert_int_eq(n->tier, 22);
	ck_assert(n->hmat.present);
	ck_assert(dkm_bitmap_test(&n->hmat.initiators, 0));
	ck_assert_uint_eq(dkm_bitmap_count(&n->hmat.initiators), 1);
	ck_assert_uint_eq(n->hmat.read_latency, 170);
	ck_assert_uint_eq(n->hmat.write_latency, 320);
	ck_assert_uint_eq(n->hmat.read_bandwidth, 6144);
	ck_assert_uint_eq(n->hmat.write_bandwidth, 2048);
	ck_assert_uint_eq(n->ndax, 1);
	ck_assert_str_eq(t->dax[n->dax[0]].name, "dax0.0");

	n = dkm_topology_node(t, 3);
	ck_assert_int_eq(n->kind, DKM_NODE_KMEM);
	ck_assert(dkm_bitmap_test(&n->hmat.initiators, 1));
	ck_assert_str_eq(t->dax[n->dax[0]].name, "dax1.0");

	ck_assert_uint_eq(t->ndax, 2);
	d = dax_named(t, "dax0.0");
	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(d->mode, DKM_DAX_SYSTEM_RAM);
	ck_assert_str_eq(d->driver, "kmem");
	ck_assert_uint_eq(d->size, 1006 * MIB);
	ck_assert_int_eq(d->target_node, 2);
	/* 1006 MiB from a 128 MiB-aligned start: 7 whole blocks, as kmem onlines them */
	ck_assert_uint_eq(d->blocks, 7);
	ck_assert_uint_eq(d->online_blocks, 7);
	ck_assert_int_eq(d->movable, 1);
	ck_assert_ptr_null(dkm_topology_node(t, 4));
	ck_assert_int_eq(dkm_topology_distance(t, 0, 4), -1);
	dkm_topology_free(t);
}
END_TEST

START_TEST(test_one_socket_normal_zone)
{
	struct dkm_topology *t = load(FIXTURE("one-socket"), NULL);
	const struct dkm_dax_dev *d = dax_named(t, "dax0.0");

	ck_assert_uint_eq(t->nnodes, 2);
	ck_assert_uint_eq(t->nproblems, 0);
	ck_assert_int_eq(dkm_topology_node(t, 1)->kind, DKM_NODE_KMEM);
	ck_assert(!dkm_topology_node(t, 1)->hmat.present);
	ck_assert_int_eq(dkm_topology_node(t, 1)->tier, -1);
	ck_assert(!t->has_tiers);
	ck_assert_uint_eq(d->blocks, 32);
	ck_assert_int_eq(d->movable, 0);
	dkm_topology_free(t);
}
END_TEST

START_TEST(test_no_kmem)
{
	struct dkm_topology *t = load(FIXTURE("no-kmem"), NULL);

	ck_assert_uint_eq(t->nproblems, 0);
	ck_assert_uint_eq(t->ndax, 0);
	ck_assert_int_eq(dkm_topology_node(t, 0)->kind, DKM_NODE_DRAM);
	ck_assert_int_eq(dkm_topology_node(t, 1)->kind, DKM_NODE_MEMONLY);
	ck_assert(dkm_topology_node(t, 1)->hmat.present);
	ck_assert_uint_eq(dkm_topology_node(t, 1)->hmat.read_bandwidth, 409600);
	dkm_topology_free(t);
}
END_TEST

START_TEST(test_devdax_not_kmem)
{
	struct dkm_topology *t = load(FIXTURE("devdax"), NULL);
	const struct dkm_dax_dev *d;

	ck_assert_uint_eq(t->nproblems, 0);
	ck_assert_uint_eq(t->ndax, 3);
	ck_assert_int_eq(dkm_topology_node(t, 1)->kind, DKM_NODE_KMEM);
	d = dax_named(t, "dax1.0");
	ck_assert_int_eq(d->mode, DKM_DAX_DEVDAX);
	ck_assert_int_eq(d->target_node, 2);
	ck_assert_int_eq(d->movable, -1);
	ck_assert_uint_eq(d->blocks, 0);
	d = dax_named(t, "dax2.0");
	ck_assert_int_eq(d->mode, DKM_DAX_DISABLED);
	ck_assert_str_eq(d->driver, "");
	/* devdax memory is not system RAM: node 2 stays offline, and no node lists it */
	ck_assert_ptr_null(dkm_topology_node(t, 2));
	ck_assert_uint_eq(dkm_topology_node(t, 1)->ndax, 1);
	ck_assert_uint_eq(dkm_topology_node(t, 0)->ndax, 0);
	dkm_topology_free(t);
}
END_TEST

START_TEST(test_override)
{
	struct dkm_bitmap ov = DKM_BITMAP_INIT;
	struct dkm_topology *t;
	char err[256];

	/* kmem_nodes= replaces detection: node 0 (with CPUs) becomes the kmem node */
	t = load(FIXTURE("seed"), "0,3");
	ck_assert(t->kmem_from_config);
	ck_assert_int_eq(dkm_topology_node(t, 0)->kind, DKM_NODE_KMEM);
	ck_assert_int_eq(dkm_topology_node(t, 1)->kind, DKM_NODE_DRAM);
	ck_assert_int_eq(dkm_topology_node(t, 2)->kind, DKM_NODE_MEMONLY);
	ck_assert_int_eq(dkm_topology_node(t, 3)->kind, DKM_NODE_KMEM);
	dkm_topology_free(t);

	/* unknown nodes are an error naming them */
	ck_assert_int_eq(dkm_bitmap_parse_list(&ov, "2,5,7"), 0);
	t = (void *)1;
	ck_assert_int_eq(dkm_topology_read(FIXTURE("seed"), &ov, &t, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_eq(t, (void *)1);
	ck_assert_msg(strstr(err, "nodes 5,7 are not online") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "online nodes: 0-3") != NULL, "%s", err);

	/* a node listed online whose directory is missing cannot be a kmem node */
	ck_assert_int_eq(dkm_bitmap_parse_list(&ov, "2"), 0);
	ck_assert_int_eq(dkm_topology_read(FIXTURE("missing-node-dir"), &ov, &t, err, sizeof(err)),
			 -EINVAL);
	ck_assert_msg(strstr(err, "node 2 is not online") != NULL, "%s", err);
	dkm_bitmap_free(&ov);

	/* an empty override means: detect */
	t = load(FIXTURE("seed"), "");
	ck_assert(!t->kmem_from_config);
	ck_assert_int_eq(dkm_topology_node(t, 2)->kind, DKM_NODE_KMEM);
	dkm_topology_free(t);
}
END_TEST

START_TEST(test_missing_root)
{
	struct dkm_topology *t = NULL;
	char err[256];

	ck_assert_int_eq(dkm_topology_read(FIXTURE("does-not-exist"), NULL, &t, err, sizeof(err)),
			 -ENOENT);
	ck_assert_ptr_null(t);
	ck_assert_msg(strstr(err, "no NUMA node information") != NULL, "%s", err);
}
END_TEST

START_TEST(test_bad_distance)
{
	struct dkm_topology *t = load(FIXTURE("bad-distance"), NULL);

	ck_assert(has_problem(t, "node 0: devices/system/node/node0/distance: bad row \"10 abc\""));
	ck_assert(has_problem(t, "node 1: devices/system/node/node1/distance: 3 figures for 2 online nodes"));
	ck_assert_int_eq(dkm_topology_distance(t, 0, 0), -1);
	ck_assert_int_eq(dkm_topology_distance(t, 0, 1), -1);
	ck_assert_int_eq(dkm_topology_distance(t, 1, 0), -1);
	/* the rest of the map is intact */
	ck_assert_int_eq(dkm_topology_node(t, 1)->kind, DKM_NODE_KMEM);
	ck_assert_uint_eq(dkm_topology_node(t, 0)->mem_total, 8192 * MIB);
	dkm_topology_free(t);
}
END_TEST

START_TEST(test_bad_meminfo)
{
	struct dkm_topology *t = load(FIXTURE("bad-meminfo"), NULL);

	ck_assert(has_problem(t, "node 0: devices/system/node/node0/meminfo: no valid MemTotal line"));
	ck_assert(has_problem(t, "node 1: devices/system/node/node1/meminfo: no valid MemFree line"));
	ck_assert_uint_eq(dkm_topology_node(t, 0)->mem_total, DKM_UNKNOWN_U64);
	ck_assert_uint_eq(dkm_topology_node(t, 0)->mem_free, DKM_UNKNOWN_U64);
	ck_assert_uint_eq(dkm_topology_node(t, 1)->mem_total, 3968 * MIB);
	ck_assert_uint_eq(dkm_topology_node(t, 1)->mem_free, DKM_UNKNOWN_U64);
	ck_assert_int_eq(dkm_topology_distance(t, 0, 1), 17);
	dkm_topology_free(t);
}
END_TEST

START_TEST(test_missing_node_dir)
{
	struct dkm_topology *t = load(FIXTURE("missing-node-dir"), NULL);
	const struct dkm_node *n = dkm_topology_node(t, 2);

	ck_assert_uint_eq(t->nnodes, 3);
	ck_assert(has_problem(t, "node 2: listed online but devices/system/node/node2 is missing"));
	ck_assert_ptr_nonnull(n);
	ck_assert(!n->readable);
	ck_assert_uint_eq(n->mem_total, DKM_UNKNOWN_U64);
	ck_assert_int_eq(dkm_topology_distance(t, 2, 0), -1);
	ck_assert_int_eq(dkm_topology_distance(t, 0, 2), 20);
	ck_assert_int_eq(dkm_topology_node(t, 1)->kind, DKM_NODE_KMEM);
	dkm_topology_free(t);
}
END_TEST

START_TEST(test_missing_files)
{
	struct dkm_topology *t = load(FIXTURE("missing-files"), NULL);
	const struct dkm_dax_dev *d = dax_named(t, "dax0.0");

	/* no online file: the node directories stand in */
	ck_assert(has_problem(t, "devices/system/node/online: No such file or directory; using the node directories"));
	ck_assert_uint_eq(t->nnodes, 2);
	ck_assert(has_problem(t, "node 1: devices/system/node/node1/cpulist: No such file or directory"));
	ck_assert(has_problem(t, "node 1: devices/system/node/node1/meminfo: No such file or directory"));
	ck_assert(has_problem(t, "node 1: devices/system/node/node1/distance: cannot read it"));
	ck_assert(has_problem(t, "dax0.0/size: No such file or directory"));
	ck_assert(has_problem(t, "dax0.0/target_node: No such file or directory"));
	ck_assert(has_problem(t, "dax0.0: no resource attribute"));
	ck_assert(has_problem(t, "dax0.0 is in system-ram mode but its target node is unknown"));
	ck_assert_int_eq(d->mode, DKM_DAX_SYSTEM_RAM);
	ck_assert_uint_eq(d->size, DKM_UNKNOWN_U64);
	ck_assert_int_eq(dkm_topology_node(t, 1)->kind, DKM_NODE_MEMONLY);
	dkm_topology_free(t);
}
END_TEST

static Suite *topology_suite(void)
{
	Suite *s = suite_create("topology");
	TCase *tc = tcase_create("fixtures");
	TCase *bad = tcase_create("bad-input");

	tcase_add_test(tc, test_seed);
	tcase_add_test(tc, test_one_socket_normal_zone);
	tcase_add_test(tc, test_no_kmem);
	tcase_add_test(tc, test_devdax_not_kmem);
	tcase_add_test(tc, test_override);
	suite_add_tcase(s, tc);
	tcase_add_test(bad, test_missing_root);
	tcase_add_test(bad, test_bad_distance);
	tcase_add_test(bad, test_bad_meminfo);
	tcase_add_test(bad, test_missing_node_dir);
	tcase_add_test(bad, test_missing_files);
	suite_add_tcase(s, bad);
	return s;
}

DKM_TEST_MAIN(topology_suite)
