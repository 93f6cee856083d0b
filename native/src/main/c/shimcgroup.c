#include "shimcgroup.h"

#include <dirent.h>
#include <errno.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#define CGROUP_ROOT "/sys/fs/cgroup"
#define PATH_LIMIT 400

static long fs_type(const char *path)
{
	struct statfs fs;
	return statfs(path, &fs) == 0 ? (long)fs.f_type : 0;
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Whether this process's cgroup2 path (the "0::" line of /proc/self/cgroup) is rel already. */
static bool in_cgroup2(const char *rel)
{
	struct cerr ignored;
	char *text = read_file_max("/proc/self/cgroup", 65536, NULL, &ignored);
	if (!text)
		return false;
	bool here = false;
	for (char *line = text; line && *line;) {
		char *next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strncmp(line, "0::", 3) == 0) {
			const char *cur = line + 3;
			while (*cur == '/')
				cur++;
			here = strcmp(cur, rel) == 0;
			break;
		}
		line = next;
	}
	free(text);
	return here;
}

/* Joins DIR of one hierarchy: v1 moves the caller's one thread through "tasks" (no threadgroup
 * lock); cgroup2 has cgroup.procs only, and is skipped when already there (a move there waits
 * out an RCU grace period). */
static int join(const char *dir, const char *rel, bool v2, struct cerr *e)
{
	if (v2 && in_cgroup2(rel))
		return 0;
	char file[PATH_LIMIT + 320];
	if (snprintf(file, sizeof file, "%s/%s", dir, v2 ? "cgroup.procs" : "tasks") >= (int)sizeof file)
		return fail(e, ENAMETOOLONG, "cgroup %s", dir);
	return write_file(file, "0", e);
}

int shim_cgroup_enter(const char *path, struct cerr *e)
{
	if (!path || path[0] != '/' || strlen(path) >= PATH_LIMIT || strstr(path, "..") || strchr(path, ':'))
		return fail(e, EINVAL, "shim cgroup '%.100s': not an absolute cgroupfs path without '..'", path ? path : "");
	const char *rel = path;
	while (*rel == '/')
		rel++;
	char dir[PATH_LIMIT + 300];
	if (fs_type(CGROUP_ROOT) == CGROUP2_SUPER_MAGIC) {
		snprintf(dir, sizeof dir, CGROUP_ROOT "/%s", rel);
		if (!is_dir(dir))
			return fail(e, ENOENT, "shim cgroup %s", dir);
		return join(dir, rel, true, e);
	}
	DIR *d = opendir(CGROUP_ROOT);
	if (!d)
		return fail(e, errno, "opendir " CGROUP_ROOT);
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.' || de->d_type == DT_LNK || strlen(de->d_name) > 255)
			continue; /* cpu -> cpu,cpuacct links: the real directory is listed too */
		char root[300];
		snprintf(root, sizeof root, CGROUP_ROOT "/%s", de->d_name);
		long type = fs_type(root);
		if (type != CGROUP_SUPER_MAGIC && type != CGROUP2_SUPER_MAGIC)
			continue;
		snprintf(dir, sizeof dir, "%s/%s", root, rel);
		bool has = rel[0] && is_dir(dir);
		rc = join(has ? dir : root, has ? rel : "", type == CGROUP2_SUPER_MAGIC, e);
	}
	closedir(d);
	return rc;
}
