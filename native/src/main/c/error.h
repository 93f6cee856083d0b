/* One error object per operation: the failing call, its path or field, and errno text.
 * Functions return -1 after filling it; the top level prints or reports the one line. */
#ifndef CORACLE_ERROR_H
#define CORACLE_ERROR_H
#include <stdbool.h>
#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

/* Whose fault a failure is, decided where it happens and reported with the message (never parsed
 * from it): the request's (the spec, an id, the command, a path in the image) or the host's. */
enum cerr_class { CERR_INTERNAL, CERR_INVALID };

struct cerr {
	char msg[1024];
	enum cerr_class cls;
};

/* Sets e to "<fmt...>: <strerror(errnum)>" (no suffix when errnum is 0), class internal; returns -1. */
int fail(struct cerr *e, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same with class invalid: the request is at fault, not the host. */
int refuse(struct cerr *e, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* For a path the image or the spec names: invalid when errnum blames the path (ENOENT, ENOTDIR,
 * ELOOP, ENAMETOOLONG, EXDEV: absent, a file where a directory must be, a symlink refused), else internal. */
int fail_path(struct cerr *e, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "invalid" or "internal": the class's word on the wire (status pipe, exit records). */
const char *cerr_class_name(enum cerr_class cls);
/* The class named by word (its length n), internal when it is not "invalid". */
enum cerr_class cerr_class_of(const char *word, size_t n);
/* Formats e as "error <class> <message>" into buf (what crosses a pipe or a socket). */
int cerr_format(const struct cerr *e, char *buf, size_t len);
/* Reads an "error <class> <message>" line back: sets *cls and returns the message (the line
 * itself, class internal, when it has no such prefix). */
const char *cerr_parse(const char *line, enum cerr_class *cls);
/* The launcher's exit status for a failure of class cls: 65 (EX_DATAERR) for invalid, else 1. */
int cerr_exit_status(enum cerr_class cls);

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
