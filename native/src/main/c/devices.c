#include "devices.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define UINT32_RANGE 4294967295LL

static int parse_number(const struct json *v, const char *field, size_t i, int64_t *out, struct cerr *e)
{
	if (!v || v->type == JSON_NULL) {
		*out = DEVICE_ANY;
		return 0;
	}
	if (!v->is_integer || v->integer < -1 || v->integer > UINT32_RANGE) {
		char what[64];
		json_describe(v, what, sizeof what);
		return refuse(e, 0, "config.json: linux.resources.devices[%zu].%s: %s is not a device number (0..4294967295, or -1 for any)",
			      i, field, what);
	}
	*out = v->integer;
	return 0;
}

int device_rules_parse(const struct json *devs, struct device_rule *rules, size_t *n, struct cerr *e)
{
	*n = 0;
	if (!devs || devs->type == JSON_NULL)
		return 0;
	if (devs->type != JSON_ARRAY)
		return refuse(e, 0, "config.json: linux.resources.devices: not an array");
	size_t i = 0;
	for (const struct json *d = devs->child; d; d = d->next, i++) {
		if (i == DEVICE_RULES_MAX)
			return refuse(e, 0, "config.json: linux.resources.devices: more than %d rules", DEVICE_RULES_MAX);
		if (d->type != JSON_OBJECT)
			return refuse(e, 0, "config.json: linux.resources.devices[%zu]: not an object", i);
		struct device_rule *r = &rules[i];
		const struct json *allow = json_get(d, "allow"), *type = json_get(d, "type"), *access = json_get(d, "access");
		if (!allow || allow->type != JSON_BOOL)
			return refuse(e, 0, "config.json: linux.resources.devices[%zu].allow: missing", i);
		r->allow = allow->boolean;
		r->type = 'a';
		if (type && type->type != JSON_NULL) {
			if (type->type != JSON_STRING || strlen(type->str) != 1 || !strchr("abc", type->str[0]))
				return refuse(e, 0, "config.json: linux.resources.devices[%zu].type: not a, b or c", i);
			r->type = type->str[0];
		}
		r->access = DEVICE_MKNOD | DEVICE_READ | DEVICE_WRITE;
		if (access && access->type != JSON_NULL) {
			if (access->type != JSON_STRING || !access->str[0] || strlen(access->str) > 3)
				return refuse(e, 0, "config.json: linux.resources.devices[%zu].access: not a combination of r, w and m", i);
			r->access = 0;
			for (const char *c = access->str; *c; c++) {
				unsigned bit = *c == 'r' ? DEVICE_READ : *c == 'w' ? DEVICE_WRITE : *c == 'm' ? DEVICE_MKNOD : 0;
				if (!bit || (r->access & bit))
					return refuse(e, 0, "config.json: linux.resources.devices[%zu].access: '%s' is not a combination of r, w and m",
						      i, access->str);
				r->access |= bit;
			}
		}
		if (parse_number(json_get(d, "major"), "major", i, &r->major, e) < 0 ||
		    parse_number(json_get(d, "minor"), "minor", i, &r->minor, e) < 0)
			return -1;
		(*n)++;
	}
	return 0;
}

/* ---- cgroup v1 ---- */

static int write_rule(const char *dir, bool allow, const char *rule, struct cerr *e)
{
	char path[600];
	snprintf(path, sizeof path, "%s/%s", dir, allow ? "devices.allow" : "devices.deny");
	return write_file(path, rule, e);
}

static bool overlap(int64_t a, int64_t b)
{
	return a == DEVICE_ANY || b == DEVICE_ANY || a == b;
}

/* v1 cannot say everything the rules can: once everything is denied, writing a deny only takes
 * bits off an allowed entry of exactly the same type:major:minor, so a deny narrower than (or
 * beside) an overlapping earlier allow would be lost, and the device stay allowed. Refused. */
static int check_v1(const struct device_rule *rules, size_t n, struct cerr *e)
{
	bool default_allow = false;
	size_t first = 0; /* the allows that count: since the last rule about everything */
	for (size_t i = 0; i < n; i++) {
		const struct device_rule *r = &rules[i];
		if (r->type == 'a' && r->major == DEVICE_ANY && r->minor == DEVICE_ANY && r->access == 7) {
			default_allow = r->allow;
			first = i + 1;
			continue;
		}
		if (default_allow || r->allow)
			continue;
		for (size_t k = first; k < i; k++) {
			const struct device_rule *a = &rules[k];
			bool types = a->type == 'a' || r->type == 'a' || a->type == r->type;
			bool same = a->type == r->type && a->major == r->major && a->minor == r->minor;
			if (a->allow && types && overlap(a->major, r->major) && overlap(a->minor, r->minor) &&
			    (a->access & r->access) && !same)
				return refuse(e, 0, "config.json: linux.resources.devices[%zu]: a deny inside the earlier allow [%zu] "
					      "cannot be enforced by the cgroup v1 devices controller", i, k);
		}
	}
	return 0;
}

