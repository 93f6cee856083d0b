/* One error object per operation: the failing call, its path or field, and errno text.
 * Functions return -1 after filling it; the top level prints or reports the one line. */
#ifndef CORACLE_ERROR_H
#define CORACLE_ERROR_H
#include <stdbool.h>
#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

struct cerr {
	char msg[1024];
};

/* Sets e to "<fmt...>: <strerror(errnum)>" (no suffix when errnum is 0); returns -1. */
int fail(struct cerr *e, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Writes the whole buffer, retrying on EINTR and short writes; -1 with errno on failure. */
int write_all(int fd, const void *buf, size_t len);
/* Writes a small string to a file (e.g. a cgroup or /proc knob). */
int write_file(const char *path, const char *value, struct cerr *e);
/* Reads a whole small file into a malloc'd NUL-terminated buffer, or NULL with e set. */
char *read_file(const char *path, size_t *len, struct cerr *e);
/* The same, refusing (EFBIG) a file longer than max bytes without reading more than one buffer past it. */
char *read_file_max(const char *path, size_t max, size_t *len, struct cerr *e);
/* Writes path atomically: temp file, rename; when durable, fsync the file before and its directory after. */
int write_file_atomic(const char *path, const char *data, size_t len, bool durable, struct cerr *e);
/* mkdir -p with mode 0755; existing directories are fine. */
int mkdir_p(const char *path, struct cerr *e);
/* Current time as an RFC 3339 timestamp with nanoseconds in UTC (buf >= 40 bytes). */
void rfc3339_now(char *buf, size_t len);
/* Sets the disposition of each signal in sigs (0-terminated) to handler. */
int set_signals(const int *sigs, void (*handler)(int), struct cerr *e);
/* Blocks the signals in sigs (0-terminated), filling set with them and old with the mask before. */
int block_signals(const int *sigs, sigset_t *set, sigset_t *old, struct cerr *e);
/* kill(2) that reports any failure but ESRCH (already gone) on stderr. */
void kill_logged(pid_t pid, int sig);

/* With CORACLE_SHIM_TRACE set in the environment: "coracle-shim: trace <monotonic s> <what>"
 * on stderr, to see where the time of a create goes. */
void trace(const char *what);
#endif
