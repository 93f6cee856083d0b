/* The control socket: <state>/ctl.sock, SOCK_STREAM. A client sends one request line and
 * reads one reply line ("ok[ detail]" or "error <message>"); it may send more requests on
 * the same connection.
 *
 *   state               -> ok <created|running|stopped> <pid>
 *   start               -> ok | error <why the process could not be started>
 *   kill <signal> [all] -> ok      (all: every process in the container's cgroup)
 *   reopen-log          -> ok
 *   resize <rows> <cols>-> ok      (terminal containers)
 *   close-stdin         -> ok
 *   wait                -> ok <exit record JSON>, sent when the container has exited
 *   update <n>          -> ok | error <why>; the request line is followed by exactly n bytes
 *                          (1..CONTROL_BODY_MAX): an OCI linux.resources JSON object, written to
 *                          the container's cgroup as at create (with --runtime: "<runtime>
 *                          update --resources FILE", as containerd does)
 *
 * The exit record is also written to <state>/exit.json (temp file, fsync, rename):
 *   {"pid":N,"exitCode":N,"signal":N,"oomKilled":bool,"createdAt":ns,"startedAt":ns,"finishedAt":ns}
 * (times in nanoseconds since the epoch; exitCode is 128+signal for a signal death). */
#ifndef CORACLE_CONTROL_H
#define CORACLE_CONTROL_H
#include "error.h"

#include <stddef.h>

/* The largest request body (update's JSON). */
#define CONTROL_BODY_MAX 65536

/* Binds a listening socket at path (removing a stale one). */
int control_listen(const char *path, struct cerr *e);
/* Reads one line (without the newline) within timeout_ms; returns its length, 0 at EOF, -1. */
int control_read_line(int fd, char *buf, size_t len, int timeout_ms);
/* Reads exactly len bytes within timeout_ms in all; 0, or -1 on timeout, error or EOF. */
int control_read_body(int fd, char *buf, size_t len, int timeout_ms);
void control_reply(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Client side, for the CLI: sends one request line (and body_len bytes of body) and reads the reply. */
int control_call(const char *path, const char *request, const char *body, size_t body_len, char *reply, size_t len,
		 int timeout_ms, struct cerr *e);
#endif
