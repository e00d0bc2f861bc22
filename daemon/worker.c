/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The population worker thread and its queue: jobs go in FIFO order, each
 * fallocated in chunks with the lock dropped, checked for cancellation
 * between chunks, and handed back on the done list with a write to the
 * eventfd that the event loop watches. Cancellation when a client goes away.
 */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "broker.h"

/* Population runs in chunks so that a cancelled job or a stopping daemon does not wait long. */
#define POPULATE_CHUNK (64ull << 20)

static void *worker_main(void *arg)
{
	struct dkm_worker *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct dkm_job *j;
		uint64_t one = 1, off = 0;

		while (!w->todo && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->stop)
			break;
		j = w->todo;
		w->todo = j->next;
		if (!w->todo)
			w->todo_tail = NULL;
		j->started = true;
		j->err = 0;
		/* Allocates every page under the memfd's shared policy, as a fault would. */
		while (off < j->size && !j->cancel && !w->stop) {
			uint64_t len = j->size - off < POPULATE_CHUNK ? j->size - off : POPULATE_CHUNK;
			int r;

			pthread_mutex_unlock(&w->lock);
			r = fallocate(j->fd, 0, (off_t)off, (off_t)len);
			pthread_mutex_lock(&w->lock);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				j->err = errno;
				break;
			}
			off += len;
		}
		if (!j->err && off < j->size)
			j->err = ECANCELED;
		j->next = w->done;
		w->done = j;
		if (write(w->efd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow in practice; the loop drains it */
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int dkm_worker_start(struct dkm_worker *w)
{
	int r;

	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd < 0)
		return -errno;
	r = -pthread_create(&w->thread, NULL, worker_main, w);
	if (r < 0)
		return r;
	w->thread_started = true;
	return 0;
}

void dkm_worker_stop(struct dkm_worker *w)
{
	if (w->thread_started) {
		pthread_mutex_lock(&w->lock);
		w->stop = true;
		pthread_cond_signal(&w->cond);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
	}
	/* Jobs not run and jobs finished: their regions are on client lists and freed by the caller. */
	while (w->todo) {
		struct dkm_job *j = w->todo;

		w->todo = j->next;
		free(j);
	}
	while (w->done) {
		struct dkm_job *j = w->done;

		w->done = j->next;
		free(j);
	}
	if (w->efd >= 0)
		close(w->efd);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
}

void dkm_worker_queue(struct dkm_worker *w, struct dkm_job *j)
{
	pthread_mutex_lock(&w->lock);
	if (w->todo_tail)
		w->todo_tail->next = j;
	else
		w->todo = j;
	w->todo_tail = j;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

struct dkm_job *dkm_worker_take_done(struct dkm_worker *w)
{
	struct dkm_job *done;
	uint64_t cnt;

	if (read(w->efd, &cnt, sizeof(cnt)) < 0) {
		/* EAGAIN: nothing counted, but the list is checked anyway */
	}
	pthread_mutex_lock(&w->lock);
	done = w->done;
	w->done = NULL;
	pthread_mutex_unlock(&w->lock);
	return done;
}

struct dkm_job *dkm_worker_cancel(struct dkm_worker *w, const struct dkm_client *c)
{
	struct dkm_job *dropped = NULL;

	/* Jobs not started are dropped now; a running one stops at its next chunk. */
	pthread_mutex_lock(&w->lock);
	for (struct dkm_job **jp = &w->todo; *jp;) {
		struct dkm_job *j = *jp;

		if (j->region->owner != c) {
			jp = &j->next;
			continue;
		}
		*jp = j->next;
		j->next = dropped;
		dropped = j;
	}
	w->todo_tail = NULL;
	for (struct dkm_job *j = w->todo; j; j = j->next)
		w->todo_tail = j;
	for (const struct dkm_grant *r = c->regions; r; r = r->next)
		if (r->job)
			r->job->cancel = true;
	pthread_mutex_unlock(&w->lock);
	return dropped;
}
