/* The C unit tests' harness: CHECK counts a check and reports a failed one with the test's name
 * (TEST_NAME, defined before this header) and line; main returns failures ? 1 : 0. */
#ifndef CORACLE_TEST_CHECK_H
#define CORACLE_TEST_CHECK_H

#include <stdio.h>

static int checks, failures;

#define CHECK(cond, ...)                                                              \
	do {                                                                          \
		checks++;                                                             \
		if (!(cond)) {                                                        \
			failures++;                                                   \
			fprintf(stderr, TEST_NAME ":%d: FAILED %s: ", __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                 \
			fputc('\n', stderr);                                          \
		}                                                                     \
	} while (0)

#endif
