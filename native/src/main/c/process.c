#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "lsm.h"
#include "seccomp.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static char **string_array(const struct json *arr, const char *field, bool nonempty, struct cerr *e)
{
	if (arr && arr->type != JSON_ARRAY) {
		refuse(e, 0, "config.json: process.%s: not an array", field);
		return NULL;
	}
	size_t n = json_len(arr);
	if (nonempty && n == 0) {
		refuse(e, 0, "config.json: process.%s: missing or empty", field);
		return NULL;
	}
	char **out = calloc(n + 1, sizeof *out);
	if (!out) {
		fail(e, ENOMEM, "process.%s", field);
		return NULL;
	}
	size_t i = 0;
	for (const struct json *c = arr ? arr->child : NULL; c; c = c->next, i++) {
		if (c->type != JSON_STRING) {
			free(out);
			refuse(e, 0, "config.json: process.%s[%zu]: not a string", field, i);
			return NULL;
		}
		out[i] = c->str; /* borrowed from the JSON tree, which outlives the process */
	}
	return out;
}

int spec_id(const struct json *v, const char *field, uint32_t *out, struct cerr *e)
{
	if (json_id(v, out))
		return 0;
	char what[64];
	json_describe(v, what, sizeof what);
	return refuse(e, 0, "config.json: %s: %s is not a valid id (an integer in 0..%d)", field, what, JSON_ID_MAX);
}

int process_parse(const struct json *proc, struct process *p, struct cerr *e)
{
	memset(p, 0, sizeof *p);
	p->umask = -1;
	if (!proc || proc->type != JSON_OBJECT)
		return refuse(e, 0, "config.json: process: missing or not an object");
	if (!(p->argv = string_array(json_get(proc, "args"), "args", true, e)))
		return -1;
	if (!(p->envp = string_array(json_get(proc, "env"), "env", false, e)))
		return -1;
	p->cwd = json_get_str(proc, "cwd");
	if (!p->cwd || p->cwd[0] != '/')
		return refuse(e, 0, "config.json: process.cwd: missing or not absolute");
	const struct json *t = json_get(proc, "terminal"), *nnp = json_get(proc, "noNewPrivileges");
	p->terminal = t && t->type == JSON_BOOL && t->boolean;
	p->no_new_privs = nnp && nnp->type == JSON_BOOL && nnp->boolean;
	const struct json *user = json_get(proc, "user");
	if (!user || user->type != JSON_OBJECT)
		return refuse(e, 0, "config.json: process.user: missing or not an object");
	uint32_t id;
	if (spec_id(json_get(user, "uid"), "process.user.uid", &id, e) < 0)
		return -1;
	p->uid = (uid_t)id;
	if (spec_id(json_get(user, "gid"), "process.user.gid", &id, e) < 0)
		return -1;
	p->gid = (gid_t)id;
	const struct json *groups = json_get(user, "additionalGids");
	if (groups && groups->type != JSON_ARRAY)
		return refuse(e, 0, "config.json: process.user.additionalGids: not an array");
	p->ngroups = json_len(groups);
	if (p->ngroups > 65536) /* NGROUPS_MAX */
		return refuse(e, 0, "config.json: process.user.additionalGids: more than 65536 groups");
	p->groups = calloc(p->ngroups + 1, sizeof *p->groups);
	if (!p->groups)
		return fail(e, ENOMEM, "process.user.additionalGids");
	size_t i = 0;
	for (const struct json *g = groups ? groups->child : NULL; g; g = g->next, i++) {
		char field[64];
		snprintf(field, sizeof field, "process.user.additionalGids[%zu]", i);
		if (spec_id(g, field, &id, e) < 0)
			return -1;
		p->groups[i] = (gid_t)id;
	}
	const struct json *um = json_get(user, "umask");
	if (um && (!um->is_integer || um->integer < 0 || um->integer > 0777))
		return refuse(e, 0, "config.json: process.user.umask: not an integer in 0..0777");
	if (um)
		p->umask = (int)um->integer;
	if (caps_parse(json_get(proc, "capabilities"), &p->caps, e) < 0)
		return -1;
	p->rlimits = json_get(proc, "rlimits");
	if (lsm_check_process(proc, e) < 0)
		return -1;
	p->apparmor_profile = json_get_str(proc, "apparmorProfile");
	p->selinux_label = json_get_str(proc, "selinuxLabel");
	return 0;
}

void process_free(struct process *p)
{
	free(p->argv);
	free(p->envp);
	free(p->groups);
}

