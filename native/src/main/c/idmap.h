/* User namespace id mappings (uid_map/gid_map lines): range checks and the map files.
 * Shared by coracle-pause (which creates a pod's user namespace) and coracle-shim. */
#ifndef CORACLE_IDMAP_H
#define CORACLE_IDMAP_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The kernel takes at most 340 lines per map (since 4.15); ids go up to 2^32-2 (-1 is invalid). */
#define IDMAP_MAX 340
#define IDMAP_ID_MAX 4294967294u

struct idmap {
	uint32_t container, host, size;
};

/* 0, or -1 with why filled: size 0, a range past 2^32-2 (no overflow of id+size), ranges that
 * overlap on either side, more than IDMAP_MAX lines, none at all. */
int idmap_check(const struct idmap *m, size_t n, char *why, size_t whylen);
/* Parses "C:H:S[,C:H:S...]" (decimal, no signs): 0, or -1 with why filled (checks included). */
int idmap_parse(const char *text, struct idmap *m, size_t *n, char *why, size_t whylen);
/* The map file text ("C H S\n" per line) into buf: its length, or -1 when buf is too small. */
int idmap_format(const struct idmap *m, size_t n, char *buf, size_t len);
/* Reads /proc/<pid|self>/<uid_map|gid_map> (bounded) into m: 0, or -1 with errno. */
int idmap_read(const char *path, struct idmap *m, size_t *n);
/* Same lines in any order: true when a and b map the same ranges. */
int idmap_equal(const struct idmap *a, size_t na, const struct idmap *b, size_t nb);
#endif
