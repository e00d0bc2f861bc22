/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench-grant: the time to get a pre-faulted, node-bound 64 MiB memfd region,
 * four ways, measured alternately in one run (medians quoted):
 *
 *   daemon-side   through daxkmemd with daemon_prefault=always: its worker
 *                 fallocates the memfd before the REGION reply (the pages are
 *                 charged to the daemon's memory cgroup);
 *   client-side   through daxkmemd with daemon_prefault=never: the REGION
 *                 reply says CLIENT_POPULATE and the client maps the memfd and
 *                 populates it with MADV_POPULATE_WRITE, as libdaxkmem-client
 *                 does (charged to the client's cgroup);
 *   client-side fallocate
 *                 the same, populated with fallocate on the memfd from the
 *                 client (the library's fallback on kernels before 5.14);
 *   in-process    memfd + mbind + fallocate in this process, no daemon.
 *
 * Two figures each: "resident", until every page is allocated (for the
 * client-side ways that includes mapping the region), and "usable", until
 * the region is mapped and each of its pages has been written once: a
 * fallocated page is allocated but not mapped (nor zeroed) yet, its first
 * write still faults; MADV_POPULATE_WRITE maps it.
 *
 * Then the daemon-side and the client-side (MADV_POPULATE_WRITE) ways with
 * two clients asking at the same moment (a thread and a connection each;
 * the time until both have theirs): the daemon's one worker thread
 * populates regions one after the other, clients populate their own in
 * parallel.
 *
 *   bench-grant DAXKMEMD [SIZE_MIB] [REPEAT]
 */
#include <errno.h>
#include <fcntl.h>
#include <numaif.h>
#include <poll.h>
#include <pthread.h>
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

enum { DAEMON_SIDE, CLIENT_POPULATE, CLIENT_FALLOCATE, IN_PROCESS, NWAYS };

static const char *const way_names[NWAYS] = {
	"daemon-side (worker fallocate)",
	"client-side (MADV_POPULATE_WRITE)",
	"client-side (fallocate by the client)",
	"in-process memfd+mbind+fallocate",
};

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

struct daemon {
	pid_t pid;
	char sock[160];
	struct dkm_conn *c;
};

/* Start daxkmemd on dir/NAME.sock with daemon_prefault=prefault and connect to it. */
static int start_daemon(const char *exe, const char *dir, const char *name, const char *prefault,
			unsigned node, struct daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char conf[160], notify[160], buf[256], err[512];
	int nfd;
	FILE *f;

	snprintf(conf, sizeof(conf), "%s/%s.conf", dir, name);
	snprintf(d->sock, sizeof(d->sock), "%s/%s.sock", dir, name);
	snprintf(notify, sizeof(notify), "%s/%s.notify", dir, name);
	f = fopen(conf, "w");
	if (!f)
		return -1;
	fprintf(f, "kmem_nodes = %u\nsocket_group =\nmax_region_size = 64G\ndaemon_prefault = %s\n",
		node, prefault);
	fclose(f);
	nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, notify);
	if (nfd < 0 || bind(nfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	d->pid = fork();
	if (d->pid == 0) {
		setenv("NOTIFY_SOCKET", notify, 1);
		execl(exe, exe, "--config", conf, "--socket", d->sock, (char *)NULL);
		_exit(127);
	}
	for (;;) {
		struct pollfd p = { .fd = nfd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 10000) <= 0) {
			fprintf(stderr, "bench-grant: daxkmemd (%s) not ready\n", name);
			kill(d->pid, SIGKILL);
			return -1;
		}
		n = recv(nfd, buf, sizeof(buf) - 1, 0);
		if (n > 0 && (buf[n] = '\0', strstr(buf, "READY=1")))
			break;
	}
	close(nfd);
	if (dkm_conn_open(d->sock, "bench-grant", &d->c, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench-grant: %s\n", err);
		return -1;
	}
	return 0;
}

static void stop_daemon(struct daemon *d)
{
	int status;

	dkm_conn_close(d->c);
	kill(d->pid, SIGTERM);
	waitpid(d->pid, &status, 0);
}

/* Write one byte of every page: a program's first use of the region. */
static void first_writes(char *p, uint64_t size, long page)
{
	for (uint64_t off = 0; off < size; off += (uint64_t)page)
		p[off] = 1;
}

/*
 * One region one way; res and use: microseconds to resident and to usable.
 * Everything is given back before it returns.
 */
static int one(int way, struct daemon *d, uint64_t size, unsigned node, long page, double *res,
	       double *use)
{
	struct dkm_alloc_region req = { .kind = DKM_KIND_KMEM, .size = size,
					.cpu_node = (int32_t)node, .flags = DKM_ALLOC_PREFAULT };
	struct dkm_region reg = { 0 };
	char *p = NULL;
	double t0 = now_us();
	int fd;

	if (way == IN_PROCESS) {
		fd = local_region(size, (int)node);
		if (fd < 0) {
			perror("bench-grant: local region");
			return -1;
		}
	} else {
		if (dkm_conn_alloc(d->c, &req, &reg, &fd) < 0) {
			fprintf(stderr, "bench-grant: %s\n", d->c->err);
			return -1;
		}
		if ((way == DAEMON_SIDE) != !!(reg.flags & DKM_ALLOC_PREFAULT) ||
		    (way != DAEMON_SIDE) != !!(reg.flags & DKM_REGION_CLIENT_POPULATE)) {
			fprintf(stderr, "bench-grant: %s: the REGION flags are 0x%x\n", way_names[way],
				reg.flags);
			return -1;
		}
	}
	if (way == CLIENT_POPULATE) {
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED || dkm_region_populate(p, size, fd) < 0) {
			perror("bench-grant: populating");
			return -1;
		}
	} else if (way == CLIENT_FALLOCATE && fallocate(fd, 0, 0, (off_t)size) < 0) {
		perror("bench-grant: fallocate");
		return -1;
	}
	*res = now_us() - t0;
	if (!p) {
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			perror("bench-grant: mmap");
			return -1;
		}
	}
	first_writes(p, size, page);
	*use = now_us() - t0;
	munmap(p, size);
	close(fd);
	if (way != IN_PROCESS)
		dkm_conn_release(d->c, reg.id);
	return 0;
}

/* Two clients at once: one thread each, on connections of their own. */
struct pair_arg {
	int way;
	struct daemon d;
	uint64_t size;
	unsigned node;
	long page;
	pthread_barrier_t *start;
	double res, use;
	int err;
};

static void *pair_thread(void *arg)
{
	struct pair_arg *a = arg;

	pthread_barrier_wait(a->start);
	a->err = one(a->way, &a->d, a->size, a->node, a->page, &a->res, &a->use);
	return NULL;
}

static int pair(int way, const struct daemon *d, uint64_t size, unsigned node, long page,
		double *res, double *use)
{
	struct pair_arg a[2];
	pthread_barrier_t start;
	pthread_t th[2];
	char err[512];

	pthread_barrier_init(&start, NULL, 3);
	for (int k = 0; k < 2; k++) {
		a[k] = (struct pair_arg){ .way = way, .d = *d, .size = size, .node = node,
					  .page = page, .start = &start };
		if (dkm_conn_open(d->sock, "bench-grant-pair", &a[k].d.c, err, sizeof(err)) < 0) {
			fprintf(stderr, "bench-grant: %s\n", err);
			return -1;
		}
		pthread_create(&th[k], NULL, pair_thread, &a[k]);
	}
	pthread_barrier_wait(&start);
	for (int k = 0; k < 2; k++)
		pthread_join(th[k], NULL);
	pthread_barrier_destroy(&start);
	*res = a[0].res > a[1].res ? a[0].res : a[1].res;
	*use = a[0].use > a[1].use ? a[0].use : a[1].use;
	for (int k = 0; k < 2; k++)
		dkm_conn_close(a[k].d.c);
	return a[0].err < 0 || a[1].err < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/dkm-bench-XXXXXX", buf[256];
	uint64_t size = (argc > 2 ? strtoull(argv[2], NULL, 10) : 64) << 20;
	int repeat = argc > 3 ? atoi(argv[3]) : 21;
	long page = sysconf(_SC_PAGESIZE);
	struct daemon daemons[2];
	double *res[NWAYS], *use[NWAYS], *pres[2], *puse[2];
	unsigned cpu, node;

	if (argc < 2 || repeat < 1) {
		fprintf(stderr, "usage: bench-grant DAXKMEMD [SIZE_MIB] [REPEAT]\n");
		return 2;
	}
	for (int w = 0; w < NWAYS; w++) {
		res[w] = calloc((size_t)repeat, sizeof(double));
		use[w] = calloc((size_t)repeat, sizeof(double));
		if (!res[w] || !use[w])
			return 1;
	}
	for (int k = 0; k < 2; k++) {
		pres[k] = calloc((size_t)repeat, sizeof(double));
		puse[k] = calloc((size_t)repeat, sizeof(double));
		if (!pres[k] || !puse[k])
			return 1;
	}
	if (!mkdtemp(dir) || getcpu(&cpu, &node) < 0)
		return 1;
	if (start_daemon(argv[1], dir, "daemon-side", "always", node, &daemons[0]) < 0 ||
	    start_daemon(argv[1], dir, "client-side", "never", node, &daemons[1]) < 0)
		return 1;
	/* alternate the ways, in a rotating order, so that the machine's noise falls on all alike */
	for (int i = 0; i < repeat; i++)
		for (int k = 0; k < NWAYS; k++) {
			int w = (i + k) % NWAYS;
			struct daemon *d = w == DAEMON_SIDE ? &daemons[0] : &daemons[1];

			if (one(w, d, size, node, page, &res[w][i], &use[w][i]) < 0)
				return 1;
		}
	for (int i = 0; i < repeat; i++)
		for (int k = 0; k < 2; k++) {
			int w = (i + k) % 2;

			if (pair(w == 0 ? DAEMON_SIDE : CLIENT_POPULATE, &daemons[w], size, node, page,
				 &pres[w][i], &puse[w][i]) < 0)
				return 1;
		}
	stop_daemon(&daemons[0]);
	stop_daemon(&daemons[1]);
	printf("pre-faulted %llu MiB region bound to node %u, %d runs of each way, alternating;\n"
	       "microseconds: median (min-max)\n",
	       (unsigned long long)(size >> 20), node, repeat);
	printf("  %-40s %28s %28s\n", "", "resident", "usable (every page written)");
	for (int w = 0; w < NWAYS; w++) {
		char a[64], b[64];

		qsort(res[w], (size_t)repeat, sizeof(double), cmp_double);
		qsort(use[w], (size_t)repeat, sizeof(double), cmp_double);
		snprintf(a, sizeof(a), "%.0f (%.0f-%.0f)", res[w][repeat / 2], res[w][0],
			 res[w][repeat - 1]);
		snprintf(b, sizeof(b), "%.0f (%.0f-%.0f)", use[w][repeat / 2], use[w][0],
			 use[w][repeat - 1]);
		printf("  %-40s %28s %28s\n", way_names[w], a, b);
	}
	printf("  ratios of the medians to daemon-side, resident / usable:\n");
	for (int w = 1; w < NWAYS; w++)
		printf("    %-38s %.3f / %.3f\n", way_names[w], res[w][repeat / 2] / res[0][repeat / 2],
		       use[w][repeat / 2] / use[0][repeat / 2]);
	printf("  ratio daemon-side/in-process (medians), resident / usable: %.3f / %.3f\n",
	       res[0][repeat / 2] / res[IN_PROCESS][repeat / 2],
	       use[0][repeat / 2] / use[IN_PROCESS][repeat / 2]);
	printf("two clients at once, until both have theirs:\n");
	for (int k = 0; k < 2; k++) {
		char a[64], b[64];

		qsort(pres[k], (size_t)repeat, sizeof(double), cmp_double);
		qsort(puse[k], (size_t)repeat, sizeof(double), cmp_double);
		snprintf(a, sizeof(a), "%.0f (%.0f-%.0f)", pres[k][repeat / 2], pres[k][0],
			 pres[k][repeat - 1]);
		snprintf(b, sizeof(b), "%.0f (%.0f-%.0f)", puse[k][repeat / 2], puse[k][0],
			 puse[k][repeat - 1]);
		printf("  %-40s %28s %28s\n", way_names[k == 0 ? DAEMON_SIDE : CLIENT_POPULATE], a, b);
	}
	printf("  ratio client-side/daemon-side (medians), resident / usable: %.3f / %.3f\n",
	       pres[1][repeat / 2] / pres[0][repeat / 2], puse[1][repeat / 2] / puse[0][repeat / 2]);
	snprintf(buf, sizeof(buf), "rm -rf %s", dir);
	if (system(buf) != 0)
		return 1;
	for (int w = 0; w < NWAYS; w++) {
		free(res[w]);
		free(use[w]);
	}
	for (int k = 0; k < 2; k++) {
		free(pres[k]);
		free(puse[k]);
	}
	return 0;
}