static int apply_v1(const char *dir, const struct device_rule *rules, size_t n, struct cerr *e)
{
	if (check_v1(rules, n, e) < 0)
		return -1;
	/* "a" denied: no exception left, everything denied; then the rules in order. */
	if (write_rule(dir, false, "a", e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct device_rule *r = &rules[i];
		char maj[24] = "*", min[24] = "*", acc[4] = "", rule[96];
		if (r->major != DEVICE_ANY)
			snprintf(maj, sizeof maj, "%" PRId64, r->major);
		if (r->minor != DEVICE_ANY)
			snprintf(min, sizeof min, "%" PRId64, r->minor);
		snprintf(acc, sizeof acc, "%s%s%s", r->access & DEVICE_READ ? "r" : "", r->access & DEVICE_WRITE ? "w" : "",
			 r->access & DEVICE_MKNOD ? "m" : "");
		/* A number no device can have (dev_t: 12-bit majors, 20-bit minors) matches nothing, and
		 * v1 would read 4294967295 as its "*": such a rule is left out, which changes nothing. */
		if (r->major > 0xfff || r->minor > 0xfffff)
			continue;
		bool everything = r->major == DEVICE_ANY && r->minor == DEVICE_ANY && r->access == 7;
		if (r->type == 'a' && everything) {
			if (write_rule(dir, r->allow, "a", e) < 0)
				return -1;
			continue;
		}
		/* v1 reads any rule starting with 'a' as "all devices, all access": a narrower "a" rule
		 * is written as its block and char halves. */
		for (const char *t = r->type == 'a' ? "bc" : (r->type == 'b' ? "b" : "c"); *t; t++) {
			snprintf(rule, sizeof rule, "%c %s:%s %s", *t, maj, min, acc);
			if (write_rule(dir, r->allow, rule, e) < 0)
				return -1;
		}
	}
	return 0;
}

/* ---- cgroup v2: the eBPF program ---- */

#define INSN(c, d, s, o, i) ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})
#define LDX_W(d, s, o) INSN(BPF_LDX | BPF_W | BPF_MEM, d, s, o, 0)
#define ALU32_IMM(op, d, i) INSN(BPF_ALU | (op) | BPF_K, d, 0, 0, i)
#define ALU64_IMM(op, d, i) INSN(BPF_ALU64 | (op) | BPF_K, d, 0, 0, i)
#define MOV64_REG(d, s) INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define JMP_IMM(op, d, i) INSN(BPF_JMP | (op) | BPF_K, d, 0, 0, i)     /* offset patched later */
#define JMP_REG(op, d, s) INSN(BPF_JMP | (op) | BPF_X, d, s, 0, 0)
#define EXIT_INSN INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

/* Registers: r1 the context (struct bpf_cgroup_dev_ctx), r2 the device type, r3 the access asked,
 * r4 major, r5 minor, r6 the access bits no rule has decided yet, r7 scratch. */
enum { R0, R1, R2, R3, R4, R5, R6, R7 };

struct prog {
	struct bpf_insn *insns;
	size_t n, cap;
	size_t to_next[8]; /* jumps of the current rule to the start of the next one */
	size_t njumps;
};

static void emit(struct prog *p, struct bpf_insn insn)
{
	p->insns[p->n++] = insn; /* cap is sized for the worst case of every rule */
}

static void emit_jump_to_next(struct prog *p, struct bpf_insn insn)
{
	p->to_next[p->njumps++] = p->n;
	emit(p, insn);
}

/* "if reg != value goto next": value is 0..2^32-1; registers hold the context's u32 zero-extended. */
static void emit_match(struct prog *p, int reg, int64_t value)
{
	if (value <= INT32_MAX) {
		emit_jump_to_next(p, JMP_IMM(BPF_JNE, reg, (int32_t)value));
		return;
	}
	/* Immediates are sign-extended s32: a larger value goes through a 64-bit load into r7. */
	emit(p, INSN(BPF_LD | BPF_DW | BPF_IMM, R7, 0, 0, (int32_t)(uint32_t)value));
	emit(p, INSN(0, 0, 0, 0, 0));
	emit_jump_to_next(p, JMP_REG(BPF_JNE, reg, R7));
}

/* The rules are evaluated from the last one back; the first that matches the device and holds an
 * undecided asked bit decides: deny returns 0 at once, allow marks its bits decided and returns 1
 * once none is left. Falling off the first rule returns 0 (default deny). */
int device_program(const struct device_rule *rules, size_t n, void **insns, size_t *count, struct cerr *e)
{
	if (n > DEVICE_RULES_MAX)
		return refuse(e, 0, "config.json: linux.resources.devices: more than %d rules", DEVICE_RULES_MAX);
	struct prog p = {.cap = 8 + n * 16};
	if (!(p.insns = calloc(p.cap, sizeof *p.insns)))
		return fail(e, errno, "device program: calloc");
	emit(&p, LDX_W(R2, R1, 0)); /* access_type: (access << 16) | type */
	emit(&p, MOV64_REG(R3, R2));
	emit(&p, ALU32_IMM(BPF_AND, R2, 0xffff));
	emit(&p, ALU32_IMM(BPF_RSH, R3, 16));
	emit(&p, LDX_W(R4, R1, 4));
	emit(&p, LDX_W(R5, R1, 8));
	emit(&p, MOV64_REG(R6, R3));
	for (size_t k = n; k-- > 0;) {
		const struct device_rule *r = &rules[k];
		if (r->access == 0 || r->access > 7 || !strchr("abc", r->type) || r->major < -1 || r->major > UINT32_RANGE ||
		    r->minor < -1 || r->minor > UINT32_RANGE) {
			free(p.insns);
			return refuse(e, 0, "config.json: linux.resources.devices[%zu]: malformed rule", k);
		}
		p.njumps = 0;
		if (r->type != 'a')
			emit_jump_to_next(&p, JMP_IMM(BPF_JNE, R2, r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR));
		if (r->major != DEVICE_ANY)
			emit_match(&p, R4, r->major);
		if (r->minor != DEVICE_ANY)
			emit_match(&p, R5, r->minor);
		if (r->allow) {
			emit(&p, ALU64_IMM(BPF_AND, R6, (int32_t)~r->access));
			emit_jump_to_next(&p, JMP_IMM(BPF_JNE, R6, 0));
			emit(&p, ALU64_IMM(BPF_MOV, R0, 1));
		} else {
			emit(&p, MOV64_REG(R7, R6));
			emit(&p, ALU64_IMM(BPF_AND, R7, (int32_t)r->access));
			emit_jump_to_next(&p, JMP_IMM(BPF_JEQ, R7, 0));
			emit(&p, ALU64_IMM(BPF_MOV, R0, 0));
		}
		emit(&p, EXIT_INSN);
		for (size_t j = 0; j < p.njumps; j++)
			p.insns[p.to_next[j]].off = (int16_t)(p.n - p.to_next[j] - 1);
	}
	emit(&p, ALU64_IMM(BPF_MOV, R0, 0));
	emit(&p, EXIT_INSN);
	*insns = p.insns;
	*count = p.n;
	return 0;
}

static long bpf(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof *attr);
}

