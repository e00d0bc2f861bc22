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
		     "unknown key \"kmem_nodes\" in section [broker]");
	expect_error("kmem_nodes = 2\nthis is not ini\nfoo = 1\n", 2,
		     "syntax error (expected \"key = value\" or \"[section]\")");
	/* the first error wins even when a later line is also wrong */
	expect_error("bar = 1\nfoo = 1\n", 1, "unknown key \"bar\"");
	/* no newline at the end of the last line */
	expect_error("kmem_nodes = 1\nzzz = 1", 2, "unknown key \"zzz\"");
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
	tcase_add_test(tc, test_missing_file);
	suite_add_tcase(s, tc);
	return s;
}

DKM_TEST_MAIN(config_suite)
