#include "dial.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "error.h"

/* The address family is missing in the namespace (no IPv6, loopback down): try the other. */
static bool unavailable(int err)
{
	return err == EAFNOSUPPORT || err == EADDRNOTAVAIL || err == ENETUNREACH;
}

/* A TCP socket connected to the loopback address of family, or -1 with errno. */
static int connect_loopback(int family, int port)
{
	struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
				  .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int r = family == AF_INET ? connect(fd, (struct sockaddr *)&a4, sizeof a4)
				  : connect(fd, (struct sockaddr *)&a6, sizeof a6);
	if (r < 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* Joins the network namespace at netns and connects to 127.0.0.1:port, else [::1]:port. */
static int dial(const char *netns, int port, struct cerr *e)
{
	int ns = open(netns, O_RDONLY | O_CLOEXEC);
	if (ns < 0)
		return fail(e, errno, "open %s", netns);
	if (setns(ns, CLONE_NEWNET) < 0) {
		int err = errno;
		close(ns);
		return fail(e, err, "setns %s%s", netns, err == EINVAL ? " (not a network namespace?)" : "");
	}
	close(ns);
	int fd = connect_loopback(AF_INET, port);
	if (fd >= 0)
		return fd;
	int err4 = errno;
	if (err4 != ECONNREFUSED && !unavailable(err4))
		return fail(e, err4, "connect 127.0.0.1:%d in %s", port, netns);
	fd = connect_loopback(AF_INET6, port);
	if (fd >= 0)
		return fd;
	int err6 = errno;
	/* IPv4's reason, unless IPv4 is missing and IPv6 got further. */
	if (unavailable(err4) && !unavailable(err6))
		return fail(e, err6, "connect [::1]:%d in %s", port, netns);
	return fail(e, err4, "connect 127.0.0.1:%d in %s", port, netns);
}

/* Connects to the daemon's unix socket at path and sends fd there (SCM_RIGHTS, payload "d"). */
static int send_fd(const char *path, int fd, struct cerr *e)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof addr.sun_path)
		return fail(e, ENAMETOOLONG, "socket path %s", path);
	strcpy(addr.sun_path, path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return fail(e, errno, "socket(AF_UNIX)");
	if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
		int err = errno;
		close(s);
		return fail(e, err, "connect %s", path);
	}
	char cbuf[CMSG_SPACE(sizeof(int))];
	memset(cbuf, 0, sizeof cbuf);
	struct iovec iov = {.iov_base = "d", .iov_len = 1};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	ssize_t n;
	while ((n = sendmsg(s, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	if (n < 0) {
		int err = errno;
		close(s);
		return fail(e, err, "sendmsg to %s", path);
	}
	/* Sent: the daemon holds its own copy; ours close when the helper exits. */
	return 0;
}

int cmd_dial(int argc, char **argv)
{
	const char *netns = NULL, *port_arg = NULL, *sock = NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--netns") == 0 && i + 1 < argc)
			netns = argv[++i];
		else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
			port_arg = argv[++i];
		else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
			sock = argv[++i];
		else {
			fprintf(stderr, "coracle-shim dial: unknown or incomplete argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (!netns || !port_arg || !sock) {
		fprintf(stderr, "coracle-shim dial: --netns, --port and --socket are required\n");
		return 2;
	}
	char *end;
	errno = 0;
	long port = strtol(port_arg, &end, 10);
	if (errno || end == port_arg || *end || port < 1 || port > 65535) {
		fprintf(stderr, "coracle-shim dial: --port %s: not a port number (1-65535)\n", port_arg);
		return 2;
	}
	struct cerr e;
	int fd = dial(netns, (int)port, &e);
	if (fd < 0 || send_fd(sock, fd, &e) < 0) {
		fprintf(stderr, "coracle-shim dial: %s\n", e.msg);
		return 1;
	}
	return 0;
}
