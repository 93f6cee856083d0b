/* The attach socket: <state>/attach.sock, SOCK_STREAM, framed both ways:
 *   1 byte type, 4 bytes big-endian payload length, payload.
 * shim -> client: 1 stdout data, 2 stderr data (a client too slow to take a frame loses it).
 * client -> shim: 0 stdin data, 3 resize (payload "<rows> <cols>"), 4 close stdin.
 * Nothing here blocks the monitor: clients are read without waiting, a frame at a time as its
 * bytes arrive; stdin data waits in a bounded buffer for the container to read it, and while
 * that buffer is full no client is read (the writers feel the backpressure, the monitor does not). */
#ifndef CORACLE_ATTACH_H
#define CORACLE_ATTACH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"

#define ATTACH_MAX 8
#define ATTACH_STDIN_BUF 65536
enum { ATTACH_STDIN = 0, ATTACH_STDOUT = 1, ATTACH_STDERR = 2, ATTACH_RESIZE = 3, ATTACH_CLOSE_STDIN = 4 };

struct attach_client {
	int fd;
	unsigned char head[5];
	int head_n;    /* header bytes read so far: 5 once the frame's payload is being read */
	uint32_t left; /* payload bytes still to read */
	char small[64]; /* the payload of a resize frame */
	uint32_t small_n;
};

struct attach {
	int listen_fd;
	struct attach_client clients[ATTACH_MAX];
	int n;
	/* Stdin on its way to the container: a ring buffer. */
	size_t in_start, in_len;
	bool in_close; /* close stdin once the buffer is written out */
	char in_buf[ATTACH_STDIN_BUF];
};

void attach_init(struct attach *a);
int attach_listen(struct attach *a, const char *state_dir, struct cerr *e);
void attach_accept(struct attach *a);
void attach_broadcast(struct attach *a, int stream, const char *data, size_t n);
/* Whether clients may be read: false while the stdin buffer is full. */
bool attach_can_read(const struct attach *a);
/* Reads what client idx has sent, without waiting: stdin data goes into the buffer (or is
 * discarded when keep_stdin is false). Returns ATTACH_RESIZE (rows, cols set) or
 * ATTACH_CLOSE_STDIN when such a frame completed, 0 otherwise, -1 when the client left or sent
 * a bad frame (it is then dropped). */
int attach_read(struct attach *a, int idx, bool keep_stdin, int *rows, int *cols);
/* Writes buffered stdin to in_fd (non-blocking) as far as it takes it. Returns 0, or -1 with
 * errno when in_fd failed (the buffer is then discarded). */
int attach_flush_stdin(struct attach *a, int in_fd);
#endif
