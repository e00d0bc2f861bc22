/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers of the libdaxkmem-client end-to-end tests (test-client*.c): a
 * daemon the library finds, stderr captured, child processes bounded in
 * time, and what the kernel says about a mapping (policy, residency, SIGBUS).
 */
#ifndef DKM_E2E_CLIENT_UTIL_H
#define DKM_E2E_CLIENT_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <numaif.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define DKM_E2E_VALGRIND 1
#else
#define DKM_E2E_VALGRIND 0
#endif

#include "daxkmem.h"
#include "harness.h"
#include "test-common.h"

#define MIB (1024ull * 1024)

/* Point the library at d (DAXKMEM_SOCKET); empty segments go back at once. */
static inline void use_daemon(const struct daemon *d)
{
	setenv("DAXKMEM_SOCKET", d->sock, 1);
	setenv("DAXKMEM_RETAIN", "0", 1);
}

/*
 * Configuration lines every daemon of these tests gets: no periodic
 * re-read of the node map. Each re-read sends a STATUS= notification, and
 * the harness reads its notify socket only up to READY=1: past the socket's
 * queue (10 datagrams), a long test (valgrind) would find the daemon stuck
 * in sd_notify.
 */
#define QUIET_CONF "refresh_interval_ms = 3600000"

/* QUIET_CONF and conf, in a static buffer. */
static inline const char *quiet_conf(const char *conf)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf), "%s\n%s", QUIET_CONF, conf ? conf : "");
	return buf;
}

/* A daemon for this test, found by the library through DAXKMEM_SOCKET. */
static inline void start(struct daemon *d, const char *conf)
{
	daemon_start(d, quiet_conf(conf));
	use_daemon(d);
}

/* The same on a fixture sysfs tree: the daemon finds its kmem nodes there. */
static inline void start_sysfs(struct daemon *d, const char *sysfs_root, const char *conf)
{
	daemon_start_sysfs(d, sysfs_root, quiet_conf(conf));
	use_daemon(d);
}

/* Timeouts stretch under valgrind (the test setup sets DKM_TEST_WRAPPER). */
static inline int scaled_ms(int ms)
{
	const char *w = getenv("DKM_TEST_WRAPPER");

	return w && *w ? ms * 10 : ms;
}

/* A test case's timeout in seconds, stretched under valgrind as the test setup's. */
static inline void tcase_timeout(TCase *tc, int seconds)
{
	tcase_set_timeout(tc, scaled_ms(seconds * 1000) / 1000);
}

/* Run fn with stderr going to a file; return what was written (static buffer). */
static inline char *capture_stderr(void (*fn)(void *), void *arg)
{
	static char buf[8192];
	char path[] = "/tmp/dkm-stderr-XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	fflush(stderr);
	dup2(fd, 2);
	fn(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
	return buf;
}

/*
 * End a forked child with code. Under valgrind, whose leak check at exit
 * would count what a child inherits and cannot reach (allocations other
 * threads of the parent had in flight, the parent's regions the library
 * drops in a child), the code goes to the parent through fd and the child
 * waits for child_wait to kill it: valgrind checks for leaks at any exit of
 * its own, even on a fatal signal, but not when killed from outside.
 * Errors valgrind found while the child ran make the code 99, as
 * --error-exitcode does.
 */
static inline void child_exit(int code, int fd)
{
#if DKM_E2E_VALGRIND
	if (RUNNING_ON_VALGRIND && fd >= 0) {
		if (VALGRIND_COUNT_ERRORS)
			code = 99;
		if (write(fd, &code, sizeof(code)) == (ssize_t)sizeof(code))
			for (;;)
				pause();
	}
#endif
	(void)fd;
	_exit(code);
}

/*
 * Wait at most timeout_ms (scaled) for a child that ends with child_exit
 * (fd: the read end of its pipe, closed here). Returns its wait status (as
 * if it had exited with child_exit's code), or -1 if it had to be killed.
 */
static inline int child_wait(pid_t pid, int fd, int timeout_ms)
{
	struct timespec t0, t;
	bool eof = false;
	int status = 0, code;

	timeout_ms = scaled_ms(timeout_ms);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		if (eof) {
			poll(NULL, 0, 5);
		} else if (poll(&p, 1, 5) == 1) {
			ssize_t n = read(fd, &code, sizeof(code));

			if (n == (ssize_t)sizeof(code)) {
				kill(pid, SIGKILL);
				waitpid(pid, &status, 0);
				status = (code & 0xff) << 8; /* as if it had exited with code */
				break;
			}
			eof = n <= 0; /* the child is exiting (or wrote nothing) */
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > timeout_ms) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			status = -1;
			break;
		}
	}
	close(fd);
	return status;
}

/*
 * Run fn(arg) in a child process, its stderr into out; the child exits with
 * fn's value. Returns the wait status, or -1 if the child had to be killed
 * after timeout_ms (scaled). No core files: some children abort on purpose.
 */
static inline int run_child(int (*fn)(void *), void *arg, char *out, size_t outsize,
			    int timeout_ms)
{
	char path[] = "/tmp/dkm-child-XXXXXX";
	int fd = mkstemp(path), status, res[2];
	ssize_t n;
	pid_t pid;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pipe(res), 0);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct rlimit nocore = { 0, 0 };

		close(res[0]);
		setrlimit(RLIMIT_CORE, &nocore);
		dup2(fd, 2);
		child_exit(fn(arg), res[1]);
	}
	close(res[1]);
	status = child_wait(pid, res[0], timeout_ms);
	n = pread(fd, out, outsize - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
	return status;
}

/* "exited with 0", "killed by signal 6", ... for messages. */
static inline const char *status_str(int status)
{
	static char buf[64];

	if (status == -1)
		snprintf(buf, sizeof(buf), "timed out (killed)");
	else if (WIFEXITED(status))
		snprintf(buf, sizeof(buf), "exited with %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, sizeof(buf), "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, sizeof(buf), "status 0x%x", status);
	return buf;
}

/*
 * The memory policy of the page holding p, as the kernel has it for the
 * mapping (for a shared mapping of a memfd: the file's policy, which the
 * daemon set with mbind); *mask gets the nodes of nodes 0..63.
 */
static inline int policy_of(const void *p, unsigned long *mask)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned long m[1024 / (8 * sizeof(unsigned long))] = { 0 };
	int mode = -1;

	ck_assert_int_eq(get_mempolicy(&mode, m, 1024, (void *)((uintptr_t)p & ~(uintptr_t)(page - 1)),
				       MPOL_F_ADDR),
			 0);
	*mask = m[0];
	return mode;
}

static sigjmp_buf probe_jmp;

static inline void probe_sigbus(int sig)
{
	(void)sig;
	siglongjmp(probe_jmp, 1);
}

/*
 * Touch the byte at p (a read, or a write of v): true if that raised
 * SIGBUS. *seen gets the byte read (before any write).
 */
static inline bool touch_sigbus(volatile unsigned char *p, bool write, unsigned char v,
				unsigned char *seen)
{
	struct sigaction sa = { .sa_handler = probe_sigbus }, old;
	bool bus = false;

	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGBUS, &sa, &old), 0);
	if (sigsetjmp(probe_jmp, 1) == 0) {
		unsigned char c = *p;

		if (seen)
			*seen = c;
		if (write)
			*p = v;
	} else {
		bus = true;
	}
	sigaction(SIGBUS, &old, NULL);
	return bus;
}

#endif
