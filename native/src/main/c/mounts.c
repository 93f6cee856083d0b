#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "process.h"

int rootfs_path(const struct json *spec, const char *bundle, char *out, struct cerr *e)
{
	const char *p = json_get_str(json_get(spec, "root"), "path");
	if (!p)
		return refuse(e, 0, "config.json: root.path: missing");
	int n = p[0] == '/' ? snprintf(out, PATH_MAX, "%s", p) : snprintf(out, PATH_MAX, "%s/%s", bundle, p);
	if (n >= PATH_MAX)
		return refuse(e, ENAMETOOLONG, "config.json: root.path");
	struct stat st;
	if (stat(out, &st) < 0)
		return refuse(e, errno, "config.json: root.path: stat %s", out);
	if (!S_ISDIR(st.st_mode))
		return refuse(e, ENOTDIR, "config.json: root.path: %s", out);
	return 0;
}

/* Opens path inside the rootfs without ever leaving it (symlinks resolve in the root). */
static int open_in_root(int rootfd, const char *path, int flags, uint64_t resolve)
{
	struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC), .resolve = RESOLVE_IN_ROOT | resolve};
	return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

/* A path resolved inside the rootfs: the entry name in the directory dir ("." for the root itself). */
struct target {
	int dir;
	char name[NAME_MAX + 1];
};

enum make { MAKE_NOTHING, MAKE_DIRS, MAKE_FILE };

#define MAX_SYMLINKS 40

/* Resolves path inside the rootfs as the kernel would with the rootfs as "/", one component at a
 * time: a symlink's text (absolute or relative) is resolved again from the rootfs, ".." stops at
 * the root, and nothing is ever followed on the host. Each step works on a directory reached from
 * the rootfs with RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS (the path so far holds no symlink), so a
 * symlink swapped in meanwhile is refused, not followed. Missing directories are made with
 * mkdirat, a missing final file (MAKE_FILE) with O_CREAT | O_EXCL | O_NOFOLLOW: a dangling
 * symlink at the target makes its target inside the root, as runc does. */
static int resolve_in_root(int rootfd, const char *path, enum make make, struct target *t, struct cerr *e)
{
	char rest[PATH_MAX], done[PATH_MAX] = "", tmp[PATH_MAX];
	if (snprintf(rest, sizeof rest, "%s", path) >= (int)sizeof rest)
		return fail_path(e, ENAMETOOLONG, "%s", path);
	int links = 0, races = 0;
	size_t pos = 0;
	for (;;) {
		while (rest[pos] == '/')
			pos++;
		if (rest[pos] == '\0')
			break;
		char *comp = rest + pos, *slash = strchr(comp, '/');
		size_t len = slash ? (size_t)(slash - comp) : strlen(comp);
		bool last = true;
		for (const char *r = comp + len; *r; r++)
			if (*r != '/')
				last = false;
		if (len > NAME_MAX)
			return fail_path(e, ENAMETOOLONG, "%s: a component", path);
		char name[NAME_MAX + 1];
		memcpy(name, comp, len);
		name[len] = '\0';
		if (strcmp(name, ".") == 0) {
			pos += len;
			continue;
		}
		if (strcmp(name, "..") == 0) {
			char *up = strrchr(done, '/');
			if (up)
				*up = '\0';
			pos += len;
			continue;
		}
		int dir = open_in_root(rootfd, done[0] ? done : "/", O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS);
		if (dir < 0)
			return fail_path(e, errno, "%s: open %s in the rootfs", path, done[0] ? done : "/");
		struct stat st;
		int found = fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW), err = found < 0 ? errno : 0;
		if (found == 0 && S_ISLNK(st.st_mode)) {
			/* Replace the symlink by its text, which resolves from done (relative) or from the root. */
			char link[PATH_MAX];
			ssize_t n = readlinkat(dir, name, link, sizeof link - 1);
			err = errno;
			close(dir);
			if (n < 0)
				return fail_path(e, err, "%s: readlink %s/%s in the rootfs", path, done, name);
			link[n] = '\0';
			if (++links > MAX_SYMLINKS)
				return fail_path(e, ELOOP, "%s: resolve in the rootfs", path);
			if (snprintf(tmp, sizeof tmp, "%s/%s", link, comp + len) >= (int)sizeof tmp)
				return fail_path(e, ENAMETOOLONG, "%s: resolve in the rootfs", path);
			memcpy(rest, tmp, sizeof rest);
			pos = 0;
			if (link[0] == '/')
				done[0] = '\0';
			continue;
		}
		if (err == ENOENT && make != MAKE_NOTHING) {
			int rc;
			if (last && make == MAKE_FILE) {
				rc = openat(dir, name, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0644);
				if (rc >= 0)
					close(rc);
			} else {
				rc = mkdirat(dir, name, 0755);
			}
			err = errno;
			close(dir);
			if (rc < 0 && err == EEXIST && ++races < MAX_SYMLINKS)
				continue; /* made meanwhile: look at it again */
			if (rc < 0)
				return fail_path(e, err, "%s: create %s/%s in the rootfs", path, done, name);
			continue;
		}
		close(dir);
		if (found < 0)
			return fail_path(e, err, "%s: stat %s/%s in the rootfs", path, done, name);
		if (!S_ISDIR(st.st_mode) && !last)
			return fail_path(e, ENOTDIR, "%s: %s/%s in the rootfs", path, done, name);
		if (strlen(done) + 1 + len >= sizeof done)
			return fail_path(e, ENAMETOOLONG, "%s: resolve in the rootfs", path);
		strcat(done, "/");
		strcat(done, name);
		pos += len;
	}
	/* done is now the target's own path in the root, free of symlinks. */
	char *base = strrchr(done, '/');
	if (!base) {
		snprintf(t->name, sizeof t->name, ".");
		t->dir = open_in_root(rootfd, "/", O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS);
	} else {
		snprintf(t->name, sizeof t->name, "%s", base + 1);
		*base = '\0';
		t->dir = open_in_root(rootfd, done[0] ? done : "/", O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS);
		*base = '/';
	}
	if (t->dir < 0)
		return fail_path(e, errno, "%s: open the directory of %s in the rootfs", path, done);
	return 0;
}

/* An O_PATH descriptor of the target itself, never through a symlink; after a mount on it, the
 * mount's root. */