/* The name Coracle gives its programs: only programs of this name are replaced on a cgroup. */
#define PROG_NAME "coracle_devices"

static int load_program(const struct device_rule *rules, size_t n, struct cerr *e)
{
	void *insns;
	size_t count;
	if (device_program(rules, n, &insns, &count, e) < 0)
		return -1;
	union bpf_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	attr.insns = (uint64_t)(uintptr_t)insns;
	attr.insn_cnt = (uint32_t)count;
	attr.license = (uint64_t)(uintptr_t)"Apache-2.0";
	snprintf(attr.prog_name, sizeof attr.prog_name, "%s", PROG_NAME);
	int fd = (int)bpf(BPF_PROG_LOAD, &attr);
	if (fd < 0) {
		/* Again with the verifier's log, to say why. */
		int err = errno;
		static char log[1 << 16];
		log[0] = '\0';
		attr.log_buf = (uint64_t)(uintptr_t)log;
		attr.log_size = sizeof log;
		attr.log_level = 1;
		fd = (int)bpf(BPF_PROG_LOAD, &attr);
		if (fd < 0) {
			size_t len = strlen(log);
			while (len > 0 && log[len - 1] == '\n')
				log[--len] = '\0';
			char *last = strrchr(log, '\n');
			free(insns);
			return fail(e, err, "bpf(BPF_PROG_LOAD) of the device program (%zu instructions)%s%s", count,
				    log[0] ? ": verifier: " : "", last ? last + 1 : log);
		}
	}
	free(insns);
	return fd;
}

