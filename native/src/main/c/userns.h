/* Containers in the pod's user namespace (KEP-127): the spec's id mappings, joining the namespace,
 * and the probe of what the kernel supports. The namespace itself is the pod's (coracle-pause makes
 * it); a container joins it by path (linux.namespaces type "user"), never makes its own. */
#ifndef CORACLE_USERNS_H
#define CORACLE_USERNS_H
#include <stdbool.h>
#include "error.h"
#include "json.h"

/* linux.uidMappings and linux.gidMappings: required and range-checked (idmap_check) when a user
 * namespace is joined, refused without one. */
int userns_check_spec(const struct json *spec, bool joins_userns, struct cerr *e);
/* As the host's root, still in the host's mount namespace: cwd to the rootfs, join the user
 * namespace and become its root, check that its maps are the spec's, then unshare a mount
 * namespace, which the user namespace owns. */
int userns_enter(const struct json *spec, int userns_fd, const char *rootfs, struct cerr *e);
/* Without entering it (for an OCI runtime, which joins it itself): the spec's maps are required,
 * range-checked and must be the maps of the user namespace userns_fd. */
int userns_check_joined(const struct json *spec, int userns_fd, struct cerr *e);
/* Whether this kernel runs a pod with user namespaces here: a user namespace with a 65536-id map,
 * an idmapped copy of dir (a directory on the file system of the layers) and an overlay over it,
 * made and thrown away. 0, or -1 with the reason in e. */
int userns_probe(const char *dir, struct cerr *e);
/* Whether the OCI runtime (runc, crun) runs a pod's container in a user namespace here: in dir (a new
 * empty directory, removed by the caller), a container that joins a user namespace by path, with
 * its rootfs and a bind made by runtime_premount_userns, is run to completion and must print what
 * it was asked to. 0, or -1 with the reason (the runtime's own first line) in e. */
int userns_probe_runtime(const char *dir, const char *runtime, struct cerr *e);
#endif
