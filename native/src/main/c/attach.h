/* The attach socket: <state>/attach.sock, SOCK_STREAM, framed both ways:
 *   1 byte type, 4 bytes big-endian payload length, payload.
 * shim -> client: 1 stdout data, 2 stderr data (a client too slow to take a frame loses it).
 * client -> shim: 0 stdin data, 3 resize (payload "<rows> <cols>"), 4 close stdin. */
#ifndef CORACLE_ATTACH_H
#define CORACLE_ATTACH_H
#include <stddef.h>
#include "error.h"

#define ATTACH_MAX 8
enum { ATTACH_STDIN = 0, ATTACH_STDOUT = 1, ATTACH_STDERR = 2, ATTACH_RESIZE = 3, ATTACH_CLOSE_STDIN = 4 };

struct attach {
	int listen_fd;
	int fds[ATTACH_MAX];
	int n;
};

void attach_init(struct attach *a);
int attach_listen(struct attach *a, const char *state_dir, struct cerr *e);
void attach_accept(struct attach *a);
void attach_broadcast(struct attach *a, int stream, const char *data, size_t n);
/* Reads one frame from client idx: stdin data goes to in_fd. Returns the frame's type, or
 * -1 when the client left (it is then dropped). */
int attach_read(struct attach *a, int idx, int in_fd, int *rows, int *cols);
#endif
