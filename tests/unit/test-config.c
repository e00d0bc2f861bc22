/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "config.h"
#include "test-common.h"

static char path[64];

static void write_conf(const char *text)
{
	FILE *f;
	int fd;

	strcpy(path, "/tmp/dkm-test-conf-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static int load_text(const char *text, struct dkm_config *c, char *err, size_t size)
{
	int r;

	write_conf(text);
	dkm_config_init(c);
	r = dkm_config_load(c, path, true, err, size);
	unlink(path);
	return r;
}

START_TEST(test_good)
{
	struct dkm_config c;
	char err[256] = "", buf[32];

	ck_assert_int_eq(load_text("# comment\n\n; another\nkmem_nodes = 2-3 \n", &c, err,
				   sizeof(err)), 0);
	ck_assert(c.kmem_nodes_set);
	dkm_bitmap_format_list(&c.kmem_nodes, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2-3");
	dkm_config_free(&c);

	/* an empty value is given but empty: detection stays on */
	ck_assert_int_eq(load_text("kmem_nodes =\n", &c, err, sizeof(err)), 0);
	ck_assert(c.kmem_nodes_set);
	ck_assert(dkm_bitmap_empty(&c.kmem_nodes));
	dkm_config_free(&c);
}
END_TEST

START_TEST(test_all_keys)
{
	struct dkm_config c;
	char err[256] = "";

	/* defaults */
	dkm_config_init(&c);
	ck_assert_ptr_null(c.socket);
	ck_assert_uint_eq(c.socket_mode, 0660);
	ck_assert_uint_eq(c.reserve, 64ull << 20);
	ck_assert(c.prefault);
	ck_assert_uint_eq(c.max_region_size, 64ull << 30);
	ck_assert_uint_eq(c.max_regions_per_client, 4096);
	ck_assert_uint_eq(c.max_clients, 4096);
	ck_assert_uint_eq(c.max_clients_per_uid, 256);
	ck_assert_uint_eq(c.quota, 0);
	ck_assert_uint_eq(c.refresh_interval_ms, 1000);
	ck_assert_uint_eq(c.admin_group, (gid_t)-1);
	dkm_config_free(&c);

	ck_assert_msg(load_text("socket = /run/x/y.sock\nsocket_mode = 0600\nsocket_group = 0\n"
				"admin_group = root\nreserve = 1G\nprefault = no\n"
				"max_region_size = 2T\nmax_regions_per_client = 7\nmax_clients = 9\n"
				"max_clients_per_uid = 3\nquota = 512K\nrefresh_interval_ms = 250\n"
				"[quota]\nroot = 1M\n4242 = 0\n",
				&c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(c.socket, "/run/x/y.sock");
	ck_assert_uint_eq(c.socket_mode, 0600);
	ck_assert_uint_eq(c.socket_group, 0);
	ck_assert_uint_eq(c.admin_group, 0);
	ck_assert_uint_eq(c.reserve, 1ull << 30);
	ck_assert(!c.prefault);
	ck_assert_uint_eq(c.max_region_size, 2ull << 40);
	ck_assert_uint_eq(c.max_regions_per_client, 7);
	ck_assert_uint_eq(c.max_clients, 9);
	ck_assert_uint_eq(c.max_clients_per_uid, 3);
	ck_assert_uint_eq(c.refresh_interval_ms, 250);
	ck_assert_uint_eq(dkm_config_quota(&c, 0), 1ull << 20);
	ck_assert_uint_eq(dkm_config_quota(&c, 4242), 0);
	ck_assert_uint_eq(dkm_config_quota(&c, 1000), 512ull << 10);
	dkm_config_free(&c);
}
END_TEST

START_TEST(test_reconfigure)
{
	struct dkm_config c;
	char err[256] = "";

	dkm_config_init(&c);
	ck_assert_int_eq(c.reconfigure, DKM_RECONFIGURE_NONE);
	ck_assert(c.online_movable);
	dkm_config_free(&c);

	ck_assert_int_eq(load_text("reconfigure = all\nonline = normal\n", &c, err, sizeof(err)), 0);
	ck_assert_int_eq(c.reconfigure, DKM_RECONFIGURE_ALL);
	ck_assert(!c.online_movable);
	dkm_config_free(&c);

	ck_assert_msg(load_text("reconfigure = dax0.0, dax12.3 "
				"c1e6e0a4-5b3c-4d8e-9f0a-1b2c3d4e5f60\n", &c, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_int_eq(c.reconfigure, DKM_RECONFIGURE_LIST);
	ck_assert_uint_eq(c.nreconfigure_list, 3);
	ck_assert_str_eq(c.reconfigure_list[0], "dax0.0");
	ck_assert_str_eq(c.reconfigure_list[1], "dax12.3");
	ck_assert_str_eq(c.reconfigure_list[2], "c1e6e0a4-5b3c-4d8e-9f0a-1b2c3d4e5f60");
	dkm_config_free(&c);
	ck_assert_ptr_null(c.reconfigure_list);

	ck_assert_int_eq(load_text("reconfigure = none\n", &c, err, sizeof(err)), 0);
	ck_assert_int_eq(c.reconfigure, DKM_RECONFIGURE_NONE);
	dkm_config_free(&c);
}
END_TEST

START_TEST(test_parse_size)
{
	uint64_t v;

	ck_assert_int_eq(dkm_parse_size("4096", &v), 0);
	ck_assert_uint_eq(v, 4096);
	ck_assert_int_eq(dkm_parse_size("64M", &v), 0);
	ck_assert_uint_eq(v, 64ull << 20);
	ck_assert_int_eq(dkm_parse_size("2GiB", &v), 0);
	ck_assert_uint_eq(v, 2ull << 30);
	ck_assert_int_eq(dkm_parse_size("3kb", &v), 0);
	ck_assert_uint_eq(v, 3072);
	ck_assert_int_eq(dkm_parse_size("1X", &v), -EINVAL);
	ck_assert_int_eq(dkm_parse_size("-1", &v), -EINVAL);
	ck_assert_int_eq(dkm_parse_size("", &v), -EINVAL);
	ck_assert_int_eq(dkm_parse_size("1 G", &v), -EINVAL);
	ck_assert_int_eq(dkm_parse_size("99999999999T", &v), -ERANGE);
}
END_TEST

static void expect_error(const char *text, int line, const char *what)
{
	struct dkm_config c;
	char err[256], want[300];

	ck_assert_int_eq(load_text(text, &c, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:%d: %s", path, line, what);
	ck_assert_str_eq(err, want);
	dkm_config_free(&c);
}

START_TEST(test_errors_name_the_line)
{
	expect_error("\n\nkmem_nodes = two\n", 3,
		     "kmem_nodes: \"two\" is not a node list like 2,3 or 2-3 (Invalid argument)");
	expect_error("# x\nkmem_node = 2\n", 2, "unknown key \"kmem_node\"");
	expect_error("kmem_nodes = 2\nkmem_nodes = 3\n", 2, "kmem_nodes is given twice");
	expect_error("[broker]\nkmem_nodes = 2\n", 2,
		     "unknown section [broker]");
	expect_error("kmem_nodes = 2\nthis is not ini\nfoo = 1\n", 2,
		     "syntax error (expected \"key = value\" or \"[section]\")");
	/* the first error wins even when a later line is also wrong */
	expect_error("bar = 1\nfoo = 1\n", 1, "unknown key \"bar\"");
	/* no newline at the end of the last line */
	expect_error("kmem_nodes = 1\nzzz = 1", 2, "unknown key \"zzz\"");
	expect_error("reserve = lots\n", 1, "reserve: \"lots\" is not a size like 4096, 64M or 2G");
	expect_error("prefault = maybe\n", 1, "prefault: \"maybe\" is not yes or no");
	expect_error("socket = relative.sock\n", 1, "socket: \"relative.sock\" is not an absolute path");
	expect_error("socket_mode = 999\n", 1, "socket_mode: \"999\" is not an octal mode like 0660");
	expect_error("socket_group = no-such-group-here\n", 1,
		     "socket_group: no group \"no-such-group-here\"");
	expect_error("max_clients = 0\n", 1, "max_clients: 0 is out of range 1..1048576");
	expect_error("max_region_size = 1K\n", 1, "max_region_size: 1K is below the minimum 4096");
	expect_error("[quota]\nno-such-user-here = 1G\n", 2, "[quota]: no user \"no-such-user-here\"");
	expect_error("[quota]\n0 = 1G\nroot = 2G\n", 3, "[quota]: uid 0 is given twice");
	expect_error("reconfigure = dax0.0 /dev/dax1.0\n", 1,
		     "reconfigure: \"/dev/dax1.0\" is neither a dax device name like dax0.0 nor a "
		     "namespace uuid (expected none, all, or a list of them)");
	expect_error("reconfigure = everything\n", 1,
		     "reconfigure: \"everything\" is neither a dax device name like dax0.0 nor a "
		     "namespace uuid (expected none, all, or a list of them)");
	expect_error("online = zone_movable\n", 1, "online: \"zone_movable\" is not movable or normal");
	expect_error("[quota]\n0 = big\n", 2, "[quota] 0: \"big\" is not a size like 4096, 64M or 2G");
	expect_error("daemon_prefault = yes\n", 1,
		     "daemon_prefault: \"yes\" is not root-only, always or never");
	expect_error("daemon_prefault = never\ndaemon_prefault = never\n", 2,
		     "daemon_prefault is given twice");
	expect_error("[cgroup_quota]\nsystem.slice = 1G\n", 2,
		     "[cgroup_quota]: \"system.slice\" is not an absolute cgroup path like "
		     "/system.slice/foo.service");
	expect_error("[cgroup_quota]\n/a//b = 1G\n", 2,
		     "[cgroup_quota]: \"/a//b\" has an empty, \".\" or \"..\" component");
	expect_error("[cgroup_quota]\n/a/../b = 1G\n", 2,
		     "[cgroup_quota]: \"/a/../b\" has an empty, \".\" or \"..\" component");
	expect_error("[cgroup_quota]\n/../b = 1G\n", 2,
		     "[cgroup_quota]: \"/../b\" has an empty, \".\" or \"..\" component");
	expect_error("[cgroup_quota]\n/a/./b = 1G\n", 2,
		     "[cgroup_quota]: \"/a/./b\" has an empty, \".\" or \"..\" component");
	expect_error("[cgroup_quota]\n/a\tb = 1G\n", 2, "[cgroup_quota]: the path has a control character");
	expect_error("[cgroup_quota]\n/a\x01" "b = 1G\n", 2,
		     "[cgroup_quota]: the path has a control character");
	expect_error("[cgroup_quota]\n/a.slice = lots\n", 2,
		     "[cgroup_quota] /a.slice: \"lots\" is not a size like 4096, 64M or 2G");
	expect_error("[cgroup_quota]\n/a.slice =\n", 2,
		     "[cgroup_quota] /a.slice: \"\" is not a size like 4096, 64M or 2G");
	expect_error("[cgroup_quota]\n/a.slice: 1G\n", 2,
		     "[cgroup_quota]: expected \"/cgroup/path = size\"");
	expect_error("[cgroup_quota]\n = 1G\n", 2,
		     "[cgroup_quota]: \"\" is not an absolute cgroup path like "
		     "/system.slice/foo.service");
	expect_error("[cgroup_quota]\n/a.slice = 1G\n/b.slice = 1G\n/a.slice/ = 2G\n", 4,
		     "[cgroup_quota]: /a.slice is given twice");
	expect_error("[cgroup_quota]\n/a.slice = 1G\n[cgroup_quota]\n/a.slice = 2G\n", 4,
		     "[cgroup_quota]: /a.slice is given twice");
	expect_error("[cgroup_quotas]\n/a.slice = 1G\n", 2, "unknown section [cgroup_quotas]");
	{
		char text[1200], what[80];

		memset(text, 0, sizeof(text));
		strcpy(text, "[cgroup_quota]\n");
		for (size_t i = strlen(text); i < 15 + 1024; i++)
			text[i] = i % 100 ? 'x' : '/';
		text[15] = '/';
		strcat(text, " = 1M\n");
		snprintf(what, sizeof(what), "[cgroup_quota]: the path is longer than %d characters",
			 DKM_CGROUP_PATH_MAX - 1);
		expect_error(text, 2, what);
	}
}
END_TEST

START_TEST(test_daemon_prefault)
{
	struct dkm_config c;
	char err[256] = "";

	dkm_config_init(&c);
	ck_assert_int_eq(c.daemon_prefault, DKM_DAEMON_PREFAULT_ROOT_ONLY);
	ck_assert(dkm_config_daemon_prefaults(&c, true));
	ck_assert(!dkm_config_daemon_prefaults(&c, false));
	ck_assert_str_eq(dkm_daemon_prefault_name(c.daemon_prefault), "root-only");
	dkm_config_free(&c);

	ck_assert_int_eq(load_text("daemon_prefault = always\n", &c, err, sizeof(err)), 0);
	ck_assert_int_eq(c.daemon_prefault, DKM_DAEMON_PREFAULT_ALWAYS);
	ck_assert(dkm_config_daemon_prefaults(&c, true));
	ck_assert(dkm_config_daemon_prefaults(&c, false));
	ck_assert_str_eq(dkm_daemon_prefault_name(c.daemon_prefault), "always");
	dkm_config_free(&c);

	ck_assert_int_eq(load_text("daemon_prefault = never\nprefault = yes\n", &c, err,
				   sizeof(err)), 0);
	ck_assert_int_eq(c.daemon_prefault, DKM_DAEMON_PREFAULT_NEVER);
	ck_assert(c.prefault);
	ck_assert(!dkm_config_daemon_prefaults(&c, true));
	ck_assert(!dkm_config_daemon_prefaults(&c, false));
	ck_assert_str_eq(dkm_daemon_prefault_name(c.daemon_prefault), "never");
	dkm_config_free(&c);

	ck_assert_int_eq(load_text("daemon_prefault = root-only\n", &c, err, sizeof(err)), 0);
	ck_assert_int_eq(c.daemon_prefault, DKM_DAEMON_PREFAULT_ROOT_ONLY);
	dkm_config_free(&c);
}
END_TEST

START_TEST(test_cgroup_quota)
{
	struct dkm_config c;
	char err[256] = "", text[8192], longpath[1100];
	const struct dkm_cgroup_quota *q;
	size_t n;

	dkm_config_init(&c);
	ck_assert_uint_eq(c.ncgroup_quotas, 0);
	ck_assert_ptr_null(dkm_config_cgroup_quota(&c, "/a"));
	dkm_config_free(&c);

	/* A path of 1023 characters, on a line longer than inih's 200-byte buffer. */
	longpath[0] = '/';
	memset(longpath + 1, 'l', 1022);
	longpath[1023] = '\0';
	for (n = 200; n < 1023; n += 200)
		longpath[n] = '/';
	snprintf(text, sizeof(text),
		 "quota = 1G\n"
		 "[cgroup_quota]\n"
		 "/system.slice/foo.service = 256M\n"
		 "/kubepods.slice/ = 1T\n"
		 "/kubepods.slice/kubepods-pod1.slice = 2G ; one pod\n"
		 "  /indented.slice=1M\n"
		 "/system.slice/getty@tty1:x.service = 3M\n"
		 "/odd=name,with:all = 4M\n"
		 "/ = 0\n"
		 "%s = 5M\n"
		 "# a comment\n"
		 "[quota]\n"
		 "0 = 7M\n", longpath);
	ck_assert_msg(load_text(text, &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(c.quota, 1ull << 30);
	ck_assert_uint_eq(dkm_config_quota(&c, 0), 7ull << 20);
	ck_assert_uint_eq(c.ncgroup_quotas, 8);
	ck_assert_str_eq(c.cgroup_quotas[0].prefix, "/system.slice/foo.service");
	ck_assert_uint_eq(c.cgroup_quotas[0].bytes, 256ull << 20);
	ck_assert_str_eq(c.cgroup_quotas[1].prefix, "/kubepods.slice");
	ck_assert_uint_eq(c.cgroup_quotas[1].bytes, 1ull << 40);
	ck_assert_str_eq(c.cgroup_quotas[2].prefix, "/kubepods.slice/kubepods-pod1.slice");
	ck_assert_uint_eq(c.cgroup_quotas[2].bytes, 2ull << 30);
	ck_assert_str_eq(c.cgroup_quotas[3].prefix, "/indented.slice");
	ck_assert_str_eq(c.cgroup_quotas[4].prefix, "/system.slice/getty@tty1:x.service");
	ck_assert_uint_eq(c.cgroup_quotas[4].bytes, 3ull << 20);
	ck_assert_str_eq(c.cgroup_quotas[5].prefix, "/odd=name,with:all");
	ck_assert_uint_eq(c.cgroup_quotas[5].bytes, 4ull << 20);
	ck_assert_str_eq(c.cgroup_quotas[6].prefix, "/");
	ck_assert_uint_eq(c.cgroup_quotas[6].bytes, 0);
	ck_assert_str_eq(c.cgroup_quotas[7].prefix, longpath);
	ck_assert_uint_eq(c.cgroup_quotas[7].bytes, 5ull << 20);

	/* the most specific line that covers a path */
	q = dkm_config_cgroup_quota(&c, "/kubepods.slice/kubepods-pod1.slice/cri-x.scope");
	ck_assert_ptr_eq(q, &c.cgroup_quotas[2]);
	q = dkm_config_cgroup_quota(&c, "/kubepods.slice/kubepods-pod10.slice");
	ck_assert_ptr_eq(q, &c.cgroup_quotas[1]);
	q = dkm_config_cgroup_quota(&c, "/system.slice/foo.servicex");
	ck_assert_ptr_eq(q, &c.cgroup_quotas[6]);
	q = dkm_config_cgroup_quota(&c, "/system.slice/foo.service");
	ck_assert_ptr_eq(q, &c.cgroup_quotas[0]);
	dkm_config_free(&c);
	ck_assert_ptr_null(c.cgroup_quotas);
	ck_assert_uint_eq(c.ncgroup_quotas, 0);

	/* As many lines as allowed. */
	n = (size_t)snprintf(text, sizeof(text), "[cgroup_quota]\n");
	{
		size_t cap = 64 * DKM_MAX_CGROUP_QUOTAS;
		char *big = malloc(cap);

		ck_assert_ptr_nonnull(big);
		n = (size_t)snprintf(big, cap, "[cgroup_quota]\n");
		for (unsigned i = 0; i < DKM_MAX_CGROUP_QUOTAS; i++)
			n += (size_t)snprintf(big + n, cap - n, "/s.slice/u%u.service = %uM\n", i, i);
		ck_assert_msg(load_text(big, &c, err, sizeof(err)) == 0, "%s", err);
		ck_assert_uint_eq(c.ncgroup_quotas, DKM_MAX_CGROUP_QUOTAS);
		ck_assert_uint_eq(c.cgroup_quotas[1000].bytes, 1000ull << 20);
		dkm_config_free(&c);
		/* and one more */
		snprintf(big + n, cap - n, "/one/more = 1M\n");
		ck_assert_int_eq(load_text(big, &c, err, sizeof(err)), -EINVAL);
		snprintf(text, sizeof(text), "%s:%d: [cgroup_quota]: more than %d cgroups", path,
			 DKM_MAX_CGROUP_QUOTAS + 2, DKM_MAX_CGROUP_QUOTAS);
		ck_assert_str_eq(err, text);
		dkm_config_free(&c);
		free(big);
	}
}
END_TEST

/* Lines longer than inih's buffer are read whole, for every key; line numbers stay right. */
START_TEST(test_long_lines)
{
	struct dkm_config c;
	char err[256] = "", text[16384], want[300];
	size_t n;

	n = (size_t)snprintf(text, sizeof(text), "# %0300d\nreconfigure = ", 0);
	for (unsigned i = 0; i < 8; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "%sc1e6e0a4-5b3c-4d8e-9f0a-1b2c3d4e5f6%u", i ? ", " : "", i);
	snprintf(text + n, sizeof(text) - n, "\nonline = normal\n");
	ck_assert_uint_gt(strlen(text), 500);
	ck_assert_msg(load_text(text, &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(c.reconfigure, DKM_RECONFIGURE_LIST);
	ck_assert_uint_eq(c.nreconfigure_list, 8);
	ck_assert_str_eq(c.reconfigure_list[7], "c1e6e0a4-5b3c-4d8e-9f0a-1b2c3d4e5f67");
	ck_assert(!c.online_movable);
	dkm_config_free(&c);

	/* an error after long lines names its own line */
	snprintf(text, sizeof(text), "; %0300d\nreserve = %0250d\nbogus = 1\n", 0, 1);
	ck_assert_int_eq(load_text(text, &c, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:3: unknown key \"bogus\"", path);
	ck_assert_str_eq(err, want);
	dkm_config_free(&c);

	/* a long line without '=' */
	snprintf(text, sizeof(text), "reserve = 1M\n%0250d\n", 7);
	ck_assert_int_eq(load_text(text, &c, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: syntax error (expected \"key = value\" or \"[section]\")",
		 path);
	ck_assert_str_eq(err, want);
	dkm_config_free(&c);

	/* longer than 4095 characters */
	n = (size_t)snprintf(text, sizeof(text), "[cgroup_quota]\n/");
	memset(text + n, 'a', 5000);
	strcpy(text + n + 5000, " = 1M\n/b = 1M\n");
	ck_assert_int_eq(load_text(text, &c, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: the line is longer than 4095 characters", path);
	ck_assert_str_eq(err, want);
	dkm_config_free(&c);
}
END_TEST

START_TEST(test_missing_file)
{
	struct dkm_config c;
	char err[256] = "";

	dkm_config_init(&c);
	ck_assert_int_eq(dkm_config_load(&c, "/nonexistent/daxkmemd.conf", false, err, sizeof(err)),
			 0);
	ck_assert(!c.kmem_nodes_set);
	ck_assert_int_eq(dkm_config_load(&c, "/nonexistent/daxkmemd.conf", true, err, sizeof(err)),
			 -ENOENT);
	ck_assert_str_eq(err, "/nonexistent/daxkmemd.conf: No such file or directory");
	dkm_config_free(&c);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_good);
	tcase_add_test(tc, test_errors_name_the_line);
	tcase_add_test(tc, test_all_keys);
	tcase_add_test(tc, test_parse_size);
	tcase_add_test(tc, test_reconfigure);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_daemon_prefault);
	tcase_add_test(tc, test_cgroup_quota);
	tcase_add_test(tc, test_long_lines);
	suite_add_tcase(s, tc);
	return s;
}

DKM_TEST_MAIN(config_suite)
