/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the daemon tells systemd (sd_notify): READY=1, the one-line STATUS=,
 * RELOADING=1 around a reload, STOPPING=1, and WATCHDOG=1 from a timer at
 * half the watchdog interval. Without systemd each is a no-op.
 */
#ifndef DKM_DAEMON_NOTIFY_H
#define DKM_DAEMON_NOTIFY_H

struct dkm_broker;
struct event;
struct event_base;

void dkm_notify_ready(void);
/* STATUS=serving N clients, N regions, N granted */
void dkm_notify_status(const struct dkm_broker *b);
/* RELOADING=1 with MONOTONIC_USEC=; READY=1 must follow when the reload is done. */
void dkm_notify_reloading(void);
void dkm_notify_stopping(void);

/*
 * When the service has a watchdog: a timer, already added to base, that
 * sends WATCHDOG=1 at half its interval. NULL without a watchdog (or out of
 * memory); event_free it.
 */
struct event *dkm_notify_watchdog_new(struct event_base *base);

#endif
