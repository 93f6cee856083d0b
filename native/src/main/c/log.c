#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

int log_open(struct log_file *lf, const char *path, struct cerr *e)
{
	lf->fd = -1;
	lf->failing = false;
	if (snprintf(lf->path, sizeof lf->path, "%s", path) >= (int)sizeof lf->path)
		return fail(e, ENAMETOOLONG, "log path");
	lf->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (lf->fd < 0)
		return fail(e, errno, "open log %s", path);
	return 0;
}

int log_reopen(struct log_file *lf, struct cerr *e)
{
	int fd = open(lf->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return fail(e, errno, "open log %s", lf->path);
	if (lf->fd >= 0)
		close(lf->fd);
	lf->fd = fd;
	return 0;
}

static void write_record(struct log_file *lf, const char *stream, char tag, const char *data, size_t n)
{
	if (lf->fd < 0)
		return;
	char head[96];
	rfc3339_now(head, 64);
	size_t hl = strlen(head);
	snprintf(head + hl, sizeof head - hl, " %s %c ", stream, tag);
	struct iovec iov[3] = {{head, strlen(head)}, {(void *)data, n}, {"\n", 1}};
	size_t total = iov[0].iov_len + n + 1;
	/* One writev per record keeps records whole under O_APPEND; retry short writes. */
	ssize_t w;
	while ((w = writev(lf->fd, iov, 3)) < 0 && errno == EINTR)
		;
	if (w < 0) {
		/* A full disk fails every record: say so once, not once per record. */
		if (!lf->failing)
			fprintf(stderr, "coracle-shim: write log %s: %s (records are lost until it works again)\n",
				lf->path, strerror(errno));
		lf->failing = true;
		return;
	}
	if (lf->failing)
		fprintf(stderr, "coracle-shim: write log %s: works again\n", lf->path);
	lf->failing = false;
	size_t done = (size_t)w;
	if (done < total) {
		for (int i = 0; i < 3; i++) {
			if (done >= iov[i].iov_len) {
				done -= iov[i].iov_len;
				continue;
			}
			if (write_all(lf->fd, (char *)iov[i].iov_base + done, iov[i].iov_len - done) < 0)
				return;
			done = 0;
		}
	}
}

void log_write(struct log_file *lf, struct log_stream *s, const char *data, size_t n)
{
	while (n > 0) {
		const char *nl = memchr(data, '\n', n);
		size_t chunk = nl ? (size_t)(nl - data) : n;
		size_t room = LOG_LINE_MAX - s->len;
		if (chunk >= room && !(nl && chunk == room)) {
			/* The line outgrows the buffer: emit a partial record of exactly 16 KiB. */
			memcpy(s->buf + s->len, data, room);
			write_record(lf, s->name, 'P', s->buf, LOG_LINE_MAX);
			s->len = 0;
			data += room;
			n -= room;
			continue;
		}
		memcpy(s->buf + s->len, data, chunk);
		s->len += chunk;
		data += chunk;
		n -= chunk;
		if (nl) {
			write_record(lf, s->name, 'F', s->buf, s->len);
			s->len = 0;
			data++;
			n--;
		}
	}
}

void log_flush(struct log_file *lf, struct log_stream *s)
{
	if (s->len > 0)
		write_record(lf, s->name, 'F', s->buf, s->len);
	s->len = 0;
}
