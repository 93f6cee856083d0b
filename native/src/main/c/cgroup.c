#include "cgroup.h"
#include "devices.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#define CGROUP_ROOT "/sys/fs/cgroup"

static int apply_devices(const struct cgroup *cg, const struct json *devs, struct cerr *e);

static bool is_cgroup2(const char *path)
{
	struct statfs fs;
	return statfs(path, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* mkdir -p below root, remembering the top-most directory it had to create. */
static int make_dirs(const char *root, const char *rel, char *dir, char *created, struct cerr *e)
{
	created[0] = '\0';
	if (snprintf(dir, 512, "%s/%s", root, rel) >= 512)
		return fail(e, ENAMETOOLONG, "cgroup %s/%s", root, rel);
	char buf[512];
	snprintf(buf, sizeof buf, "%s", dir);
	for (char *p = buf + strlen(root) + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, 0755) == 0) {
				if (!created[0])
					snprintf(created, 512, "%s", buf);
			} else if (errno != EEXIST) {
				return fail(e, errno, "mkdir %s", buf);
			}
			*p = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

static int write_knob(const char *dir, const char *knob, const char *value, struct cerr *e)
{
	char path[600];
	snprintf(path, sizeof path, "%s/%s", dir, knob);
	return write_file(path, value, e);
}

static const struct json *res_get(const struct json *res, const char *group, const char *key)
{
	return json_get(json_get(res, group), key);
}

static bool int_of(const struct json *v, int64_t *out)
{
	if (!v || !v->is_integer)
		return false;
	*out = v->integer;
	return true;
}

/* cpuset.cpus and cpuset.mems start empty in a new v1 cpuset: copy them down from the
 * parent, level by level from the hierarchy's root, or nothing can join it. */
static int cpuset_inherit(const char *dir, struct cerr *e)
{
	static const char *const knobs[] = {"cpuset.cpus", "cpuset.mems"};
	const char *root = CGROUP_ROOT "/cpuset";
	if (strncmp(dir, root, strlen(root)) != 0)
		return fail(e, EINVAL, "cpuset cgroup %s outside %s", dir, root);
	char parent[512], level[512];
	snprintf(parent, sizeof parent, "%s", root);
	for (const char *rest = dir + strlen(root); *rest == '/';) {
		const char *next = strchr(rest + 1, '/');
		size_t len = next ? (size_t)(next - rest) : strlen(rest);
		if ((size_t)snprintf(level, sizeof level, "%s%.*s", parent, (int)len, rest) >= sizeof level)
			return fail(e, ENAMETOOLONG, "cpuset cgroup %s", dir);
		for (size_t k = 0; k < 2; k++) {
			char path[600], from[600];
			snprintf(path, sizeof path, "%s/%s", level, knobs[k]);
			snprintf(from, sizeof from, "%s/%s", parent, knobs[k]);
			char *cur = read_file(path, NULL, e);
			if (!cur)
				return -1;
			bool empty = cur[0] == '\n' || cur[0] == '\0';
			free(cur);
			if (!empty)
				continue;
			char *val = read_file(from, NULL, e);
			if (!val)
				return -1;
			int rc = write_file(path, val, e);
			free(val);
			if (rc < 0)
				return -1;
		}
		snprintf(parent, sizeof parent, "%s", level);
		if (!next)
			break;
		rest = next;
	}
	return 0;
}

static int apply_hugetlb(const char *dir, const struct json *res, bool v2, struct cerr *e)
{
	const struct json *limits = json_get(res, "hugepageLimits");
	for (const struct json *l = limits ? limits->child : NULL; l; l = l->next) {
		const char *size = json_get_str(l, "pageSize");
		int64_t limit;
		if (!size || !int_of(json_get(l, "limit"), &limit))
			return refuse(e, 0, "config.json: linux.resources.hugepageLimits: pageSize and limit are required");
		char knob[64], val[32];
		snprintf(knob, sizeof knob, v2 ? "hugetlb.%s.max" : "hugetlb.%s.limit_in_bytes", size);
		snprintf(val, sizeof val, "%" PRId64, limit);
		if (write_knob(dir, knob, val, e) < 0)
			return -1;
	}
	return 0;
}

static int apply_v1(const char *controller, const char *dir, const struct json *res, struct cerr *e)
{
	char val[64];
	int64_t v, v2;
	if (strcmp(controller, "cpuset") == 0) {
		if (cpuset_inherit(dir, e) < 0)
			return -1;
		const char *cpus = json_get_str(json_get(res, "cpu"), "cpus");
		const char *mems = json_get_str(json_get(res, "cpu"), "mems");
		if (cpus && cpus[0] && write_knob(dir, "cpuset.cpus", cpus, e) < 0)
			return -1;
		if (mems && mems[0] && write_knob(dir, "cpuset.mems", mems, e) < 0)
			return -1;
	}
	if (strcmp(controller, "cpu") == 0) {
		if (int_of(res_get(res, "cpu", "shares"), &v) && v > 0) {
			snprintf(val, sizeof val, "%" PRId64, v);
			if (write_knob(dir, "cpu.shares", val, e) < 0)
				return -1;
		}
		if (int_of(res_get(res, "cpu", "period"), &v) && v > 0) {
			snprintf(val, sizeof val, "%" PRId64, v);
			if (write_knob(dir, "cpu.cfs_period_us", val, e) < 0)
				return -1;
		}
		if (int_of(res_get(res, "cpu", "quota"), &v) && v != 0) {
			snprintf(val, sizeof val, "%" PRId64, v > 0 ? v : -1);
			if (write_knob(dir, "cpu.cfs_quota_us", val, e) < 0)
				return -1;
		}
	}
	if (strcmp(controller, "memory") == 0) {
		bool has_limit = int_of(res_get(res, "memory", "limit"), &v) && v != 0;
		if (has_limit) {
			snprintf(val, sizeof val, "%" PRId64, v > 0 ? v : -1);
			if (write_knob(dir, "memory.limit_in_bytes", val, e) < 0)
				return -1;
		}
		if (int_of(res_get(res, "memory", "reservation"), &v2) && v2 > 0) {
			snprintf(val, sizeof val, "%" PRId64, v2);
			if (write_knob(dir, "memory.soft_limit_in_bytes", val, e) < 0)
				return -1;
		}
		if (int_of(res_get(res, "memory", "swap"), &v2) && v2 != 0) {
			char path[600];
			snprintf(path, sizeof path, "%s/memory.memsw.limit_in_bytes", dir);
			if (!exists(path)) {
				fprintf(stderr, "coracle-shim: linux.resources.memory.swap ignored: the kernel has no swap accounting\n");
			} else {
				snprintf(val, sizeof val, "%" PRId64, v2 > 0 ? v2 : -1);
				if (write_file(path, val, e) < 0)
					return -1;
			}
		}
	}
	if (strcmp(controller, "pids") == 0 && int_of(res_get(res, "pids", "limit"), &v)) {
		if (v > 0)
			snprintf(val, sizeof val, "%" PRId64, v);
		else
			snprintf(val, sizeof val, "max");
		if (write_knob(dir, "pids.max", val, e) < 0)
			return -1;
	}
	if (strcmp(controller, "hugetlb") == 0 && apply_hugetlb(dir, res, false, e) < 0)
		return -1;
	return 0;
}

/* Whether a v1 mount's name ("cpu,cpuacct") lists the controller. */
static bool hierarchy_has(const char *names, const char *controller)
{
	size_t n = strlen(controller);
	for (const char *p = names; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, controller, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

/* Each name in a combined mount ("cpu,cpuacct") gets its settings. */
static int apply_v1_hierarchy(const char *mount_name, const char *dir, const struct json *res, struct cerr *e)
{
	char names[256];
	snprintf(names, sizeof names, "%s", mount_name);
	char *save = NULL;
	for (char *c = strtok_r(names, ",", &save); c; c = strtok_r(NULL, ",", &save))
		if (apply_v1(c, dir, res, e) < 0)
			return -1;
	return 0;
}

static int apply_v2(const char *dir, const struct json *res, struct cerr *e)
{
	char val[64];
	int64_t v, q, limit = 0;
	if (int_of(res_get(res, "cpu", "shares"), &v) && v > 0) {
		snprintf(val, sizeof val, "%" PRId64, 1 + ((v - 2) * 9999) / 262142);
		if (write_knob(dir, "cpu.weight", val, e) < 0)
			return -1;
	}
	int64_t period = 100000;
	int_of(res_get(res, "cpu", "period"), &period);
	if (int_of(res_get(res, "cpu", "quota"), &q) && q != 0) {
		if (q > 0)
			snprintf(val, sizeof val, "%" PRId64 " %" PRId64, q, period);
		else
			snprintf(val, sizeof val, "max %" PRId64, period);
		if (write_knob(dir, "cpu.max", val, e) < 0)
			return -1;
	}
	const char *cpus = json_get_str(json_get(res, "cpu"), "cpus");
	const char *mems = json_get_str(json_get(res, "cpu"), "mems");
	char knob[600];
	snprintf(knob, sizeof knob, "%s/cpuset.cpus", dir);
	if (((cpus && cpus[0]) || (mems && mems[0])) && !exists(knob))
		return fail(e, 0, "linux.resources.cpu.%s: this node's cgroup v2 hierarchy has no cpuset controller (no %s)",
			    cpus && cpus[0] ? "cpus" : "mems", knob);
	if (cpus && cpus[0] && write_knob(dir, "cpuset.cpus", cpus, e) < 0)
		return -1;
	if (mems && mems[0] && write_knob(dir, "cpuset.mems", mems, e) < 0)
		return -1;
	if (int_of(res_get(res, "memory", "limit"), &limit) && limit != 0) {
		snprintf(val, sizeof val, limit > 0 ? "%" PRId64 : "max", limit);
		if (write_knob(dir, "memory.max", val, e) < 0)
			return -1;
	}
	if (int_of(res_get(res, "memory", "swap"), &v) && v != 0) {
		/* v1's swap is memory+swap; v2's memory.swap.max is the swap alone. */
		if (v > 0 && limit > 0)
			snprintf(val, sizeof val, "%" PRId64, v > limit ? v - limit : 0);
		else
			snprintf(val, sizeof val, "max");
		if (write_knob(dir, "memory.swap.max", val, e) < 0)
			return -1;
	}
	if (int_of(res_get(res, "pids", "limit"), &v)) {
		snprintf(val, sizeof val, v > 0 ? "%" PRId64 : "max", v);
		if (write_knob(dir, "pids.max", val, e) < 0)
			return -1;
	}
	if (apply_hugetlb(dir, res, true, e) < 0)
		return -1;
	/* linux.resources.unified: cgroup v2 files written as given (the CRI's "unified" map). */
	const struct json *unified = json_get(res, "unified");
	for (const struct json *k = unified && unified->type == JSON_OBJECT ? unified->child : NULL; k; k = k->next) {
		if (k->type != JSON_STRING || !k->key[0] || k->key[0] == '.' || strchr(k->key, '/'))
			return refuse(e, 0, "config.json: linux.resources.unified.%s: not a cgroup file name with a string value",
				    k->key);
		if (write_knob(dir, k->key, k->str, e) < 0)
			return -1;
	}
	return 0;
}

/* Writes "+<controller>" for each available controller to dir's cgroup.subtree_control,
 * one by one: some may refuse (e.g. where processes live), the others still apply. */
static void delegate(const char *dir, const char *avail)
{
	char ctl[600], copy[512];
	snprintf(ctl, sizeof ctl, "%s/cgroup.subtree_control", dir);
	snprintf(copy, sizeof copy, "%s", avail);
	char *save = NULL;
	for (char *tok = strtok_r(copy, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		char plus[64];
		snprintf(plus, sizeof plus, "+%s", tok);
		struct cerr e;
		if (write_file(ctl, plus, &e) < 0)
			fprintf(stderr, "coracle-shim: %s (continuing without it)\n", e.msg);
	}
}

/* On v2, a controller works in a cgroup only once every ancestor delegates it. */
static int enable_controllers(const char *root, const char *dir, struct cerr *e)
{
	char avail_path[600];
	snprintf(avail_path, sizeof avail_path, "%s/cgroup.controllers", root);
	char *avail = read_file(avail_path, NULL, e);
	if (!avail)
		return -1;
	/* From the root down to the leaf's parent. */
	char ancestor[512];
	snprintf(ancestor, sizeof ancestor, "%s", root);
	for (const char *rest = dir + strlen(root); *rest == '/';) {
		const char *next = strchr(rest + 1, '/');
		delegate(ancestor, avail);
		if (!next)
			break;
		size_t len = strlen(ancestor);
		snprintf(ancestor + len, sizeof ancestor - len, "%.*s", (int)(next - rest), rest);
		rest = next;
	}
	free(avail);
	return 0;
}

static int add_dir(struct cgroup *cg, const char *root, const char *rel, struct cerr *e)
{
	if (cg->ndirs == CGROUP_MAX_DIRS)
		return fail(e, 0, "too many cgroup hierarchies");
	int i = cg->ndirs;
	if (make_dirs(root, rel, cg->dirs[i], cg->created[i], e) < 0)
		return -1;
	cg->ndirs++;
	return 0;
}

int cgroup_setup(const struct json *spec, struct cgroup *cg, struct cerr *e)
{
	const struct json *linux_ = json_get(spec, "linux");
	return cgroup_create(json_get_str(linux_, "cgroupsPath"), json_get(linux_, "resources"), cg, e);
}

int cgroup_create(const char *path, const struct json *res, struct cgroup *cg, struct cerr *e)
{
	memset(cg, 0, sizeof *cg);
	if (!path || !path[0])
		return 0;
	if (strchr(path, ':'))
		return refuse(e, 0, "config.json: linux.cgroupsPath: the systemd form '%s' is not supported", path);
	if (strstr(path, ".."))
		return refuse(e, 0, "config.json: linux.cgroupsPath: '..' is not allowed");
	while (*path == '/')
		path++;
	if (is_cgroup2(CGROUP_ROOT)) {
		cg->v2 = true;
		if (add_dir(cg, CGROUP_ROOT, path, e) < 0 || enable_controllers(CGROUP_ROOT, cg->dirs[0], e) < 0 ||
		    apply_v2(cg->dirs[0], res, e) < 0)
			goto fail;
		snprintf(cg->memory, sizeof cg->memory, "%s", cg->dirs[0]);
		return 0;
	}
	const struct json *unified = json_get(res, "unified");
	if (unified && unified->child)
		return refuse(e, 0, "config.json: linux.resources.unified needs cgroup v2; this node runs cgroup v1");
	DIR *d = opendir(CGROUP_ROOT);
	if (!d)
		return fail(e, errno, "opendir " CGROUP_ROOT);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || de->d_type == DT_LNK)
			continue; /* cpu -> cpu,cpuacct links: the real directory is listed too */
		char root[300];
		snprintf(root, sizeof root, CGROUP_ROOT "/%s", de->d_name);
		struct statfs fs;
		if (statfs(root, &fs) < 0 || (fs.f_type != CGROUP_SUPER_MAGIC && fs.f_type != CGROUP2_SUPER_MAGIC))
			continue;
		/* The hybrid unified hierarchy holds only hugetlb here: join it only to limit that
		 * (joining a v2 cgroup pays the threadgroup lock's grace period). */
		if (fs.f_type == CGROUP2_SUPER_MAGIC && json_len(json_get(res, "hugepageLimits")) == 0)
			continue;
		if (add_dir(cg, root, path, e) < 0) {
			closedir(d);
			goto fail;
		}
		const char *dir = cg->dirs[cg->ndirs - 1];
		if (fs.f_type == CGROUP2_SUPER_MAGIC) {
			/* The hybrid unified hierarchy: here it holds only hugetlb. */
			char avail[600];
			snprintf(avail, sizeof avail, "%s/cgroup.controllers", root);
			char *ctrls = read_file(avail, NULL, e);
			bool hugetlb = ctrls && strstr(ctrls, "hugetlb");
			free(ctrls);
			if (hugetlb && (enable_controllers(root, dir, e) < 0 || apply_hugetlb(dir, res, true, e) < 0)) {
				closedir(d);
				goto fail;
			}
			continue;
		}
		if (hierarchy_has(de->d_name, "memory"))
			snprintf(cg->memory, sizeof cg->memory, "%s", dir);
		if (apply_v1_hierarchy(de->d_name, dir, res, e) < 0) {
			closedir(d);
			goto fail;
		}
	}
	closedir(d);
	return 0;
fail:;
	struct cerr ignored;
	cgroup_remove(cg, &ignored);
	return -1;
}

int cgroup_update(const struct cgroup *cg, const struct json *res, struct cerr *e)
{
	if (!res || res->type != JSON_OBJECT)
		return fail(e, 0, "linux.resources: not a JSON object");
	if (cg->ndirs == 0)
		return fail(e, 0, "the container has no cgroup (its config.json has no linux.cgroupsPath)");
	if (apply_devices(cg, json_get(res, "devices"), e) < 0)
		return -1;
	if (cg->v2)
		return apply_v2(cg->dirs[0], res, e);
	const struct json *unified = json_get(res, "unified");
	if (unified && unified->child)
		return fail(e, 0, "linux.resources.unified needs cgroup v2; this node runs cgroup v1");
	const size_t root_len = strlen(CGROUP_ROOT "/");
	for (int i = 0; i < cg->ndirs; i++) {
		/* cgroup_setup made each directory as CGROUP_ROOT/<mount name>/<cgroupsPath>. */
		const char *dir = cg->dirs[i];
		if (strncmp(dir, CGROUP_ROOT "/", root_len) != 0)
			return fail(e, EINVAL, "cgroup %s outside " CGROUP_ROOT, dir);
		char name[256], root[300];
		snprintf(name, sizeof name, "%.*s", (int)strcspn(dir + root_len, "/"), dir + root_len);
		snprintf(root, sizeof root, CGROUP_ROOT "/%s", name);
		int rc = is_cgroup2(root) ? apply_hugetlb(dir, res, true, e) : apply_v1_hierarchy(name, dir, res, e);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int enter_dir(const char *dir, struct cerr *e)
{
	char tasks[600];
	snprintf(tasks, sizeof tasks, "%s/tasks", dir);
	if (exists(tasks))
		return write_file(tasks, "0", e);
	return write_knob(dir, "cgroup.procs", "0", e);
}

/* The directory that takes the device rules: v2's one directory, or the v1 devices hierarchy's
 * (NULL: the node mounts no devices controller). */
static const char *devices_dir(const struct cgroup *cg)
{
	if (cg->v2)
		return cg->dirs[0];
	for (int i = 0; i < cg->ndirs; i++)
		if (strncmp(cg->dirs[i], CGROUP_ROOT "/devices/", strlen(CGROUP_ROOT "/devices/")) == 0)
			return cg->dirs[i];
	return NULL;
}

/* linux.resources.devices (an array; NULL or absent: nothing to do) made the cgroup's device policy. */
static int apply_devices(const struct cgroup *cg, const struct json *devs, struct cerr *e)
{
	if (!devs)
		return 0;
	struct device_rule rules[DEVICE_RULES_MAX];
	size_t n;
	if (device_rules_parse(devs, rules, &n, e) < 0)
		return -1;
	const char *dir = devices_dir(cg);
	if (!dir) {
		if (n == 0)
			return 0;
		return fail(e, 0, "linux.resources.devices: this node mounts no devices cgroup controller to enforce them");
	}
	return devices_apply(dir, cg->v2, rules, n, e);
}

int cgroup_apply_devices(const struct json *spec, const struct cgroup *cg, struct cerr *e)
{
	const struct json *devs = json_get(json_get(json_get(spec, "linux"), "resources"), "devices");
	if (json_len(devs) == 0 || cg->ndirs == 0)
		return 0;
	return apply_devices(cg, devs, e);
}

int cgroup_enter_self(const struct cgroup *cg, struct cerr *e)
{
	for (int i = 0; i < cg->ndirs; i++)
		if (enter_dir(cg->dirs[i], e) < 0)
			return -1;
	return 0;
}

bool cgroup_oom_killed(const struct cgroup *cg)
{
	if (!cg->memory[0])
		return false;
	char path[600];
	struct cerr e;
	snprintf(path, sizeof path, "%s/%s", cg->memory, cg->v2 ? "memory.events" : "memory.oom_control");
	char *text = read_file(path, NULL, &e);
	if (!text)
		return false;
	bool killed = false;
	char *p = strstr(text, "oom_kill ");
	if (p)
		killed = strtoll(p + strlen("oom_kill "), NULL, 10) > 0;
	free(text);
	return killed;
}

int cgroup_remove(const struct cgroup *cg, struct cerr *e)
{
	int rc = 0;
	for (int i = 0; i < cg->ndirs; i++) {
		if (!cg->created[i][0])
			continue; /* existed before us: not ours to remove */
		char dir[512];
		snprintf(dir, sizeof dir, "%s", cg->dirs[i]);
		/* From the leaf up to the top-most directory we created. */
		for (;;) {
			int tries = 0;
			while (rmdir(dir) < 0) {
				if (errno == ENOENT)
					break;
				if (errno != EBUSY || ++tries > 200) {
					rc = fail(e, errno, "rmdir %s", dir);
					break;
				}
				struct timespec ts = {0, 5 * 1000 * 1000};
				nanosleep(&ts, NULL);
			}
			if (strcmp(dir, cg->created[i]) == 0)
				break;
			char *slash = strrchr(dir, '/');
			if (!slash)
				break;
			*slash = '\0';
		}
	}
	return rc;
}

int cgroup_save(const struct cgroup *cg, const char *file, struct cerr *e)
{
	char buf[CGROUP_MAX_DIRS * 520];
	size_t n = 0;
	buf[0] = '\0';
	for (int i = 0; i < cg->ndirs; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\n", cg->dirs[i]);
	return write_file_atomic(file, buf, n, false, e);
}

int cgroup_join_saved(const char *file, struct cerr *e)
{
	char *text = read_file(file, NULL, e);
	if (!text)
		return errno == ENOENT ? 0 : -1;
	int rc = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line && rc == 0; line = strtok_r(NULL, "\n", &save))
		rc = enter_dir(line, e);
	free(text);
	return rc;
}
