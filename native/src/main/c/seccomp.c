#include "seccomp.h"

#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>

static int parse_action(const char *name, const struct json *errno_ret, uint32_t *out)
{
	uint32_t eno = EPERM;
	if (errno_ret && errno_ret->is_integer)
		eno = (uint32_t)errno_ret->integer;
	if (strcmp(name, "SCMP_ACT_ALLOW") == 0)
		*out = SCMP_ACT_ALLOW;
	else if (strcmp(name, "SCMP_ACT_ERRNO") == 0)
		*out = SCMP_ACT_ERRNO(eno);
	else if (strcmp(name, "SCMP_ACT_KILL") == 0 || strcmp(name, "SCMP_ACT_KILL_THREAD") == 0)
		*out = SCMP_ACT_KILL_THREAD;
	else if (strcmp(name, "SCMP_ACT_KILL_PROCESS") == 0)
		*out = SCMP_ACT_KILL_PROCESS;
	else if (strcmp(name, "SCMP_ACT_TRAP") == 0)
		*out = SCMP_ACT_TRAP;
	else if (strcmp(name, "SCMP_ACT_TRACE") == 0)
		*out = SCMP_ACT_TRACE(eno);
	else if (strcmp(name, "SCMP_ACT_LOG") == 0)
		*out = SCMP_ACT_LOG;
	else
		return -1;
	return 0;
}

