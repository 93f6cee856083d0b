/* Tests of the restore plan reader (restore.c): what a broken or hostile plan file could hold
 * (NUL bytes, a relative criu, fds outside 6..31 or given twice, unknown lines, too many
 * arguments, no criu line), and a good plan read into criu's argv. Exits 1 on a failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "restore.h"

#define TEST_NAME "restore_test"
#include "check.h"

/* restore_run is not exercised here (it needs a kernel and criu): its cgroup call is a stub. */
int cgroup_enter_self(const struct cgroup *cg, struct cerr *e)
{
	(void)cg;
	(void)e;
	return 0;
}

static char file[] = "/tmp/restore-test-XXXXXX";
static struct restore r;
static struct cerr e;

static int load(const char *text, size_t len)
{
	FILE *f = fopen(file, "w");
	if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
		perror(file);
		exit(1);
	}
	e.msg[0] = '\0';
	restore_free(&r);
	return restore_load(file, &r, &e);
}

#define LOAD(s) load(s, sizeof(s) - 1)

int main(void)
{
	int fd = mkstemp(file);
	if (fd < 0) {
		perror("mkstemp");
		return 1;
	}
	close(fd);
	memset(&r, 0, sizeof r);
	r.stdio[0] = r.stdio[1] = r.stdio[2] = -1;

	CHECK(LOAD("criu /opt/criu/criu\nfd 6 /proc/1/ns/net\narg restore\narg --root\narg /c/rootfs\n") == 0, "%s", e.msg);
	CHECK(strcmp(r.argv[0], "/opt/criu/criu") == 0 && strcmp(r.argv[1], "restore") == 0 &&
		      strcmp(r.argv[3], "/c/rootfs") == 0 && r.nargs == 4, "argv[0]=%s nargs=%d", r.argv[0], r.nargs);
	CHECK(r.nopens == 1 && r.open_fd[0] == 6 && strcmp(r.open_path[0], "/proc/1/ns/net") == 0, "%d", r.nopens);
	CHECK(r.stdio[0] == -1 && r.stdio[1] == -1 && r.stdio[2] == -1, "stdio set by load");

	CHECK(LOAD("criu /c\narg a\0arg --action-script=/x\n") < 0 && strstr(e.msg, "NUL") && e.cls == CERR_INVALID, "%s", e.msg);
	CHECK(LOAD("criu criu\narg restore\n") < 0 && strstr(e.msg, "absolute"), "%s", e.msg);
	CHECK(LOAD("arg restore\n") < 0 && strstr(e.msg, "no criu line"), "%s", e.msg);
	CHECK(LOAD("criu /c\nfd 2 /proc/1/ns/net\n") < 0 && strstr(e.msg, "fd 6..31"), "%s", e.msg);
	CHECK(LOAD("criu /c\nfd 32 /proc/1/ns/net\n") < 0, "%s", e.msg);
	CHECK(LOAD("criu /c\nfd 6 relative\n") < 0, "%s", e.msg);
	CHECK(LOAD("criu /c\nfd 6x /p\n") < 0, "%s", e.msg);
	CHECK(LOAD("criu /c\nfd 7 /a\nfd 7 /b\n") < 0 && strstr(e.msg, "twice"), "%s", e.msg);
	CHECK(LOAD("criu /c\nexec /bin/sh\n") < 0 && strstr(e.msg, "unknown line"), "%s", e.msg);
	/* A second criu line is not a new binary: it is an unknown line. */
	CHECK(LOAD("criu /c\ncriu /evil\n") < 0, "%s", e.msg);

	/* criu's arguments: only the options a restore takes, their values of the shapes the daemon writes. */
	CHECK(LOAD("criu /c\narg restore\narg --inherit-fd\narg fd[4]:pipe:[123]\narg --inherit-fd\narg fd[6]:extern-net\n"
		   "arg --external\narg mnt[/etc/hosts]:/run/p/hosts\narg --join-ns\narg ipc:/proc/2/ns/ipc\narg --leave-stopped\n") == 0,
	      "%s", e.msg);
	CHECK(LOAD("criu /c\narg dump\n") < 0 && strstr(e.msg, "not restore"), "%s", e.msg);
	CHECK(LOAD("criu /c\narg restore\narg --action-script\narg /tmp/evil\n") < 0 && strstr(e.msg, "not one"), "%s", e.msg);
	CHECK(LOAD("criu /c\narg restore\narg --action-script=/tmp/evil\n") < 0, "%s", e.msg);
	CHECK(LOAD("criu /c\narg restore\narg --exec-cmd\n") < 0, "%s", e.msg);
	CHECK(LOAD("criu /c\narg restore\narg --root\narg rel\n") < 0 && strstr(e.msg, "shape"), "%s", e.msg);
	CHECK(LOAD("criu /c\narg restore\narg --root\n") < 0 && strstr(e.msg, "shape"), "%s", e.msg);
	CHECK(LOAD("criu /c\narg restore\narg --log-file\narg ../../etc/x\n") < 0, "%s", e.msg);
	CHECK(LOAD("criu /c\narg restore\narg --inherit-fd\narg fd[1]:pipe:[1]\n") < 0, "%s", e.msg);
	CHECK(LOAD("criu /c\narg restore\narg --inherit-fd\narg fd[4]:pipe:[1]x\n") < 0, "%s", e.msg);
	CHECK(LOAD("criu /c\narg restore\narg --inherit-fd\narg fd[4]:/etc/shadow\n") < 0, "%s", e.msg);
	CHECK(LOAD("criu /c\narg restore\narg --inherit-fd\narg fd[4x]:extern-net\n") < 0, "%s", e.msg);
	CHECK(LOAD("criu /c\narg restore\narg --external\narg mnt[/a]b]:/x\n") < 0, "%s", e.msg);
	CHECK(LOAD("criu /c\narg restore\narg --external\narg dev[x]:/dev/sda\n") < 0, "%s", e.msg);
	CHECK(LOAD("criu /c\narg restore\narg --external\narg mnt[/a]:rel\n") < 0, "%s", e.msg);
	CHECK(LOAD("criu /c\narg restore\narg --join-ns\narg net:/proc/1/ns/net\n") < 0, "%s", e.msg);

	static char many[RESTORE_PLAN_MAX];
	size_t n = (size_t)snprintf(many, sizeof many, "criu /c\n");
	n += (size_t)snprintf(many + n, sizeof many - n, "arg restore\n");
	for (int i = 0; i < RESTORE_MAX_ARGS; i++)
		n += (size_t)snprintf(many + n, sizeof many - n, "arg --file-locks\n");
	CHECK(load(many, n) < 0 && strstr(e.msg, "arguments"), "%s", e.msg);
	static char big[RESTORE_PLAN_MAX + 2];
	memset(big, 'a', sizeof big);
	CHECK(load(big, sizeof big) < 0, "a plan larger than the bound is refused");

	restore_free(&r);
	unlink(file);
	printf("restore_test: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
