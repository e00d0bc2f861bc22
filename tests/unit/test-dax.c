/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The reconfiguration policy against a model of the kernel's dax devices:
 * what is touched, in which order, what a dry run does (nothing), refusals,
 * auto-online kernels, and rollback when an operation fails half-way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dax.h"
#include "test-common.h"
#include "uevent.h"

struct model_dev {
	struct dkm_dax_info info;
	bool enabled;
};

struct model {
	struct model_dev dev[4];
	unsigned n;
	bool auto_online;       /* the kernel onlines blocks at enable_ram */
	bool auto_movable;
	const char *fail_op;    /* operations whose name contains this fail ... */
	const char *fail_dev;   /* ... on this device */
	int fail_errno;
	int fail_after;         /* ... after succeeding this many times */
	char log[1024];         /* "op:dev " for every operation */
	unsigned nops;
};

static struct model M;

static struct model_dev *dev_of(const char *name)
{
	for (unsigned i = 0; i < M.n; i++)
		if (!strcmp(M.dev[i].info.name, name))
			return &M.dev[i];
	return NULL;
}

static int op(const char *what, const char *name)
{
	size_t len = strlen(M.log);

	snprintf(M.log + len, sizeof(M.log) - len, "%s:%s ", what, name);
	M.nops++;
	if (M.fail_op && strstr(what, M.fail_op) && (!M.fail_dev || !strcmp(M.fail_dev, name))) {
		if (M.fail_after-- <= 0)
			return -M.fail_errno;
	}
	return dev_of(name) ? 0 : -ENODEV;
}

static int m_scan(void *be, struct dkm_dax_info **ret, unsigned *n)
{
	(void)be;
	*ret = calloc(M.n ? M.n : 1, sizeof(**ret));
	for (unsigned i = 0; i < M.n; i++)
		(*ret)[i] = M.dev[i].info;
	*n = M.n;
	return 0;
}

static int m_disable(void *be, const char *name)
{
	struct model_dev *d;
	int r = op("disable", name);

	(void)be;
	if (r < 0)
		return r;
	d = dev_of(name);
	if (d->info.mode == DKM_DAX_SYSTEM_RAM && d->info.online_blocks)
		return -EBUSY; /* the kernel refuses to unbind kmem with online memory */
	d->info.mode = DKM_DAX_DISABLED;
	strcpy(d->info.driver, "");
	d->info.blocks = d->info.online_blocks = 0;
	d->info.movable = -1;
	return 0;
}

static int m_enable_ram(void *be, const char *name)
{
	struct model_dev *d;
	int r = op("enable_ram", name);

	(void)be;
	if (r < 0)
		return r;
	d = dev_of(name);
	if (d->info.mode != DKM_DAX_DISABLED)
		return -EBUSY;
	d->info.mode = DKM_DAX_SYSTEM_RAM;
	strcpy(d->info.driver, "kmem");
	d->info.blocks = 7;
	d->info.online_blocks = M.auto_online ? 7 : 0;
	d->info.movable = M.auto_online ? M.auto_movable : -1;
	return 0;
}

static int m_enable_devdax(void *be, const char *name)
{
	struct model_dev *d;
	int r = op("enable_devdax", name);

	(void)be;
	if (r < 0)
		return r;
	d = dev_of(name);
	if (d->info.mode != DKM_DAX_DISABLED)
		return -EBUSY;
	d->info.mode = DKM_DAX_DEVDAX;
	strcpy(d->info.driver, "device_dax");
	return 0;
}

static int m_online(void *be, const char *name, bool movable)
{
	struct model_dev *d;
	int r = op(movable ? "online" : "online_normal", name);
	unsigned n;

	(void)be;
	if (r < 0)
		return r;
	d = dev_of(name);
	if (d->info.mode != DKM_DAX_SYSTEM_RAM)
		return -ENXIO;
	n = d->info.blocks - d->info.online_blocks;
	d->info.online_blocks = d->info.blocks;
	if (n)
		d->info.movable = movable;
	return (int)n;
}

static int m_offline(void *be, const char *name)
{
	struct model_dev *d;
	int r = op("offline", name);
	unsigned n;

	(void)be;
	if (r < 0)
		return r;
	d = dev_of(name);
	n = d->info.online_blocks;
	d->info.online_blocks = 0;
	d->info.movable = -1;
	return (int)n;
}

static const struct dkm_dax_ops model_ops = {
	.scan = m_scan,
	.disable = m_disable,
	.enable_ram = m_enable_ram,
	.enable_devdax = m_enable_devdax,
	.online = m_online,
	.offline = m_offline,
};