static int parse_op(const char *name, enum scmp_compare *out)
{
	static const struct {
		const char *name;
		enum scmp_compare op;
	} ops[] = {{"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT}, {"SCMP_CMP_LE", SCMP_CMP_LE},
		   {"SCMP_CMP_EQ", SCMP_CMP_EQ}, {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
		   {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ}};
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
		if (strcmp(name, ops[i].name) == 0) {
			*out = ops[i].op;
			return 0;
		}
	return -1;
}

static int parse_arch(const char *name, uint32_t *out)
{
	static const struct {
		const char *name;
		uint32_t arch;
	} arches[] = {{"SCMP_ARCH_X86", SCMP_ARCH_X86},         {"SCMP_ARCH_X86_64", SCMP_ARCH_X86_64},
		      {"SCMP_ARCH_X32", SCMP_ARCH_X32},         {"SCMP_ARCH_ARM", SCMP_ARCH_ARM},
		      {"SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64}};
	for (size_t i = 0; i < sizeof arches / sizeof arches[0]; i++)
		if (strcmp(name, arches[i].name) == 0) {
			*out = arches[i].arch;
			return 0;
		}
	return -1;
}

/* Syscalls newer than this libseccomp (2.5.4 knows up to futex_requeue, 456). From 424 on, the
 * kernel numbers new syscalls alike on x86_64, i386, arm, arm64 and riscv, so one number serves
 * the native architecture of every host Coracle runs on. */
static const struct {
	const char *name;
	int nr;
} newer_syscalls[] = {{"statmount", 457},     {"listmount", 458},        {"lsm_get_self_attr", 459},
		      {"lsm_set_self_attr", 460}, {"lsm_list_modules", 461}, {"mseal", 462},
		      {"setxattrat", 463},    {"getxattrat", 464},       {"listxattrat", 465},
		      {"removexattrat", 466}, {"open_tree_attr", 467},   {"file_getattr", 468},
		      {"file_setattr", 469}};

/* Native syscall numbers above the highest the profile names, up to this bound, fail with
 * ENOSYS instead of the default action, so a libc probing a syscall newer than the profile
 * falls back as on a kernel without it (runc and crun do the same). */
#define ENOSYS_BOUND 512

static int native_nr(const char *name)
{
	int nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_NATIVE, name);
	if (nr != __NR_SCMP_ERROR)
		return nr;
	for (size_t i = 0; i < sizeof newer_syscalls / sizeof newer_syscalls[0]; i++)
		if (strcmp(name, newer_syscalls[i].name) == 0)
			return newer_syscalls[i].nr;
	return __NR_SCMP_ERROR;
}

/* Adds linux.seccomp.syscalls to ctx. native: ctx holds only the native architecture, where a
 * syscall libseccomp cannot name is added by number (*max_nr: the highest one named). */
static int add_rules(scmp_filter_ctx ctx, const struct json *sc, uint32_t def_action, int native, int *max_nr,
		     struct cerr *e)
{
	const struct json *rules = json_get(sc, "syscalls");
	size_t ri = 0;
	for (const struct json *r = rules ? rules->child : NULL; r; r = r->next, ri++) {
		const char *act = json_get_str(r, "action");
		uint32_t action;
		if (!act || parse_action(act, json_get(r, "errnoRet"), &action) < 0)
			return refuse(e, 0, "config.json: linux.seccomp.syscalls[%zu].action: missing or unknown", ri);
		struct scmp_arg_cmp cmps[6];
		unsigned ncmp = 0;
		const struct json *args = json_get(r, "args");
		for (const struct json *a = args ? args->child : NULL; a; a = a->next) {
			const struct json *idx = json_get(a, "index"), *val = json_get(a, "value"),
					  *two = json_get(a, "valueTwo");
			const char *op = json_get_str(a, "op");
			enum scmp_compare cmp;
			if (ncmp == 6 || !idx || !idx->is_integer || idx->integer < 0 || idx->integer > 5 || !val || !op ||
			    parse_op(op, &cmp) < 0)
				return refuse(e, 0, "config.json: linux.seccomp.syscalls[%zu].args: bad argument rule", ri);
			if (!(val->is_unsigned || val->is_integer) || (two && !(two->is_unsigned || two->is_integer)))
				return refuse(e, 0, "config.json: linux.seccomp.syscalls[%zu].args: value must be an integer",
					    ri);
			cmps[ncmp++] = (struct scmp_arg_cmp){
				.arg = (unsigned)idx->integer,
				.op = cmp,
				.datum_a = val->is_unsigned ? (scmp_datum_t)val->uinteger : (scmp_datum_t)val->integer,
				.datum_b = !two ? 0 : two->is_unsigned ? (scmp_datum_t)two->uinteger : (scmp_datum_t)two->integer};
		}
		const struct json *names = json_get(r, "names");
		for (const struct json *n = names ? names->child : NULL; n; n = n->next) {
			if (n->type != JSON_STRING)
				continue;
			int nr = native ? native_nr(n->str) : seccomp_syscall_resolve_name(n->str);
			if (nr == __NR_SCMP_ERROR || nr < 0)
				continue; /* unknown on this kernel/arch: as runc, skip it */
			if (native && nr > *max_nr)
				*max_nr = nr;
			if (action == def_action)
				continue; /* libseccomp refuses rules equal to the default */
			int rc = seccomp_rule_add_array(ctx, action, nr, ncmp, cmps);
			if (rc < 0)
				return fail(e, -rc, "seccomp_rule_add %s (linux.seccomp.syscalls[%zu])", n->str, ri);
		}
	}
	return 0;
}

static scmp_filter_ctx new_ctx(uint32_t def_action, struct cerr *e)
{
	scmp_filter_ctx ctx = seccomp_init(def_action);
	if (!ctx) {
		fail(e, 0, "seccomp_init failed");
		return NULL;
	}
	/* no_new_privs follows process.noNewPrivileges alone (process.c), never the filter. */
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (rc < 0) {
		seccomp_release(ctx);
		fail(e, -rc, "seccomp_attr_set(SCMP_FLTATR_CTL_NNP, 0)");
		return NULL;
	}
	return ctx;
}

/* The native architecture's filter and the other listed architectures' are built apart and
 * merged: libseccomp adds a rule by bare number (a syscall newer than itself, the ENOSYS range)
 * only to a filter holding the native architecture alone. */
int seccomp_build(const struct json *spec, void **out, struct cerr *e)
{
	*out = NULL;
	const struct json *sc = json_get(json_get(spec, "linux"), "seccomp");
	if (!sc || sc->type == JSON_NULL)
		return 0;
	const char *def = json_get_str(sc, "defaultAction");
	uint32_t def_action;
	if (!def || parse_action(def, json_get(sc, "defaultErrnoRet"), &def_action) < 0)
		return refuse(e, 0, "config.json: linux.seccomp.defaultAction: missing or unknown '%s'", def ? def : "");
	scmp_filter_ctx ctx = new_ctx(def_action, e), other = NULL;
	if (!ctx)
		return -1;
	int rc;
	const struct json *arches = json_get(sc, "architectures");
	for (const struct json *a = arches ? arches->child : NULL; a; a = a->next) {
		uint32_t arch;
		if (a->type != JSON_STRING || parse_arch(a->str, &arch) < 0) {
			refuse(e, 0, "config.json: linux.seccomp.architectures: unknown '%s'",
			     a->type == JSON_STRING ? a->str : "?");
			goto err;
		}
		if (arch == seccomp_arch_native())
			continue;
		if (!other) {
			if (!(other = new_ctx(def_action, e)))
				goto err;
			if ((rc = seccomp_arch_remove(other, SCMP_ARCH_NATIVE)) < 0) {
				fail(e, -rc, "seccomp_arch_remove native");
				goto err;
			}
		}
		if ((rc = seccomp_arch_add(other, arch)) < 0 && rc != -EEXIST) {
			fail(e, -rc, "seccomp_arch_add %s", a->str);
			goto err;
		}
	}
	int max_nr = -1;
	if (add_rules(ctx, sc, def_action, 1, &max_nr, e) < 0 || (other && add_rules(other, sc, def_action, 0, NULL, e) < 0))
		goto err;
	if (def_action != SCMP_ACT_ALLOW && def_action != SCMP_ACT_LOG && max_nr >= 0)
		for (int nr = max_nr + 1; nr < ENOSYS_BOUND; nr++)
			if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0)) < 0) {
				fail(e, -rc, "seccomp_rule_add %d (ENOSYS)", nr);
				goto err;
			}
	if (other) {
		if ((rc = seccomp_merge(ctx, other)) < 0) {
			fail(e, -rc, "seccomp_merge");
			goto err;
		}
		other = NULL; /* merged into ctx, and released by libseccomp */
	}
	*out = ctx;
	return 0;
err:
	seccomp_release(ctx);
	if (other)
		seccomp_release(other);
	return -1;
}

int seccomp_load_filter(void *ctx, struct cerr *e)
{
	if (!ctx)
		return 0;
	int rc = seccomp_load(ctx);
	if (rc < 0)
		return fail(e, -rc, "seccomp_load");
	return 0;
}

void seccomp_free(void *ctx)
{
	if (ctx)
		seccomp_release(ctx);
}
