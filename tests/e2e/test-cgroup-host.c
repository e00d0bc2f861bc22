/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daxkmemd and the kernel's memory cgroups on this machine: the real
 * charges. The test makes a throwaway child of its own cgroup in the v1
 * memory hierarchy (/sys/fs/cgroup/memory/...; systemd's hybrid layout),
 * with children of its own for the daemon and for the clients, sets their
 * memory.limit_in_bytes, moves forked processes into them, reads their
 * memory.usage_in_bytes, and removes them all at the end, on failure too
 * (the runner's parent cleans up after the forked tests, and on SIGTERM).
 *
 * What is checked: a client's cgroup shows in CLIENTS; a 64 MiB pre-faulted
 * request in a 32 MiB cgroup is refused with EDQUOT naming the cgroup, with
 * no OOM kill; a region the client populates (the library) is charged to the
 * client's cgroup, not the daemon's; [cgroup_quota] over two clients of one
 * cgroup; daemon_prefault=always charges the daemon instead; and the charge
 * as the guard: populating beyond the cgroup's limit fails in the client
 * (ENOMEM with the OOM killer off, the region given back) or OOM-kills the
 * client in its own cgroup, and the daemon is unharmed either way.
 *
 * Exit 77 (skipped) on a host without a v1 memory hierarchy that the test may
 * write below (a v2-only host would need a delegated subtree, which this
 * test does not set up).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daxkmem.h"
#include "harness.h"
#include "test-common.h"

#define MIB (1024ull * 1024)
#define V1_ROOT "/sys/fs/cgroup/memory"

static char own[1024];        /* this process's cgroup in the v1 memory hierarchy */
static char ours_rel[1100];   /* own + "/dkm-e2e-PID", as the daemon sees it: the throwaway parent */
static char ours[1200];       /* the same in the file system: V1_ROOT + ours_rel */

/* ---- the cgroups ---- */

static void cg_write(const char *name, const char *file, const char *text)
{
	char path[PATH_MAX * 2];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s/%s", ours, name, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "%s: %m", path);
	n = write(fd, text, strlen(text));
	ck_assert_msg(n == (ssize_t)strlen(text), "writing %s to %s: %m", text, path);
	close(fd);
}

static uint64_t cg_read(const char *name, const char *file)
{
	char path[PATH_MAX * 2];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", ours, name, file);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s: %m", path);
	ck_assert_int_eq(fscanf(f, "%llu", &v), 1);
	fclose(f);
	return v;
}

/* A key of memory.oom_control ("oom_kill"). */
static uint64_t cg_oom(const char *name, const char *key)
{
	char path[PATH_MAX * 2], k[64];
	unsigned long long v;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/memory.oom_control", ours, name);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s: %m", path);
	while (fscanf(f, "%63s %llu", k, &v) == 2)
		if (!strcmp(k, key)) {
			fclose(f);
			return v;
		}
	fclose(f);
	ck_abort_msg("no %s in %s", key, path);
	return 0;
}

