/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "harness.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef DAXKMEMD_PATH
#error "DAXKMEMD_PATH must be defined"
#endif

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

static void show_log(const struct daemon *d)
{
	char line[512];
	FILE *f = fopen(d->log, "r");

	if (!f)
		return;
	fprintf(stderr, "---- daxkmemd log ----\n");
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fclose(f);
}

const char *daemon_wait_notify(struct daemon *d, const char *prefix, int timeout_ms)
{
	static char buf[4096];
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd p = { .fd = d->notify_fd, .events = POLLIN };
		int left;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = timeout_ms - (int)((now.tv_sec - start.tv_sec) * 1000 +
					  (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, left) <= 0)
			return NULL;
		n = recv(d->notify_fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
			if (!strncmp(line, prefix, strlen(prefix)))
				return line;
	}
}

void daemon_start_args(struct daemon *d, const char *extra_conf, const char *const *extra_args)
{
	struct daemon_opts o = { .extra_conf = extra_conf, .args = extra_args };

	daemon_start_opts(d, &o);
}

void daemon_start(struct daemon *d, const char *extra_conf)
{
	daemon_start_args(d, extra_conf, NULL);
}

int run_program(const char *path, const char *const *args, uid_t uid, char *out, size_t outsize,
		int timeout_ms)
{
	char log[] = "/tmp/dkm-e2e-out-XXXXXX";
	const char *argv[32];
	int n = 0, status = 0, fd;
	pid_t pid;
	ssize_t len;

	fd = mkstemp(log);
	ck_assert_int_ge(fd, 0);
	argv[n++] = path;
	for (int i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		unsetenv("NOTIFY_SOCKET");
		if (uid != (uid_t)-1 && (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
					 setresuid(uid, uid, uid) < 0))
			_exit(126);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	for (int waited = 0; waitpid(pid, &status, WNOHANG) == 0; waited += 10) {
		if (waited >= timeout_ms) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			status = -1;
			break;
		}
		poll(NULL, 0, 10);
	}
	len = pread(fd, out, outsize - 1, 0);
	out[len > 0 ? len : 0] = '\0';
	close(fd);
	unlink(log);
	return status < 0 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int daemon_run_once(const char *const *args, char *out, size_t outsize, int timeout_ms)
{
	return run_program(DAXKMEMD_PATH, args, (uid_t)-1, out, outsize, timeout_ms);
}

bool daemon_alive(const struct daemon *d)
{
	return waitpid(d->pid, NULL, WNOHANG) == 0;
}

void daemon_stop(struct daemon *d)
{
	char cmd[128];
	int status = 0;

	if (d->pid <= 0)
		return;
	kill(d->pid, SIGTERM);
	if (waitpid(d->pid, &status, 0) != d->pid)
		status = -1;
	kill(-d->pid, SIGKILL); /* anything left in its group */
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		show_log(d);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "daxkmemd did not exit cleanly on SIGTERM (status 0x%x)", status);
	/* the socket it made is gone */
	ck_assert_int_ne(access(d->sock, F_OK), 0);
	close(d->notify_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", d->dir);
	ck_assert_int_eq(system(cmd), 0);
	d->pid = 0;
}

int daemon_nfds(const struct daemon *d)
{
	char path[64];
	struct dirent *e;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)d->pid);
	dir = opendir(path);
	ck_assert_ptr_nonnull(dir);
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

int daemon_nfds_settled(const struct daemon *d, int want, int timeout_ms)
{
	int n = daemon_nfds(d);

	for (int waited = 0; n != want && waited < timeout_ms; waited += 10) {
		poll(NULL, 0, 10);
		n = daemon_nfds(d);
	}
	return n;
}

int daemon_nfds_quiet(const struct daemon *d)
{
	int n = daemon_nfds(d);

	/* sd_notify opens a socket for a moment: take the least of a few looks */
	for (int i = 0; i < 5; i++) {
		int m;

		poll(NULL, 0, 5);
		m = daemon_nfds(d);
		if (m < n)
			n = m;
	}
	return n;
}

struct dkm_conn *client_open(const struct daemon *d, const char *name)
{
	struct dkm_conn *c = NULL;
	char err[512];
	int r = dkm_conn_open(d->sock, name, &c, err, sizeof(err));

	ck_assert_msg(r == 0, "connecting: %s", err);
	return c;
}

static struct dkm_msg status_msg(const struct daemon *d)
{
	struct dkm_conn *c = client_open(d, "status");
	struct dkm_msg m;
	int r = dkm_conn_status(c, &m);

	ck_assert_msg(r == 0, "STATUS: %s", c->err);
	dkm_conn_close(c);
	return m;
}

