#include "terminal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Opens path in the container's root (the process's own "/") with no magic link: an image's
 * /dev/pts -> /proc/1/root/dev/pts must not reach another root (a host PID namespace shows it). */
static int open_in_container(const char *path)
{
	int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -1;
	struct open_how how = {.flags = O_RDWR | O_NOCTTY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	int fd = (int)syscall(SYS_openat2, root, path, &how, sizeof how);
	int err = errno;
	close(root);
	errno = err;
	return fd;
}

/* With process.terminal: a pty from the container's own devpts (so ttyname works inside),
 * its master handed to the shim over sync with SCM_RIGHTS ("pty" message). */
int terminal_make(int sync, int *slave_out, struct cerr *e)
{
	int master = open_in_container("/dev/ptmx");
	if (master < 0)
		return fail(e, errno, "open /dev/ptmx in the container (is devpts mounted at /dev/pts?)");
	char name[128];
	if (unlockpt(master) < 0 || ptsname_r(master, name, sizeof name) != 0) {
		close(master);
		return fail(e, errno, "unlockpt");
	}
	int slave = open_in_container(name);
	if (slave < 0) {
		close(master);
		return fail(e, errno, "open %s", name);
	}
	char cbuf[CMSG_SPACE(sizeof(int))];
	memset(cbuf, 0, sizeof cbuf);
	struct iovec iov = {.iov_base = "pty", .iov_len = 3};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &master, sizeof(int));
	if (sendmsg(sync, &msg, MSG_NOSIGNAL) < 0) {
		close(master);
		close(slave);
		return fail(e, errno, "send the pty to the shim");
	}
	close(master);
	*slave_out = slave;
	return 0;
}

/* recv on the sync socket, taking a passed file descriptor if one comes along. */
ssize_t terminal_recv(int sock, char *buf, size_t len, int *fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	ssize_t n;
	while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return n;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(cm), sizeof(int));
	return n;
}