static void add_dev(const char *name, const char *uuid, enum dkm_dax_mode mode, int node)
{
	struct model_dev *d = &M.dev[M.n++];

	memset(d, 0, sizeof(*d));
	snprintf(d->info.name, sizeof(d->info.name), "%s", name);
	snprintf(d->info.uuid, sizeof(d->info.uuid), "%s", uuid ? uuid : "");
	d->info.mode = mode;
	d->info.size = 1ull << 30;
	d->info.target_node = node;
	d->info.movable = -1;
	strcpy(d->info.driver, mode == DKM_DAX_DEVDAX ? "device_dax"
			       : mode == DKM_DAX_SYSTEM_RAM ? "kmem"
			       : mode == DKM_DAX_OTHER ? "mystery" : "");
	if (mode == DKM_DAX_SYSTEM_RAM) {
		d->info.blocks = d->info.online_blocks = 7;
		d->info.movable = 1;
	}
}

static void seed_model(void)
{
	memset(&M, 0, sizeof(M));
	add_dev("dax0.0", "c1e6e0a4-5b3c-4d8e-9f0a-1b2c3d4e5f60", DKM_DAX_DEVDAX, 2);
	add_dev("dax1.0", "00000000-1111-2222-3333-444444444444", DKM_DAX_DEVDAX, 3);
}

static int run(const struct dkm_dax_request *req, struct dkm_dax_step **steps, unsigned *n,
	       char *err)
{
	return dkm_dax_reconfigure(&model_ops, NULL, req, steps, n, err, 256);
}