/* A cgroup below ours, limited to limit bytes (0: no limit). */
static void cg_make(const char *name, uint64_t limit)
{
	char path[PATH_MAX * 2], text[32];

	snprintf(path, sizeof(path), "%s/%s", ours, name);
	ck_assert_msg(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir %s: %m", path);
	if (limit) {
		snprintf(text, sizeof(text), "%llu", (unsigned long long)limit);
		cg_write(name, "memory.limit_in_bytes", text);
	}
}

static void cg_move(const char *name, pid_t pid)
{
	char text[32];

	snprintf(text, sizeof(text), "%d", (int)pid);
	cg_write(name, "cgroup.procs", text);
}

/* The path of a cgroup below ours as /proc/PID/cgroup and the daemon name it. */
static const char *cg_path(const char *name)
{
	static char path[1400];

	snprintf(path, sizeof(path), "%s/%s", ours_rel, name);
	return path;
}

/* Kill what is left in dir's cgroups, remove them (depth first), then dir. */
static void remove_tree(const char *dir)
{
	char path[PATH_MAX * 2];
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (e->d_type == DT_DIR && e->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			remove_tree(path);
		}
	closedir(d);
	for (int tries = 0; tries < 500; tries++) {
		char procs[PATH_MAX * 2];
		FILE *f;
		int pid, n = 0;

		snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
		f = fopen(procs, "r");
		while (f && fscanf(f, "%d", &pid) == 1) {
			kill(pid, SIGKILL);
			n++;
		}
		if (f)
			fclose(f);
		if (!n && rmdir(dir) == 0)
			return;
		poll(NULL, 0, 10);
	}
	fprintf(stderr, "test-cgroup-host: could not remove %s: %s\n", dir, strerror(errno));
}

static void on_signal(int sig)
{
	remove_tree(ours);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ---- clients in a cgroup: processes of their own told what to do through pipes ---- */

/*
 * A client is this program again, exec'ed with "--child NAME" (so that it
 * runs natively when the test runs under valgrind, whose own memory would
 * otherwise be charged to the client's small cgroup): it moves itself into
 * the cgroup given in DKM_TEST_CGROUP before it talks to the daemon, runs
 * the function NAME, and talks to the test on descriptors 3 (from it) and
 * 4 (to it). It uses no Check assertion: it reports what it saw.
 */
struct child {
	pid_t pid;
	int to, from; /* our ends */
};

static const char *self_path;

/* Start the client that runs the child function fn_name (the table at the end) in cgroup name. */
static struct child child_start(const char *name, const char *fn_name, const char *sock)
{
	char cgroup[PATH_MAX * 2];
	int down[2], up[2];
	struct child c;

	snprintf(cgroup, sizeof(cgroup), "%s/%s", ours, name);
	ck_assert_int_eq(pipe2(down, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(up, O_CLOEXEC), 0);
	c.pid = fork();
	ck_assert_int_ge(c.pid, 0);
	if (c.pid == 0) {
		/* dup2 clears close-on-exec on 3 and 4 */
		if (dup2(down[0], 3) < 0 || dup2(up[1], 4) < 0)
			_exit(126);
		setenv("DAXKMEM_SOCKET", sock, 1);
		setenv("DAXKMEM_RETAIN", "0", 1);
		setenv("DKM_TEST_CGROUP", cgroup, 1);
		execl(self_path, self_path, "--child", fn_name, (char *)NULL);
		_exit(127);
	}
	close(down[0]);
	close(up[1]);
	c.to = down[1];
	c.from = up[0];
	return c;
}

/* In the child: a request for the CPU node it runs on (no Check here). */
static struct dkm_alloc_region child_req(uint64_t size, uint32_t flags)
{
	struct dkm_alloc_region req = { .kind = DKM_KIND_KMEM, .size = size, .flags = flags };
	unsigned cpu, node = 0;

	if (getcpu(&cpu, &node) < 0)
		node = 0;
	req.cpu_node = (int32_t)node;
	return req;
}

/* In the child: one line to the parent. */
static void child_say(struct child *me, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void child_say(struct child *me, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(me->to, line, (size_t)n) != n)
		_exit(3);
}

/* In the child: until the parent says go on (or goes away). */
static void child_wait(struct child *me)
{
	char b;

	if (read(me->from, &b, 1) < 0)
		_exit(3);
}

/* In the parent: the child's next line (without its newline). */
static const char *child_hear(struct child *c)
{
	static char line[512];
	size_t n = 0;

	while (n + 1 < sizeof(line)) {
		struct pollfd p = { .fd = c->from, .events = POLLIN };
		ssize_t r;

		ck_assert_msg(poll(&p, 1, 60000) == 1, "the child said nothing for 60 s");
		r = read(c->from, line + n, 1);
		if (r <= 0)
			break;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	return line;
}

/* In the parent: let the child go on, and wait for it; its wait status. */
static int child_end(struct child *c)
{
	int status = 0;

	if (write(c->to, "x", 1) < 0) {
		/* gone already */
	}
	close(c->to);
	close(c->from);
	ck_assert_int_eq(waitpid(c->pid, &status, 0), c->pid);
	return status;
}

/* The daemon, in a cgroup of its own (its charges from then on go there). */
static void start(struct daemon *d, const char *conf, const char *cgroup)
{
	daemon_start(d, conf);
	cg_make(cgroup, 0);
	cg_move(cgroup, d->pid);
}

/* ---- the tests ---- */

/* A region through the library, populated as the daemon says; "ok" or the errno name. */
static void get_region(struct child *me, uint64_t size)
{
	daxkmem_region_t *r = daxkmem_region_get(DAXKMEM_KIND_KMEM, size, 1);

	if (!r) {
		child_say(me, "error %s", strerrorname_np(errno));
		return;
	}
	child_say(me, "ok");
	child_wait(me);
	daxkmem_region_release(r);
}

static void client_64m(struct child *me)
{
	get_region(me, 64 * MIB);
}

static void client_32m(struct child *me)
{
	get_region(me, 32 * MIB);
}

/* The message of the daemon for 64 MiB pre-faulted (the conn API keeps it). */
static void client_64m_message(struct child *me)
{
	struct dkm_conn *c = NULL;
	char err[512];
	struct dkm_alloc_region req = child_req(64 * MIB, DKM_ALLOC_PREFAULT);
	struct dkm_region reg;
	int fd, r;

	if (dkm_conn_open(getenv("DAXKMEM_SOCKET"), "confined", &c, err, sizeof(err)) < 0) {
		child_say(me, "connect: %s", err);
		return;
	}
	r = dkm_conn_alloc(c, &req, &reg, &fd);
	child_say(me, "%d %s", r, c->err);
	dkm_conn_close(c);
}

START_TEST(test_shown_and_refused)
{
	struct daemon d;
	struct child c;
	const char *said;
	char out[16384], want[4096];

	start(&d, NULL, "refuse-daemon");
	cg_make("refuse-client", 32 * MIB);
	/* the case, through the wire: EDQUOT naming the cgroup and the figures */
	c = child_start("refuse-client", "client_64m_message", d.sock);
	said = child_hear(&c);
	snprintf(want, sizeof(want), "-%d cgroup %s cannot take 64.0 MiB: memory.limit_in_bytes 32.0 MiB, "
		 "memory.usage_in_bytes ", EDQUOT, cg_path("refuse-client"));
	ck_assert_msg(!strncmp(said, want, strlen(want)) && strstr(said, "granted not yet resident: ") &&
			      strstr(said, " left"),
		      "got \"%s\", want \"%s...\"", said, want);
	ck_assert_int_eq(child_end(&c), 0);
	/* and through the library: EDQUOT */
	c = child_start("refuse-client", "client_64m", d.sock);
	ck_assert_str_eq(child_hear(&c), "error EDQUOT");
	ck_assert_int_eq(child_end(&c), 0);
	/* refused before any page was charged: nothing hit the limit, nobody was OOM-killed */
	ck_assert_uint_eq(cg_read("refuse-client", "memory.failcnt"), 0);
	ck_assert_uint_eq(cg_oom("refuse-client", "oom_kill"), 0);

	/* a client under the limit holds 32 MiB; CLIENTS shows its cgroup and the limit */
	cg_make("shown-client", 64 * MIB);
	c = child_start("shown-client", "client_32m", d.sock);
	ck_assert_str_eq(child_hear(&c), "ok");
	{
		const char *args[] = { "--socket", d.sock, "clients", "--json", NULL };

		ck_assert_int_eq(run_program(DAXKMEMCTL_PATH, args, (uid_t)-1, out, sizeof(out), 10000), 0);
		snprintf(want, sizeof(want), "\"path\": \"%s\"", cg_path("shown-client"));
		ck_assert_msg(strstr(out, want) && strstr(out, "\"version\": \"v1\"") &&
				      strstr(out, "\"limit\": 67108864") &&
				      strstr(out, "\"charged_to\": \"client\"") &&
				      strstr(out, "\"client_charged\": 33554432"),
			      "no %s (and the rest) in\n%s", want, out);
	}
	ck_assert_int_eq(child_end(&c), 0);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_charged_to_client)
{
	struct daemon d;
	struct child c;
	uint64_t daemon0, client0, daemon1, client1;

	start(&d, NULL, "charge-daemon");
	cg_make("charge-client", 128 * MIB);
	daemon0 = cg_read("charge-daemon", "memory.usage_in_bytes");
	client0 = cg_read("charge-client", "memory.usage_in_bytes");
	c = child_start("charge-client", "client_32m", d.sock);
	ck_assert_str_eq(child_hear(&c), "ok");
	daemon1 = cg_read("charge-daemon", "memory.usage_in_bytes");
	client1 = cg_read("charge-client", "memory.usage_in_bytes");
	fprintf(stderr, "client-side population: client cgroup %llu -> %llu, daemon cgroup %llu -> %llu\n",
		(unsigned long long)client0, (unsigned long long)client1,
		(unsigned long long)daemon0, (unsigned long long)daemon1);
	/* the client's cgroup holds the region, the daemon's did not grow by it */
	ck_assert_uint_ge(client1, client0 + 32 * MIB);
	ck_assert_uint_lt(daemon1, daemon0 + 8 * MIB);
	ck_assert_uint_eq(status_granted(&d, 0), 32 * MIB);
	ck_assert_int_eq(child_end(&c), 0);
	/* released and revoked: the charge goes with the pages */
	ck_assert(wait_granted(&d, 0, 0, 5000));
	ck_assert_uint_lt(cg_read("charge-client", "memory.usage_in_bytes"), client0 + 8 * MIB);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_daemon_prefault_always)
{
	struct daemon d;
	struct child c;
	uint64_t daemon0, client0, daemon1, client1;

	start(&d, "daemon_prefault = always", "always-daemon");
	cg_make("always-client", 128 * MIB);
	daemon0 = cg_read("always-daemon", "memory.usage_in_bytes");
	client0 = cg_read("always-client", "memory.usage_in_bytes");
	c = child_start("always-client", "client_32m", d.sock);
	ck_assert_str_eq(child_hear(&c), "ok");
	daemon1 = cg_read("always-daemon", "memory.usage_in_bytes");
	client1 = cg_read("always-client", "memory.usage_in_bytes");
	fprintf(stderr, "daemon-side population: client cgroup %llu -> %llu, daemon cgroup %llu -> %llu\n",
		(unsigned long long)client0, (unsigned long long)client1,
		(unsigned long long)daemon0, (unsigned long long)daemon1);
	/* the daemon populated it: charged to the daemon, outside the client's limit */
	ck_assert_uint_ge(daemon1, daemon0 + 32 * MIB);
	ck_assert_uint_lt(client1, client0 + 8 * MIB);
	ck_assert_int_eq(child_end(&c), 0);
	daemon_stop(&d);
}
END_TEST

/* Two connections of one cgroup, each in a process of its own. */
static void quota_first(struct child *me)
{
	struct dkm_conn *c = NULL;
	char err[512];
	struct dkm_alloc_region req = child_req(32 * MIB, DKM_ALLOC_NO_PREFAULT);
	struct dkm_region reg;
	int fd;

	if (dkm_conn_open(getenv("DAXKMEM_SOCKET"), "quota-1", &c, err, sizeof(err)) < 0) {
		child_say(me, "connect: %s", err);
		return;
	}
	child_say(me, "%d %s", dkm_conn_alloc(c, &req, &reg, &fd), c->err);
	child_wait(me);
	dkm_conn_close(c);
}

static void quota_second(struct child *me)
{
	struct dkm_conn *c = NULL;
	char err[512];
	struct dkm_alloc_region req = child_req(32 * MIB, DKM_ALLOC_NO_PREFAULT);
	struct dkm_region reg;
	int fd;

	if (dkm_conn_open(getenv("DAXKMEM_SOCKET"), "quota-2", &c, err, sizeof(err)) < 0) {
		child_say(me, "connect: %s", err);
		return;
	}
	child_say(me, "%d %s", dkm_conn_alloc(c, &req, &reg, &fd), c->err);
	req.size = 16 * MIB;
	child_say(me, "%d %s", dkm_conn_alloc(c, &req, &reg, &fd), c->err);
	child_wait(me);
	dkm_conn_close(c);
}

START_TEST(test_cgroup_quota)
{
	char conf[4096], want[4096];
	struct daemon d;
	struct child a, b, other;
	const char *said;

	cg_make("quota-client", 0);
	cg_make("quota-other", 0);
	snprintf(conf, sizeof(conf), "[cgroup_quota]\n%s = 48M", cg_path("quota-client"));
	start(&d, conf, "quota-daemon");
	a = child_start("quota-client", "quota_first", d.sock);
	ck_assert_str_eq(child_hear(&a), "0 ");
	b = child_start("quota-client", "quota_second", d.sock);
	said = child_hear(&b);
	snprintf(want, sizeof(want), "-%d cgroup %s is over its quota of 48.0 MiB: 32.0 MiB granted, "
		 "32.0 MiB asked", EDQUOT, cg_path("quota-client"));
	ck_assert_str_eq(said, want);
	ck_assert_str_eq(child_hear(&b), "0 ");
	/* another cgroup is not bound by it */
	other = child_start("quota-other", "quota_first", d.sock);
	ck_assert_str_eq(child_hear(&other), "0 ");
	ck_assert_uint_eq(status_granted(&d, 0), 80 * MIB);
	ck_assert_int_eq(child_end(&other), 0);
	ck_assert_int_eq(child_end(&b), 0);
	ck_assert_int_eq(child_end(&a), 0);
	daemon_stop(&d);
}
END_TEST

/*
 * The daemon checks the cgroup it read at HELLO; a process that moves to a
 * smaller one afterwards is charged there all the same (the kernel's charge
 * is the guard), and its population fails or gets it killed, there.
 */
static void move_then_populate(struct child *me)
{
	daxkmem_region_t *r;

	/* connect (and hold nothing) in the first cgroup */
	if (daxkmem_check_available(DAXKMEM_KIND_KMEM) != 0) {
		child_say(me, "check_available: %s", strerror(errno));
		return;
	}
	child_say(me, "connected");
	child_wait(me); /* the parent moves us */
	r = daxkmem_region_get(DAXKMEM_KIND_KMEM, 32 * MIB, 1);
	if (!r) {
		child_say(me, "error %s", strerrorname_np(errno));
		child_wait(me);
		return;
	}
	child_say(me, "ok");
	child_wait(me);
	daxkmem_region_release(r);
}

/*
 * The same through the conn API, to see what dkm_region_populate leaves
 * between its failure and the release: nothing (the pages it populated are
 * punched out at once, so the cgroup has room again before anything else).
 */
static void move_then_populate_conn(struct child *me)
{
	struct dkm_conn *c = NULL;
	char err[512];
	struct dkm_alloc_region req = child_req(32 * MIB, DKM_ALLOC_PREFAULT);
	struct dkm_region reg;
	struct stat st;
	void *p;
	int fd, r;

	if (dkm_conn_open(getenv("DAXKMEM_SOCKET"), "guard-conn", &c, err, sizeof(err)) < 0) {
		child_say(me, "connect: %s", err);
		return;
	}
	child_say(me, "connected");
	child_wait(me);
	if (dkm_conn_alloc(c, &req, &reg, &fd) < 0) {
		child_say(me, "alloc: %s", c->err);
		return;
	}
	p = mmap(NULL, 32 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	r = p == MAP_FAILED ? -errno : dkm_region_populate(p, 32 * MIB, fd);
	fstat(fd, &st);
	child_say(me, "%s %llu", strerrorname_np(-r), (unsigned long long)st.st_blocks * 512);
	child_wait(me); /* the parent looks at the cgroup meanwhile */
	munmap(p, 32 * MIB);
	dkm_conn_release(c, reg.id);
	close(fd);
	dkm_conn_close(c);
}

START_TEST(test_charge_is_the_guard)
{
	struct daemon d;
	struct child c;
	char b;
	int status;

	start(&d, NULL, "guard-daemon");
	cg_make("guard-big", 0);
	cg_make("guard-small", 16 * MIB);
	/* the OOM killer off: the population fails with ENOMEM, the region goes back */
	cg_write("guard-small", "memory.oom_control", "1");
	c = child_start("guard-big", "move_then_populate", d.sock);
	ck_assert_str_eq(child_hear(&c), "connected");
	cg_move("guard-small", c.pid);
	ck_assert_int_eq(write(c.to, "x", 1), 1);
	ck_assert_str_eq(child_hear(&c), "error ENOMEM");
	ck_assert(wait_granted(&d, 0, 0, 5000));
	ck_assert_uint_lt(cg_read("guard-small", "memory.usage_in_bytes"), 8 * MIB);
	ck_assert_uint_eq(cg_oom("guard-small", "oom_kill"), 0);
	ck_assert_int_eq(child_end(&c), 0);
	/* the failed population left nothing charged, before the region is even released */
	c = child_start("guard-big", "move_then_populate_conn", d.sock);
	ck_assert_str_eq(child_hear(&c), "connected");
	cg_move("guard-small", c.pid);
	ck_assert_int_eq(write(c.to, "x", 1), 1);
	ck_assert_str_eq(child_hear(&c), "ENOMEM 0");
	ck_assert_uint_eq(status_granted(&d, 0), 32 * MIB);
	ck_assert_uint_lt(cg_read("guard-small", "memory.usage_in_bytes"), 8 * MIB);
	ck_assert_int_eq(child_end(&c), 0);
	ck_assert(wait_granted(&d, 0, 0, 5000));

	/* the OOM killer on: it kills the client in its own cgroup; the daemon goes on */
	cg_write("guard-small", "memory.oom_control", "0");
	c = child_start("guard-big", "move_then_populate", d.sock);
	ck_assert_str_eq(child_hear(&c), "connected");
	cg_move("guard-small", c.pid);
	ck_assert_int_eq(write(c.to, "x", 1), 1);
	ck_assert_int_eq(read(c.from, &b, 1), 0); /* it dies without a word */
	status = child_end(&c);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status 0x%x", status);
	ck_assert_uint_ge(cg_oom("guard-small", "oom_kill"), 1);
	ck_assert(daemon_alive(&d));
	ck_assert(wait_granted(&d, 0, 0, 5000));
	ck_assert_uint_eq(cg_oom("guard-daemon", "oom_kill"), 0);
	daemon_stop(&d);
}
END_TEST

static Suite *host_suite(void)
{
	Suite *s = suite_create("cgroup-host-e2e");
	TCase *tc = tcase_create("e2e");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_shown_and_refused);
	tcase_add_test(tc, test_charged_to_client);
	tcase_add_test(tc, test_daemon_prefault_always);
	tcase_add_test(tc, test_cgroup_quota);
	tcase_add_test(tc, test_charge_is_the_guard);
	suite_add_tcase(s, tc);
	return s;
}

/* The client functions, by the name child_start gives. */
static const struct {
	const char *name;
	void (*fn)(struct child *);
} child_fns[] = {
	{ "client_64m", client_64m },
	{ "client_32m", client_32m },
	{ "client_64m_message", client_64m_message },
	{ "quota_first", quota_first },
	{ "quota_second", quota_second },
	{ "move_then_populate", move_then_populate },
	{ "move_then_populate_conn", move_then_populate_conn },
};

/* this program as a client: --child NAME */
static int child_main(const char *name)
{
	struct child me = { .pid = getpid(), .to = 4, .from = 3 };
	const char *cgroup = getenv("DKM_TEST_CGROUP");
	char path[PATH_MAX * 2], pid[32];
	int fd;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cgroup ? cgroup : "/nonexistent");
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, pid, strlen(pid)) != (ssize_t)strlen(pid)) {
		child_say(&me, "moving into %s: %s", path, strerror(errno));
		return 3;
	}
	close(fd);
	for (size_t i = 0; i < sizeof(child_fns) / sizeof(child_fns[0]); i++)
		if (!strcmp(child_fns[i].name, name)) {
			child_fns[i].fn(&me);
			return 0;
		}
	child_say(&me, "no child function %s", name);
	return 2;
}

/* This process's path in the v1 memory hierarchy, or why there is none. */
static const char *find_own(void)
{
	char line[2048];
	FILE *f;

	if (access(V1_ROOT "/memory.limit_in_bytes", F_OK) < 0)
		return "no v1 memory hierarchy at " V1_ROOT " (a v2-only host needs a delegated "
		       "subtree, which this test does not set up)";
	f = fopen("/proc/self/cgroup", "r");
	if (!f)
		return "cannot read /proc/self/cgroup";
	while (fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (!c2)
			continue;
		*c2 = '\0';
		for (char *tok = strtok(c1 + 1, ","); tok; tok = strtok(NULL, ","))
			if (!strcmp(tok, "memory")) {
				snprintf(own, sizeof(own), "%s", c2 + 1);
				own[strcspn(own, "\n")] = '\0';
				fclose(f);
				return NULL;
			}
	}
	fclose(f);
	return "this process is in no v1 memory cgroup";
}

int main(int argc, char **argv)
{
	const char *why;
	SRunner *sr;
	int failed;

	if (argc == 3 && !strcmp(argv[1], "--child"))
		return child_main(argv[2]);
	self_path = argv[0];
	why = find_own();
	if (!why) {
		snprintf(ours_rel, sizeof(ours_rel), "%s/dkm-e2e-%d", strcmp(own, "/") ? own : "",
			 (int)getpid());
		snprintf(ours, sizeof(ours), "%s%s", V1_ROOT, ours_rel);
		if (mkdir(ours, 0755) < 0) {
			static char buf[PATH_MAX + 64];

			snprintf(buf, sizeof(buf), "cannot make %s: %s", ours, strerror(errno));
			why = buf;
		}
	}
	if (why) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN); /* a child the OOM killer took does not read its pipe */
	sr = srunner_create(host_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	remove_tree(ours);
	if (access(ours, F_OK) == 0) {
		fprintf(stderr, "test-cgroup-host: %s is left behind\n", ours);
		failed++;
	}
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