uint64_t status_granted(const struct daemon *d, int node)
{
	struct dkm_msg m = status_msg(d);
	struct dkm_status st;
	struct dkm_status_node sn;
	uint64_t v = 0;

	memcpy(&st, m.payload, sizeof(st));
	if (node < 0) {
		v = st.granted;
	} else {
		for (unsigned i = 0; i < st.nnodes; i++) {
			memcpy(&sn, (char *)m.payload + sizeof(st) + i * sizeof(sn), sizeof(sn));
			if (sn.id == node)
				v = sn.granted;
		}
	}
	dkm_msg_clear(&m);
	return v;
}

unsigned status_clients(const struct daemon *d)
{
	struct dkm_msg m = status_msg(d);
	struct dkm_status st;

	memcpy(&st, m.payload, sizeof(st));
	dkm_msg_clear(&m);
	return st.nclients - 1; /* not counting the asking connection */
}

bool wait_granted(const struct daemon *d, int node, uint64_t want, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 10) {
		if (status_granted(d, node) == want)
			return true;
		poll(NULL, 0, 10);
	}
	return false;
}

struct dkm_alloc_region alloc_req(uint32_t kind, uint64_t size, uint32_t flags)
{
	struct dkm_alloc_region req = { 0 };
	unsigned cpu, node;

	req.kind = kind;
	req.size = size;
	req.flags = flags;
	ck_assert_int_eq(getcpu(&cpu, &node), 0);
	req.cpu_node = (int32_t)node;
	return req;
}

/* ---- added for the daemon-side tests (test-limits.c, test-lifecycle.c) ---- */

void daemon_start_opts(struct daemon *d, const struct daemon_opts *o)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char conf[4096], notify[160];
	const char *argv[48];
	int n = 0;

	memset(d, 0, sizeof(*d));
	strcpy(d->dir, "/tmp/dkm-e2e-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(d->dir));
	ck_assert_int_eq(chmod(d->dir, 0755), 0); /* tests connect as other users too */
	snprintf(d->sock, sizeof(d->sock), "%s/sock", d->dir);
	snprintf(d->conf, sizeof(d->conf), "%s/daxkmemd.conf", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/log", d->dir);
	snprintf(notify, sizeof(notify), "%s/notify", d->dir);
	if (o->conf)
		snprintf(conf, sizeof(conf), "%s\n", o->conf);
	else
		snprintf(conf, sizeof(conf), "kmem_nodes = 0\nsocket_group =\nreserve = 16M\n%s\n",
			 o->extra_conf ? o->extra_conf : "");
	write_file(d->conf, conf);

	d->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(d->notify_fd, 0);
	strcpy(sa.sun_path, notify);
	ck_assert_int_eq(bind(d->notify_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);

	{
		/* the valgrind test setup runs the daemon under valgrind too */
		static char wrap[512];
		const char *w = getenv("DKM_TEST_WRAPPER");

		if (w && *w) {
			snprintf(wrap, sizeof(wrap), "%s", w);
			for (char *tok = strtok(wrap, " "); tok && n < 16; tok = strtok(NULL, " "))
				argv[n++] = tok;
		}
	}
	argv[n++] = DAXKMEMD_PATH;
	argv[n++] = "--foreground";
	argv[n++] = "--config";
	argv[n++] = d->conf;
	argv[n++] = "--socket";
	argv[n++] = d->sock;
	argv[n++] = "--verbose";
	for (int i = 0; o->args && o->args[i] && n < 42; i++)
		argv[n++] = o->args[i];
	argv[n] = NULL;
	if (o->nofile > 0) {
		/*
		 * The limit is set by a shell the daemon (or its wrapper) is exec'ed
		 * from: under valgrind (CK_FORK=no) this process is valgrind's, which
		 * refuses to change the hard limit.
		 */
		static char script[64];

		snprintf(script, sizeof(script), "ulimit -n %ld && exec \"$@\"", o->nofile);
		memmove(argv + 4, argv, (size_t)(n + 1) * sizeof(argv[0]));
		argv[0] = "/bin/sh";
		argv[1] = "-c";
		argv[2] = script;
		argv[3] = "sh";
	}

	d->pid = fork();
	ck_assert_int_ge(d->pid, 0);
	if (d->pid == 0) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		setpgid(0, 0);
		/* a test that fails (and exits) half-way must not leave its daemon behind */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
		}
		setenv("NOTIFY_SOCKET", notify, 1);
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_PID");
		if (o->child_setup)
			o->child_setup();
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	setpgid(d->pid, d->pid);
	if (!daemon_wait_notify(d, "READY=1", 60000)) {
		show_log(d);
		kill(-d->pid, SIGKILL);
		ck_abort_msg("daxkmemd did not send READY=1 within 60 s");
	}
}

int daemon_log_count(const struct daemon *d, const char *needle)
{
	char line[1024];
	FILE *f = fopen(d->log, "r");
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		for (const char *p = line; (p = strstr(p, needle)); p += strlen(needle))
			n++;
	fclose(f);
	return n;
}

bool daemon_wait_log(const struct daemon *d, const char *needle, int n, int timeout_ms)
{
	for (int waited = 0;; waited += 10) {
		if (daemon_log_count(d, needle) >= n)
			return true;
		if (waited >= timeout_ms)
			return false;
		poll(NULL, 0, 10);
	}
}

const char *daemon_wait_notify_msg(struct daemon *d, const char *prefix, int timeout_ms)
{
	static char buf[4096];
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd p = { .fd = d->notify_fd, .events = POLLIN };
		int left;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = timeout_ms - (int)((now.tv_sec - start.tv_sec) * 1000 +
					  (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, left) <= 0)
			return NULL;
		n = recv(d->notify_fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		for (const char *line = buf; line;
		     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
			if (!strncmp(line, prefix, strlen(prefix)))
				return buf;
	}
}

bool status_node(const struct daemon *d, int node, struct dkm_status *st,
		 struct dkm_status_node *sn)
{
	struct dkm_msg m = status_msg(d);
	bool found = false;

	memcpy(st, m.payload, sizeof(*st));
	for (unsigned i = 0; i < st->nnodes && !found; i++) {
		memcpy(sn, (char *)m.payload + sizeof(*st) + i * sizeof(*sn), sizeof(*sn));
		found = sn->id == node;
	}
	dkm_msg_clear(&m);
	return found;
}

void tree_write(const char *root, const char *rel, const char *text)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		ck_assert_msg(mkdir(path, 0755) == 0 || errno == EEXIST, "%s: %s", path, strerror(errno));
		*p = '/';
	}
	write_file(path, text);
}

