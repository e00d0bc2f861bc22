/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
	suite_add_tcase(s, tc);
	return s;
}

DKM_TEST_MAIN(config_suite)
