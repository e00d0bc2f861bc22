/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mk-dlsym LIBRARY NAME...: what an OpenMP runtime does with memkind: dlopen
 * LIBRARY, dlsym every NAME (a MEMKIND_* kind variable is read as a void **
 * and dereferenced), then ask memkind_check_available of MEMKIND_DEFAULT.
 * Prints each missing name; exit 0 when all were found and DEFAULT is
 * available.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	int (*check)(void *);
	void **def, *h;
	int missing = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: mk-dlsym LIBRARY NAME...\n");
		return 2;
	}
	h = dlopen(argv[1], RTLD_LAZY);
	if (!h) {
		printf("dlopen: %s\n", dlerror());
		return 1;
	}
	for (int i = 2; i < argc; i++) {
		void *s = dlsym(h, argv[i]);

		if (!s) {
			printf("missing %s\n", argv[i]);
			missing++;
		} else if (!strncmp(argv[i], "MEMKIND_", 8) && !*(void **)s) {
			printf("kind %s is NULL\n", argv[i]);
			missing++;
		}
	}
	check = (int (*)(void *))dlsym(h, "memkind_check_available");
	def = dlsym(h, "MEMKIND_DEFAULT");
	if (!check || !def || check(*def) != 0) {
		printf("MEMKIND_DEFAULT is not available\n");
		missing++;
	}
	return missing ? 1 : 0;
}
