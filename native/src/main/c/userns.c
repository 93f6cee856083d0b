#include "userns.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "idmap.h"
#include "mounts.h"
#include "namespaces.h"

static int read_mappings(const struct json *arr, const char *key, struct idmap *m, size_t *n, struct cerr *e)
{
	*n = 0;
	if (arr->type != JSON_ARRAY)
		return refuse(e, 0, "config.json: linux.%s: not an array", key);
	size_t i = 0;
	for (const struct json *x = arr->child; x; x = x->next, i++) {
		if (i == IDMAP_MAX)
			return refuse(e, 0, "config.json: linux.%s: more than %d mappings", key, IDMAP_MAX);
		const char *names[3] = {"containerID", "hostID", "size"};
		uint32_t v[3];
		for (int k = 0; k < 3; k++) {
			/* ids 0..2^32-2 (-1 is no id); a size up to 2^32-1 (idmap_check bounds id+size) */
			const struct json *f = json_get(x, names[k]);
			int64_t max = k == 2 ? (int64_t)UINT32_MAX : (int64_t)IDMAP_ID_MAX;
			if (!f || !f->is_integer || f->integer < 0 || f->integer > max)
				return refuse(e, 0, "config.json: linux.%s[%zu].%s: not a number in 0..%lld", key, i, names[k],
					      (long long)max);
			v[k] = (uint32_t)f->integer;
		}
		m[i] = (struct idmap){v[0], v[1], v[2]};
	}
	*n = i;
	char why[200];
	if (idmap_check(m, *n, why, sizeof why) < 0)
		return refuse(e, 0, "config.json: linux.%s: %s", key, why);
	return 0;
}

static int spec_maps(const struct json *spec, struct idmap *uid, size_t *nuid, struct idmap *gid, size_t *ngid,
		     struct cerr *e)
{
	const struct json *linux = json_get(spec, "linux");
	const struct json *u = json_get(linux, "uidMappings"), *g = json_get(linux, "gidMappings");
	if (!u || !g)
		return refuse(e, 0, "config.json: linux.uidMappings and gidMappings are required with a user namespace");
	return read_mappings(u, "uidMappings", uid, nuid, e) < 0 ? -1 : read_mappings(g, "gidMappings", gid, ngid, e);
}

static struct idmap spec_uid[IDMAP_MAX], spec_gid[IDMAP_MAX], ns_map[IDMAP_MAX];

int userns_check_spec(const struct json *spec, bool joins_userns, struct cerr *e)
{
	const struct json *linux = json_get(spec, "linux");
	if (!joins_userns) {
		if (json_get(linux, "uidMappings") || json_get(linux, "gidMappings"))
			return refuse(e, 0, "config.json: linux.uidMappings/gidMappings without a user namespace to join");
		return 0;
	}
	size_t nu, ng;
	return spec_maps(spec, spec_uid, &nu, spec_gid, &ng, e);
}

int userns_enter(const struct json *spec, int userns_fd, const char *rootfs, struct cerr *e)
{
	size_t nu, ng, n;
	if (spec_maps(spec, spec_uid, &nu, spec_gid, &ng, e) < 0)
		return -1;
	/* The cwd moves with unshare(CLONE_NEWNS) to the same place in the new namespace: the only way
	 * to the rootfs there, as the host's directories above it are closed to the namespace's root. */
	if (chdir(rootfs) < 0)
		return fail(e, errno, "chdir %s", rootfs);
	if (ns_enter_user(userns_fd, e) < 0)
		return -1;
	if (idmap_read("/proc/self/uid_map", ns_map, &n) < 0)
		return fail(e, errno, "read /proc/self/uid_map");
	if (!idmap_equal(spec_uid, nu, ns_map, n))
		return refuse(e, 0, "config.json: linux.uidMappings: not the mapping of the user namespace joined");
	if (idmap_read("/proc/self/gid_map", ns_map, &n) < 0)
		return fail(e, errno, "read /proc/self/gid_map");
	if (!idmap_equal(spec_gid, ng, ns_map, n))
		return refuse(e, 0, "config.json: linux.gidMappings: not the mapping of the user namespace joined");
	if (unshare(CLONE_NEWNS) < 0)
		return fail(e, errno, "unshare(CLONE_NEWNS) in the user namespace");
	return 0;
}

