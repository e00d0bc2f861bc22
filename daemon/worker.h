/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The population worker: one thread that fallocates the memfds of regions
 * asked with prefault, so that the event loop keeps serving others meanwhile.
 * struct dkm_worker (and the jobs on its lists) is the only state the loop
 * thread and the worker share; every field marked "under lock" is read and
 * written with lock held. The worker knows nothing of clients' accounting:
 * finished jobs come back to the loop thread through the eventfd.
 */
#ifndef DKM_DAEMON_WORKER_H
#define DKM_DAEMON_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct dkm_client;
struct dkm_grant;

/*
 * A population job for the worker thread. The worker reads fd and size and
 * writes err; cancel is set by the loop thread (under lock) when the owner
 * went away. region is touched only by the loop thread.
 */
struct dkm_job {
	struct dkm_grant *region;
	int fd;
	uint64_t size;
	int err;                     /* set by the worker: 0 or errno */
	bool cancel;                 /* under lock: stop early, the owner is gone */
	bool started;                /* under lock: the worker took it */
	struct dkm_job *next;
};

struct dkm_worker {
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct dkm_job *todo, *todo_tail;  /* under lock: FIFO */
	struct dkm_job *done;              /* under lock */
	bool stop;                         /* under lock */
	int efd;                           /* eventfd: jobs done */
};

/* Set up w (zeroed by the caller) and start its thread: 0 or a negative errno. */
int dkm_worker_start(struct dkm_worker *w);
/*
 * Stop the thread (a running job ends at its next chunk), free the jobs
 * still queued or finished (not their regions), release w's resources.
 * Safe after a failed dkm_worker_start.
 */
void dkm_worker_stop(struct dkm_worker *w);
/* Append j to the queue and wake the thread. */
void dkm_worker_queue(struct dkm_worker *w, struct dkm_job *j);
/* Drain the eventfd and take the finished jobs (a list by next, newest first). */
struct dkm_job *dkm_worker_take_done(struct dkm_worker *w);
/*
 * The owner c went away: every job of its regions is told to stop at its
 * next chunk, and those the worker has not started are taken off the queue
 * and returned (a list by next) for the caller to drop.
 */
struct dkm_job *dkm_worker_cancel(struct dkm_worker *w, const struct dkm_client *c);

#endif