int process_rlimits(const struct process *p, struct cerr *e)
{
	static const struct {
		const char *name;
		int resource;
	} names[] = {
		{"RLIMIT_AS", RLIMIT_AS},         {"RLIMIT_CORE", RLIMIT_CORE},         {"RLIMIT_CPU", RLIMIT_CPU},
		{"RLIMIT_DATA", RLIMIT_DATA},     {"RLIMIT_FSIZE", RLIMIT_FSIZE},       {"RLIMIT_LOCKS", RLIMIT_LOCKS},
		{"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
		{"RLIMIT_NOFILE", RLIMIT_NOFILE}, {"RLIMIT_NPROC", RLIMIT_NPROC},       {"RLIMIT_RSS", RLIMIT_RSS},
		{"RLIMIT_RTPRIO", RLIMIT_RTPRIO}, {"RLIMIT_RTTIME", RLIMIT_RTTIME},     {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
		{"RLIMIT_STACK", RLIMIT_STACK},
	};
	size_t i = 0;
	for (const struct json *r = p->rlimits ? p->rlimits->child : NULL; r; r = r->next, i++) {
		const char *type = json_get_str(r, "type");
		const struct json *soft = json_get(r, "soft"), *hard = json_get(r, "hard");
		int res = -1;
		for (size_t k = 0; type && k < sizeof names / sizeof names[0]; k++)
			if (strcmp(type, names[k].name) == 0)
				res = names[k].resource;
		if (res < 0)
			return refuse(e, 0, "config.json: process.rlimits[%zu].type: unknown '%s'", i, type ? type : "");
		if (!soft || !hard || soft->type != JSON_NUMBER || hard->type != JSON_NUMBER)
			return refuse(e, 0, "config.json: process.rlimits[%zu]: soft and hard are required", i);
		/* uint64 in the spec; -1 (as a signed writer may put it) is RLIM_INFINITY too. */
		if (!(soft->is_unsigned || soft->is_integer) || !(hard->is_unsigned || hard->is_integer))
			return refuse(e, 0, "config.json: process.rlimits[%zu]: soft and hard must be integers", i);
		struct rlimit rl = {.rlim_cur = soft->is_unsigned ? (rlim_t)soft->uinteger : (rlim_t)soft->integer,
				    .rlim_max = hard->is_unsigned ? (rlim_t)hard->uinteger : (rlim_t)hard->integer};
		if (setrlimit(res, &rl) < 0)
			return fail(e, errno, "setrlimit %s", type);
	}
	return 0;
}

static bool executable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int process_locate(struct process *p, struct cerr *e)
{
	/* Resolved in the container's root with no magic link: /proc/<pid>/cwd or /root of a process
	 * outside (a pod sharing the host's PID namespace) must not become the cwd. */
	struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return fail(e, errno, "open /");
	int dir = (int)syscall(SYS_openat2, root, p->cwd, &how, sizeof how);
	int err = errno;
	close(root);
	if (dir < 0)
		return refuse(e, err, "config.json: process.cwd: open %s in the container", p->cwd);
	int rc = fchdir(dir);
	err = errno;
	close(dir);
	if (rc < 0)
		return refuse(e, err, "config.json: process.cwd: chdir %s", p->cwd);
	const char *cmd = p->argv[0];
	if (strchr(cmd, '/')) {
		if (!executable(cmd)) {
			refuse(e, errno ? errno : EACCES, "process.args[0]: '%s' is not an executable file in the image", cmd);
			return PROCESS_BAD_COMMAND;
		}
		snprintf(p->path, sizeof p->path, "%s", cmd);
		return 0;
	}
	const char *path = DEFAULT_PATH;
	for (char **env = p->envp; *env; env++)
		if (strncmp(*env, "PATH=", 5) == 0)
			path = *env + 5;
	for (const char *dir = path; *dir;) {
		const char *colon = strchr(dir, ':');
		size_t len = colon ? (size_t)(colon - dir) : strlen(dir);
		if (len > 0 && snprintf(p->path, sizeof p->path, "%.*s/%s", (int)len, dir, cmd) < (int)sizeof p->path &&
		    executable(p->path))
			return 0;
		if (!colon)
			break;
		dir = colon + 1;
	}
	refuse(e, ENOENT, "process.args[0]: '%s' not found in the image (PATH=%s)", cmd, path);
	return PROCESS_BAD_COMMAND;
}

int process_switch_user(const struct process *p, void *seccomp_ctx, struct cerr *e)
{
	if (caps_drop_bounding(&p->caps, e) < 0)
		return -1;
	if (!p->no_new_privs && seccomp_load_filter(seccomp_ctx, e) < 0)
		return -1;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return fail(e, errno, "prctl(PR_SET_KEEPCAPS)");
	if (setgroups(p->ngroups, p->groups) < 0)
		return fail(e, errno, "setgroups (process.user.additionalGids)");
	if (setresgid(p->gid, p->gid, p->gid) < 0)
		return fail(e, errno, "setresgid %u", (unsigned)p->gid);
	if (setresuid(p->uid, p->uid, p->uid) < 0)
		return fail(e, errno, "setresuid %u", (unsigned)p->uid);
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return fail(e, errno, "prctl(PR_SET_KEEPCAPS)");
	if (caps_apply(&p->caps, e) < 0)
		return -1;
	if (p->umask >= 0)
		umask((mode_t)p->umask);
	return 0;
}

int process_exec(const struct process *p, void *seccomp_ctx, struct cerr *e)
{
	if (lsm_exec_apply(p->apparmor_profile, p->selinux_label, e) < 0)
		return -1;
	if (p->no_new_privs) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			return fail(e, errno, "prctl(PR_SET_NO_NEW_PRIVS)");
		if (seccomp_load_filter(seccomp_ctx, e) < 0)
			return -1;
	}
	execve(p->path, p->argv, p->envp);
	int err = errno;
	if (err == ENOENT || err == EACCES || err == ENOEXEC || err == E2BIG || err == ENAMETOOLONG || err == ELOOP ||
	    err == ENOTDIR)
		return refuse(e, err, "execve %s", p->path), PROCESS_BAD_COMMAND;
	return fail(e, err, "execve %s", p->path);
}
