#include "namespaces.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
	const char *type;  /* the spec's name */
	const char *proc;  /* the name under /proc/<pid>/ns */
	int flag;
} kinds[NS_KINDS] = {
	{"ipc", "ipc", CLONE_NEWIPC},       {"uts", "uts", CLONE_NEWUTS},   {"network", "net", CLONE_NEWNET},
	{"cgroup", "cgroup", CLONE_NEWCGROUP}, {"pid", "pid", CLONE_NEWPID}, {"mount", "mnt", CLONE_NEWNS},
};

static void plan_init(struct ns_plan *plan)
{
	memset(plan, 0, sizeof *plan);
	plan->pid_fd = -1;
	plan->user_fd = -1;
	for (int i = 0; i < NS_KINDS; i++)
		plan->join_fd[i] = -1;
}

int ns_plan_build(const struct json *spec, struct ns_plan *plan, struct cerr *e)
{
	plan_init(plan);
	const struct json *list = json_get(json_get(spec, "linux"), "namespaces");
	if (list && list->type != JSON_ARRAY)
		return refuse(e, 0, "config.json: linux.namespaces: not an array");
	bool have_mount = false;
	size_t idx = 0;
	for (const struct json *n = list ? list->child : NULL; n; n = n->next, idx++) {
		const char *type = json_get_str(n, "type"), *path = json_get_str(n, "path");
		if (type && strcmp(type, "user") == 0) {
			/* Only the pod's, by path: the shim never creates one per container. */
			if (!path || !path[0] || plan->user_fd >= 0) {
				ns_plan_close(plan);
				return refuse(e, 0, "config.json: linux.namespaces[%zu]: a user namespace is only joined by path, once", idx);
			}
			if ((plan->user_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
				int err = errno;
				ns_plan_close(plan);
				return refuse(e, err, "config.json: linux.namespaces[%zu].path: open %s", idx, path);
			}
			continue;
		}
		int k = -1;
		for (int i = 0; type && i < NS_KINDS; i++)
			if (strcmp(type, kinds[i].type) == 0)
				k = i;
		if (k < 0) {
			ns_plan_close(plan);
			return refuse(e, 0, "config.json: linux.namespaces[%zu].type: '%s' is not supported", idx,
				    type ? type : "");
		}
		if (kinds[k].flag == CLONE_NEWNS) {
			have_mount = true;
			if (path && path[0]) {
				ns_plan_close(plan);
				return refuse(e, 0, "config.json: linux.namespaces[%zu]: joining a mount namespace is not supported", idx);
			}
		}
		if (!path || !path[0]) {
			plan->clone_flags |= kinds[k].flag;
			continue;
		}
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			int err = errno;
			ns_plan_close(plan);
			return refuse(e, err, "config.json: linux.namespaces[%zu].path: open %s", idx, path);
		}
		if (kinds[k].flag == CLONE_NEWPID) {
			plan->pid_fd = fd;
		} else {
			plan->join_fd[k] = fd;
			plan->join_type[k] = kinds[k].flag;
		}
	}
	if (!have_mount) {
		ns_plan_close(plan);
		return refuse(e, 0, "config.json: linux.namespaces: a mount namespace is required");
	}
	return 0;
}

int ns_plan_of_pid(int pid, struct ns_plan *plan, struct cerr *e)
{
	plan_init(plan);
	char theirs[64];
	struct stat a, b;
	snprintf(theirs, sizeof theirs, "/proc/%d/ns/user", pid);
	if (stat(theirs, &a) < 0)
		return fail(e, errno, "stat %s", theirs);
	if ((stat("/proc/self/ns/user", &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) &&
	    (plan->user_fd = open(theirs, O_RDONLY | O_CLOEXEC)) < 0)
		return fail(e, errno, "open %s", theirs);
	for (int k = 0; k < NS_KINDS; k++) {
		char theirs[64], ours[64];
		snprintf(theirs, sizeof theirs, "/proc/%d/ns/%s", pid, kinds[k].proc);
		snprintf(ours, sizeof ours, "/proc/self/ns/%s", kinds[k].proc);
		struct stat a, b;
		if (stat(theirs, &a) < 0) {
			ns_plan_close(plan);
			return fail(e, errno, "stat %s", theirs);
		}
		if (stat(ours, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			continue;
		int fd = open(theirs, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			ns_plan_close(plan);
			return fail(e, errno, "open %s", theirs);
		}
		if (kinds[k].flag == CLONE_NEWPID) {
			plan->pid_fd = fd;
		} else {
			plan->join_fd[k] = fd;
			plan->join_type[k] = kinds[k].flag;
		}
	}
	return 0;
}

int ns_enter_user(int fd, struct cerr *e)
{
	if (setns(fd, CLONE_NEWUSER) < 0)
		return fail(e, errno, "setns user");
	/* Root of that namespace (the host's root is not mapped there): files made from now on are
	 * owned by its root, and the capabilities stay (cap_emulate_setxuid keeps them for its root). */
	if (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		return fail(e, errno, "become root in the user namespace (setgroups/setresgid/setresuid)");
	return 0;
}

int ns_join(const struct ns_plan *plan, bool with_user, struct cerr *e)
{
	/* kinds[] lists mount last: after it, paths resolve inside the container. The user namespace
	 * is joined just before it: the others are then still joined as the host's root (a cgroup
	 * namespace made by the container's first process belongs to the host's user namespace). */
	for (int k = 0; k < NS_KINDS; k++) {
		if (with_user && plan->user_fd >= 0 && kinds[k].flag == CLONE_NEWNS && ns_enter_user(plan->user_fd, e) < 0)
			return -1;
		if (plan->join_fd[k] >= 0 && setns(plan->join_fd[k], plan->join_type[k]) < 0)
			return fail(e, errno, "setns %s", kinds[k].type);
	}
	return 0;
}

void ns_plan_close(struct ns_plan *plan)
{
	for (int k = 0; k < NS_KINDS; k++)
		if (plan->join_fd[k] >= 0) {
			close(plan->join_fd[k]);
			plan->join_fd[k] = -1;
		}
	if (plan->pid_fd >= 0) {
		close(plan->pid_fd);
		plan->pid_fd = -1;
	}
	if (plan->user_fd >= 0) {
		close(plan->user_fd);
		plan->user_fd = -1;
	}
}
