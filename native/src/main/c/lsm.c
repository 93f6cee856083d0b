#include "lsm.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "mounts.h"

#ifndef PROC_SUPER_MAGIC
#define PROC_SUPER_MAGIC 0x9fa0
#endif
#define APPARMOR_EXEC "/proc/thread-self/attr/apparmor/exec"
#define SHARED_EXEC "/proc/thread-self/attr/exec"

static int check_label(const char *what, const char *s, struct cerr *e)
{
	size_t len = strlen(s);
	if (len == 0 || len > LSM_LABEL_MAX)
		return refuse(e, 0, "config.json: process.%s: empty or longer than %d bytes", what, LSM_LABEL_MAX);
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return refuse(e, 0, "config.json: process.%s: holds a control character", what);
	return 0;
}

int lsm_check_process(const struct json *process, struct cerr *e)
{
	static const char *const keys[] = {"apparmorProfile", "selinuxLabel"};
	for (size_t i = 0; i < 2; i++) {
		const struct json *v = json_get(process, keys[i]);
		if (!v || v->type == JSON_NULL)
			continue;
		if (v->type != JSON_STRING)
			return refuse(e, 0, "config.json: process.%s: not a string", keys[i]);
		if (v->str[0] && check_label(keys[i], v->str, e) < 0)
			return -1;
	}
	return 0;
}

int lsm_exec_plan(const char *apparmor_profile, const char *selinux_label, bool apparmor_dir, struct lsm_write out[2],
		  size_t *n, struct cerr *e)
{
	*n = 0;
	if (apparmor_profile && apparmor_profile[0]) {
		if (check_label("apparmorProfile", apparmor_profile, e) < 0)
			return -1;
		out[*n].what = "AppArmor profile";
		out[*n].label = apparmor_profile;
		out[*n].path = apparmor_dir ? APPARMOR_EXEC : SHARED_EXEC;
		out[*n].len = (size_t)snprintf(out[*n].data, sizeof out[*n].data, "exec %s", apparmor_profile);
		(*n)++;
	}
	if (selinux_label && selinux_label[0]) {
		if (check_label("selinuxLabel", selinux_label, e) < 0)
			return -1;
		if (*n && !apparmor_dir)
			return refuse(e, 0, "config.json: process: an AppArmor profile and an SELinux label both need "
					 "/proc/thread-self/attr/exec on this kernel");
		out[*n].what = "SELinux label";
		out[*n].label = selinux_label;
		out[*n].path = SHARED_EXEC;
		out[*n].len = (size_t)snprintf(out[*n].data, sizeof out[*n].data, "%s", selinux_label);
		(*n)++;
	}
	return 0;
}

/* Opens path for writing only if it is a file of procfs. */
static int open_proc_attr(const char *path, struct cerr *e)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return fail(e, errno, "open %s (is the LSM enabled on this host?)", path);
	struct statfs fs;
	int rc = fstatfs(fd, &fs), err = errno;
	if (rc < 0 || fs.f_type != PROC_SUPER_MAGIC) {
		close(fd);
		return rc < 0 ? fail(e, err, "fstatfs %s", path) : fail(e, 0, "%s is not on procfs", path);
	}
	return fd;
}

int lsm_exec_apply(const char *apparmor_profile, const char *selinux_label, struct cerr *e)
{
	if (!(apparmor_profile && apparmor_profile[0]) && !(selinux_label && selinux_label[0]))
		return 0;
	struct stat st;
	bool apparmor_dir = stat("/proc/thread-self/attr/apparmor", &st) == 0 && S_ISDIR(st.st_mode);
	struct lsm_write plan[2];
	size_t n;
	if (lsm_exec_plan(apparmor_profile, selinux_label, apparmor_dir, plan, &n, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int fd = open_proc_attr(plan[i].path, e);
		if (fd < 0)
			return -1;
		ssize_t w = write(fd, plan[i].data, plan[i].len);
		int err = errno;
		close(fd);
		if (w != (ssize_t)plan[i].len)
			return fail(e, w < 0 ? err : EIO, "apply the %s \"%s\": write %s", plan[i].what, plan[i].label,
				    plan[i].path);
	}
	return 0;
}

/* In a child with a private mount namespace: a tmpfs on /tmp with a tmpfs below it, made read-only
 * recursively with mount_setattr; works when the submount then refuses a write with EROFS. */
static bool recursive_readonly_works(void)
{
	pid_t pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("probe", "/tmp", "tmpfs", 0, "size=16k") < 0 || mkdir("/tmp/sub", 0700) < 0 ||
		    mount("probe", "/tmp/sub", "tmpfs", 0, "size=16k") < 0 ||
		    mount_readonly_recursive(AT_FDCWD, "/tmp") < 0)
			_exit(1);
		_exit(mkdir("/tmp/sub/x", 0700) < 0 && errno == EROFS ? 0 : 1);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return false;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* The first line of a small file, or "" when unreadable. */
static void first_line(const char *path, char *buf, size_t len)
{
	buf[0] = '\0';
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	if (!fgets(buf, (int)len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

/* The kernel's LSM ids (include/uapi/linux/lsm.h). */
static const char *lsm_name(uint64_t id)
{
	static const char *const names[] = {"capability", "selinux", "smack",    "tomoyo", "apparmor", "yama", "loadpin",
					    "safesetid",  "lockdown", "bpf",      "landlock", "ima",      "evm",  "ipe"};
	return id >= 100 && id < 100 + sizeof names / sizeof names[0] ? names[id - 100] : NULL;
}

#define LSM_LIST_MODULES 461

int lsm_probe_print(void)
{
	char lsms[1024], source[16] = "securityfs";
	first_line("/sys/kernel/security/lsm", lsms, sizeof lsms);
	if (!lsms[0]) {
		/* securityfs not mounted: ask the kernel (6.8 and later). */
		uint64_t ids[32];
		uint32_t size = sizeof ids;
		long n = syscall(LSM_LIST_MODULES, ids, &size, 0);
		snprintf(source, sizeof source, "%s", n > 0 ? "syscall" : "none");
		for (long i = 0; i < n && i < 32; i++) {
			const char *name = lsm_name(ids[i]);
			if (name)
				snprintf(lsms + strlen(lsms), sizeof lsms - strlen(lsms), "%s%s", lsms[0] ? "," : "", name);
		}
	}
	for (char *c = lsms; *c; c++)
		if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
			*c = '?';
	char aa[8], enforce[8];
	first_line("/sys/module/apparmor/parameters/enabled", aa, sizeof aa);
	first_line("/sys/fs/selinux/enforce", enforce, sizeof enforce);
	const char *selinux = enforce[0] == '1' ? "enforcing" : enforce[0] == '0' ? "permissive" : "disabled";
	struct stat st;
	bool parser = stat("/sbin/apparmor_parser", &st) == 0 || stat("/usr/sbin/apparmor_parser", &st) == 0;
	printf("{\"recursiveReadOnly\":%s,\"lsms\":\"%s\",\"lsmsFrom\":\"%s\",\"apparmor\":%s,\"apparmorParser\":%s,"
	       "\"selinux\":\"%s\"}\n",
	       recursive_readonly_works() ? "true" : "false", lsms, source, aa[0] == 'Y' ? "true" : "false",
	       parser ? "true" : "false", selinux);
	return fflush(stdout) == 0 ? 0 : 1;
}
