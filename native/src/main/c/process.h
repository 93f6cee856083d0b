/* The OCI "process" object: args, env, cwd, user, rlimits, capabilities, noNewPrivileges,
 * and the final execve. Shared by create and exec. */
#ifndef CORACLE_PROCESS_H
#define CORACLE_PROCESS_H
#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>
#include "caps.h"
#include "error.h"
#include "json.h"

struct process {
	char **argv;
	char **envp;
	const char *cwd;
	bool terminal;
	bool no_new_privs;
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	size_t ngroups;
	int umask; /* -1: leave as is */
	struct capsets caps;
	const struct json *rlimits;
	const char *apparmor_profile; /* process.apparmorProfile, NULL when none (lsm.h) */
	const char *selinux_label;    /* process.selinuxLabel, NULL when none */
	char path[PATH_MAX]; /* args[0] resolved in the container's PATH */
};

/* A uid or gid from the spec (field names it in the error): an integer in 0..2^31-1, else refused. */
int spec_id(const struct json *v, const char *field, uint32_t *out, struct cerr *e);
/* Reads and checks process (the object); errors name the field at fault. */
int process_parse(const struct json *process, struct process *p, struct cerr *e);
void process_free(struct process *p);
int process_rlimits(const struct process *p, struct cerr *e);
/* What process_locate and process_exec return when args[0] itself cannot be run (not found,
 * not executable, too long an argument list): the caller's command is at fault, not the host. */
#define PROCESS_BAD_COMMAND (-2)
/* Inside the container's root: chdir to cwd and find args[0] (PROCESS_BAD_COMMAND when absent). */
int process_locate(struct process *p, struct cerr *e);
/* Bounding set, uid/gid/groups, the other capability sets, umask. seccomp_ctx is loaded
 * before the uid switch unless noNewPrivileges (then the caller loads it last). */
int process_switch_user(const struct process *p, void *seccomp_ctx, struct cerr *e);
/* The LSM labels (lsm.h), no_new_privs, and the seccomp filter when no_new_privs is set; then execve. Returns
 * only on failure: PROCESS_BAD_COMMAND when execve refused the command or its arguments. */
int process_exec(const struct process *p, void *seccomp_ctx, struct cerr *e);
#endif
