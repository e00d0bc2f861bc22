/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The memkind drop-in end to end: programs that use memkind (an OpenMP
 * program on Debian's libomp, a program linked to Debian's real libmemkind)
 * run through daxkmem-run --memkind against a real daxkmemd (node 0 as the
 * kmem node), and the same programs with the real memkind for comparison.
 * Each test case is a meson test of its own: test-memkind CASE.
 *
 *   omp           libomp's omp_large_cap_mem_alloc comes from daxkmem, and
 *                 goes back when the program exits; without the drop-in the
 *                 program runs too
 *   real_program  a program linked to the real libmemkind works unchanged on
 *                 the drop-in, and the daemon accounts for it; with the real
 *                 memkind (MEMKIND_DAX_KMEM_NODES=0) it works as well
 *   differential  mk-edge's transcript of edge cases is the same with the
 *                 real memkind and with the drop-in; mk-edge dropin passes
 *   unreachable   no daemon, a daemon that never answers, one whose backlog
 *                 is full: the DAX kinds are unavailable, one log line says
 *                 why, nothing hangs (times printed)
 *   nodes_env     MEMKIND_DAX_KMEM_NODES answers as in the real memkind
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "test-common.h"

#define MIB (1024ull * 1024)

/* A program under test: its standard output as lines, its standard error in a file. */
struct child {
	pid_t pid;
	FILE *out;
	int in;
	int err;                  /* its standard error: a file already unlinked */
	struct timespec start;
};

static bool asan(void)
{
	const char *s = getenv("DKM_ASAN");

	return s && *s && strcmp(s, "0");
}

/* Under the valgrind test setup (programs run under valgrind, much slower). */
static bool wrapped(void)
{
	const char *w = getenv("DKM_TEST_WRAPPER");

	return w && *w;
}