/* The ids of the programs attached to the cgroup itself (not its ancestors'). */
static int attached(int cgfd, uint32_t *ids, uint32_t cap, uint32_t *count, struct cerr *e, const char *dir)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.query.target_fd = (uint32_t)cgfd;
	attr.query.attach_type = BPF_CGROUP_DEVICE;
	attr.query.prog_ids = (uint64_t)(uintptr_t)ids;
	attr.query.prog_cnt = cap;
	if (bpf(BPF_PROG_QUERY, &attr) < 0)
		return fail(e, errno, "bpf(BPF_PROG_QUERY) %s", dir);
	*count = attr.query.prog_cnt < cap ? attr.query.prog_cnt : cap;
	return 0;
}

/* An fd of the program id when it is one of Coracle's device programs, else -1. */
static int ours(uint32_t id)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.prog_id = id;
	int fd = (int)bpf(BPF_PROG_GET_FD_BY_ID, &attr);
	if (fd < 0)
		return -1;
	struct bpf_prog_info info;
	memset(&info, 0, sizeof info);
	memset(&attr, 0, sizeof attr);
	attr.info.bpf_fd = (uint32_t)fd;
	attr.info.info_len = sizeof info;
	attr.info.info = (uint64_t)(uintptr_t)&info;
	if (bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) < 0 || strncmp(info.name, PROG_NAME, sizeof info.name) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int attach(int cgfd, int prog, int replace, struct cerr *e, const char *dir)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.target_fd = (uint32_t)cgfd;
	attr.attach_bpf_fd = (uint32_t)prog;
	attr.attach_type = BPF_CGROUP_DEVICE;
	attr.attach_flags = BPF_F_ALLOW_MULTI;
	if (replace >= 0) {
		attr.attach_flags |= BPF_F_REPLACE;
		attr.replace_bpf_fd = (uint32_t)replace;
	}
	if (bpf(BPF_PROG_ATTACH, &attr) < 0) {
		int err = errno;
		fail(e, err, "bpf(BPF_PROG_ATTACH%s) of the device program to %s", replace >= 0 ? ", BPF_F_REPLACE" : "", dir);
		errno = err; /* the caller tells a kernel without BPF_F_REPLACE by it */
		return -1;
	}
	return 0;
}

static int detach(int cgfd, int prog, struct cerr *e, const char *dir)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.target_fd = (uint32_t)cgfd;
	attr.attach_bpf_fd = (uint32_t)prog;
	attr.attach_type = BPF_CGROUP_DEVICE;
	if (bpf(BPF_PROG_DETACH, &attr) < 0)
		return fail(e, errno, "bpf(BPF_PROG_DETACH) of the old device program from %s", dir);
	return 0;
}

static int apply_v2(const char *dir, const struct device_rule *rules, size_t n, struct cerr *e)
{
	int prog = load_program(rules, n, e);
	if (prog < 0)
		return -1;
	int cgfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0) {
		close(prog);
		return fail(e, errno, "open %s", dir);
	}
	uint32_t ids[64], count = 0;
	int old[64], nold = 0, rc = -1;
	if (attached(cgfd, ids, 64, &count, e, dir) < 0)
		goto out;
	for (uint32_t i = 0; i < count; i++) {
		int fd = ours(ids[i]);
		if (fd >= 0)
			old[nold++] = fd;
	}
	if (nold == 0) {
		rc = attach(cgfd, prog, -1, e, dir);
		goto out;
	}
	/* Replace the first in place: the cgroup is never without a program. Before Linux 5.6
	 * (no BPF_F_REPLACE: EINVAL) the new one is attached beside it, both checked, then the old
	 * one detached. */
	if (attach(cgfd, prog, old[0], e, dir) < 0) {
		if (errno != EINVAL || attach(cgfd, prog, -1, e, dir) < 0)
			goto out;
		if (detach(cgfd, old[0], e, dir) < 0)
			goto out;
	}
	rc = 0;
	for (int i = 1; i < nold && rc == 0; i++) /* more of ours (an interrupted update): they go too */
		rc = detach(cgfd, old[i], e, dir);
out:
	for (int i = 0; i < nold; i++)
		close(old[i]);
	close(cgfd);
	close(prog); /* an attached program stays with its cgroup */
	return rc;
}

int devices_apply(const char *dir, bool v2, const struct device_rule *rules, size_t n, struct cerr *e)
{
	return v2 ? apply_v2(dir, rules, n, e) : apply_v1(dir, rules, n, e);
}
