/* The shim's own cgroup. A shim starts where the daemon runs; before it builds its container
 * it moves itself out of the daemon's cgroup, so that killing every process of that cgroup
 * (systemd stopping or restarting the unit, a DaemonSet roll) leaves shims and containers
 * running, and a restarted daemon finds them. */
#ifndef CORACLE_SHIMCGROUP_H
#define CORACLE_SHIMCGROUP_H
#include "error.h"

/* Moves the calling single-threaded process into PATH (a cgroupfs path like linux.cgroupsPath:
 * the pod's pause leaf) in every hierarchy that has it. On cgroup v1 a hierarchy without it (the
 * hybrid unified one, a named one such as name=systemd) is left for its root cgroup; on pure
 * cgroup v2 PATH must exist. */
int shim_cgroup_enter(const char *path, struct cerr *e);
#endif
