/* Linux security modules: what the host runs (the probe), and the labels a container's process
 * takes at execve (process.apparmorProfile, process.selinuxLabel).
 *
 * The labels are written as runc writes them, just before execve: AppArmor's "exec NAME" to
 * /proc/thread-self/attr/apparmor/exec (kernels from 5.8), else to the shared
 * /proc/thread-self/attr/exec; SELinux's label to /proc/thread-self/attr/exec. The file opened must
 * be on procfs (the container's /proc could be anything the image holds otherwise). A write the
 * kernel refuses (no such LSM, an unknown profile) fails the create or exec: never silently
 * unconfined. lsm_exec_plan is the one place that decides path and bytes; `coracle-shim lsm-plan`
 * prints that plan without writing anything, for tests. */
#ifndef CORACLE_LSM_H
#define CORACLE_LSM_H
#include <stdbool.h>
#include <stddef.h>
#include "error.h"
#include "json.h"

#define LSM_LABEL_MAX 4096

struct lsm_write {
	const char *what; /* "AppArmor profile" or "SELinux label", for the error */
	const char *label;
	const char *path;
	char data[LSM_LABEL_MAX + 8];
	size_t len;
};

/* Checks the labels of the OCI process object: absent or a non-empty string without control
 * characters (a newline would end the attribute command), at most LSM_LABEL_MAX bytes. */
int lsm_check_process(const struct json *process, struct cerr *e);
/* What to write for these labels (NULL: none): up to two writes into out, their count in *n.
 * apparmor_dir: the kernel has /proc/thread-self/attr/apparmor/ (else the shared attr/exec). */
int lsm_exec_plan(const char *apparmor_profile, const char *selinux_label, bool apparmor_dir, struct lsm_write out[2],
		  size_t *n, struct cerr *e);
/* Carries out the plan for this host, in the container just before execve. */
int lsm_exec_apply(const char *apparmor_profile, const char *selinux_label, struct cerr *e);
/* Prints the host's confinement features as one JSON object on stdout (see shim.c: probe). */
int lsm_probe_print(void);
#endif
