#include "container.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "devices.h"
#include "mounts.h"
#include "seccomp.h"
#include "terminal.h"
#include "userns.h"

struct json *json_read_file(const char *path, struct cerr *e)
{
	size_t len;
	char *text = read_file_max(path, JSON_MAX_TEXT, &len, e);
	if (!text)
		return NULL;
	char err[256];
	struct json *j = json_parse(text, len, err, sizeof err);
	free(text);
	if (!j)
		refuse(e, 0, "%s: invalid JSON at %s", path, err);
	return j;
}

static bool has_ns(const struct container *c, int flag)
{
	if (c->ns.clone_flags & flag)
		return true;
	for (int k = 0; k < NS_KINDS; k++)
		if (c->ns.join_fd[k] >= 0 && c->ns.join_type[k] == flag)
			return true;
	return false;
}

/* Refuses settings that would change the host: a hostname or sysctl with no namespace of
 * the container's own (new or joined) to hold it. */
static int check_host_safety(const struct container *c, struct cerr *e)
{
	const char *hostname = json_get_str(c->spec, "hostname");
	if (hostname && hostname[0] && !has_ns(c, CLONE_NEWUTS))
		return refuse(e, 0, "config.json: hostname: needs a uts namespace in linux.namespaces");
	const struct json *sysctl = json_get(json_get(c->spec, "linux"), "sysctl");
	for (const struct json *s = sysctl ? sysctl->child : NULL; s; s = s->next) {
		int need = 0;
		if (strncmp(s->key, "net.", 4) == 0)
			need = CLONE_NEWNET;
		else if (strncmp(s->key, "fs.mqueue.", 10) == 0 || strcmp(s->key, "kernel.msgmax") == 0 ||
			 strcmp(s->key, "kernel.msgmnb") == 0 || strcmp(s->key, "kernel.msgmni") == 0 ||
			 strcmp(s->key, "kernel.sem") == 0 || strcmp(s->key, "kernel.shmall") == 0 ||
			 strcmp(s->key, "kernel.shmmax") == 0 || strcmp(s->key, "kernel.shmmni") == 0 ||
			 strcmp(s->key, "kernel.shm_rmid_forced") == 0)
			need = CLONE_NEWIPC;
		else if (strcmp(s->key, "kernel.hostname") == 0 || strcmp(s->key, "kernel.domainname") == 0)
			need = CLONE_NEWUTS;
		if (!need)
			return refuse(e, 0, "config.json: linux.sysctl: '%s' is not namespaced: it would change the host", s->key);
		if (!has_ns(c, need))
			return refuse(e, 0, "config.json: linux.sysctl: '%s' needs the container's own %s namespace", s->key,
				    need == CLONE_NEWNET ? "network" : need == CLONE_NEWIPC ? "ipc" : "uts");
	}
	return 0;
}

int container_load(const char *bundle, struct container *c, struct cerr *e)
{
	memset(c, 0, sizeof *c);
	c->ns.pid_fd = -1;
	c->ns.user_fd = -1;
	for (int i = 0; i < NS_KINDS; i++)
		c->ns.join_fd[i] = -1;
	if (!realpath(bundle, c->bundle))
		return fail(e, errno, "bundle: realpath %s", bundle);
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/config.json", c->bundle);
	if (!(c->spec = json_read_file(path, e)))
		return -1;
	if (c->spec->type != JSON_OBJECT)
		return refuse(e, 0, "config.json: not a JSON object");
	const char *version = json_get_str(c->spec, "ociVersion");
	if (!version || strncmp(version, "1.", 2) != 0)
		return refuse(e, 0, "config.json: ociVersion: missing or not 1.x ('%s')", version ? version : "");
	if (rootfs_path(c->spec, c->bundle, c->rootfs, e) < 0)
		return -1;
	if (process_parse(json_get(c->spec, "process"), &c->proc, e) < 0)
		return -1;
	/* The seccomp filter is built in the container process (container_child), so libseccomp's
	 * pages never become resident in the long-lived monitor. */
	if (ns_plan_build(c->spec, &c->ns, e) < 0 || userns_check_spec(c->spec, c->ns.user_fd >= 0, e) < 0)
		return -1;
	/* Malformed device rules are refused here, before anything exists (applied in cgroup.c). */
	static struct device_rule rules[DEVICE_RULES_MAX];
	size_t nrules;
	if (device_rules_parse(json_get(json_get(json_get(c->spec, "linux"), "resources"), "devices"), rules, &nrules, e) < 0)
		return -1;
	return check_host_safety(c, e);
}

void container_free(struct container *c)
{
	ns_plan_close(&c->ns);
	seccomp_free(c->seccomp);
	process_free(&c->proc);
	json_free(c->spec);
	c->spec = NULL;
}

static void send_error(int sync, const struct cerr *e)
{
	char msg[1100];
	int n = cerr_format(e, msg, sizeof msg);
	if (n < 0 || (size_t)n >= sizeof msg)
		n = (int)sizeof msg - 1;
	if (send(sync, msg, (size_t)n, MSG_NOSIGNAL) < 0)
		_exit(1);
}

