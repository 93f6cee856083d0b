#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int vfail(struct cerr *e, enum cerr_class cls, int errnum, const char *fmt, va_list ap)
{
	int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	if (errnum && n >= 0 && (size_t)n < sizeof e->msg)
		snprintf(e->msg + n, sizeof e->msg - (size_t)n, ": %s", strerror(errnum));
	e->cls = cls;
	return -1;
}

int fail(struct cerr *e, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(e, CERR_INTERNAL, errnum, fmt, ap);
	va_end(ap);
	return -1;
}

int refuse(struct cerr *e, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(e, CERR_INVALID, errnum, fmt, ap);
	va_end(ap);
	return -1;
}

int fail_path(struct cerr *e, int errnum, const char *fmt, ...)
{
	bool path_at_fault = errnum == ENOENT || errnum == ENOTDIR || errnum == ELOOP || errnum == ENAMETOOLONG ||
			     errnum == EXDEV;
	va_list ap;
	va_start(ap, fmt);
	vfail(e, path_at_fault ? CERR_INVALID : CERR_INTERNAL, errnum, fmt, ap);
	va_end(ap);
	return -1;
}

const char *cerr_class_name(enum cerr_class cls)
{
	return cls == CERR_INVALID ? "invalid" : "internal";
}

enum cerr_class cerr_class_of(const char *word, size_t n)
{
	return n == 7 && memcmp(word, "invalid", 7) == 0 ? CERR_INVALID : CERR_INTERNAL;
}

int cerr_format(const struct cerr *e, char *buf, size_t len)
{
	return snprintf(buf, len, "error %s %s", cerr_class_name(e->cls), e->msg);
}

const char *cerr_parse(const char *line, enum cerr_class *cls)
{
	*cls = CERR_INTERNAL;
	if (strncmp(line, "error ", 6) != 0)
		return line;
	const char *word = line + 6, *end = strchr(word, ' ');
	if (!end)
		return word;
	*cls = cerr_class_of(word, (size_t)(end - word));
	if (*cls == CERR_INTERNAL && !(end - word == 8 && memcmp(word, "internal", 8) == 0))
		return word; /* no class word: the whole rest is the message */
	return end + 1;
}

int cerr_exit_status(enum cerr_class cls)
{
	return cls == CERR_INVALID ? 65 : 1;
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int write_file(const char *path, const char *value, struct cerr *e)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(e, errno, "open %s", path);
	if (write_all(fd, value, strlen(value)) < 0) {
		int err = errno;
		close(fd);
		return fail(e, err, "write '%s' to %s", value, path);
	}
	if (close(fd) < 0)
		return fail(e, errno, "close %s", path);
	return 0;
}

char *read_file(const char *path, size_t *lenp, struct cerr *e)
{
	return read_file_max(path, SIZE_MAX / 2, lenp, e);
}

char *read_file_max(const char *path, size_t max, size_t *lenp, struct cerr *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fail(e, errno, "open %s", path);
		return NULL;
	}
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	if (!buf) {
		close(fd);
		fail(e, ENOMEM, "read %s", path);
		return NULL;
	}
	for (;;) {
		if (len + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				close(fd);
				fail(e, ENOMEM, "read %s", path);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			free(buf);
			close(fd);
			fail(e, err, "read %s", path);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			free(buf);
			close(fd);
			fail(e, EFBIG, "read %s: larger than %zu bytes", path, max);
			return NULL;
		}
	}
	close(fd);
	buf[len] = '\0';
	if (lenp)
		*lenp = len;
	return buf;
}

/* The rename survives a crash once the directory is on disk too. A filesystem that refuses fsync
 * on a directory (EINVAL) still renamed atomically. path is shorter than PATH_MAX (checked by the caller). */
static int fsync_dir_of(const char *path, struct cerr *e)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	size_t n = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
	if (n == 0)
		strcpy(dir, ".");
	else {
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail(e, errno, "open %s", dir);
	if (fsync(fd) < 0 && errno != EINVAL) {
		int err = errno;
		close(fd);
		return fail(e, err, "fsync %s", dir);
	}
	close(fd);
	return 0;
}

int write_file_atomic(const char *path, const char *data, size_t len, bool durable, struct cerr *e)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return fail(e, ENAMETOOLONG, "%s", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail(e, errno, "open %s", tmp);
	if (write_all(fd, data, len) < 0 || (durable && fsync(fd) < 0)) {
		int err = errno;
		close(fd);
		return fail(e, err, "write %s", tmp);
	}
	if (close(fd) < 0)
		return fail(e, errno, "close %s", tmp);
	if (rename(tmp, path) < 0)
		return fail(e, errno, "rename %s to %s", tmp, path);
	return durable ? fsync_dir_of(path, e) : 0;
}

int mkdir_p(const char *path, struct cerr *e)
{
	char buf[4096];
	if (strlen(path) >= sizeof buf)
		return fail(e, ENAMETOOLONG, "mkdir %s", path);
	strcpy(buf, path);
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, 0755) < 0 && errno != EEXIST)
				return fail(e, errno, "mkdir %s", buf);
			*p = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

void rfc3339_now(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%09ldZ", ts.tv_nsec);
}

void trace(const char *what)
{
	if (!getenv("CORACLE_SHIM_TRACE"))
		return;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	fprintf(stderr, "coracle-shim: trace %ld.%06ld [%d] %s\n", (long)ts.tv_sec, ts.tv_nsec / 1000, (int)getpid(), what);
}

int set_signals(const int *sigs, void (*handler)(int), struct cerr *e)
{
	for (; *sigs; sigs++)
		if (signal(*sigs, handler) == SIG_ERR)
			return fail(e, errno, "signal %d", *sigs);
	return 0;
}

int block_signals(const int *sigs, sigset_t *set, sigset_t *old, struct cerr *e)
{
	if (sigemptyset(set) < 0)
		return fail(e, errno, "sigemptyset");
	for (; *sigs; sigs++)
		if (sigaddset(set, *sigs) < 0)
			return fail(e, errno, "sigaddset %d", *sigs);
	if (sigprocmask(SIG_BLOCK, set, old) < 0)
		return fail(e, errno, "sigprocmask");
	return 0;
}

void kill_logged(pid_t pid, int sig)
{
	if (kill(pid, sig) < 0 && errno != ESRCH)
		fprintf(stderr, "coracle-shim: kill %d %d: %s\n", (int)pid, sig, strerror(errno));
}
