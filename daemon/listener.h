/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The listening socket: the one systemd passed (socket activation), or one
 * of our own at --socket, socket= or the default path, made with the
 * configured mode and group after checking that no other daemon serves it.
 * Accepting takes each peer's identity (SO_PEERCRED) to the broker, which
 * admits it or has it refused with an ERROR of seq 0; running out of
 * descriptors or memory pauses accepting for a second.
 */
#ifndef DKM_DAEMON_LISTENER_H
#define DKM_DAEMON_LISTENER_H

struct server;

/* Open the socket (s->listen_fd) and make its events. 0 or negative errno (logged). */
int dkm_listener_open(struct server *s);
/* Start accepting. */
void dkm_listener_start(struct server *s);
/* Free the events, close the socket and remove the one we made. Before the event base goes. */
void dkm_listener_close(struct server *s);

#endif