pid_t fork_as(uid_t uid)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0 && (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
			 setresuid(uid, uid, uid) < 0))
		_exit(126);
	return pid;
}

void daemon_drain_notify(struct daemon *d)
{
	char buf[4096];

	while (recv(d->notify_fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

/* Open (through /proc) the daemon's memfd whose name starts with prefix, once it has one. */
int daemon_memfd(const struct daemon *d, const char *prefix, int timeout_ms)
{
	char want[128];

	snprintf(want, sizeof(want), "/memfd:%s", prefix);
	for (int waited = 0; waited <= timeout_ms; waited++) {
		char dir[64];
		struct dirent *e;
		DIR *dp;

		snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)d->pid);
		dp = opendir(dir);
		ck_assert_ptr_nonnull(dp);
		while ((e = readdir(dp))) {
			char path[320], target[256];
			ssize_t n;

			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			n = readlink(path, target, sizeof(target) - 1);
			if (n <= 0)
				continue;
			target[n] = '\0';
			if (!strncmp(target, want, strlen(want))) {
				int fd = open(path, O_RDONLY | O_CLOEXEC);

				closedir(dp);
				ck_assert_int_ge(fd, 0);
				return fd;
			}
		}
		closedir(dp);
		poll(NULL, 0, 1);
	}
	ck_abort_msg("the daemon has no memfd %s", prefix);
	return -1;
}

void daemon_start_sysfs(struct daemon *d, const char *sysfs_root, const char *extra_conf)
{
	static char conf[1024];
	const char *args[] = { "--sysfs-root", sysfs_root, NULL };
	struct daemon_opts o = { .conf = conf, .args = args };

	snprintf(conf, sizeof(conf), "socket_group =\nreserve = 16M\n%s", extra_conf ? extra_conf : "");
	daemon_start_opts(d, &o);
}

void own_memory_cgroup(char *buf, size_t size)
{
	char line[2048];
	bool found = false;
	FILE *f = fopen("/proc/self/cgroup", "r");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL, *nl;
		bool unified, v1mem;

		if (!c2)
			continue;
		nl = strchr(c2, '\n');
		if (nl)
			*nl = '\0';
		*c1 = *c2 = '\0';
		unified = !strcmp(line, "0") && !c1[1];
		v1mem = false;
		for (char *tok = strtok(c1 + 1, ","); tok; tok = strtok(NULL, ","))
			v1mem |= !strcmp(tok, "memory");
		if (v1mem || (unified && !found)) {
			snprintf(buf, size, "%s", c2 + 1);
			found = true;
			if (v1mem)
				break;
		}
	}
	fclose(f);
	ck_assert_msg(found, "no memory cgroup line in /proc/self/cgroup");
}
