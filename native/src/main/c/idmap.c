#include "idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int overlaps(uint32_t a, uint32_t alen, uint32_t b, uint32_t blen)
{
	/* Both ranges are known not to pass IDMAP_ID_MAX: a+alen fits in 64 bits. */
	return (uint64_t)a < (uint64_t)b + blen && (uint64_t)b < (uint64_t)a + alen;
}

int idmap_check(const struct idmap *m, size_t n, char *why, size_t whylen)
{
	if (n == 0) {
		snprintf(why, whylen, "no mapping");
		return -1;
	}
	if (n > IDMAP_MAX) {
		snprintf(why, whylen, "%zu mappings: the kernel takes at most %d", n, IDMAP_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (m[i].size == 0) {
			snprintf(why, whylen, "mapping %zu: length 0", i);
			return -1;
		}
		if ((uint64_t)m[i].container + m[i].size - 1 > IDMAP_ID_MAX ||
		    (uint64_t)m[i].host + m[i].size - 1 > IDMAP_ID_MAX) {
			snprintf(why, whylen, "mapping %zu (%u %u %u): ids past %u", i, m[i].container, m[i].host, m[i].size,
				 IDMAP_ID_MAX);
			return -1;
		}
		for (size_t j = 0; j < i; j++)
			if (overlaps(m[i].container, m[i].size, m[j].container, m[j].size) ||
			    overlaps(m[i].host, m[i].size, m[j].host, m[j].size)) {
				snprintf(why, whylen, "mappings %zu and %zu overlap", j, i);
				return -1;
			}
	}
	return 0;
}

static int parse_u32(const char *s, char **end, uint32_t *out)
{
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, end, 10);
	if (errno || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int idmap_parse(const char *text, struct idmap *m, size_t *n, char *why, size_t whylen)
{
	*n = 0;
	const char *p = text;
	while (*p) {
		if (*n == IDMAP_MAX) {
			snprintf(why, whylen, "more than %d mappings", IDMAP_MAX);
			return -1;
		}
		char *end;
		struct idmap *x = &m[*n];
		if (parse_u32(p, &end, &x->container) < 0 || *end != ':' || parse_u32(end + 1, &end, &x->host) < 0 ||
		    *end != ':' || parse_u32(end + 1, &end, &x->size) < 0 || (*end != ',' && *end != '\0')) {
			snprintf(why, whylen, "mapping %zu: not CONTAINER:HOST:LENGTH", *n);
			return -1;
		}
		(*n)++;
		p = *end ? end + 1 : end;
	}
	return idmap_check(m, *n, why, whylen);
}

int idmap_format(const struct idmap *m, size_t n, char *buf, size_t len)
{
	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(buf + off, len - off, "%u %u %u\n", m[i].container, m[i].host, m[i].size);
		if (w < 0 || (size_t)w >= len - off)
			return -1;
		off += (size_t)w;
	}
	return (int)off;
}

int idmap_read(const char *path, struct idmap *m, size_t *n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char buf[IDMAP_MAX * 40];
	size_t len = 0;
	for (;;) {
		ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = errno;
			close(fd);
			errno = err;
			return -1;
		}
		if (r == 0 || (len += (size_t)r) == sizeof buf - 1)
			break;
	}
	close(fd);
	buf[len] = '\0';
	*n = 0;
	char *p = buf;
	while (*n < IDMAP_MAX) {
		unsigned long a, b, c;
		int used;
		if (sscanf(p, " %lu %lu %lu%n", &a, &b, &c, &used) != 3)
			break;
		m[*n].container = (uint32_t)a;
		m[*n].host = (uint32_t)b;
		m[*n].size = (uint32_t)c;
		(*n)++;
		p += used;
	}
	return 0;
}

int idmap_equal(const struct idmap *a, size_t na, const struct idmap *b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++) {
		size_t j = 0;
		while (j < nb && memcmp(&a[i], &b[j], sizeof a[i]) != 0)
			j++;
		if (j == nb)
			return 0;
	}
	return 1;
}
