/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel's device events (uevent.h): a NETLINK_KOBJECT_UEVENT socket on
 * the kernel's own group (no udev needed), and the filter that keeps the
 * memory, dax and node events after which the node map is re-read.
 */
#include "uevent.h"

#include <errno.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The kernel's broadcast group; udev's re-broadcast is group 2. */
#define KERNEL_GROUP 1u

int dkm_uevent_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = KERNEL_GROUP };
	int size = 1 << 20;
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			NETLINK_KOBJECT_UEVENT);

	if (fd < 0)
		return -errno;
	/* a burst (onlining 2 TiB is a thousand blocks) must not overflow it:
	 * a lost event only delays the refresh to the timer, but keep them */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

bool dkm_uevent_relevant(const char *buf, size_t len)
{
	static const char *const subsystems[] = { "memory", "dax", "node" };
	const char *p = buf, *end = buf + len;
	const char *at = memchr(buf, '@', len);

	/* the header: "ACTION@DEVPATH" up to the first NUL */
	if (!len || !at || !memchr(buf, '\0', len))
		return false;
	while (p < end) {
		const char *nul = memchr(p, '\0', (size_t)(end - p));
		size_t n = nul ? (size_t)(nul - p) : (size_t)(end - p);

		if (n > 10 && !memcmp(p, "SUBSYSTEM=", 10))
			for (unsigned i = 0; i < sizeof(subsystems) / sizeof(subsystems[0]); i++)
				if (n - 10 == strlen(subsystems[i]) &&
				    !memcmp(p + 10, subsystems[i], n - 10))
					return true;
		p += n + 1;
	}
	return false;
}

int dkm_uevent_drain(int fd)
{
	char buf[8192];
	int relevant = 0;

	for (;;) {
		struct sockaddr_nl from;
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
				     .msg_iovlen = 1 };
		ssize_t n = recvmsg(fd, &mh, 0);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return relevant;
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				/* overflowed: something happened, refresh */
				relevant++;
				continue;
			}
			return -errno;
		}
		if (mh.msg_namelen != sizeof(from) || from.nl_pid != 0 || (mh.msg_flags & MSG_TRUNC))
			continue;
		if (dkm_uevent_relevant(buf, (size_t)n))
			relevant++;
	}
}
