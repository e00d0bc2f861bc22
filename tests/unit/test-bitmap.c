/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <string.h>

#include "test-common.h"
#include "util/bitmap.h"
#include "util/format.h"

static void check_roundtrip(const char *in, const char *out, unsigned count)
{
	struct dkm_bitmap b = DKM_BITMAP_INIT;
	char buf[128];

	ck_assert_int_eq(dkm_bitmap_parse_list(&b, in), 0);
	ck_assert_uint_eq(dkm_bitmap_count(&b), count);
	ck_assert_uint_eq(dkm_bitmap_format_list(&b, buf, sizeof(buf)), strlen(out));
	ck_assert_str_eq(buf, out);
	dkm_bitmap_free(&b);
}

START_TEST(test_parse_format)
{
	check_roundtrip("", "", 0);
	check_roundtrip("\n", "", 0);
	check_roundtrip("0", "0", 1);
	check_roundtrip("0-3\n", "0-3", 4);
	check_roundtrip("  2,3 ", "2-3", 2);
	check_roundtrip("0-1,8,10-11,63,64,127-129", "0-1,8,10-11,63-64,127-129", 10);
	check_roundtrip("5,1,3", "1,3,5", 3);
	check_roundtrip("8191", "8191", 1);
}
END_TEST

START_TEST(test_parse_errors)
{
	static const char *const bad[] = { "a", "1,", ",1", "1-", "3-1", "1 2", "1,,2", "-1",
					   "0x1", "1;2", "2-3-4" };
	struct dkm_bitmap b = DKM_BITMAP_INIT;

	ck_assert_int_eq(dkm_bitmap_parse_list(&b, "7"), 0);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(dkm_bitmap_parse_list(&b, bad[i]) == -EINVAL, "accepted \"%s\"",
			      bad[i]);
		/* a failed parse leaves the set as it was */
		ck_assert_uint_eq(dkm_bitmap_count(&b), 1);
		ck_assert(dkm_bitmap_test(&b, 7));
	}
	ck_assert_int_eq(dkm_bitmap_parse_list(&b, "8192"), -ERANGE);
	ck_assert_int_eq(dkm_bitmap_parse_list(&b, "99999999999999999999"), -ERANGE);
	ck_assert_int_eq(dkm_bitmap_set(&b, 8192), -ERANGE);
	dkm_bitmap_free(&b);
}
END_TEST

START_TEST(test_ops)
{
	struct dkm_bitmap a = DKM_BITMAP_INIT, b = DKM_BITMAP_INIT;
	int bit, seen = 0;

	ck_assert(dkm_bitmap_empty(&a));
	ck_assert_int_eq(dkm_bitmap_next(&a, 0), -1);
	ck_assert_int_eq(dkm_bitmap_set(&a, 200), 0);
	ck_assert_int_eq(dkm_bitmap_set(&a, 3), 0);
	ck_assert_int_eq(dkm_bitmap_next(&a, 0), 3);
	ck_assert_int_eq(dkm_bitmap_next(&a, 4), 200);
	ck_assert_int_eq(dkm_bitmap_next(&a, 201), -1);
	ck_assert(!dkm_bitmap_test(&a, 100000));
	dkm_bitmap_foreach(bit, &a)
		seen++;
	ck_assert_int_eq(seen, 2);
	ck_assert_int_eq(dkm_bitmap_copy(&b, &a), 0);
	ck_assert(dkm_bitmap_equal(&a, &b));
	ck_assert_int_eq(dkm_bitmap_parse_list(&b, "3"), 0);
	ck_assert(!dkm_bitmap_equal(&a, &b));
	/* equal regardless of how many words each has allocated */
	ck_assert_int_eq(dkm_bitmap_parse_list(&a, "3"), 0);
	ck_assert(dkm_bitmap_equal(&a, &b));
	dkm_bitmap_free(&a);
	dkm_bitmap_free(&b);
}
END_TEST

START_TEST(test_format_truncates)
{
	struct dkm_bitmap b = DKM_BITMAP_INIT;
	char buf[6];

	ck_assert_int_eq(dkm_bitmap_parse_list(&b, "0,2,4,6,8"), 0);
	ck_assert_uint_eq(dkm_bitmap_format_list(&b, buf, sizeof(buf)), 9);
	ck_assert_str_eq(buf, "0,2,4");
	dkm_bitmap_free(&b);
}
END_TEST

START_TEST(test_format_bytes)
{
	char buf[32];

	ck_assert_str_eq(dkm_format_bytes(0, buf, sizeof(buf)), "0 B");
	ck_assert_str_eq(dkm_format_bytes(1023, buf, sizeof(buf)), "1023 B");
	ck_assert_str_eq(dkm_format_bytes(4096, buf, sizeof(buf)), "4 KiB");
	ck_assert_str_eq(dkm_format_bytes(896ull << 20, buf, sizeof(buf)), "896.0 MiB");
	ck_assert_str_eq(dkm_format_bytes(3ull << 29, buf, sizeof(buf)), "1.5 GiB");
}
END_TEST

static Suite *bitmap_suite(void)
{
	Suite *s = suite_create("bitmap");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_parse_format);
	tcase_add_test(tc, test_parse_errors);
	tcase_add_test(tc, test_ops);
	tcase_add_test(tc, test_format_truncates);
	tcase_add_test(tc, test_format_bytes);
	suite_add_tcase(s, tc);
	return s;
}

DKM_TEST_MAIN(bitmap_suite)
