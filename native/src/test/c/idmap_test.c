/* Tests of the user namespace map checks (idmap.c), shared by coracle-pause and coracle-shim:
 * what a hostile spec or command line could hold (overflow of id+size, overlaps, size 0, the
 * invalid id 2^32-1, too many lines, garbage), and the map files read back. Exits 1 on a failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idmap.h"

#define TEST_NAME "idmap_test"
#include "check.h"

static struct idmap m[IDMAP_MAX + 1];
static char why[256];

static int parse(const char *text, size_t *n)
{
	why[0] = '\0';
	return idmap_parse(text, m, n, why, sizeof why);
}

int main(void)
{
	size_t n;
	CHECK(parse("0:65536:65536", &n) == 0 && n == 1 && m[0].host == 65536 && m[0].size == 65536, "%s", why);
	CHECK(parse("0:1000:100000,100000:200000:5", &n) == 0 && n == 2, "%s", why);
	/* the highest id is 2^32-2: mappable alone, never with one more */
	CHECK(parse("0:4294967294:1", &n) == 0, "%s", why);
	CHECK(parse("0:4294967295:1", &n) < 0 && strstr(why, "ids past"), "%s", why);
	CHECK(parse("4294967294:1:2", &n) < 0 && strstr(why, "ids past"), "%s", why);
	/* id + size would wrap a 32-bit sum */
	CHECK(parse("0:4294967200:4294967295", &n) < 0 && strstr(why, "ids past"), "%s", why);
	CHECK(parse("0:1:4294967295", &n) < 0, "%s", why);
	CHECK(parse("0:0:4294967295", &n) == 0, "%s", why); /* 0..2^32-2 exactly */
	CHECK(parse("0:1:0", &n) < 0 && strstr(why, "length 0"), "%s", why);
	/* overlaps on either side, and touching ranges that do not overlap */
	CHECK(parse("0:100:10,5:200:10", &n) < 0 && strstr(why, "overlap"), "%s", why);
	CHECK(parse("0:100:10,10:105:10", &n) < 0 && strstr(why, "overlap"), "%s", why);
	CHECK(parse("0:100:10,10:110:10", &n) == 0, "%s", why);
	/* numbers: no sign, no overflow of 32 bits, no garbage */
	CHECK(parse("0:4294967296:1", &n) < 0, "%s", why);
	CHECK(parse("-1:1:1", &n) < 0, "%s", why);
	CHECK(parse("0:+1:1", &n) < 0, "%s", why);
	CHECK(parse("0:1:1x", &n) < 0, "%s", why);
	CHECK(parse("0:1", &n) < 0, "%s", why);
	CHECK(parse("0:1:1,", &n) == 0 && n == 1, "%s", why);
	CHECK(parse("", &n) < 0 && strstr(why, "no mapping"), "%s", why);
	CHECK(parse("0:1:1:1", &n) < 0, "%s", why);
	CHECK(parse("99999999999999999999:1:1", &n) < 0, "%s", why);
	/* at most IDMAP_MAX lines */
	size_t cap = (size_t)(IDMAP_MAX + 1) * 32;
	char *many = malloc(cap);
	if (!many)
		return 2;
	many[0] = '\0';
	for (int i = 0; i <= IDMAP_MAX; i++) {
		char one[40];
		snprintf(one, sizeof one, "%s%d:%d:1", i ? "," : "", i, 100 + i);
		strcat(many, one);
	}
	CHECK(parse(many, &n) < 0 && strstr(why, "more than"), "%s", why);
	free(many);
	/* format and read back (a file in the map format), equality in any order */
	struct idmap a[2] = {{0, 1000, 10}, {10, 5000, 20}}, b[2] = {{10, 5000, 20}, {0, 1000, 10}}, back[IDMAP_MAX];
	char text[128], path[] = "/tmp/idmap-test-XXXXXX";
	int len = idmap_format(a, 2, text, sizeof text);
	CHECK(len > 0 && strcmp(text, "0 1000 10\n10 5000 20\n") == 0, "%s", text);
	CHECK(idmap_format(a, 2, text, 8) < 0, "a short buffer");
	int fd = mkstemp(path);
	CHECK(fd >= 0 && write(fd, "         0       1000         10\n        10       5000         20\n", 66) == 66, "tmp");
	size_t nb = 0;
	CHECK(idmap_read(path, back, &nb) == 0 && nb == 2 && idmap_equal(back, nb, b, 2), "read %zu", nb);
	CHECK(!idmap_equal(a, 2, b, 1) && !idmap_equal(a, 1, b, 1) && idmap_equal(a, 1, b + 1, 1), "different maps");
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	CHECK(idmap_read("/nonexistent/uid_map", back, &nb) < 0, "a missing file");
	printf("idmap_test: %d checks passed\n", checks - failures);
	return failures ? 1 : 0;
}