START_TEST(test_all_to_ram)
{
	struct dkm_dax_request req = { .to = DKM_DAX_SYSTEM_RAM, .movable = true, .all = true };
	struct dkm_dax_step *s;
	unsigned n;
	char err[256];

	seed_model();
	ck_assert_int_eq(run(&req, &s, &n, err), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(M.log, "disable:dax0.0 enable_ram:dax0.0 online:dax0.0 "
				"disable:dax1.0 enable_ram:dax1.0 online:dax1.0 ");
	for (unsigned i = 0; i < 2; i++) {
		ck_assert_int_eq(s[i].action, DKM_DAX_ACT_TO_RAM);
		ck_assert_int_eq(s[i].error, 0);
		ck_assert_int_eq(s[i].before, DKM_DAX_DEVDAX);
		ck_assert_int_eq(s[i].after, DKM_DAX_SYSTEM_RAM);
		ck_assert_uint_eq(s[i].online_after, 7);
		ck_assert_int_eq(s[i].movable_after, 1);
		ck_assert(!s[i].auto_onlined);
		ck_assert_int_eq(M.dev[i].info.mode, DKM_DAX_SYSTEM_RAM);
	}
	ck_assert_int_eq(s[0].node, 2);
	ck_assert_str_eq(s[0].message, "converting devdax -> system-ram (online movable), destroying "
				       "its persistent contents: now system-ram on node 2, 7 of 7 "
				       "blocks online (movable)");
	free(s);

	/* idempotent: a second run touches nothing */
	M.log[0] = '\0';
	ck_assert_int_eq(run(&req, &s, &n, err), 0);
	ck_assert_str_eq(M.log, "");
	ck_assert_int_eq(s[0].action, DKM_DAX_ACT_NONE);
	ck_assert_str_eq(s[0].message, "nothing to do: system-ram on node 2, 7 of 7 blocks online "
				       "(movable)");
	free(s);
}
END_TEST

START_TEST(test_dry_run_touches_nothing)
{
	struct dkm_dax_request req = { .to = DKM_DAX_SYSTEM_RAM, .movable = false, .all = true,
				       .dry_run = true };
	struct dkm_dax_step *s;
	unsigned n;
	char err[256];

	seed_model();
	ck_assert_int_eq(run(&req, &s, &n, err), 0);
	ck_assert_uint_eq(M.nops, 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(s[1].action, DKM_DAX_ACT_TO_RAM);
	ck_assert_int_eq(s[1].after, DKM_DAX_DEVDAX);
	ck_assert_str_eq(s[1].message, "would convert devdax -> system-ram (online normal zone), "
				       "destroying its persistent contents");
	free(s);
}
END_TEST

START_TEST(test_selection_by_name_and_uuid)
{
	const char *by_uuid[] = { "00000000-1111-2222-3333-444444444444" };
	const char *by_name[] = { "dax0.0" };
	const char *unknown[] = { "dax0.0", "dax9.9" };
	struct dkm_dax_request req = { .to = DKM_DAX_SYSTEM_RAM, .movable = true };
	struct dkm_dax_step *s;
	unsigned n;
	char err[256];

	seed_model();
	req.names = by_uuid;
	req.nnames = 1;
	ck_assert_int_eq(run(&req, &s, &n, err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(s[0].name, "dax1.0");
	ck_assert_int_eq(M.dev[0].info.mode, DKM_DAX_DEVDAX); /* the other is untouched */
	ck_assert_int_eq(M.dev[1].info.mode, DKM_DAX_SYSTEM_RAM);
	free(s);

	req.names = by_name;
	ck_assert_int_eq(run(&req, &s, &n, err), 0);
	ck_assert_str_eq(s[0].name, "dax0.0");
	free(s);

	/* a name that matches nothing: refused before anything is touched */
	seed_model();
	req.names = unknown;
	req.nnames = 2;
	ck_assert_int_eq(run(&req, &s, &n, err), -ENODEV);
	ck_assert_ptr_null(s);
	ck_assert_uint_eq(M.nops, 0);
	ck_assert_str_eq(err, "no dax device is named dax9.9 or comes from a namespace with that "
			      "uuid; nothing was changed");

	/* devdax for "all" is refused: name them */
	req.to = DKM_DAX_DEVDAX;
	req.all = true;
	ck_assert_int_eq(run(&req, &s, &n, err), -EINVAL);
	ck_assert_uint_eq(M.nops, 0);
}
END_TEST

START_TEST(test_auto_online_kernel)
{
	struct dkm_dax_request req = { .to = DKM_DAX_SYSTEM_RAM, .movable = true, .all = true };
	struct dkm_dax_step *s;
	unsigned n;
	char err[256];

	seed_model();
	M.auto_online = true;
	M.auto_movable = false; /* memhp_default_state=online: the normal zone */
	ck_assert_int_eq(run(&req, &s, &n, err), 0);
	ck_assert_str_eq(M.log, "disable:dax0.0 enable_ram:dax0.0 disable:dax1.0 enable_ram:dax1.0 ");
	ck_assert(s[0].auto_onlined);
	ck_assert_uint_eq(s[0].online_after, 7);
	ck_assert_int_eq(s[0].movable_after, 0);
	ck_assert_msg(strstr(s[0].message, "the kernel onlined 7 blocks itself") &&
			      strstr(s[0].message, "in the normal zone, not movable as configured"),
		      "%s", s[0].message);
	free(s);
}
END_TEST

START_TEST(test_online_failure_rolls_back)
{
	struct dkm_dax_request req = { .to = DKM_DAX_SYSTEM_RAM, .movable = true, .all = true };
	struct dkm_dax_step *s;
	unsigned n;
	char err[256];

	seed_model();
	M.fail_op = "online";
	M.fail_dev = "dax0.0";
	M.fail_errno = ENOMEM;
	ck_assert_int_eq(run(&req, &s, &n, err), -ENOMEM);
	/* dax0.0 back in devdax; dax1.0 converted all the same */
	ck_assert_int_eq(M.dev[0].info.mode, DKM_DAX_DEVDAX);
	ck_assert_int_eq(M.dev[1].info.mode, DKM_DAX_SYSTEM_RAM);
	ck_assert_int_eq(s[0].error, ENOMEM);
	ck_assert(s[0].rolled_back);
	ck_assert_int_eq(s[0].after, DKM_DAX_DEVDAX);
	ck_assert_msg(strstr(s[0].message, ": onlining: Cannot allocate memory; rolled back"), "%s",
		      s[0].message);
	ck_assert_int_eq(s[1].error, 0);
	free(s);
}
END_TEST

/*
 * A conversion fails and so does the way back: the step says so, with both
 * errors and the state the device was left in, and does not claim a
 * rollback. When the way back works, the message says "rolled back" and
 * gives no state (the device is as it was).
 */
START_TEST(test_failed_rollback_reports_state)
{
	struct dkm_dax_request req = { .to = DKM_DAX_SYSTEM_RAM, .movable = true, .all = true };
	const char *names[] = { "dax0.0" };
	struct dkm_dax_request back = { .to = DKM_DAX_DEVDAX, .names = names, .nnames = 1 };
	struct dkm_dax_step *s;
	unsigned n;
	char err[256];

	seed_model();
	M.n = 1;
	M.fail_op = "enable_";
	M.fail_errno = EIO;
	/* enable_ram fails, and the way back (enable_devdax) fails too */
	ck_assert_int_eq(run(&req, &s, &n, err), -EIO);
	ck_assert_str_eq(M.log, "disable:dax0.0 enable_ram:dax0.0 enable_devdax:dax0.0 ");
	ck_assert(!s[0].rolled_back);
	ck_assert_int_eq(s[0].error, EIO);
	ck_assert_int_eq(s[0].after, DKM_DAX_DISABLED);
	ck_assert_int_eq(M.dev[0].info.mode, DKM_DAX_DISABLED);
	ck_assert_str_eq(s[0].message, "converting devdax -> system-ram (online movable), destroying "
				       "its persistent contents: enable_ram: Input/output error; "
				       "rollback: enable_devdax: Input/output error; state now: "
				       "disabled on node 2");
	free(s);

	/* enable_devdax would fail, but the way up does not call it */
	seed_model();
	M.n = 1;
	M.fail_op = "enable_devdax";
	M.fail_errno = EIO;
	ck_assert_int_eq(run(&req, &s, &n, err), 0);
	ck_assert_str_eq(M.log, "disable:dax0.0 enable_ram:dax0.0 online:dax0.0 ");
	ck_assert_int_eq(M.dev[0].info.mode, DKM_DAX_SYSTEM_RAM);
	ck_assert_uint_eq(M.dev[0].info.online_blocks, 7);
	free(s);

	/* back to devdax: enable_devdax fails, the way back to system-ram works */
	M.log[0] = '\0';
	M.fail_errno = ENXIO;
	ck_assert_int_eq(run(&back, &s, &n, err), -ENXIO);
	ck_assert_str_eq(M.log, "offline:dax0.0 disable:dax0.0 enable_devdax:dax0.0 "
				"enable_ram:dax0.0 online:dax0.0 ");
	ck_assert(s[0].rolled_back);
	ck_assert_int_eq(s[0].error, ENXIO);
	ck_assert_int_eq(M.dev[0].info.mode, DKM_DAX_SYSTEM_RAM);
	ck_assert_uint_eq(M.dev[0].info.online_blocks, 7);
	ck_assert_str_eq(s[0].message, "converting system-ram -> devdax: enable_devdax: No such device "
				       "or address; rolled back");
	free(s);
}
END_TEST

static bool node2_busy(void *ctx, int node, char *why, size_t size)
{
	(void)ctx;
	if (node != 2)
		return true;
	snprintf(why, size, "node 2 has 64 MiB granted to 1 client");
	return false;
}

START_TEST(test_back_to_devdax)
{
	const char *both[] = { "dax0.0", "dax1.0" };
	struct dkm_dax_request req = { .to = DKM_DAX_DEVDAX, .names = both, .nnames = 2,
				       .node_free = node2_busy };
	struct dkm_dax_step *s;
	unsigned n;
	char err[256];

	memset(&M, 0, sizeof(M));
	add_dev("dax0.0", NULL, DKM_DAX_SYSTEM_RAM, 2);
	add_dev("dax1.0", NULL, DKM_DAX_SYSTEM_RAM, 3);
	ck_assert_int_eq(run(&req, &s, &n, err), -EBUSY);
	ck_assert_int_eq(s[0].action, DKM_DAX_ACT_REFUSED);
	ck_assert_int_eq(s[0].error, EBUSY);
	ck_assert_str_eq(s[0].message, "refused: node 2 has 64 MiB granted to 1 client");
	ck_assert_int_eq(M.dev[0].info.mode, DKM_DAX_SYSTEM_RAM);
	ck_assert_int_eq(s[1].action, DKM_DAX_ACT_TO_DEVDAX);
	ck_assert_int_eq(s[1].error, 0);
	ck_assert_str_eq(M.log, "offline:dax1.0 disable:dax1.0 enable_devdax:dax1.0 ");
	ck_assert_int_eq(M.dev[1].info.mode, DKM_DAX_DEVDAX);
	ck_assert_str_eq(s[1].message, "converting system-ram -> devdax: now devdax on node 3");
	free(s);

	/* offline fails (pages the kernel cannot migrate): nothing lost, blocks back online */
	M.log[0] = '\0';
	req.node_free = NULL;
	req.nnames = 1;
	M.fail_op = "offline";
	M.fail_errno = EBUSY;
	ck_assert_int_eq(run(&req, &s, &n, err), -EBUSY);
	ck_assert_int_eq(M.dev[0].info.mode, DKM_DAX_SYSTEM_RAM);
	ck_assert_uint_eq(M.dev[0].info.online_blocks, 7);
	ck_assert(s[0].rolled_back);
	ck_assert_msg(strstr(s[0].message, "offlining: Device or resource busy (pages in use that "
					   "the kernel could not migrate)"), "%s", s[0].message);
	free(s);
}
END_TEST

START_TEST(test_unknown_driver_and_partial_online)
{
	struct dkm_dax_request req = { .to = DKM_DAX_SYSTEM_RAM, .movable = true, .all = true };
	struct dkm_dax_step *s;
	unsigned n;
	char err[256];

	memset(&M, 0, sizeof(M));
	add_dev("dax0.0", NULL, DKM_DAX_OTHER, 2);
	add_dev("dax1.0", NULL, DKM_DAX_SYSTEM_RAM, 3);
	M.dev[1].info.online_blocks = 3;
	/* "all" leaves a device of another driver alone */
	ck_assert_int_eq(run(&req, &s, &n, err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(s[0].action, DKM_DAX_ACT_ONLINE);
	ck_assert_int_eq(s[0].error, 0);
	ck_assert_str_eq(M.log, "online:dax1.0 ");
	ck_assert_uint_eq(M.dev[1].info.online_blocks, 7);
	free(s);
	/* naming it is refused */
	{
		const char *names[] = { "dax0.0" };

		req.all = false;
		req.names = names;
		req.nnames = 1;
		ck_assert_int_eq(run(&req, &s, &n, err), -EBUSY);
		ck_assert_int_eq(s[0].action, DKM_DAX_ACT_REFUSED);
		ck_assert_str_eq(s[0].message, "bound to driver mystery, which daxkmemd does not "
					       "manage: not touched");
		ck_assert_int_eq(M.dev[0].info.mode, DKM_DAX_OTHER);
	}
	free(s);
}
END_TEST

#define EV(s) s, sizeof(s) - 1

START_TEST(test_uevent_filter)
{
	ck_assert(dkm_uevent_relevant(EV("online@/devices/system/memory/memory40\0ACTION=online\0"
					 "DEVPATH=/devices/system/memory/memory40\0"
					 "SUBSYSTEM=memory\0SEQNUM=4242\0")));
	ck_assert(dkm_uevent_relevant(EV("bind@/devices/platform/ACPI0012:00/ndbus0/region0/dax0.0/"
					 "dax0.0\0ACTION=bind\0SUBSYSTEM=dax\0DRIVER=kmem\0")));
	ck_assert(dkm_uevent_relevant(EV("add@/devices/system/node/node2\0ACTION=add\0"
					 "SUBSYSTEM=node\0")));
	/* the last field without its NUL still counts */
	ck_assert(dkm_uevent_relevant(EV("add@/x\0SUBSYSTEM=dax")));
	/* other subsystems, near misses, malformed datagrams */
	ck_assert(!dkm_uevent_relevant(EV("add@/devices/virtual/block/loop0\0SUBSYSTEM=block\0")));
	ck_assert(!dkm_uevent_relevant(EV("add@/x\0SUBSYSTEM=memoryx\0")));
	ck_assert(!dkm_uevent_relevant(EV("add@/x\0SUBSYSTEM=mem\0")));
	ck_assert(!dkm_uevent_relevant(EV("add@/x\0XSUBSYSTEM=memory\0")));
	ck_assert(!dkm_uevent_relevant(EV("no header here\0SUBSYSTEM=memory\0")));
	ck_assert(!dkm_uevent_relevant(EV("add@/x SUBSYSTEM=memory")));
	ck_assert(!dkm_uevent_relevant(EV("")));
	/* udev's re-broadcast ("libudev" + binary header) is not what the kernel sends */
	ck_assert(!dkm_uevent_relevant(EV("libudev\0\xfe\xed\xca\xfe")));
}
END_TEST

static Suite *dax_suite(void)
{
	Suite *s = suite_create("dax");
	TCase *tc = tcase_create("reconfigure");

	tcase_add_test(tc, test_all_to_ram);
	tcase_add_test(tc, test_dry_run_touches_nothing);
	tcase_add_test(tc, test_selection_by_name_and_uuid);
	tcase_add_test(tc, test_auto_online_kernel);
	tcase_add_test(tc, test_online_failure_rolls_back);
	tcase_add_test(tc, test_failed_rollback_reports_state);
	tcase_add_test(tc, test_back_to_devdax);
	tcase_add_test(tc, test_unknown_driver_and_partial_online);
	tcase_add_test(tc, test_uevent_filter);
	suite_add_tcase(s, tc);
	return s;
}

DKM_TEST_MAIN(dax_suite)
