/* SPDX-License-Identifier: GPL-2.0-or-later */
/* sd_notify: READY, STATUS, RELOADING, STOPPING and the watchdog timer (notify.h). */
#include "notify.h"

#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "broker.h"
#include "util/format.h"

void dkm_notify_ready(void)
{
	sd_notify(0, "READY=1");
}

/*
 * STATUS= only when the line changes: the refresh timer calls this every
 * second, and sd_notify blocks once the receiver has that many unread.
 */
void dkm_notify_status(const struct dkm_broker *b)
{
	static char last[128];
	unsigned nclients, nregions;
	uint64_t granted;
	char g[32], line[sizeof(last)];

	dkm_broker_totals(b, &nclients, &nregions, &granted);
	snprintf(line, sizeof(line), "STATUS=serving %u client%s, %u region%s, %s granted", nclients,
		 nclients == 1 ? "" : "s", nregions, nregions == 1 ? "" : "s",
		 dkm_format_bytes(granted, g, sizeof(g)));
	if (strcmp(line, last) == 0)
		return;
	memcpy(last, line, sizeof(last));
	sd_notify(0, line);
}

void dkm_notify_reloading(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		   (unsigned long long)ts.tv_sec * 1000000ull +
			   (unsigned long long)ts.tv_nsec / 1000ull);
}

void dkm_notify_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sd_notify(0, "WATCHDOG=1");
}

struct event *dkm_notify_watchdog_new(struct event_base *base)
{
	uint64_t wd_usec = 0;
	struct timeval tv;
	struct event *ev;

	if (sd_watchdog_enabled(0, &wd_usec) <= 0 || wd_usec == 0)
		return NULL;
	tv.tv_sec = (time_t)(wd_usec / 2 / 1000000);
	tv.tv_usec = (suseconds_t)(wd_usec / 2 % 1000000);
	ev = event_new(base, -1, EV_PERSIST, on_watchdog, NULL);
	if (ev)
		event_add(ev, &tv);
	return ev;
}
