/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Kernel device events (the netlink uevent broadcast, as udev receives it)
 * that change the node map: memory blocks added, removed, onlined or
 * offlined; dax devices bound, unbound, added or removed; nodes coming and
 * going. Read straight from the kernel so that no udev is needed (the
 * daemon also runs in minimal guests and containers without one).
 */
#ifndef DKM_DAEMON_UEVENT_H
#define DKM_DAEMON_UEVENT_H

#include <stdbool.h>
#include <stddef.h>

/* A non-blocking netlink socket subscribed to kernel uevents; fd or -errno. */
int dkm_uevent_open(void);

/*
 * Is one uevent datagram ("ACTION@DEVPATH\0KEY=VALUE\0...") about the
 * memory, dax or node subsystems? Malformed datagrams are not.
 */
bool dkm_uevent_relevant(const char *buf, size_t len);

/*
 * Read every pending datagram; returns how many were relevant (>= 0), or
 * -errno of a read error other than EAGAIN. Datagrams not sent by the
 * kernel (port id 0) are ignored.
 */
int dkm_uevent_drain(int fd);

#endif