static int apply_sysctls(const struct json *spec, struct cerr *e)
{
	const struct json *sysctl = json_get(json_get(spec, "linux"), "sysctl");
	for (const struct json *s = sysctl ? sysctl->child : NULL; s; s = s->next) {
		if (s->type != JSON_STRING)
			return refuse(e, 0, "config.json: linux.sysctl.%s: not a string", s->key);
		if (strstr(s->key, ".."))
			return refuse(e, 0, "config.json: linux.sysctl.%s: bad name", s->key);
		char path[512];
		snprintf(path, sizeof path, "/proc/sys/%s", s->key);
		for (char *p = path + 10; *p; p++)
			if (*p == '.')
				*p = '/';
		if (write_file(path, s->str, e) < 0)
			return -1;
	}
	return 0;
}

/* An fd 0..2 on the host's /dev/null is reopened on the container's (as runc does): a file of a
 * mount outside the container's mount namespace is one CRIU cannot checkpoint. Only the real device
 * (char 1:3, no symlink followed) replaces it; anything else at /dev/null keeps the host's. */
static int reopen_dev_null(struct cerr *e)
{
	for (int fd = 0; fd < 3; fd++) {
		struct stat st;
		int flags = fcntl(fd, F_GETFL);
		if (flags < 0 || fstat(fd, &st) < 0)
			return fail(e, errno, "stat stdio %d", fd);
		if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
			continue;
		int own = open("/dev/null", (flags & O_ACCMODE) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		struct stat ost;
		if (own < 0)
			continue;
		if (fstat(own, &ost) == 0 && S_ISCHR(ost.st_mode) && ost.st_rdev == makedev(1, 3) &&
		    (fcntl(own, F_SETFL, 0) < 0 || dup2(own, fd) < 0)) {
			close(own);
			return fail(e, errno, "dup2 /dev/null");
		}
		close(own);
	}
	return 0;
}

static int setup(struct container *c, const struct cgroup *cg, int sync, const int stdio_in[3], struct cerr *e)
{
	int stdio[3] = {stdio_in[0], stdio_in[1], stdio_in[2]};
	/* The PID namespace was joined (or created) by the parent; join the others now, while
	 * the host's /proc and the namespace files are reachable. */
	trace("child started");
	/* First, while the host's /sys/fs/cgroup is reachable and before anything is allocated. */
	if (cgroup_enter_self(cg, e) < 0)
		return -1;
	/* A new cgroup namespace is rooted where the process is: so only now, in its own cgroup
	 * (a cgroup2 mounted inside then shows that cgroup and its children only). */
	if ((c->ns.clone_flags & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0)
		return fail(e, errno, "unshare(CLONE_NEWCGROUP)");
	trace("cgroup joined");
	if (seccomp_build(c->spec, &c->seccomp, e) < 0)
		return -1;
	if (ns_join(&c->ns, false, e) < 0)
		return -1;
	/* /proc/sys shows the namespaces of the opener: net and ipc knobs land in ours. */
	if (apply_sysctls(c->spec, e) < 0)
		return -1;
	const char *hostname = json_get_str(c->spec, "hostname");
	if (hostname && hostname[0] && sethostname(hostname, strlen(hostname)) < 0)
		return fail(e, errno, "sethostname %s", hostname);
	if (process_rlimits(&c->proc, e) < 0)
		return -1;
	trace("sysctl, hostname, rlimits set");
	/* With the pod's user namespace: what needs the host's root is made first (detached mounts),
	 * then the namespace is joined and a mount namespace of its own unshared. */
	struct premounts pm = {.root = -1};
	bool userns = c->ns.user_fd >= 0;
	if (userns && (rootfs_prepare_userns(c->spec, c->bundle, c->rootfs, c->ns.user_fd, &pm, e) < 0 ||
		       userns_enter(c->spec, c->ns.user_fd, c->rootfs, e) < 0))
		return -1;
	int rc = rootfs_build(c->spec, c->bundle, c->rootfs, userns ? &pm : NULL, e);
	if (userns)
		premounts_close(&pm);
	if (rc < 0 || rootfs_finish(c->spec, e) < 0)
		return -1;
	trace("rootfs built");
	if (process_locate(&c->proc, e) < 0)
		return -1;
	if (c->proc.terminal) {
		int slave = -1;
		if (terminal_make(sync, &slave, e) < 0)
			return -1;
		stdio[0] = stdio[1] = stdio[2] = slave;
	}
	trace("command located");
	if (setsid() < 0)
		return fail(e, errno, "setsid");
	for (int i = 0; i < 3; i++)
		if (dup2(stdio[i], i) < 0)
			return fail(e, errno, "dup2 stdio");
	if (reopen_dev_null(e) < 0)
		return -1;
	if (c->proc.terminal && ioctl(0, TIOCSCTTY, 0) < 0)
		return fail(e, errno, "ioctl(TIOCSCTTY)");
	return process_switch_user(&c->proc, c->seccomp, e);
}

_Noreturn void container_child(struct container *c, const struct cgroup *cg, int sync, const int stdio[3])
{
	struct cerr e;
	if (setup(c, cg, sync, stdio, &e) < 0) {
		send_error(sync, &e);
		_exit(1);
	}
	trace("user switched, ready");
	if (send(sync, "ready", 5, MSG_NOSIGNAL) < 0)
		_exit(1);
	char buf[16];
	ssize_t n;
	while ((n = recv(sync, buf, sizeof buf, 0)) < 0 && errno == EINTR)
		;
	if (n <= 0 || buf[0] != 's')
		_exit(1); /* the shim is gone or killed us before start */
	process_exec(&c->proc, c->seccomp, &e);
	send_error(sync, &e);
	_exit(127);
}