int userns_check_joined(const struct json *spec, int userns_fd, struct cerr *e)
{
	size_t nu, ng;
	if (spec_maps(spec, spec_uid, &nu, spec_gid, &ng, e) < 0)
		return -1;
	/* A child reads the maps from inside (setns into a user namespace takes a single thread). */
	pid_t pid = fork();
	if (pid < 0)
		return fail(e, errno, "fork");
	if (pid == 0) {
		size_t n;
		if (setns(userns_fd, CLONE_NEWUSER) < 0 || idmap_read("/proc/self/uid_map", ns_map, &n) < 0)
			_exit(3);
		if (!idmap_equal(spec_uid, nu, ns_map, n))
			_exit(1);
		if (idmap_read("/proc/self/gid_map", ns_map, &n) < 0)
			_exit(3);
		_exit(idmap_equal(spec_gid, ng, ns_map, n) ? 0 : 2);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return fail(e, errno, "waitpid");
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : 3;
	if (code == 1)
		return refuse(e, 0, "config.json: linux.uidMappings: not the mapping of the user namespace joined");
	if (code == 2)
		return refuse(e, 0, "config.json: linux.gidMappings: not the mapping of the user namespace joined");
	if (code != 0)
		return fail(e, 0, "read the maps of the user namespace to join (setns, /proc/self/uid_map)");
	return 0;
}

/* The probe's user namespace: a child that unshares one and waits to be killed. */
static pid_t userns_child(int *ready_fd, struct cerr *e)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		fail(e, errno, "pipe2");
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		fail(e, errno, "fork");
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		char c = unshare(CLONE_NEWUSER) == 0 ? 'u' : 'x';
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	*ready_fd = p[0];
	return pid;
}