static int open_target(const struct target *t, int flags)
{
	struct open_how how = {.flags = (uint64_t)(flags | O_PATH | O_CLOEXEC),
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
	return (int)syscall(SYS_openat2, t->dir, t->name, &how, sizeof how);
}

/* Resolves (and makes, as asked) path in the rootfs and opens it: an O_PATH descriptor, or -1 with
 * e set. */
static int make_in_root(int rootfd, const char *path, enum make make, struct target *t, struct cerr *e)
{
	if (resolve_in_root(rootfd, path, make, t, e) < 0)
		return -1;
	int fd = open_target(t, 0);
	if (fd < 0) {
		fail_path(e, errno, "open %s in the rootfs", path);
		close(t->dir);
		t->dir = -1;
	}
	return fd;
}

struct mount_opt {
	const char *name;
	bool clear;
	unsigned long flag;
};

static const struct mount_opt mount_opts[] = {
	{"ro", false, MS_RDONLY},        {"rw", true, MS_RDONLY},        {"nosuid", false, MS_NOSUID},
	{"suid", true, MS_NOSUID},       {"nodev", false, MS_NODEV},     {"dev", true, MS_NODEV},
	{"noexec", false, MS_NOEXEC},    {"exec", true, MS_NOEXEC},      {"sync", false, MS_SYNCHRONOUS},
	{"async", true, MS_SYNCHRONOUS}, {"dirsync", false, MS_DIRSYNC}, {"remount", false, MS_REMOUNT},
	{"mand", false, MS_MANDLOCK},    {"nomand", true, MS_MANDLOCK},  {"noatime", false, MS_NOATIME},
	{"atime", true, MS_NOATIME},     {"nodiratime", false, MS_NODIRATIME},
	{"diratime", true, MS_NODIRATIME}, {"relatime", false, MS_RELATIME},
	{"norelatime", true, MS_RELATIME}, {"strictatime", false, MS_STRICTATIME},
	{"bind", false, MS_BIND},        {"rbind", false, MS_BIND | MS_REC},
};

static const struct mount_opt propagation_opts[] = {
	{"private", false, MS_PRIVATE},        {"rprivate", false, MS_PRIVATE | MS_REC},
	{"shared", false, MS_SHARED},          {"rshared", false, MS_SHARED | MS_REC},
	{"slave", false, MS_SLAVE},            {"rslave", false, MS_SLAVE | MS_REC},
	{"unbindable", false, MS_UNBINDABLE},  {"runbindable", false, MS_UNBINDABLE | MS_REC},
};

struct parsed_opts {
	unsigned long flags;
	bool rro; /* "rro": read-only with every submount (mount_setattr, AT_RECURSIVE) */
	unsigned long propagation[4];
	int npropagation;
	char data[4096];
};

/* uid=N and gid=N (tmpfs, devpts, ...) name ids: 0..2^31-1, as everywhere else. */
static int check_id_option(const char *opt, size_t index, struct cerr *e)
{
	if (strncmp(opt, "uid=", 4) != 0 && strncmp(opt, "gid=", 4) != 0)
		return 0;
	const char *v = opt + 4;
	unsigned long long n = 0;
	size_t digits = strspn(v, "0123456789");
	if (digits == 0 || digits > 10 || v[digits] != '\0' || (n = strtoull(v, NULL, 10)) > JSON_ID_MAX)
		return refuse(e, 0, "config.json: mounts[%zu].options: '%s': not an id in 0..%d", index, opt, JSON_ID_MAX);
	return 0;
}

static int parse_options(const struct json *opts, size_t index, struct parsed_opts *out, struct cerr *e)
{
	memset(out, 0, sizeof *out);
	if (!opts)
		return 0;
	if (opts->type != JSON_ARRAY)
		return refuse(e, 0, "config.json: mounts[%zu].options: not an array", index);
	for (const struct json *o = opts->child; o; o = o->next) {
		if (o->type != JSON_STRING)
			return refuse(e, 0, "config.json: mounts[%zu].options: not a string", index);
		bool known = false;
		for (size_t i = 0; i < sizeof mount_opts / sizeof mount_opts[0]; i++)
			if (strcmp(o->str, mount_opts[i].name) == 0) {
				if (mount_opts[i].clear)
					out->flags &= ~mount_opts[i].flag;
				else
					out->flags |= mount_opts[i].flag;
				known = true;
			}
		for (size_t i = 0; i < sizeof propagation_opts / sizeof propagation_opts[0]; i++)
			if (strcmp(o->str, propagation_opts[i].name) == 0) {
				if (out->npropagation == 4)
					return refuse(e, 0, "config.json: mounts[%zu].options: too many propagation options", index);
				out->propagation[out->npropagation++] = propagation_opts[i].flag;
				known = true;
			}
		if (strcmp(o->str, "rro") == 0)
			out->rro = known = true;
		if (known || strcmp(o->str, "tmpcopyup") == 0)
			continue;
		if (check_id_option(o->str, index, e) < 0)
			return -1;
		size_t len = strlen(out->data);
		if (len + strlen(o->str) + 2 > sizeof out->data)
			return refuse(e, E2BIG, "config.json: mounts[%zu].options", index);
		snprintf(out->data + len, sizeof out->data - len, "%s%s", len ? "," : "", o->str);
	}
	return 0;
}

/* mount_setattr(2) (Linux 5.12), its attribute named apart from libc's so both headers may be present. */
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#define ATTR_RDONLY 0x1 /* MOUNT_ATTR_RDONLY */
struct setattr_args {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};

/* The new mount API (Linux 5.2; detached layers for overlayfs need 6.x), named apart from libc's. */
#define NR_open_tree 428
#define NR_move_mount 429
#define NR_fsopen 430
#define NR_fsconfig 431
#define NR_fsmount 432
#define TREE_CLONE 1          /* OPEN_TREE_CLONE */
#define TREE_CLOEXEC O_CLOEXEC
#define MOVE_F_EMPTY_PATH 0x4 /* MOVE_MOUNT_F_EMPTY_PATH */
#define MOVE_T_EMPTY_PATH 0x40
#define CONFIG_SET_FLAG 0
#define CONFIG_SET_STRING 1
#define CONFIG_CMD_CREATE 6
#define ATTR_NOSUID 0x2
#define ATTR_NODEV 0x4
#define ATTR_NOEXEC 0x8
#define ATTR_IDMAP 0x100000

/* A detached copy of the mount tree at path (recursive: with its submounts). */
static int clone_tree(const char *path, bool recursive)
{
	return (int)syscall(NR_open_tree, AT_FDCWD, path, TREE_CLONE | TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
}

/* Makes the detached mount fd show every id through the user namespace's mapping (idmapped mount). */
static int idmap_tree(int fd, int userns_fd, bool recursive)
{
	struct setattr_args attr = {.attr_set = ATTR_IDMAP, .userns_fd = (uint64_t)userns_fd};
	return (int)syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr);
}

/* Attaches the detached mount pre on the object the O_PATH descriptor target holds (AT_FDCWD: cwd). */
static int move_in(int pre, int target)
{
	return (int)syscall(NR_move_mount, pre, "", target, "", MOVE_F_EMPTY_PATH | MOVE_T_EMPTY_PATH);
}

/* The kernel's own reason for a failed fsconfig (the fs context log), or "" when it gave none. */
static const char *fs_log(int fs, char *log, size_t size)
{
	ssize_t n = read(fs, log, size - 1);
	while (n > 0 && (log[n - 1] == '\n'))
		n--;
	log[n > 0 ? n : 0] = '\0';
	return log;
}

/* A failed fsconfig, with the kernel's reason appended. */
static int fs_fail(struct cerr *e, int fs, int err, const char *what)
{
	char log[256];
	const char *why = fs_log(fs, log, sizeof log);
	return why[0] ? fail(e, err, "%s (%s)", what, why) : fail(e, err, "%s", what);
}

int mount_readonly_recursive(int dirfd, const char *path)
{
	struct setattr_args attr = {.attr_set = ATTR_RDONLY};
	return (int)syscall(SYS_mount_setattr, dirfd, path, (path[0] ? 0 : AT_EMPTY_PATH) | AT_RECURSIVE, &attr, sizeof attr);
}

/* The mount at fd (its root) and every mount below it read-only. */
static int make_readonly_recursive(int fd, const char *dest, struct cerr *e)
{
	if (mount_readonly_recursive(fd, "") < 0)
		return fail(e, errno, "make %s read-only with its submounts (mount_setattr)", dest);
	return 0;
}

/* A new proc, sysfs, mqueue or cgroup2 as a detached mount, made by the host's root in the namespaces
 * the process has joined (pid, net, ipc, cgroup): its superblock belongs to them, as a mount(2) there
 * would. The data options go in one by one; the per-mount flags become mount attributes. */
static int make_detached_fs(const char *type, const struct parsed_opts *po, size_t index, struct cerr *e)
{
	int fs = (int)syscall(NR_fsopen, type, 1 /* FSOPEN_CLOEXEC */);
	if (fs < 0)
		return fail(e, errno, "config.json: mounts[%zu]: fsopen %s", index, type);
	char data[sizeof po->data];
	memcpy(data, po->data, sizeof data);
	for (char *save = NULL, *o = strtok_r(data, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(o, '=');
		if (eq)
			*eq = '\0';
		if (syscall(NR_fsconfig, fs, eq ? CONFIG_SET_STRING : CONFIG_SET_FLAG, o, eq ? eq + 1 : NULL, 0) < 0) {
			int err = errno;
			char log[256];
			const char *why = fs_log(fs, log, sizeof log);
			close(fs);
			return refuse(e, err, "config.json: mounts[%zu]: fsconfig %s option '%s'%s%s%s", index, type, o,
				      why[0] ? " (" : "", why, why[0] ? ")" : "");
		}
	}
	if (syscall(NR_fsconfig, fs, CONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		char what[64];
		snprintf(what, sizeof what, "config.json: mounts[%zu]: fsconfig CMD_CREATE %s", index, type);
		fs_fail(e, fs, errno, what);
		close(fs);
		return -1;
	}
	unsigned attrs = (po->flags & MS_NOSUID ? ATTR_NOSUID : 0) | (po->flags & MS_NODEV ? ATTR_NODEV : 0) |
			 (po->flags & MS_NOEXEC ? ATTR_NOEXEC : 0) | (po->flags & MS_RDONLY ? ATTR_RDONLY : 0);
	int m = (int)syscall(NR_fsmount, fs, 1 /* FSMOUNT_CLOEXEC */, attrs);
	int err = errno;
	close(fs);
	if (m < 0)
		return fail(e, err, "config.json: mounts[%zu]: fsmount %s", index, type);
	return m;
}

/* A detached, idmapped copy of a bind source, at path relative to dirfd ("" for dirfd itself). A
 * file system that cannot be idmapped (procfs, devtmpfs...) keeps its ids: inside they then show as
 * the overflow id, which grants nothing. */
static int clone_bind_source(int dirfd, const char *path, const char *source, bool recursive, int userns_fd,
			     size_t index, struct cerr *e)
{
	int fd = (int)syscall(NR_open_tree, dirfd, path, TREE_CLONE | TREE_CLOEXEC | (path[0] ? 0 : AT_EMPTY_PATH) |
								   (recursive ? AT_RECURSIVE : 0));
	if (fd < 0)
		return refuse(e, errno, "config.json: mounts[%zu]: open_tree %s", index, source);
	if (idmap_tree(fd, userns_fd, recursive) < 0 && errno != EINVAL && errno != EOPNOTSUPP && errno != ENOSYS) {
		int err = errno;
		close(fd);
		return fail(e, err, "config.json: mounts[%zu]: idmap the bind mount of %s", index, source);
	}
	return fd;
}

/* A detached overlay over idmapped copies of the layers in lower (':'-separated, top first), with
 * upper/work or without (then read-only by construction); attrs are its MOUNT_ATTR_* flags. */
static int make_idmapped_overlay(const char *lower, const char *upper, const char *work, int userns_fd,
				 unsigned attrs, struct cerr *e)
{
	int fs = (int)syscall(NR_fsopen, "overlay", 1);
	if (fs < 0)
		return fail(e, errno, "fsopen overlay");
	char dirs[PATH_MAX * 4];
	if (strlen(lower) >= sizeof dirs) {
		close(fs);
		return refuse(e, E2BIG, "config.json: overlay lowerdirs: %zu bytes", strlen(lower));
	}
	strcpy(dirs, lower);
	int rc = 0;
	/* Each layer's detached copy stays open until the overlay is made: closing it unmounts it, and
	 * overlayfs clones its layers only at FSCONFIG_CMD_CREATE. */
	size_t nlayers = 1;
	for (const char *c = dirs; *c; c++)
		nlayers += *c == ':';
	int *layers = calloc(nlayers, sizeof *layers);
	if (!layers) {
		close(fs);
		return fail(e, ENOMEM, "overlay layers");
	}
	size_t opened = 0;
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d && rc == 0; d = strtok_r(NULL, ":", &save)) {
		int layer = clone_tree(d, false);
		if (layer < 0) {
			rc = fail(e, errno, "open_tree layer %s", d);
			break;
		}
		layers[opened++] = layer;
		char path[32];
		snprintf(path, sizeof path, "/proc/self/fd/%d", layer);
		if (idmap_tree(layer, userns_fd, false) < 0)
			rc = fail(e, errno, "idmap layer %s (mount_setattr MOUNT_ATTR_IDMAP)", d);
		else if (syscall(NR_fsconfig, fs, CONFIG_SET_STRING, "lowerdir+", path, 0) < 0)
			rc = fs_fail(e, fs, errno, "overlay lowerdir+ (an idmapped layer)");
	}
	if (rc == 0 && upper &&
	    (syscall(NR_fsconfig, fs, CONFIG_SET_STRING, "upperdir", upper, 0) < 0 ||
	     syscall(NR_fsconfig, fs, CONFIG_SET_STRING, "workdir", work, 0) < 0))
		rc = fs_fail(e, fs, errno, "overlay upperdir/workdir");
	if (rc == 0 && syscall(NR_fsconfig, fs, CONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		rc = fs_fail(e, fs, errno, "overlay over idmapped layers");
	for (size_t i = 0; i < opened; i++)
		close(layers[i]);
	free(layers);
	int m = rc == 0 ? (int)syscall(NR_fsmount, fs, 1, attrs) : -1;
	if (rc == 0 && m < 0)
		rc = fail(e, errno, "fsmount overlay");
	close(fs);
	return rc == 0 ? m : -1;
}

/* The rootfs: an overlay over idmapped copies of the layers (no chown of any layer: the image's
 * root shows as the namespace's root), or root.path idmapped. Made by the host's root, detached. */
static int make_idmapped_rootfs(const struct json *spec, const char *rootfs, int userns_fd, struct cerr *e)
{
	const char *lower = json_get_str(json_get(spec, "annotations"), "io.coracle.overlay.lowerdirs");
	const char *upper = json_get_str(json_get(spec, "annotations"), "io.coracle.overlay.upperdir");
	const char *work = json_get_str(json_get(spec, "annotations"), "io.coracle.overlay.workdir");
	if (!lower) {
		int fd = clone_tree(rootfs, true);
		if (fd < 0)
			return fail(e, errno, "open_tree %s", rootfs);
		if (idmap_tree(fd, userns_fd, true) < 0) {
			int err = errno;
			close(fd);
			return fail(e, err, "idmap the rootfs %s (mount_setattr MOUNT_ATTR_IDMAP)", rootfs);
		}
		return fd;
	}
	if (!upper != !work)
		return refuse(e, 0, "config.json: annotations: io.coracle.overlay.upperdir and workdir go together");
	return make_idmapped_overlay(lower, upper, work, userns_fd, 0, e);
}

/* An image volume (an overlay mount whose only data is lowerdir=): its layers idmapped like the
 * rootfs's, read-only and nodev, made before the namespace is joined. Any other overlay is refused:
 * an upperdir would write the shared layers' copy-ups as the host's root. */
static int make_idmapped_image_volume(const struct parsed_opts *po, size_t index, int userns_fd, struct cerr *e)
{
	const char *lower = po->data;
	if (strncmp(lower, "lowerdir=", 9) != 0 || strchr(lower, ',') || !lower[9])
		return refuse(e, 0, "config.json: mounts[%zu]: an overlay in a user namespace takes only lowerdir=", index);
	if (!(po->flags & MS_RDONLY))
		return refuse(e, 0, "config.json: mounts[%zu]: an overlay in a user namespace must be read-only", index);
	return make_idmapped_overlay(lower + 9, NULL, NULL, userns_fd, ATTR_RDONLY | ATTR_NODEV, e);
}

int rootfs_prepare_userns(const struct json *spec, const char *bundle, const char *rootfs, int userns_fd,
			  struct premounts *pm, struct cerr *e)
{
	memset(pm, 0, sizeof *pm);
	pm->root = -1;
	const struct json *mounts = json_get(spec, "mounts");
	if (mounts && mounts->type != JSON_ARRAY)
		return refuse(e, 0, "config.json: mounts: not an array");
	pm->n = mounts ? json_len(mounts) : 0;
	if (pm->n && !(pm->fd = malloc(pm->n * sizeof *pm->fd)))
		return fail(e, ENOMEM, "premounts");
	for (size_t i = 0; i < pm->n; i++)
		pm->fd[i] = -1;
	if ((pm->root = make_idmapped_rootfs(spec, rootfs, userns_fd, e)) < 0)
		return -1;
	size_t i = 0;
	for (const struct json *m = mounts ? mounts->child : NULL; m; m = m->next, i++) {
		const char *type = json_get_str(m, "type"), *source = json_get_str(m, "source");
		struct parsed_opts po;
		if (parse_options(json_get(m, "options"), i, &po, e) < 0)
			return -1;
		bool bind = (po.flags & MS_BIND) || (type && strcmp(type, "bind") == 0);
		if (bind && source) {
			char abs_source[PATH_MAX];
			if (source[0] != '/') {
				if (snprintf(abs_source, sizeof abs_source, "%s/%s", bundle, source) >= (int)sizeof abs_source)
					return refuse(e, ENAMETOOLONG, "config.json: mounts[%zu].source", i);
				source = abs_source;
			}
			if ((pm->fd[i] = clone_bind_source(AT_FDCWD, source, source, po.flags & MS_REC, userns_fd, i, e)) < 0)
				return -1;
		} else if (type && (strcmp(type, "proc") == 0 || strcmp(type, "sysfs") == 0 || strcmp(type, "mqueue") == 0 ||
				    strcmp(type, "cgroup2") == 0)) {
			if ((pm->fd[i] = make_detached_fs(type, &po, i, e)) < 0)
				return -1;
		} else if (type && strcmp(type, "overlay") == 0) {
			if ((pm->fd[i] = make_idmapped_image_volume(&po, i, userns_fd, e)) < 0)
				return -1;
		} /* tmpfs, devpts...: mounted inside the user namespace, which then owns them */
	}
	return 0;
}

void premounts_close(struct premounts *pm)
{
	for (size_t i = 0; i < pm->n; i++)
		if (pm->fd[i] >= 0)
			close(pm->fd[i]);
	free(pm->fd);
	pm->fd = NULL;
	pm->n = 0;
	if (pm->root >= 0)
		close(pm->root);
	pm->root = -1;
}

static int root_propagation(const struct json *spec, unsigned long *flags, struct cerr *e);

int runtime_premount_userns(const struct json *spec, const char *bundle, const char *rootfs, int userns_fd,
			    struct cerr *e)
{
	unsigned long propagation;
	if (root_propagation(spec, &propagation, e) < 0)
		return -1;
	/* Only a whole tree cut off from the host's (rprivate, rslave): a shared mount, or a submount
	 * left shared by a non-recursive "slave" or "private", would carry the copies to the host. */
	if (propagation != (MS_PRIVATE | MS_REC) && propagation != (MS_SLAVE | MS_REC))
		return refuse(e, 0, "config.json: linux.rootfsPropagation: only rprivate or rslave with a user namespace and"
				    " an OCI runtime (the idmapped copies would reach the host)");
	const struct json *mounts = json_get(spec, "mounts");
	if (mounts && mounts->type != JSON_ARRAY)
		return refuse(e, 0, "config.json: mounts: not an array");
	size_t n = mounts ? json_len(mounts) : 0;
	int *src = n ? malloc(n * sizeof *src) : NULL, *copy = n ? malloc(n * sizeof *copy) : NULL;
	if (n && (!src || !copy)) {
		free(src);
		free(copy);
		return fail(e, ENOMEM, "premounts");
	}
	for (size_t i = 0; i < n; i++)
		src[i] = copy[i] = -1;
	int rc = 0, root = -1, rootdir = -1;
	size_t i = 0;
	/* Every copy is cloned from the host's view first: a source given twice, or inside another,
	 * is never cloned from a copy already idmapped (which the kernel refuses to map again). */
	for (const struct json *m = mounts ? mounts->child : NULL; m && rc == 0; m = m->next, i++) {
		const char *type = json_get_str(m, "type"), *source = json_get_str(m, "source");
		struct parsed_opts po;
		if (parse_options(json_get(m, "options"), i, &po, e) < 0) {
			rc = -1;
			break;
		}
		if (!(po.flags & MS_BIND) && !(type && strcmp(type, "bind") == 0))
			continue; /* proc, sysfs, tmpfs...: the runtime mounts them inside the user namespace */
		if (!source) {
			rc = refuse(e, 0, "config.json: mounts[%zu]: a bind mount without a source", i);
			break;
		}
		char abs_source[PATH_MAX];
		if (source[0] != '/') {
			if (snprintf(abs_source, sizeof abs_source, "%s/%s", bundle, source) >= (int)sizeof abs_source) {
				rc = refuse(e, ENAMETOOLONG, "config.json: mounts[%zu].source", i);
				break;
			}
			source = abs_source;
		}
		/* The runtime opens the source by its path as well (as it does without a user namespace). */
		if ((src[i] = open(source, O_PATH | O_CLOEXEC)) < 0)
			rc = refuse(e, errno, "config.json: mounts[%zu]: open %s", i, source);
		else if ((copy[i] = clone_bind_source(src[i], "", source, po.flags & MS_REC, userns_fd, i, e)) < 0)
			rc = -1;
	}
	if (rc == 0 && (root = make_idmapped_rootfs(spec, rootfs, userns_fd, e)) < 0)
		rc = -1;
	/* Each idmapped copy goes over its own source, in this private mount namespace only: the
	 * runtime, which copies this namespace, binds the copy where the spec binds the source. The
	 * rootfs goes last, so that a source above its mount point (a hostPath of /run) never hides it. */
	for (i = 0; i < n && rc == 0; i++)
		if (copy[i] >= 0 && move_in(copy[i], src[i]) < 0)
			rc = fail(e, errno, "config.json: mounts[%zu]: move_mount the idmapped copy over its source", i);
	if (rc == 0 && (rootdir = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		rc = fail(e, errno, "open %s", rootfs);
	if (rc == 0 && move_in(root, rootdir) < 0)
		rc = fail(e, errno, "move_mount the idmapped rootfs on %s", rootfs);
	for (i = 0; i < n; i++) {
		if (src[i] >= 0)
			close(src[i]);
		if (copy[i] >= 0)
			close(copy[i]);
	}
	free(src);
	free(copy);
	if (root >= 0)
		close(root);
	if (rootdir >= 0)
		close(rootdir);
	return rc;
}

/* The file systems that take an SELinux context= option (linux.mountLabel), as runc labels them. */
static bool takes_mount_label(const char *type)
{
	return type && (strcmp(type, "tmpfs") == 0 || strcmp(type, "devpts") == 0 || strcmp(type, "mqueue") == 0);
}

static int add_mount_label(struct parsed_opts *po, const char *label, size_t index, struct cerr *e)
{
	size_t len = strlen(po->data);
	int n = snprintf(po->data + len, sizeof po->data - len, "%scontext=\"%s\"", len ? "," : "", label);
	if (n < 0 || (size_t)n >= sizeof po->data - len)
		return refuse(e, E2BIG, "config.json: mounts[%zu].options with linux.mountLabel", index);
	return 0;
}

static int mount_one(int rootfd, const char *bundle, const struct json *m, size_t index, const char *mount_label,
		     int pre, struct cerr *e)
{
	const char *dest = json_get_str(m, "destination");
	const char *type = json_get_str(m, "type");
	const char *source = json_get_str(m, "source");
	if (!dest || dest[0] != '/')
		return refuse(e, 0, "config.json: mounts[%zu].destination: missing or not absolute", index);
	struct parsed_opts po;
	if (parse_options(json_get(m, "options"), index, &po, e) < 0)
		return -1;
	bool bind = (po.flags & MS_BIND) || (type && strcmp(type, "bind") == 0);
	if (bind)
		po.flags |= MS_BIND;
	if (!type && !bind)
		return refuse(e, 0, "config.json: mounts[%zu] (%s): type missing", index, dest);
	if (bind && !source)
		return refuse(e, 0, "config.json: mounts[%zu] (%s): bind mount without source", index, dest);
	if (!bind && mount_label && takes_mount_label(type) && add_mount_label(&po, mount_label, index, e) < 0)
		return -1;
	bool file = false;
	char abs_source[PATH_MAX];
	if (bind && source[0] != '/') { /* relative bind sources are relative to the bundle */
		if (snprintf(abs_source, sizeof abs_source, "%s/%s", bundle, source) >= (int)sizeof abs_source)
			return refuse(e, ENAMETOOLONG, "config.json: mounts[%zu].source", index);
		source = abs_source;
	}
	if (bind) {
		/* With a user namespace the source was cloned before it was joined (pre): the host's
		 * paths are not reachable by the namespace's root. */
		struct stat st;
		if ((pre >= 0 ? fstat(pre, &st) : stat(source, &st)) < 0)
			return refuse(e, errno, "config.json: mounts[%zu]: stat source %s", index, source);
		file = !S_ISDIR(st.st_mode);
	}
	struct target t;
	int fd = make_in_root(rootfd, dest, file ? MAKE_FILE : MAKE_DIRS, &t, e);
	if (fd < 0) {
		char why[sizeof e->msg];
		memcpy(why, e->msg, sizeof why);
		return refuse(e, 0, "config.json: mounts[%zu].destination: %s", index, why);
	}
	char target[64];
	snprintf(target, sizeof target, "/proc/self/fd/%d", fd);
	int rc = 0;
	if (pre >= 0 && move_in(pre, fd) < 0) {
		rc = fail(e, errno, "move_mount %s (%s) on %s", source ? source : type, bind ? "bind" : type, dest);
	} else if (bind) {
		if (pre < 0 && mount(source, target, NULL, po.flags & (MS_BIND | MS_REC), NULL) < 0) {
			rc = fail(e, errno, "mount bind %s on %s", source, dest);
		} else if (po.flags & ~(MS_BIND | MS_REC)) {
			/* Bind mounts take their flags on a remount; reopen: the fd points below it. */
			close(fd);
			fd = open_target(&t, 0);
			snprintf(target, sizeof target, "/proc/self/fd/%d", fd);
			if (fd < 0 || mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | (po.flags & ~MS_REC), NULL) < 0)
				rc = fail(e, errno, "remount %s with its options", dest);
		}
	} else if (pre < 0 && mount(source ? source : type, target, type, po.flags & ~MS_RDONLY, po.data[0] ? po.data : NULL) < 0) {
		rc = fail(e, errno, "mount %s (type %s) on %s", source ? source : type, type, dest);
	} else if (po.flags & MS_RDONLY) {
		/* Read-only on this mount, not on the file system: a sysfs or mqueue is one superblock per
		 * namespace, shared by every container of the pod, and a privileged one must get it rw. */
		close(fd);
		fd = open_target(&t, 0);
		snprintf(target, sizeof target, "/proc/self/fd/%d", fd);
		if (fd < 0 || mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | (po.flags & ~MS_REC), NULL) < 0)
			rc = fail(e, errno, "remount %s read-only", dest);
	}
	if (rc == 0 && po.npropagation) {
		close(fd);
		fd = open_target(&t, 0);
		snprintf(target, sizeof target, "/proc/self/fd/%d", fd);
		for (int i = 0; i < po.npropagation && rc == 0; i++)
			if (fd < 0 || mount(NULL, target, NULL, po.propagation[i], NULL) < 0)
				rc = fail(e, errno, "set the propagation of %s", dest);
	}
	if (rc == 0 && po.rro) {
		close(fd);
		fd = open_target(&t, 0);
		rc = fd < 0 ? fail(e, errno, "reopen %s", dest) : make_readonly_recursive(fd, dest, e);
	}
	if (fd >= 0)
		close(fd);
	close(t.dir);
	return rc;
}

struct device {
	const char *path;
	mode_t type;
	unsigned major, minor;
	mode_t mode;
	uid_t uid;
	gid_t gid;
};

/* The directory path in the rootfs, made when missing: an O_PATH descriptor for the *at() calls. */
static int dir_in_root(int rootfd, const char *path, struct cerr *e)
{
	struct target t;
	int fd = make_in_root(rootfd, path, MAKE_DIRS, &t, e);
	if (fd < 0)
		return -1;
	close(t.dir);
	struct stat st;
	int err = fstat(fd, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
	if (err) {
		close(fd);
		return fail(e, err, "%s in the rootfs", path);
	}
	return fd;
}

/* In a user namespace no device node can be made: the host's node at the same path is bound
 * onto an empty file instead (as runc does), after checking it is the device asked for. */
static int bind_device(int dir, const char *name, const struct device *d, struct cerr *e)
{
	struct stat st;
	if (stat(d->path, &st) < 0 || (st.st_mode & S_IFMT) != d->type || major(st.st_rdev) != d->major ||
	    minor(st.st_rdev) != d->minor)
		return refuse(e, 0, "config.json: linux.devices: %s: the host has no such device to bind into a user namespace",
			      d->path);
	int f = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (f < 0 && errno == EEXIST)
		f = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (f < 0)
		return fail(e, errno, "create %s", d->path);
	char target[32];
	snprintf(target, sizeof target, "/proc/self/fd/%d", f);
	int rc = mount(d->path, target, NULL, MS_BIND, NULL) < 0 ? fail(e, errno, "bind %s from the host", d->path) : 0;
	close(f);
	return rc;
}

static int make_device(int rootfd, const struct device *d, bool userns, struct cerr *e)
{
	char parent[PATH_MAX];
	if (snprintf(parent, sizeof parent, "%s", d->path) >= (int)sizeof parent)
		return refuse(e, ENAMETOOLONG, "config.json: linux.devices: path");
	char *slash = strrchr(parent, '/');
	if (parent[0] != '/' || !slash || slash[1] == '\0' || strcmp(slash + 1, ".") == 0 || strcmp(slash + 1, "..") == 0)
		return refuse(e, 0, "config.json: linux.devices: bad path '%s'", d->path);
	*slash = '\0';
	int dir = dir_in_root(rootfd, parent[0] ? parent : "/", e);
	if (dir < 0)
		return -1;
	int rc = 0;
	if (userns) {
		rc = bind_device(dir, slash + 1, d, e);
		close(dir);
		return rc;
	}
	/* mknodat never follows a symlink at the name (EEXIST: what the image has there stays). */
	mode_t old = umask(0);
	int made = mknodat(dir, slash + 1, d->type | (d->mode & 07777), makedev(d->major, d->minor));
	int err = errno;
	umask(old);
	if (made < 0) {
		if (err != EEXIST)
			rc = fail(e, err, "mknod %s", d->path);
	} else if (fchownat(dir, slash + 1, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = fail(e, errno, "chown %s", d->path);
	}
	close(dir);
	return rc;
}

static int make_devices(int rootfd, const struct json *spec, bool userns, struct cerr *e)
{
	static const struct device defaults[] = {
		{"/dev/null", S_IFCHR, 1, 3, 0666, 0, 0},    {"/dev/zero", S_IFCHR, 1, 5, 0666, 0, 0},
		{"/dev/full", S_IFCHR, 1, 7, 0666, 0, 0},    {"/dev/random", S_IFCHR, 1, 8, 0666, 0, 0},
		{"/dev/urandom", S_IFCHR, 1, 9, 0666, 0, 0}, {"/dev/tty", S_IFCHR, 5, 0, 0666, 0, 0},
	};
	for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
		if (make_device(rootfd, &defaults[i], userns, e) < 0)
			return -1;
	const struct json *devs = json_get(json_get(spec, "linux"), "devices");
	size_t idx = 0;
	for (const struct json *d = devs ? devs->child : NULL; d; d = d->next, idx++) {
		const char *path = json_get_str(d, "path"), *type = json_get_str(d, "type");
		const struct json *maj = json_get(d, "major"), *min = json_get(d, "minor");
		const struct json *mode = json_get(d, "fileMode"), *uid = json_get(d, "uid"), *gid = json_get(d, "gid");
		if (!path || !type)
			return refuse(e, 0, "config.json: linux.devices[%zu]: path and type are required", idx);
		if (mode && (!mode->is_integer || mode->integer < 0 || mode->integer > 07777))
			return refuse(e, 0, "config.json: linux.devices[%zu].fileMode: not a mode in 0..07777", idx);
		struct device dev = {.path = path, .mode = mode ? (mode_t)mode->integer : 0666};
		uint32_t id;
		char field[64];
		snprintf(field, sizeof field, "linux.devices[%zu].uid", idx);
		if (uid && spec_id(uid, field, &id, e) < 0)
			return -1;
		dev.uid = uid ? (uid_t)id : 0;
		snprintf(field, sizeof field, "linux.devices[%zu].gid", idx);
		if (gid && spec_id(gid, field, &id, e) < 0)
			return -1;
		dev.gid = gid ? (gid_t)id : 0;
		if (strcmp(type, "c") == 0 || strcmp(type, "u") == 0)
			dev.type = S_IFCHR;
		else if (strcmp(type, "b") == 0)
			dev.type = S_IFBLK;
		else if (strcmp(type, "p") == 0)
			dev.type = S_IFIFO;
		else
			return refuse(e, 0, "config.json: linux.devices[%zu].type: '%s' is not c, b, u or p", idx, type);
		if (dev.type != S_IFIFO) {
			/* The kernel's dev_t: 12 bits of major, 20 of minor. */
			if (!maj || !maj->is_integer || maj->integer < 0 || maj->integer >= 1 << 12 || !min ||
			    !min->is_integer || min->integer < 0 || min->integer >= 1 << 20)
				return refuse(e, 0, "config.json: linux.devices[%zu]: major (0..4095) and minor (0..1048575) are required",
					    idx);
			dev.major = (unsigned)maj->integer;
			dev.minor = (unsigned)min->integer;
		}
		if (dev.type == S_IFIFO && userns)
			return refuse(e, 0, "config.json: linux.devices[%zu]: a fifo cannot be made in a user namespace", idx);
		if (make_device(rootfd, &dev, userns, e) < 0)
			return -1;
	}
	static const char *const links[][2] = {
		{"/proc/self/fd", "fd"},         {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
		{"/proc/self/fd/2", "stderr"},   {"/proc/kcore", "core"},     {"pts/ptmx", "ptmx"},
	};
	int dev = dir_in_root(rootfd, "/dev", e);
	if (dev < 0)
		return -1;
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
		if (strcmp(links[i][1], "ptmx") == 0) {
			/* With a devpts mounted, /dev/ptmx must be its ptmx. */
			int ptmx = open_in_root(rootfd, "/dev/pts/ptmx", O_PATH, 0);
			if (ptmx < 0)
				continue;
			close(ptmx);
			if (unlinkat(dev, "ptmx", 0) < 0 && errno != ENOENT) {
				close(dev);
				return fail(e, errno, "unlink /dev/ptmx");
			}
		}
		if (symlinkat(links[i][0], dev, links[i][1]) < 0 && errno != EEXIST) {
			close(dev);
			return fail(e, errno, "symlink /dev/%s", links[i][1]);
		}
	}
	close(dev);
	return 0;
}

static const char *annotation(const struct json *spec, const char *key)
{
	return json_get_str(json_get(spec, "annotations"), key);
}

static int mount_rootfs(const struct json *spec, const char *rootfs, struct cerr *e)
{
	const char *lower = annotation(spec, "io.coracle.overlay.lowerdirs");
	const char *upper = annotation(spec, "io.coracle.overlay.upperdir");
	const char *work = annotation(spec, "io.coracle.overlay.workdir");
	if (!lower) {
		if (upper || work)
			return refuse(e, 0, "config.json: annotations: io.coracle.overlay.upperdir/workdir without lowerdirs");
		if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
			return fail(e, errno, "mount bind the rootfs %s on itself", rootfs);
		return 0;
	}
	if (!upper != !work)
		return refuse(e, 0, "config.json: annotations: io.coracle.overlay.upperdir and workdir go together");
	char data[4096];
	int n = upper ? snprintf(data, sizeof data, "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
		      : snprintf(data, sizeof data, "lowerdir=%s", lower);
	if (n >= (int)sizeof data)
		return fail(e, E2BIG, "overlay options for %s (more than a page: too many layers)", rootfs);
	if (mount("overlay", rootfs, "overlay", 0, data) < 0)
		return fail(e, errno, "mount overlay on %s (%s)", rootfs, data);
	return 0;
}

/* Makes the mount that holds path private (not recursively), so that mounts made below it stay in
 * this mount namespace even when the rest of the tree shares propagation with the host. */
static int make_parent_mount_private(const char *path, struct cerr *e)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return fail(e, errno, "open /proc/self/mountinfo");
	char line[4096], best[PATH_MAX] = "/";
	size_t best_len = 1;
	while (fgets(line, sizeof line, f)) {
		char mp[PATH_MAX];
		/* fields: id parent major:minor root mount-point ... */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		size_t n = strlen(mp);
		if (n > best_len && strncmp(path, mp, n) == 0 && (path[n] == '/' || path[n] == '\0')) {
			memcpy(best, mp, n + 1);
			best_len = n;
		}
	}
	fclose(f);
	if (mount(NULL, best, NULL, MS_PRIVATE, NULL) < 0)
		return fail(e, errno, "mount --make-private %s (the mount holding the rootfs)", best);
	return 0;
}

/* The propagation of the container's whole mount tree: linux.rootfsPropagation, rprivate by default. */
static int root_propagation(const struct json *spec, unsigned long *flags, struct cerr *e)
{
	*flags = MS_PRIVATE | MS_REC;
	const char *name = json_get_str(json_get(spec, "linux"), "rootfsPropagation");
	if (!name)
		return 0;
	for (size_t i = 0; i < sizeof propagation_opts / sizeof propagation_opts[0]; i++)
		if (strcmp(propagation_opts[i].name, name) == 0) {
			*flags = propagation_opts[i].flag;
			return 0;
		}
	return refuse(e, 0, "config.json: linux.rootfsPropagation: unknown value '%s'", name);
}

int rootfs_mount(const struct json *spec, const char *rootfs, struct cerr *e)
{
	return mount_rootfs(spec, rootfs, e);
}

int rootfs_propagate(const struct json *spec, const char *rootfs, struct cerr *e)
{
	/* rprivate (the default): nothing propagates either way. rslave: host mounts propagate in.
	 * rshared: both ways, for the volumes that ask for it; the rootfs itself still never shows on the host. */
	unsigned long propagation;
	if (root_propagation(spec, &propagation, e) < 0)
		return -1;
	if (mount(NULL, "/", NULL, propagation, NULL) < 0)
		return fail(e, errno, "set the propagation of / (linux.rootfsPropagation)");
	if ((propagation & MS_SHARED) && make_parent_mount_private(rootfs, e) < 0)
		return -1;
	return 0;
}

/* Masks what t holds: a read-only empty tmpfs over a directory, /dev/null (the host's, always the
 * real device) over anything else. */
static int mask_path(const struct target *t, int fd, const char *path, struct cerr *e)
{
	(void)t;
	char target[32];
	snprintf(target, sizeof target, "/proc/self/fd/%d", fd);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return fail(e, errno, "stat masked path %s", path);
	if (S_ISDIR(st.st_mode) && mount("tmpfs", target, "tmpfs", MS_RDONLY, "size=0k") < 0)
		return fail(e, errno, "mask %s with a read-only tmpfs", path);
	if (!S_ISDIR(st.st_mode) && mount("/dev/null", target, NULL, MS_BIND, NULL) < 0)
		return fail(e, errno, "mask %s with /dev/null", path);
	return 0;
}

static int readonly_path(const struct target *t, int fd, const char *path, struct cerr *e)
{
	char target[32];
	snprintf(target, sizeof target, "/proc/self/fd/%d", fd);
	if (mount(target, target, NULL, MS_BIND | MS_REC, NULL) < 0)
		return fail(e, errno, "bind %s on itself", path);
	int top = open_target(t, 0); /* the new mount, on top of what fd holds */
	snprintf(target, sizeof target, "/proc/self/fd/%d", top);
	int rc = 0;
	if (top < 0 || mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		rc = fail(e, errno, "remount %s read-only", path);
	if (top >= 0)
		close(top);
	return rc;
}

/* Applies fn to each entry of linux.<key> that exists, resolved in the rootfs (absent ones are
 * skipped, as runc does): fn gets the target and an O_PATH descriptor of it. */
static int for_each_path(int rootfd, const struct json *spec, const char *key,
			 int (*fn)(const struct target *, int, const char *, struct cerr *), struct cerr *e)
{
	const struct json *arr = json_get(json_get(spec, "linux"), key);
	for (const struct json *p = arr ? arr->child : NULL; p; p = p->next) {
		if (p->type != JSON_STRING || p->str[0] != '/')
			return refuse(e, 0, "config.json: linux.%s: entries must be absolute paths", key);
		int probe = open_in_root(rootfd, p->str, O_PATH, 0);
		if (probe < 0 && errno == ENOENT)
			continue;
		if (probe < 0)
			return refuse(e, errno, "config.json: linux.%s: openat2 %s in the rootfs", key, p->str);
		close(probe);
		struct target t;
		int fd = make_in_root(rootfd, p->str, MAKE_NOTHING, &t, e);
		if (fd < 0)
			return -1;
		int rc = fn(&t, fd, p->str, e);
		close(fd);
		close(t.dir);
		if (rc < 0)
			return -1;
	}
	return 0;
}

int rootfs_build(const struct json *spec, const char *bundle, const char *rootfs, const struct premounts *pm,
		 struct cerr *e)
{
	if (pm) {
		/* The host's paths are out of reach of the namespace's root: the detached rootfs goes onto
		 * the working directory (the rootfs, entered before the mount namespace was unshared). */
		unsigned long propagation;
		if (root_propagation(spec, &propagation, e) < 0)
			return -1;
		if (mount(NULL, "/", NULL, propagation, NULL) < 0)
			return fail(e, errno, "set the propagation of / (linux.rootfsPropagation)");
		if (move_in(pm->root, AT_FDCWD) < 0)
			return fail(e, errno, "move_mount the idmapped rootfs on %s", rootfs);
	} else {
		if (rootfs_propagate(spec, rootfs, e) < 0)
			return -1;
		trace("mounts private");
		if (mount_rootfs(spec, rootfs, e) < 0)
			return -1;
	}
	trace("rootfs mounted");
	/* pm->root now is the attached rootfs mount. */
	int rootfd = pm ? fcntl(pm->root, F_DUPFD_CLOEXEC, 3) : open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return fail(e, errno, "open %s", rootfs);
	const struct json *mounts = json_get(spec, "mounts");
	if (mounts && mounts->type != JSON_ARRAY) {
		close(rootfd);
		return refuse(e, 0, "config.json: mounts: not an array");
	}
	const struct json *label = json_get(json_get(spec, "linux"), "mountLabel");
	bool bad_label = label && (label->type != JSON_STRING || strchr(label->str, '"') || strlen(label->str) > 1024);
	for (const unsigned char *c = label && !bad_label ? (const unsigned char *)label->str : NULL; c && *c; c++)
		bad_label |= *c < 0x20 || *c == 0x7f;
	if (bad_label) {
		close(rootfd);
		return refuse(e, 0, "config.json: linux.mountLabel: not a string, or holds a quote or a control character");
	}
	const char *mount_label = label && label->str[0] ? label->str : NULL;
	size_t i = 0;
	for (const struct json *m = mounts ? mounts->child : NULL; m; m = m->next, i++)
		if (mount_one(rootfd, bundle, m, i, mount_label, pm && i < pm->n ? pm->fd[i] : -1, e) < 0) {
			close(rootfd);
			return -1;
		}
	trace("spec mounts done");
	if (make_devices(rootfd, spec, pm != NULL, e) < 0 || for_each_path(rootfd, spec, "maskedPaths", mask_path, e) < 0 ||
	    for_each_path(rootfd, spec, "readonlyPaths", readonly_path, e) < 0) {
		close(rootfd);
		return -1;
	}
	trace("devices made, paths masked");
	int oldroot = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (oldroot < 0) {
		close(rootfd);
		return fail(e, errno, "open /");
	}
	/* rootfd is the rootfs mount (opened after it was mounted): no path walk from the host's root. */
	if (fchdir(rootfd) < 0) {
		close(rootfd);
		close(oldroot);
		return fail(e, errno, "chdir %s", rootfs);
	}
	close(rootfd);
	/* pivot_root(".", "."): the old root ends up on top of the new one; detach it. */
	if (syscall(SYS_pivot_root, ".", ".") < 0) {
		close(oldroot);
		return fail(e, errno, "pivot_root %s", rootfs);
	}
	trace("pivoted");
	/* Work on the old root by its fd: the kernel does not promise what "." is after pivot_root. It
	 * may share propagation with the host, so make it (not the new tree) rslave before the unmount. */
	int rc = fchdir(oldroot);
	close(oldroot);
	if (rc < 0)
		return fail(e, errno, "fchdir to the old root");
	if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		return fail(e, errno, "mount --make-rslave the old root");
	if (umount2(".", MNT_DETACH) < 0)
		return fail(e, errno, "umount the old root");
	trace("old root detached");
	if (chdir("/") < 0)
		return fail(e, errno, "chdir /");
	return 0;
}

int rootfs_finish(const struct json *spec, struct cerr *e)
{
	const struct json *ro = json_get(json_get(spec, "root"), "readonly");
	if (ro && ro->type == JSON_BOOL && ro->boolean &&
	    mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
		return fail(e, errno, "remount / read-only");
	return 0;
}
