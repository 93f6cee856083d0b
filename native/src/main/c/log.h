/* The container's log in the CRI format: "<RFC3339Nano> <stdout|stderr> <P|F> <content>\n".
 * Lines longer than 16 KiB are split into P (partial) records and a final F record; a last
 * line without newline at EOF is written as F. */
#ifndef CORACLE_LOG_H
#define CORACLE_LOG_H
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include "error.h"

#define LOG_LINE_MAX 16384

struct log_file {
	char path[PATH_MAX];
	int fd;
	bool failing; /* the last write failed (e.g. ENOSPC): reported once */
};

struct log_stream {
	const char *name; /* "stdout" or "stderr" */
	size_t len;
	char buf[LOG_LINE_MAX];
};

int log_open(struct log_file *lf, const char *path, struct cerr *e);
/* Closes and opens the path again (after the kubelet rotated it). */
int log_reopen(struct log_file *lf, struct cerr *e);
/* Appends container output; writes every complete line. */
void log_write(struct log_file *lf, struct log_stream *s, const char *data, size_t n);
/* Writes what is left of a stream at EOF as a final (F) record. */
void log_flush(struct log_file *lf, struct log_stream *s);
#endif
