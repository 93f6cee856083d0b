/* The container's filesystem, built inside its own mount namespace.
 *
 * Rootfs: root.path (relative to the bundle, or absolute) names the mount point. When the
 * annotations io.coracle.overlay.lowerdirs (overlayfs lowerdir syntax: colon-separated,
 * top-most layer first), io.coracle.overlay.upperdir and io.coracle.overlay.workdir are
 * present, the shim mounts an overlayfs there from inside the new mount namespace, so the
 * mount never exists on the host; otherwise root.path must already hold the rootfs (as for
 * runc) and is bind-mounted onto itself. Then the spec's mounts, the default devices,
 * maskedPaths, readonlyPaths, pivot_root and root.readonly, in that order.
 *
 * Every path in the rootfs (mount destinations, devices, masked and read-only paths) is resolved
 * inside it one component at a time: a symlink there, absolute or relative, dangling or not, leads
 * to its target inside the root (as runc's securejoin), never onto the host; missing targets are
 * made with mkdirat / O_CREAT|O_EXCL|O_NOFOLLOW relative to a parent reached with RESOLVE_IN_ROOT;
 * a symlink loop is refused. Mounts go onto the target's descriptor (/proc/self/fd/N). */
#ifndef CORACLE_MOUNTS_H
#define CORACLE_MOUNTS_H
#include "error.h"
#include "json.h"
#include <stddef.h>

/* Resolves root.path against the bundle and checks it is a directory; out gets PATH_MAX. */
int rootfs_path(const struct json *spec, const char *bundle, char *out, struct cerr *e);
/* With a user namespace: what the host's root must make before joining it, as detached mounts.
 * The rootfs (an overlay over idmapped copies of the layers: no layer is ever chowned), an
 * idmapped copy of every bind source, and the proc, sysfs, mqueue and cgroup2 of the namespaces
 * joined; tmpfs and devpts are mounted later, inside the user namespace. */
struct premounts {
	int root;   /* the rootfs, detached */
	int *fd;    /* per mounts[] entry: a detached mount to move in, or -1 */
	size_t n;
};
int rootfs_prepare_userns(const struct json *spec, const char *bundle, const char *rootfs, int userns_fd,
			  struct premounts *pm, struct cerr *e);
void premounts_close(struct premounts *pm);
/* In the new mount namespace: makes every mount private, mounts the rootfs, the spec's
 * mounts (relative bind sources resolve against the bundle), the devices, maskedPaths and
 * readonlyPaths, then pivots. With pm (a user namespace, cwd at the rootfs), the prepared
 * mounts are moved in, and devices are bound from the host's nodes. */
int rootfs_build(const struct json *spec, const char *bundle, const char *rootfs, const struct premounts *pm,
		 struct cerr *e);
/* Sets the propagation of / from linux.rootfsPropagation (rprivate by default) and, when it shares
 * with the host, makes the mount holding rootfs private so the rootfs mount never shows there. */
int rootfs_propagate(const struct json *spec, const char *rootfs, struct cerr *e);
/* Only the rootfs mount (the overlay of the annotations, or root.path bound onto itself), for an
 * OCI runtime that builds the rest: call it in a private mount namespace of the caller's own. */
int rootfs_mount(const struct json *spec, const char *rootfs, struct cerr *e);
/* With a user namespace and an OCI runtime that builds the rest (runc, crun), in a private mount
 * namespace of the caller's own: mounts the rootfs as rootfs_prepare_userns makes it (an overlay over
 * idmapped layers) on rootfs, and an idmapped copy of every bind source over that source, so that the
 * runtime's binds of the sources are idmapped without the runtime knowing idmapped mounts. Refuses a
 * shared linux.rootfsPropagation (the copies would show on the host). */
int runtime_premount_userns(const struct json *spec, const char *bundle, const char *rootfs, int userns_fd,
			    struct cerr *e);
/* mount_setattr(2): the mount at path (relative to dirfd; "" for dirfd itself) and every mount
 * below it read-only. -1 with errno on failure (ENOSYS before Linux 5.12). */
int mount_readonly_recursive(int dirfd, const char *path);
/* After pivot_root: root.readonly. */
int rootfs_finish(const struct json *spec, struct cerr *e);
#endif
