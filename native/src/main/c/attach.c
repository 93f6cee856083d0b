#include "attach.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include "control.h"

void attach_init(struct attach *a)
{
	a->listen_fd = -1;
	a->n = 0;
	a->in_start = a->in_len = 0;
	a->in_close = false;
}

int attach_listen(struct attach *a, const char *state_dir, struct cerr *e)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/attach.sock", state_dir);
	a->listen_fd = control_listen(path, e);
	return a->listen_fd < 0 ? -1 : 0;
}

void attach_accept(struct attach *a)
{
	int fd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	if (a->n == ATTACH_MAX) {
		close(fd);
		return;
	}
	a->clients[a->n++] = (struct attach_client){.fd = fd};
}

static void drop(struct attach *a, int idx)
{
	close(a->clients[idx].fd);
	a->clients[idx] = a->clients[--a->n];
}

void attach_broadcast(struct attach *a, int stream, const char *data, size_t n)
{
	unsigned char head[5] = {(unsigned char)stream, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
				 (unsigned char)(n >> 8), (unsigned char)n};
	for (int i = a->n - 1; i >= 0; i--) {
		struct iovec iov[2] = {{head, 5}, {(void *)data, n}};
		struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
		ssize_t w = sendmsg(a->clients[i].fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno != EAGAIN)
			drop(a, i);
		else if (w >= 0 && (size_t)w < n + 5)
			drop(a, i); /* a torn frame cannot be recovered: drop the client */
	}
}

bool attach_can_read(const struct attach *a)
{
	return a->in_len < sizeof a->in_buf;
}

/* The free run of the ring after its data: where the next read goes. */
static char *ring_tail(struct attach *a, size_t *room)
{
	size_t cap = sizeof a->in_buf, end = (a->in_start + a->in_len) % cap;
	*room = a->in_len == cap ? 0 : end >= a->in_start ? cap - end : a->in_start - end;
	return a->in_buf + end;
}

int attach_read(struct attach *a, int idx, bool keep_stdin, int *rows, int *cols)
{
	struct attach_client *c = &a->clients[idx];
	/* At most a buffer's worth per call: a client sending fast cannot keep the monitor here. */
	for (size_t budget = sizeof a->in_buf; budget > 0;) {
		char discard[4096], *to;
		size_t want;
		if (c->head_n < 5) {
			to = (char *)c->head + c->head_n;
			want = (size_t)(5 - c->head_n);
		} else if (c->head[0] == ATTACH_STDIN) {
			size_t room = sizeof discard;
			to = keep_stdin ? ring_tail(a, &room) : discard;
			want = c->left < room ? c->left : room;
			if (want == 0)
				return 0; /* the buffer is full: the rest waits in the socket */
		} else {
			to = c->small + c->small_n;
			want = c->left;
		}
		ssize_t n = want ? read(c->fd, to, want) : 0;
		if (want && n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (want && n <= 0) {
			drop(a, idx);
			return -1;
		}
		budget = (size_t)n < budget ? budget - (size_t)n : 0;
		if (c->head_n < 5) {
			c->head_n += (int)n;
			if (c->head_n < 5)
				continue;
			c->left = (uint32_t)c->head[1] << 24 | (uint32_t)c->head[2] << 16 | (uint32_t)c->head[3] << 8 |
				  c->head[4];
			c->small_n = 0;
			if ((c->head[0] != ATTACH_STDIN && c->left >= sizeof c->small) || c->head[0] > ATTACH_CLOSE_STDIN) {
				drop(a, idx); /* control frames are small; anything else is not ours */
				return -1;
			}
		} else if (c->head[0] == ATTACH_STDIN) {
			c->left -= (uint32_t)n;
			if (keep_stdin)
				a->in_len += (size_t)n;
		} else {
			c->left -= (uint32_t)n;
			c->small_n += (uint32_t)n;
		}
		if (c->left > 0)
			continue;
		/* A whole frame. */
		int type = c->head[0];
		c->head_n = 0;
		if (type == ATTACH_RESIZE) {
			c->small[c->small_n] = '\0';
			if (sscanf(c->small, "%d %d", rows, cols) == 2)
				return ATTACH_RESIZE;
		} else if (type == ATTACH_CLOSE_STDIN) {
			return ATTACH_CLOSE_STDIN;
		}
	}
	return 0;
}

int attach_flush_stdin(struct attach *a, int in_fd)
{
	while (a->in_len > 0) {
		size_t cap = sizeof a->in_buf;
		size_t run = a->in_start + a->in_len <= cap ? a->in_len : cap - a->in_start;
		ssize_t n = write(in_fd, a->in_buf + a->in_start, run);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0) {
			a->in_start = a->in_len = 0;
			return -1;
		}
		a->in_start = (a->in_start + (size_t)n) % cap;
		a->in_len -= (size_t)n;
	}
	a->in_start = 0;
	return 0;
}