static double elapsed(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/*
 * Start argv with env changes ("NAME=VALUE" sets, "NAME" unsets). With
 * dropin, the program runs through daxkmem-run --memkind (under the valgrind
 * test setup's wrapper too, placed after daxkmem-run).
 */
static void spawn(struct child *c, bool dropin, const char *const *argv, const char *const *env)
{
	char err_path[] = "/tmp/dkm-memkind-err-XXXXXX";
	int out[2], in[2], fd;
	const char *full[48];
	int n = 0;
	static char wrap[512];

	if (dropin) {
		const char *w = getenv("DKM_TEST_WRAPPER");

		full[n++] = DKM_RUN_PATH;
		full[n++] = "--memkind";
		full[n++] = "--";
		if (w && *w) {
			snprintf(wrap, sizeof(wrap), "%s", w);
			for (char *tok = strtok(wrap, " "); tok && n < 24; tok = strtok(NULL, " "))
				full[n++] = tok;
		}
	}
	for (int i = 0; argv[i] && n < 46; i++)
		full[n++] = argv[i];
	full[n] = NULL;
	fd = mkostemp(err_path, O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	unlink(err_path);
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
	clock_gettime(CLOCK_MONOTONIC, &c->start);
	c->pid = fork();
	ck_assert_int_ge(c->pid, 0);
	if (c->pid == 0) {
		dup2(out[1], 1);
		dup2(in[0], 0);
		dup2(fd, 2);
		unsetenv("NOTIFY_SOCKET");
		unsetenv("LD_LIBRARY_PATH");
		setenv("DAXKMEM_RUN_LIBDIR", DKM_DROPIN_DIR, 1);
		/*
		 * The daemon may run under valgrind on a loaded machine: give the
		 * probe time (the unreachable cases set theirs).
		 */
		setenv("DAXKMEM_MEMKIND_TIMEOUT", wrapped() ? "600000" : "30000", 1);
		if (asan()) {
			/* edge cases ask for SIZE_MAX bytes: ASan's malloc must say NULL, as libc's does */
			char opts[512];
			const char *old = getenv("ASAN_OPTIONS");

			snprintf(opts, sizeof(opts), "%s%sallocator_may_return_null=1", old ? old : "",
				 old && *old ? ":" : "");
			setenv("ASAN_OPTIONS", opts, 1);
		}
		for (int i = 0; env && env[i]; i++) {
			const char *eq = strchr(env[i], '=');

			if (eq) {
				char name[64];

				snprintf(name, sizeof(name), "%.*s", (int)(eq - env[i]), env[i]);
				setenv(name, eq + 1, 1);
			} else {
				unsetenv(env[i]);
			}
		}
		execv(full[0], (char *const *)full);
		_exit(127);
	}
	close(out[1]);
	close(in[0]);
	c->err = fd;
	c->out = fdopen(out[0], "r");
	c->in = in[1];
}

/* The next line of its output (static buffer, newline removed), or NULL at the end. */
static const char *next_line(struct child *c)
{
	static char line[1024];

	if (!fgets(line, sizeof(line), c->out))
		return NULL;
	line[strcspn(line, "\n")] = '\0';
	return line;
}

/* Read lines up to "ready"; each is passed to check. */
static void until_ready(struct child *c, void (*check)(const char *line))
{
	const char *l;

	while ((l = next_line(c)) && strcmp(l, "ready"))
		if (check)
			check(l);
	ck_assert_msg(l != NULL, "the program ended before \"ready\"");
}

/* Let it go on (a line on its standard input), read the rest, wait; exit status. */
static int finish(struct child *c, char *rest, size_t restsize)
{
	const char *l;
	size_t len = 0;
	int status;

	if (c->in >= 0) {
		ck_assert_int_eq(write(c->in, "go\n", 3), 3);
		close(c->in);
		c->in = -1;
	}
	if (rest)
		rest[0] = '\0';
	while ((l = next_line(c)))
		if (rest && len + strlen(l) + 2 < restsize)
			len += (size_t)sprintf(rest + len, "%s\n", l);
	fclose(c->out);
	ck_assert_int_eq(waitpid(c->pid, &status, 0), c->pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Its standard error (static buffer); closes the file. */
static const char *errors(struct child *c)
{
	static char buf[8192];
	ssize_t n = pread(c->err, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	close(c->err);
	c->err = -1;
	return buf;
}

/* Run to the end: its output in out, its exit status returned, its stderr in *err. */
static int run(bool dropin, const char *const *argv, const char *const *env, char *out,
	       size_t outsize, const char **err, double *secs)
{
	struct child c;
	int r;

	spawn(&c, dropin, argv, env);
	close(c.in);
	c.in = -1;
	r = finish(&c, out, outsize);
	if (secs)
		*secs = elapsed(&c.start);
	if (err)
		*err = errors(&c);
	else
		errors(&c);
	return r;
}

static unsigned count(const char *hay, const char *needle)
{
	unsigned n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static char env_socket[160];

/*
 * The daemon tells NOTIFY_SOCKET its status at every refresh, and nobody
 * reads those after READY=1: with the refresh once an hour, the socket's
 * queue (net.unix.max_dgram_qlen, often 10) does not fill up and block it
 * during a long run under valgrind.
 */
static void start_daemon(struct daemon *d)
{
	daemon_start(d, "refresh_interval_ms = 3600000");
	snprintf(env_socket, sizeof(env_socket), "DAXKMEM_SOCKET=%s", d->sock);
}

/* daxkmemctl clients, as root: the program shows up holding memory. */
static void expect_client(const struct daemon *d, const char *name)
{
	const char *args[] = { "--socket", d->sock, "clients", NULL };
	char out[8192];
	int r = run_program(DAXKMEMCTL_PATH, args, (uid_t)-1, out, sizeof(out), 30000);

	ck_assert_msg(r == 0, "daxkmemctl clients: %s", out);
	ck_assert_msg(strstr(out, name), "daxkmemctl clients does not show %s:\n%s", name, out);
}

/* ======================================================================
 * omp
 * ====================================================================== */

static void omp_line(const char *l)
{
	if (!strncmp(l, "large_cap daxkmem", 17))
		ck_assert_msg(!strcmp(l, "large_cap daxkmem yes"), "%s", l);
}

START_TEST(omp_dropin)
{
	const char *argv[] = { OMP_PATH, "hold", NULL };
	const char *env[] = { env_socket, NULL };
	struct daemon d;
	struct child c;
	char rest[256];

	start_daemon(&d);
	spawn(&c, true, argv, env);
	until_ready(&c, omp_line);
	ck_assert_msg(status_granted(&d, 0) >= 24 * MIB, "granted on node 0: %llu",
		      (unsigned long long)status_granted(&d, 0));
	expect_client(&d, "omp-large-cap");
	ck_assert_int_eq(finish(&c, rest, sizeof(rest)), 0);
	ck_assert_msg(strstr(rest, "done"), "%s", rest);
	fprintf(stderr, "omp: %s", errors(&c));
	/* the grants return when it exits */
	ck_assert_msg(wait_granted(&d, -1, 0, 10000), "grants left: %llu",
		      (unsigned long long)status_granted(&d, -1));
	daemon_stop(&d);
}
END_TEST

START_TEST(omp_without_dropin)
{
	const char *argv[] = { OMP_PATH, NULL };
	char out[512];
	const char *err;
	int r = run(false, argv, NULL, out, sizeof(out), &err, NULL);

	ck_assert_msg(r == 0, "status %d: %s%s", r, out, err);
	ck_assert_msg(strstr(out, "large_cap daxkmem no") && strstr(out, "done"), "%s", out);
}
END_TEST

/* ======================================================================
 * real_program
 * ====================================================================== */

static void dax_line_dropin(const char *l)
{
	ck_assert_msg(strstr(l, "available 0 blocks ok node 0 daxkmem yes"), "%s", l);
}

static void dax_line_real(const char *l)
{
	ck_assert_msg(strstr(l, "available 0 blocks ok node 0 daxkmem no"), "%s", l);
}

START_TEST(real_program_dropin)
{
	const char *argv[] = { MK_USER_PATH, "hold", NULL };
	const char *env[] = { env_socket, NULL };
	struct daemon d;
	struct child c;
	char rest[256];

	start_daemon(&d);
	spawn(&c, true, argv, env);
	until_ready(&c, dax_line_dropin);
	ck_assert_msg(status_granted(&d, 0) >= 48 * MIB, "granted on node 0: %llu",
		      (unsigned long long)status_granted(&d, 0));
	expect_client(&d, "mk-user");
	ck_assert_int_eq(finish(&c, rest, sizeof(rest)), 0);
	ck_assert_msg(strstr(rest, "done"), "%s", rest);
	fprintf(stderr, "mk-user: %s", errors(&c));
	ck_assert_msg(wait_granted(&d, -1, 0, 10000), "grants left: %llu",
		      (unsigned long long)status_granted(&d, -1));
	daemon_stop(&d);
}
END_TEST

START_TEST(real_program_real)
{
	const char *argv[] = { MK_USER_PATH, "hold", NULL };
	const char *env[] = { "MEMKIND_DAX_KMEM_NODES=0", NULL };
	struct child c;
	char rest[256];

	spawn(&c, false, argv, env);
	until_ready(&c, dax_line_real);
	ck_assert_int_eq(finish(&c, rest, sizeof(rest)), 0);
	ck_assert_msg(strstr(rest, "done"), "%s", rest);
	errors(&c);
}
END_TEST

/* ======================================================================
 * differential
 * ====================================================================== */

static char *transcript(bool dropin, const char *const *env)
{
	static char bufs[2][256 * 1024];
	static int which;
	const char *argv[] = { MK_EDGE_PATH, "common", NULL };
	char *out = bufs[which++ % 2];
	const char *err;
	int r = run(dropin, argv, env, out, sizeof(bufs[0]), &err, NULL);

	ck_assert_msg(r == 0, "mk-edge common (%s) exited %d: %s", dropin ? "drop-in" : "real", r,
		      err);
	ck_assert_msg(strstr(out, "\nend\n"), "mk-edge common (%s) did not finish",
		      dropin ? "drop-in" : "real");
	return out;
}

/* The first line where a and b differ, on stderr, or nothing. */
static bool same_transcript(const char *a, const char *b)
{
	unsigned line = 1;

	while (*a || *b) {
		size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");

		if (la != lb || strncmp(a, b, la)) {
			fprintf(stderr, "line %u differs:\n  real memkind: %.*s\n  drop-in:      %.*s\n",
				line, (int)la, a, (int)lb, b);
			return false;
		}
		a += la + (a[la] == '\n');
		b += lb + (b[lb] == '\n');
		line++;
	}
	fprintf(stderr, "%u lines, the same\n", line - 1);
	return true;
}

START_TEST(differential)
{
	char skip[64] = "MK_EDGE_SKIP=", out[512];
	const char *probe[] = { MK_EDGE_PATH, "skips", NULL };
	const char *real_env[] = { "MEMKIND_DAX_KMEM_NODES=0", skip, NULL };
	const char *dropin_env[] = { env_socket, skip, NULL };
	const char *dropin_argv[] = { MK_EDGE_PATH, "dropin", NULL };
	const char *err;
	struct daemon d;
	char *a, *b;
	int r;

	/* kinds the real memkind finds memory for on this machine are left out of the comparison */
	ck_assert_int_eq(run(false, probe, real_env, out, sizeof(out), NULL, NULL), 0);
	strncat(skip, out, sizeof(skip) - strlen(skip) - 1);
	skip[strcspn(skip, "\n")] = '\0';
	fprintf(stderr, "%s\n", skip);

	start_daemon(&d);
	a = transcript(false, real_env);
	b = transcript(true, dropin_env);
	ck_assert_msg(same_transcript(a, b), "the drop-in answers differently from memkind 1.14");
	r = run(true, dropin_argv, dropin_env, out, sizeof(out), &err, NULL);
	ck_assert_msg(r == 0, "mk-edge dropin: %s%s", out, err);
	ck_assert_msg(wait_granted(&d, -1, 0, 10000), "grants left after the edge cases");
	daemon_stop(&d);
}
END_TEST

/* ======================================================================
 * unreachable
 * ====================================================================== */

static const char *const probe_argv[] = { MK_USER_PATH, "probe", NULL };

/* mk-user probe's answer: DEFAULT works, every DAX kind is unavailable and allocates nothing. */
static void expect_unavailable(const char *out)
{
	ck_assert_msg(strstr(out, "DEFAULT available 0 malloc ok\n"), "%s", out);
	ck_assert_msg(strstr(out, "DAX_KMEM available -1 malloc failed errno 12\n"), "%s", out);
	ck_assert_msg(strstr(out, "DAX_KMEM_ALL available -1 malloc failed errno 12\n"), "%s", out);
	ck_assert_msg(strstr(out, "DAX_KMEM_PREFERRED available -1 malloc failed errno 12\n"), "%s",
		      out);
}

/* One line of the drop-in's, saying why. */
static void expect_one_log_line(const char *err, const char *why)
{
	ck_assert_msg(count(err, "libmemkind (daxkmem): ") == 1, "not one log line:\n%s", err);
	ck_assert_msg(strstr(err, why), "the log line does not say \"%s\":\n%s", why, err);
	ck_assert_msg(strstr(err, "the MEMKIND_DAX_KMEM kinds are unavailable"), "%s", err);
}

START_TEST(unreachable_no_daemon)
{
	char dir[] = "/tmp/dkm-memkind-XXXXXX", sock[96], env_sock[128], out[1024];
	const char *env[] = { env_sock, "DAXKMEM_LOG=1", "DAXKMEM_MEMKIND_TIMEOUT", NULL };
	const char *omp_argv[] = { OMP_PATH, NULL };
	const char *err;
	double secs;
	int r;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/no-such-socket", dir);
	snprintf(env_sock, sizeof(env_sock), "DAXKMEM_SOCKET=%s", sock);
	r = run(true, probe_argv, env, out, sizeof(out), &err, &secs);
	ck_assert_msg(r == 0, "status %d: %s%s", r, out, err);
	expect_unavailable(out);
	expect_one_log_line(err, "cannot connect to");
	fprintf(stderr, "no daemon: mk-user probe took %.3f s\n", secs);
	ck_assert_msg(secs < (wrapped() ? 30 : 1), "%.3f s without a daemon", secs);
	if (OMP_PATH[0] && !asan()) {
		r = run(true, omp_argv, env, out, sizeof(out), &err, &secs);
		ck_assert_msg(r == 0, "omp-large-cap: status %d: %s%s", r, out, err);
		ck_assert_msg(strstr(out, "large_cap daxkmem no"), "%s", out);
		expect_one_log_line(err, "cannot connect to");
		fprintf(stderr, "no daemon: omp-large-cap took %.3f s\n", secs);
		ck_assert_msg(secs < (wrapped() ? 60 : 2), "%.3f s without a daemon", secs);
	}
	rmdir(dir);
}
END_TEST

/* A socket that listens and never accepts: connections queue, nothing answers. */
static int stuck_socket(const char *path, int backlog)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	strcpy(sa.sun_path, path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, backlog), 0);
	return fd;
}

START_TEST(unreachable_stuck_daemon)
{
	char dir[] = "/tmp/dkm-memkind-XXXXXX", sock[96], env_sock[128], out[1024];
	const char *env[] = { env_sock, "DAXKMEM_LOG=1", "DAXKMEM_MEMKIND_TIMEOUT=1000", NULL };
	const char *env_default[] = { env_sock, "DAXKMEM_LOG=1", "DAXKMEM_MEMKIND_TIMEOUT", NULL };
	const char *omp_argv[] = { OMP_PATH, NULL };
	const char *err;
	double secs;
	int fd, r;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/stuck", dir);
	snprintf(env_sock, sizeof(env_sock), "DAXKMEM_SOCKET=%s", sock);
	fd = stuck_socket(sock, 64);
	r = run(true, probe_argv, env, out, sizeof(out), &err, &secs);
	ck_assert_msg(r == 0, "status %d: %s%s", r, out, err);
	expect_unavailable(out);
	expect_one_log_line(err, "did not answer within 1000 ms");
	fprintf(stderr, "stuck daemon, timeout 1000 ms: mk-user probe took %.3f s\n", secs);
	ck_assert_msg(secs >= 0.9 && secs < (wrapped() ? 60 : 3), "%.3f s", secs);
	if (OMP_PATH[0] && !asan()) {
		/* libomp's own start-up, with the default timeout */
		r = run(true, omp_argv, env_default, out, sizeof(out), &err, &secs);
		ck_assert_msg(r == 0, "omp-large-cap: status %d: %s%s", r, out, err);
		ck_assert_msg(strstr(out, "large_cap daxkmem no"), "%s", out);
		expect_one_log_line(err, "did not answer within 2000 ms");
		fprintf(stderr, "stuck daemon, default timeout: omp-large-cap took %.3f s\n", secs);
		ck_assert_msg(secs >= 1.9 && secs < (wrapped() ? 60 : 5), "%.3f s", secs);
	}
	close(fd);
	unlink(sock);
	rmdir(dir);
}
END_TEST

START_TEST(unreachable_full_backlog)
{
	char dir[] = "/tmp/dkm-memkind-XXXXXX", sock[96], env_sock[128], out[1024];
	const char *env[] = { env_sock, "DAXKMEM_LOG=1", "DAXKMEM_MEMKIND_TIMEOUT=1000", NULL };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, queued[64], n = 0, r;
	const char *err;
	double secs;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/full", dir);
	snprintf(env_sock, sizeof(env_sock), "DAXKMEM_SOCKET=%s", sock);
	fd = stuck_socket(sock, 0);
	strcpy(sa.sun_path, sock);
	/* fill the backlog: a blocking connect() would now wait for ever */
	for (;;) {
		ck_assert_int_lt(n, 64);
		queued[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (connect(queued[n], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			close(queued[n]);
			break;
		}
		n++;
	}
	r = run(true, probe_argv, env, out, sizeof(out), &err, &secs);
	ck_assert_msg(r == 0, "status %d: %s%s", r, out, err);
	expect_unavailable(out);
	expect_one_log_line(err, "accepts no connection");
	fprintf(stderr, "full backlog (%d queued), timeout 1000 ms: mk-user probe took %.3f s\n", n,
		secs);
	ck_assert_msg(secs >= 0.9 && secs < (wrapped() ? 60 : 3), "%.3f s", secs);
	for (int i = 0; i < n; i++)
		close(queued[i]);
	close(fd);
	unlink(sock);
	rmdir(dir);
}
END_TEST

/* ======================================================================
 * nodes_env
 * ====================================================================== */

/* "available" codes of the three DAX kinds in mk-user probe's output, e.g. "0 0 0". */
static void dax_codes(const char *out, char *codes, size_t size)
{
	static const char *const names[] = { "\nDAX_KMEM available ", "\nDAX_KMEM_ALL available ",
					      "\nDAX_KMEM_PREFERRED available " };
	size_t len = 0;

	codes[0] = '\0';
	for (int k = 0; k < 3; k++) {
		const char *p = strstr(out, names[k]);

		len += (size_t)snprintf(codes + len, size - len, "%s%d", k ? " " : "",
					p ? atoi(p + strlen(names[k])) : 999);
	}
}

START_TEST(nodes_env)
{
	/* "!0" is left to the end: there memkind's answer and the drop-in's differ by design */
	static const char *const values[] = { "0", "0-0", "all", " 0", "abc", "5", "0,5", "0-1",
					      "1000", "0,," };
	char out[1024], env_nodes[64], real_codes[32], codes[32];
	const char *env[] = { env_socket, env_nodes, "DAXKMEM_NODES", "DAXKMEM_LOG=1", NULL };
	const char *err;
	struct daemon d;

	start_daemon(&d);
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		snprintf(env_nodes, sizeof(env_nodes), "MEMKIND_DAX_KMEM_NODES=%s", values[i]);
		ck_assert_int_eq(run(false, probe_argv, env, out, sizeof(out), NULL, NULL), 0);
		dax_codes(out, real_codes, sizeof(real_codes));
		ck_assert_int_eq(run(true, probe_argv, env, out, sizeof(out), &err, NULL), 0);
		dax_codes(out, codes, sizeof(codes));
		fprintf(stderr, "MEMKIND_DAX_KMEM_NODES=\"%s\": real memkind %s, drop-in %s\n",
			values[i], real_codes, codes);
		ck_assert_msg(!strcmp(codes, real_codes),
			      "MEMKIND_DAX_KMEM_NODES=\"%s\": real memkind %s, drop-in %s (%s)", values[i],
			      real_codes, codes, err);
		if (!strcmp(codes, "0 0 0"))
			ck_assert_msg(count(out, "malloc ok") == 4, "%s", out);
		else
			ck_assert_msg(count(out, "malloc failed errno 12") == 3, "%s", out);
	}
	/* an empty set: memkind calls the kinds available and fails every allocation; ENVIRON here */
	snprintf(env_nodes, sizeof(env_nodes), "MEMKIND_DAX_KMEM_NODES=!0");
	ck_assert_int_eq(run(true, probe_argv, env, out, sizeof(out), NULL, NULL), 0);
	dax_codes(out, codes, sizeof(codes));
	ck_assert_msg(!strcmp(codes, "-12 -12 -12"), "\"!0\": %s", codes);
	/* the reason, once */
	{
		const char *log_env[] = { env_socket, "MEMKIND_DAX_KMEM_NODES=abc", "DAXKMEM_NODES",
					  "DAXKMEM_LOG=1", NULL };

		ck_assert_int_eq(run(true, probe_argv, log_env, out, sizeof(out), &err, NULL), 0);
		ck_assert_msg(count(err, "libmemkind (daxkmem): ") == 1 &&
				      strstr(err, "MEMKIND_DAX_KMEM_NODES=\"abc\""), "%s", err);
	}
	/* daxkmem's own variable wins */
	{
		const char *both[] = { env_socket, "MEMKIND_DAX_KMEM_NODES=abc", "DAXKMEM_NODES=0", NULL };

		ck_assert_int_eq(run(true, probe_argv, both, out, sizeof(out), NULL, NULL), 0);
		dax_codes(out, codes, sizeof(codes));
		ck_assert_msg(!strcmp(codes, "0 0 0"), "DAXKMEM_NODES=0 with a bad memkind list: %s",
			      codes);
	}
	daemon_stop(&d);
}
END_TEST

static Suite *memkind_suite(void)
{
	Suite *s = suite_create("memkind");
	int scale = wrapped() ? 10 : 1; /* as the valgrind test setup scales meson's timeouts */
	TCase *tc;

	tc = tcase_create("omp");
	tcase_set_timeout(tc, 240 * scale);
	tcase_add_test(tc, omp_dropin);
	tcase_add_test(tc, omp_without_dropin);
	suite_add_tcase(s, tc);

	tc = tcase_create("real_program");
	tcase_set_timeout(tc, 240 * scale);
	tcase_add_test(tc, real_program_dropin);
	tcase_add_test(tc, real_program_real);
	suite_add_tcase(s, tc);

	tc = tcase_create("differential");
	tcase_set_timeout(tc, 600 * scale);
	tcase_add_test(tc, differential);
	suite_add_tcase(s, tc);

	tc = tcase_create("unreachable");
	tcase_set_timeout(tc, 240 * scale);
	tcase_add_test(tc, unreachable_no_daemon);
	tcase_add_test(tc, unreachable_stuck_daemon);
	tcase_add_test(tc, unreachable_full_backlog);
	suite_add_tcase(s, tc);

	tc = tcase_create("nodes_env");
	tcase_set_timeout(tc, 240 * scale);
	tcase_add_test(tc, nodes_env);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : NULL;
	SRunner *sr;
	int failed;

	if (only && !strcmp(only, "omp")) {
		if (!OMP_PATH[0]) {
			printf("SKIP: no OpenMP test program (clang -fopenmp and libomp-14-dev)\n");
			return 77;
		}
		if (asan()) {
			/* libomp's program is not built with ASan: the ASan drop-in cannot load into it */
			printf("SKIP: the clang-built OpenMP program cannot load an ASan-built drop-in\n");
			return 77;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	sr = srunner_create(memkind_suite());
	srunner_run(sr, NULL, only, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
