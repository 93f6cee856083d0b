/* rawsyscall NR [ARG...]: issues syscall NR with up to 5 numeric arguments (strtoul, any base)
 * and prints "ok" or "e<errno>". A child of a fork-like clone (NR 56, no stack) exits at once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 7)
		return 2;
	long nr = strtol(argv[1], NULL, 0);
	unsigned long a[5] = {0};
	for (int i = 2; i < argc; i++)
		a[i - 2] = strtoul(argv[i], NULL, 0);
	long r = syscall(nr, a[0], a[1], a[2], a[3], a[4]);
	if (r == 0 && nr == SYS_clone)
		_exit(0);
	if (r < 0)
		printf("e%d\n", errno);
	else
		printf("ok\n");
	if (nr == SYS_clone && r > 0)
		waitpid((pid_t)r, NULL, 0);
	return 0;
}
