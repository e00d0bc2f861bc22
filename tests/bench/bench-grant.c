/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench-grant: the time to get a pre-faulted, node-bound 64 MiB memfd region
 * through daxkmemd, against doing the same memfd + mbind + populate inside
 * the process. Both are measured alternately in one run; medians are quoted.
 *
 *   bench-grant DAXKMEMD [SIZE_MIB] [REPEAT]
 */
#include <errno.h>
#include <fcntl.h>
#include <numaif.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The in-process peer: what the daemon does for a region, minus the socket. */
static int local_region(uint64_t size, int node)
{
	unsigned long mask[16] = { 0 };
	void *p;
	int fd = memfd_create("bench-local", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		return -1;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	mask[node / 64] |= 1ul << (node % 64);
	if (mbind(p, size, MPOL_BIND, mask, 1024 + 1, 0) < 0)
		return -1;
	munmap(p, size);
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
		return -1;
	if (fallocate(fd, 0, 0, (off_t)size) < 0)
		return -1;
	return fd;
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/dkm-bench-XXXXXX", conf[128], sock[128], notify[128], buf[256], err[512];
	uint64_t size = (argc > 2 ? strtoull(argv[2], NULL, 10) : 64) << 20;
	int repeat = argc > 3 ? atoi(argv[3]) : 21;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	double *dt, *lt;
	struct dkm_conn *c;
	unsigned cpu, node;
	int nfd, status;
	pid_t pid;
	FILE *f;

	if (argc < 2 || repeat < 1) {
		fprintf(stderr, "usage: bench-grant DAXKMEMD [SIZE_MIB] [REPEAT]\n");
		return 2;
	}
	dt = calloc((size_t)repeat, sizeof(*dt));
	lt = calloc((size_t)repeat, sizeof(*lt));
	if (!dt || !lt || !mkdtemp(dir) || getcpu(&cpu, &node) < 0)
		return 1;
	snprintf(conf, sizeof(conf), "%s/conf", dir);
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	snprintf(notify, sizeof(notify), "%s/notify", dir);
	f = fopen(conf, "w");
	fprintf(f, "kmem_nodes = %u\nsocket_group =\nmax_region_size = 64G\n", node);
	fclose(f);
	nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, notify);
	if (bind(nfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return 1;
	pid = fork();
	if (pid == 0) {
		setenv("NOTIFY_SOCKET", notify, 1);
		execl(argv[1], argv[1], "--config", conf, "--socket", sock, (char *)NULL);
		_exit(127);
	}
	for (;;) {
		struct pollfd p = { .fd = nfd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 10000) <= 0) {
			fprintf(stderr, "bench-grant: daxkmemd not ready\n");
			kill(pid, SIGKILL);
			return 1;
		}
		n = recv(nfd, buf, sizeof(buf) - 1, 0);
		if (n > 0 && (buf[n] = '\0', strstr(buf, "READY=1")))
			break;
	}
	if (dkm_conn_open(sock, "bench-grant", &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench-grant: %s\n", err);
		return 1;
	}
	/* alternate the two so that the machine's noise falls on both alike */
	for (int i = 0; i < repeat; i++) {
		struct dkm_alloc_region req = { .kind = DKM_KIND_KMEM, .size = size,
						.cpu_node = (int32_t)node, .flags = DKM_ALLOC_PREFAULT };
		struct dkm_region reg;
		double t0;
		int fd;

		t0 = now_us();
		if (dkm_conn_alloc(c, &req, &reg, &fd) < 0) {
			fprintf(stderr, "bench-grant: %s\n", c->err);
			return 1;
		}
		dt[i] = now_us() - t0;
		close(fd);
		dkm_conn_release(c, reg.id);

		t0 = now_us();
		fd = local_region(size, (int)node);
		lt[i] = now_us() - t0;
		if (fd < 0) {
			perror("bench-grant: local region");
			return 1;
		}
		close(fd);
	}
	dkm_conn_close(c);
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	qsort(dt, (size_t)repeat, sizeof(*dt), cmp_double);
	qsort(lt, (size_t)repeat, sizeof(*lt), cmp_double);
	printf("pre-faulted %llu MiB region bound to node %u, %d runs each, alternating\n",
	       (unsigned long long)(size >> 20), node, repeat);
	printf("  %-34s median %9.0f us   min %9.0f us   max %9.0f us\n", "through daxkmemd (socket + memfd)",
	       dt[repeat / 2], dt[0], dt[repeat - 1]);
	printf("  %-34s median %9.0f us   min %9.0f us   max %9.0f us\n", "in-process memfd+mbind+fallocate",
	       lt[repeat / 2], lt[0], lt[repeat - 1]);
	printf("  ratio daemon/in-process (medians): %.3f\n", dt[repeat / 2] / lt[repeat / 2]);
	snprintf(buf, sizeof(buf), "rm -rf %s", dir);
	if (system(buf) != 0)
		return 1;
	free(dt);
	free(lt);
	return 0;
}
