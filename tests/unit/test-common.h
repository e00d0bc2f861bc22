/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared by the Check unit tests: each file defines its suite and uses DKM_TEST_MAIN. */
#ifndef DKM_TEST_COMMON_H
#define DKM_TEST_COMMON_H

#include <check.h>
#include <stdlib.h>

/* Fixture sysfs trees, from tests/fixtures (set by meson). */
#ifndef DKM_FIXTURE_DIR
#error "DKM_FIXTURE_DIR must be defined"
#endif
#define FIXTURE(name) DKM_FIXTURE_DIR "/" name

#define DKM_TEST_MAIN(suite_fn)                                        \
	int main(void)                                                 \
	{                                                              \
		SRunner *sr = srunner_create(suite_fn());              \
		int failed;                                            \
		srunner_run_all(sr, CK_NORMAL);                        \
		failed = srunner_ntests_failed(sr);                    \
		srunner_free(sr);                                      \
		return failed ? EXIT_FAILURE : EXIT_SUCCESS;           \
	}

#endif
