/* linux.resources.devices: the device rules of a container's cgroup.
 *
 * Semantics (as runc's device emulator): rules apply in order and the last rule that matches a
 * device and an access bit (r read, w write, m mknod) decides that bit; a bit no rule decides is
 * denied. An access (e.g. open O_RDWR = r+w) is allowed only when each of its bits is.
 *
 * cgroup v1: written to devices.deny / devices.allow of the devices hierarchy.
 * cgroup v2: an eBPF BPF_PROG_TYPE_CGROUP_DEVICE program generated from the rules, attached to
 * the cgroup with BPF_F_ALLOW_MULTI (so programs on ancestors still run: every one must allow)
 * and replaced atomically (BPF_F_REPLACE; attach-new-then-detach-old on kernels before 5.6). */
#ifndef CORACLE_DEVICES_H
#define CORACLE_DEVICES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "json.h"

/* The most rules one cgroup takes: keeps the program under the kernel's 4096 instructions. */
#define DEVICE_RULES_MAX 256
#define DEVICE_ANY (-1)

enum { DEVICE_MKNOD = 1, DEVICE_READ = 2, DEVICE_WRITE = 4 }; /* the kernel's BPF_DEVCG_ACC_* bits */

struct device_rule {
	bool allow;
	char type;         /* 'a' (all), 'b' (block) or 'c' (char) */
	int64_t major;     /* 0..2^32-1 or DEVICE_ANY */
	int64_t minor;
	unsigned access;   /* DEVICE_* bits, never 0 */
};

/* Reads linux.resources.devices (an array, or NULL: none) into rules (DEVICE_RULES_MAX of them),
 * refusing what is malformed with the field named: type other than a/b/c, access other than a
 * non-empty combination of r, w, m, major/minor outside 0..2^32-1 and not -1. */
int device_rules_parse(const struct json *devs, struct device_rule *rules, size_t *n, struct cerr *e);

/* The program's instructions (struct bpf_insn, 8 bytes each) for the rules: malloc'd into *insns,
 * their count into *count. Exposed for the tests of the generator. */
int device_program(const struct device_rule *rules, size_t n, void **insns, size_t *count, struct cerr *e);

/* Makes the rules the cgroup's device policy: v1 (a devices hierarchy directory: "a" denied
 * first, then the rules written in order) or v2 (a cgroup2 directory: the program loaded and
 * attached, replacing the one Coracle attached before). On failure on v2 the old program stays
 * attached; on v1 rules refused by check (a deny v1 cannot express) change nothing, while a write
 * the kernel refuses midway leaves "a" denied and the rules before it. */
int devices_apply(const char *dir, bool v2, const struct device_rule *rules, size_t n, struct cerr *e);
#endif
