/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's log (log.h): lines on stderr up to a syslog priority, with the
 * <N> prefix the journal reads when JOURNAL_STREAM says stderr is one, else
 * "daxkmemd: ".
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int max_prio = LOG_INFO;
static int journal = -1;

void dkm_log_init(int max_priority)
{
	max_prio = max_priority;
	journal = getenv("JOURNAL_STREAM") != NULL;
}

void dkm_log(int priority, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (priority > max_prio)
		return;
	if (journal < 0)
		journal = getenv("JOURNAL_STREAM") != NULL;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (journal)
		fprintf(stderr, "<%d>%s\n", priority, line);
	else
		fprintf(stderr, "daxkmemd: %s\n", line);
}
