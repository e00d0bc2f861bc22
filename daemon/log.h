/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Daemon logging with syslog priorities, to stderr. Under systemd (stderr is
 * the journal: $JOURNAL_STREAM) lines carry the "<N>" prefix that gives the
 * journal their priority.
 */
#ifndef DKM_DAEMON_LOG_H
#define DKM_DAEMON_LOG_H

#include <syslog.h>

void dkm_log_init(int max_priority);
void dkm_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) dkm_log(LOG_ERR, __VA_ARGS__)
#define log_warning(...) dkm_log(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) dkm_log(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) dkm_log(LOG_INFO, __VA_ARGS__)
#define log_debug(...) dkm_log(LOG_DEBUG, __VA_ARGS__)

#endif
