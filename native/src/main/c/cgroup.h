/* linux.cgroupsPath and linux.resources on cgroup v1 (one hierarchy per controller, plus
 * the hybrid cgroup2 mount at /sys/fs/cgroup/unified) or pure cgroup v2 (detected by the
 * file system type of /sys/fs/cgroup). cgroupsPath is taken relative to the hierarchy's
 * root whether or not it starts with '/'; the systemd "slice:prefix:name" form is refused. */
#ifndef CORACLE_CGROUP_H
#define CORACLE_CGROUP_H
#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>
#include "error.h"
#include "json.h"

#define CGROUP_MAX_DIRS 16

struct cgroup {
	int ndirs;
	bool v2;
	char dirs[CGROUP_MAX_DIRS][512];   /* the container's directory in each hierarchy */
	char created[CGROUP_MAX_DIRS][512]; /* the top-most directory this shim created, or "" */
	char memory[512];                  /* the directory holding the memory controller */
};

/* Creates the directories of linux.cgroupsPath and writes linux.resources; on failure removes
 * what it created. */
int cgroup_setup(const struct json *spec, struct cgroup *cg, struct cerr *e);
/* The same for a cgroup path and a resources object (NULL: none); also for pod cgroups. */
int cgroup_create(const char *path, const struct json *res, struct cgroup *cg, struct cerr *e);
/* Writes linux.resources (an OCI LinuxResources object) to the cgroup cgroup_setup made, with
 * the same translation as at create: the one place where resources become cgroup files. Fields
 * that are absent are left as they are; "devices", when present, replaces the whole rule list
 * (v2: the program is swapped atomically). On failure the message names the file the kernel refused. */
int cgroup_update(const struct cgroup *cg, const struct json *res, struct cerr *e);
/* linux.resources.devices (v1 devices.deny/allow, v2 an eBPF program: devices.h). Applied once
 * the container's devices exist (mknod and the pty need them), before its command runs, as runc
 * does. Rules the node cannot enforce (no devices controller on v1, a program the kernel refuses
 * on v2) fail: the container is refused, never run unconfined. */
int cgroup_apply_devices(const struct json *spec, const struct cgroup *cg, struct cerr *e);
/* Moves the calling (single-threaded) process into the cgroup. On v1 it writes "0" to each
 * hierarchy's tasks file: moving only the caller's thread skips the kernel's global
 * threadgroup lock, whose RCU grace period made writing a PID to cgroup.procs cost 10+ ms
 * here. On v2 (and the hybrid unified hierarchy) it writes "0" to cgroup.procs. */
int cgroup_enter_self(const struct cgroup *cg, struct cerr *e);
/* Whether the kernel OOM-killed a process of this cgroup. */
bool cgroup_oom_killed(const struct cgroup *cg);
/* Removes what cgroup_setup created (directories must be empty: retries for a while). */
int cgroup_remove(const struct cgroup *cg, struct cerr *e);
/* One directory per line, for exec to join. */
int cgroup_save(const struct cgroup *cg, const char *file, struct cerr *e);
int cgroup_join_saved(const char *file, struct cerr *e);
#endif
