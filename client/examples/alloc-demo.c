/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * alloc-demo: allocate through libdaxkmem-client as a memkind user would, and
 * print where the blocks landed. Build: cc alloc-demo.c $(pkg-config --cflags
 * --libs libdaxkmem-client)
 */
#include <daxkmem.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
	static const daxkmem_kind_t kinds[] = { DAXKMEM_KIND_KMEM, DAXKMEM_KIND_KMEM_ALL,
						DAXKMEM_KIND_KMEM_PREFERRED };
	static const size_t sizes[] = { 64, 4000, 1 << 20 };
	int failed = 0;

	printf("alloc-demo runs on CPU %d\n", sched_getcpu());
	for (unsigned k = 0; k < 3; k++) {
		int err = daxkmem_check_available(kinds[k]);

		if (err) {
			printf("  %-15s not available: %s\n", daxkmem_kind_name(kinds[k]), strerror(err));
			failed++;
			continue;
		}
		for (unsigned i = 0; i < 3; i++) {
			char *p = daxkmem_malloc(kinds[k], sizes[i]);

			if (!p) {
				printf("  %-15s %7zu bytes: %s\n", daxkmem_kind_name(kinds[k]), sizes[i],
				       strerror(errno));
				failed++;
				continue;
			}
			memset(p, 0x5a, sizes[i]);
			printf("  %-15s %7zu bytes at %p: node %d, kind %s, usable %zu\n",
			       daxkmem_kind_name(kinds[k]), sizes[i], (void *)p, daxkmem_node_of(p),
			       daxkmem_kind_name((daxkmem_kind_t)daxkmem_detect_kind(p)),
			       daxkmem_usable_size(DAXKMEM_KIND_DETECT, p));
			daxkmem_free(DAXKMEM_KIND_DETECT, p);
		}
	}
	return failed ? 1 : 0;
}