/* An idmapped, detached copy of path: its fd, or -1 with e set. */
static int idmapped_copy(const char *path, int ns, struct cerr *e)
{
	int tree = (int)syscall(428 /* open_tree */, AT_FDCWD, path, 1 /* OPEN_TREE_CLONE */ | O_CLOEXEC);
	if (tree < 0)
		return fail(e, errno, "open_tree %s", path);
	struct {
		uint64_t set, clr, prop, userns;
	} attr = {0x100000 /* MOUNT_ATTR_IDMAP */, 0, 0, (uint64_t)ns};
	if (syscall(442 /* mount_setattr */, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
		int err = errno;
		close(tree);
		return fail(e, err, "idmapped mount of %s (mount_setattr MOUNT_ATTR_IDMAP)", path);
	}
	return tree;
}

/* An overlay over two idmapped layers (two empty directories made in dir and removed after), as a
 * container's rootfs is made. */
static int probe_overlay(const char *dir, int ns, struct cerr *e)
{
	char tmp[PATH_MAX], l1[PATH_MAX + 8], l2[PATH_MAX + 8];
	if (snprintf(tmp, sizeof tmp, "%s/.userns-probe-XXXXXX", dir) >= (int)sizeof tmp)
		return fail(e, ENAMETOOLONG, "%s", dir);
	if (!mkdtemp(tmp))
		return fail(e, errno, "mkdtemp %s", tmp);
	snprintf(l1, sizeof l1, "%s/l1", tmp);
	snprintf(l2, sizeof l2, "%s/l2", tmp);
	int rc = 0, a = -1, b = -1, fs = -1;
	if (mkdir(l1, 0700) < 0 || mkdir(l2, 0700) < 0)
		rc = fail(e, errno, "mkdir in %s", tmp);
	if (rc == 0 && ((a = idmapped_copy(l1, ns, e)) < 0 || (b = idmapped_copy(l2, ns, e)) < 0))
		rc = -1;
	if (rc == 0 && (fs = (int)syscall(430 /* fsopen */, "overlay", 1)) < 0)
		rc = fail(e, errno, "fsopen overlay");
	if (rc == 0) {
		char pa[32], pb[32];
		snprintf(pa, sizeof pa, "/proc/self/fd/%d", a);
		snprintf(pb, sizeof pb, "/proc/self/fd/%d", b);
		if (syscall(431 /* fsconfig */, fs, 1 /* SET_STRING */, "lowerdir+", pa, 0) < 0 ||
		    syscall(431, fs, 1, "lowerdir+", pb, 0) < 0 || syscall(431, fs, 6 /* CMD_CREATE */, NULL, NULL, 0) < 0)
			rc = fail(e, errno, "overlay over idmapped layers");
	}
	int m = rc == 0 ? (int)syscall(432 /* fsmount */, fs, 1, 0) : -1;
	if (rc == 0 && m < 0)
		rc = fail(e, errno, "fsmount overlay over idmapped layers");
	int fds[] = {m, fs, a, b};
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	rmdir(l1);
	rmdir(l2);
	if (rmdir(tmp) < 0 && rc == 0)
		rc = fail(e, errno, "rmdir %s", tmp);
	return rc;
}

/* The probes' user namespace, with the map {0, 2^30, 65536}: a child holding it, and its fd. */
static int probe_userns(pid_t *pid, int *ns, struct cerr *e)
{
	int ready;
	*ns = -1;
	if ((*pid = userns_child(&ready, e)) < 0)
		return -1;
	char c = 0;
	int rc = 0;
	ssize_t n;
	while ((n = read(ready, &c, 1)) < 0 && errno == EINTR)
		;
	close(ready);
	char path[64];
	if (n != 1 || c != 'u')
		rc = fail(e, 0, "unshare(CLONE_NEWUSER) refused");
	static const struct idmap map = {0, 1u << 30, 65536};
	char line[64];
	int len = idmap_format(&map, 1, line, sizeof line);
	for (const char *f = "uid_map"; rc == 0 && f; f = strcmp(f, "uid_map") == 0 ? "gid_map" : NULL) {
		snprintf(path, sizeof path, "/proc/%d/%s", (int)*pid, f);
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, line, (size_t)len) != len)
			rc = fail(e, errno, "write %s", path);
		if (fd >= 0)
			close(fd);
	}
	if (rc == 0) {
		snprintf(path, sizeof path, "/proc/%d/ns/user", (int)*pid);
		if ((*ns = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			rc = fail(e, errno, "open %s", path);
	}
	return rc;
}

static void probe_userns_end(pid_t pid, int ns)
{
	if (ns >= 0)
		close(ns);
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

int userns_probe(const char *dir, struct cerr *e)
{
	pid_t pid;
	int ns;
	int rc = probe_userns(&pid, &ns, e);
	if (pid < 0)
		return -1;
	if (rc == 0)
		rc = probe_overlay(dir, ns, e);
	probe_userns_end(pid, ns);
	return rc;
}

/* Runs "runtime --root <dir>/state ARGS... probe" with stdout and stderr into out (bounded, first
 * line kept); returns its wait status, or -1 with errno. */
static int probe_run(const char *runtime, const char *dir, const char *const args[], char *out, size_t outlen)
{
	char root[PATH_MAX];
	snprintf(root, sizeof root, "%s/state", dir);
	const char *argv[12] = {runtime, "--root", root};
	int n = 3;
	for (int i = 0; args[i] && n < 10; i++)
		argv[n++] = args[i];
	argv[n++] = "coracle-userns-probe";
	argv[n] = NULL;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		if (null < 0 || dup2(null, 0) < 0 || dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0)
			_exit(126);
		execv(runtime, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	size_t got = 0;
	ssize_t r;
	char sink[512];
	while ((r = read(p[0], got + 1 < outlen ? out + got : sink, got + 1 < outlen ? outlen - 1 - got : sizeof sink)) != 0) {
		if (r < 0 && errno != EINTR)
			break;
		if (r > 0 && got + 1 < outlen)
			got += (size_t)r;
	}
	out[got] = '\0';
	char *nl = strchr(out, '\n');
	if (nl)
		*nl = '\0';
	close(p[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return st;
}

int userns_probe_runtime(const char *dir, const char *runtime, struct cerr *e)
{
	char self[PATH_MAX], bundle[PATH_MAX], rootfs[PATH_MAX + 8], config[PATH_MAX + 16];
	ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
	if (len < 0)
		return fail(e, errno, "readlink /proc/self/exe");
	self[len] = '\0';
	if (snprintf(bundle, sizeof bundle, "%s/bundle", dir) >= (int)sizeof bundle || strchr(self, '"') ||
	    strchr(self, '\\'))
		return fail(e, ENAMETOOLONG, "%s", dir);
	snprintf(rootfs, sizeof rootfs, "%s/rootfs", bundle);
	snprintf(config, sizeof config, "%s/config.json", bundle);
	/* The copies made for the runtime stay in this process's own mount namespace. */
	if (unshare(CLONE_NEWNS) < 0)
		return fail(e, errno, "unshare(CLONE_NEWNS)");
	if (mount(NULL, "/", NULL, MS_PRIVATE | MS_REC, NULL) < 0)
		return fail(e, errno, "make / private");
	/* The runtime mounts the rootfs by its path from inside the user namespace: dir and bundle let it pass. */
	if (mkdir(bundle, 0711) < 0 || chmod(bundle, 0711) < 0 || mkdir(rootfs, 0755) < 0)
		return fail(e, errno, "mkdir %s", rootfs);
	pid_t pid;
	int ns;
	int rc = probe_userns(&pid, &ns, e);
	if (pid < 0)
		return -1;
	/* A container as a pod's: it joins the user namespace by path (with its maps, as runc needs them),
	 * makes its other namespaces inside it, mounts proc, sysfs, devpts, mqueue and tmpfs there, and
	 * runs this static program, bound in idmapped, from an idmapped rootfs. */
	char text[4096];
	int n = snprintf(text, sizeof text,
		"{\"ociVersion\":\"1.0.2\",\"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},"
		"\"args\":[\"/probe\",\"--version\"],\"env\":[\"PATH=/\"],\"cwd\":\"/\",\"noNewPrivileges\":true},"
		"\"root\":{\"path\":\"rootfs\"},\"hostname\":\"probe\",\"mounts\":["
		"{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
		"{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":[\"nosuid\",\"mode=755\",\"size=65536k\"]},"
		"{\"destination\":\"/dev/pts\",\"type\":\"devpts\",\"source\":\"devpts\",\"options\":[\"nosuid\",\"noexec\",\"newinstance\",\"ptmxmode=0666\",\"mode=0620\",\"gid=5\"]},"
		"{\"destination\":\"/dev/mqueue\",\"type\":\"mqueue\",\"source\":\"mqueue\",\"options\":[\"nosuid\",\"noexec\",\"nodev\"]},"
		"{\"destination\":\"/sys\",\"type\":\"sysfs\",\"source\":\"sysfs\",\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"ro\"]},"
		"{\"destination\":\"/probe\",\"type\":\"bind\",\"source\":\"%s\",\"options\":[\"bind\",\"ro\"]}],"
		"\"linux\":{\"uidMappings\":[{\"containerID\":0,\"hostID\":%u,\"size\":65536}],"
		"\"gidMappings\":[{\"containerID\":0,\"hostID\":%u,\"size\":65536}],"
		"\"cgroupsPath\":\"/coracle-userns-probe-%d\",\"namespaces\":[{\"type\":\"user\",\"path\":\"/proc/%d/ns/user\"},"
		"{\"type\":\"pid\"},{\"type\":\"network\"},{\"type\":\"ipc\"},{\"type\":\"uts\"},{\"type\":\"mount\"}]}}",
		self, 1u << 30, 1u << 30, (int)getpid(), (int)pid);
	struct json *spec = NULL;
	char err[128];
	if (rc == 0 && (n < 0 || n >= (int)sizeof text))
		rc = fail(e, E2BIG, "probe config.json");
	if (rc == 0 && !(spec = json_parse(text, (size_t)n, err, sizeof err)))
		rc = fail(e, 0, "probe config.json: %s", err);
	FILE *f = rc == 0 ? fopen(config, "wex") : NULL;
	if (rc == 0 && (!f || fputs(text, f) < 0))
		rc = fail(e, errno, "write %s", config);
	if (f && fclose(f) != 0 && rc == 0)
		rc = fail(e, errno, "write %s", config);
	if (rc == 0)
		rc = runtime_premount_userns(spec, bundle, rootfs, ns, e);
	if (rc == 0) {
		char out[512];
		const char *const run[] = {"run", "--bundle", bundle, NULL};
		int st = probe_run(runtime, dir, run, out, sizeof out);
		if (st < 0)
			rc = fail(e, errno, "run %s", runtime);
		else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || strncmp(out, "coracle-shim", 12) != 0) {
			rc = fail(e, 0, "%s run of a container in a user namespace exited %d: %s", runtime,
				  WIFEXITED(st) ? WEXITSTATUS(st) : -1, out[0] ? out : "(it printed nothing)");
			char ignored[64];
			const char *const del[] = {"delete", "--force", NULL};
			probe_run(runtime, dir, del, ignored, sizeof ignored);
		}
	}
	json_free(spec);
	probe_userns_end(pid, ns);
	return rc;
}
