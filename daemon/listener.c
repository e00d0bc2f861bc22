/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The listening socket (listener.h): systemd socket activation or a socket
 * of our own, and accepting with its back-off. Each accepted peer becomes a
 * connection (connection.h) once the broker admits it.
 */
#include "listener.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "broker.h"
#include "config.h"
#include "connection.h"
#include "log.h"
#include "server-internal.h"
#include "wire.h"

/* ======================================================================
 * Socket
 * ====================================================================== */

static int make_socket(struct server *s, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("socket path %s is longer than %zu bytes", path, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0) {
		int probe;

		if (!S_ISSOCK(st.st_mode)) {
			log_error("%s exists and is not a socket: not removing it", path);
			return -EEXIST;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			log_error("another daemon serves %s", path);
			return -EADDRINUSE;
		}
		if (probe >= 0)
			close(probe);
		if (unlink(path) < 0 && errno != ENOENT) {
			r = -errno;
			log_error("removing stale socket %s: %s", path, strerror(errno));
			return r;
		}
		log_info("removed stale socket %s", path);
	} else {
		char dir[sizeof(sa.sun_path)], *slash;

		strcpy(dir, path);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			if (mkdir(dir, 0755) == 0)
				log_info("created %s", dir);
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	old = umask(0777 & ~s->cfg->socket_mode);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0) {
		r = -errno;
		log_error("bind %s: %s", path, strerror(errno));
		close(fd);
		return r;
	}
	if (chmod(path, s->cfg->socket_mode) < 0)
		log_warning("chmod %s: %s", path, strerror(errno));
	if (s->cfg->socket_group != (gid_t)-1 && chown(path, (uid_t)-1, s->cfg->socket_group) < 0)
		log_warning("chown %s to gid %u: %s", path, (unsigned)s->cfg->socket_group,
			    strerror(errno));
	if (listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		close(fd);
		unlink(path);
		return r;
	}
	s->socket_path = strdup(path);
	return fd;
}

static int open_socket(struct server *s)
{
	int n = sd_listen_fds(1);

	if (n > 1) {
		log_error("systemd passed %d sockets, expected one", n);
		return -EINVAL;
	}
	if (n == 1) {
		int fd = SD_LISTEN_FDS_START;

		if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
			log_error("the socket systemd passed is not a listening Unix stream socket");
			return -EINVAL;
		}
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
			return -errno;
		s->activated = true;
		log_info("serving the socket passed by systemd");
		return fd;
	}
	return make_socket(s, s->opt->socket_path ? s->opt->socket_path
			      : s->cfg->socket    ? s->cfg->socket
						  : DKM_DEFAULT_SOCKET);
}

/* ======================================================================
 * Accepting
 * ====================================================================== */

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	(void)fd;
	(void)what;
	event_add(s->ev_accept, NULL);
}

static void refuse(int fd, uint16_t err, const char *msg)
{
	struct dkm_error e = { 0 };
	void *buf;
	size_t len;

	e.errno_value = err;
	e.request_type = DKM_MSG_HELLO;
	snprintf(e.message, sizeof(e.message), "%s", msg);
	if (dkm_wire_encode(DKM_MSG_ERROR, 0, &e, sizeof(e), 0, &buf, &len) == 0) {
		(void)dkm_wire_send(fd, buf, len, NULL, 0, true);
		free(buf);
	}
	close(fd);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct server *s = arg;

	(void)what;
	for (int i = 0; i < 64; i++) {
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		struct dkm_client *cl;
		char msg[256];
		int fd, r;

		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				struct timeval tv = { 1, 0 };

				log_warning("accept: %s: pausing new connections for 1 s",
					    strerror(errno));
				event_del(s->ev_accept);
				event_add(s->ev_accept_resume, &tv);
			} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
				log_warning("accept: %s", strerror(errno));
			}
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
			log_warning("SO_PEERCRED: %s", strerror(errno));
			close(fd);
			continue;
		}
		r = dkm_broker_client_new(s->broker, cred.pid, cred.uid, cred.gid, &cl, msg,
					  sizeof(msg));
		if (r < 0) {
			log_notice("connection of pid %d uid %u refused: %s", (int)cred.pid,
				   (unsigned)cred.uid, msg);
			refuse(fd, (uint16_t)-r, msg);
			continue;
		}
		dkm_connection_new(s, fd, cl);
	}
}

/* ======================================================================
 * Life
 * ====================================================================== */

int dkm_listener_open(struct server *s)
{
	s->listen_fd = open_socket(s);
	if (s->listen_fd < 0)
		return s->listen_fd;
	s->ev_accept = event_new(s->base, s->listen_fd, EV_READ | EV_PERSIST, on_accept, s);
	s->ev_accept_resume = evtimer_new(s->base, on_accept_resume, s);
	if (!s->ev_accept || !s->ev_accept_resume)
		return -ENOMEM;
	return 0;
}

void dkm_listener_start(struct server *s)
{
	event_add(s->ev_accept, NULL);
}

void dkm_listener_close(struct server *s)
{
	if (s->ev_accept)
		event_free(s->ev_accept);
	s->ev_accept = NULL;
	if (s->ev_accept_resume)
		event_free(s->ev_accept_resume);
	s->ev_accept_resume = NULL;
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	s->listen_fd = -1;
	if (s->socket_path) {
		unlink(s->socket_path);
		free(s->socket_path);
		s->socket_path = NULL;
	}
}
