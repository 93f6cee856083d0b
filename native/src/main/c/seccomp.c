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

int seccomp_build(const struct json *spec, void **out, struct cerr *e)
{
	*out = NULL;
	const struct json *sc = json_get(json_get(spec, "linux"), "seccomp");
	if (!sc || sc->type == JSON_NULL)
		return 0;
	const char *def = json_get_str(sc, "defaultAction");
	uint32_t def_action;
	if (!def || parse_action(def, json_get(sc, "defaultErrnoRet"), &def_action) < 0)
		return fail(e, 0, "config.json: linux.seccomp.defaultAction: missing or unknown '%s'", def ? def : "");
	scmp_filter_ctx ctx = seccomp_init(def_action);
	if (!ctx)
		return fail(e, 0, "seccomp_init failed");
	int rc;
	const struct json *arches = json_get(sc, "architectures");
	for (const struct json *a = arches ? arches->child : NULL; a; a = a->next) {
		uint32_t arch;
		if (a->type != JSON_STRING || parse_arch(a->str, &arch) < 0) {
			seccomp_release(ctx);
			return fail(e, 0, "config.json: linux.seccomp.architectures: unknown '%s'",
				    a->type == JSON_STRING ? a->str : "?");
		}
		if ((rc = seccomp_arch_add(ctx, arch)) < 0 && rc != -EEXIST) {
			seccomp_release(ctx);
			return fail(e, -rc, "seccomp_arch_add %s", a->str);
		}
	}
	const struct json *rules = json_get(sc, "syscalls");
	size_t ri = 0;
	for (const struct json *r = rules ? rules->child : NULL; r; r = r->next, ri++) {
		const char *act = json_get_str(r, "action");
		uint32_t action;
		if (!act || parse_action(act, json_get(r, "errnoRet"), &action) < 0) {
			seccomp_release(ctx);
			return fail(e, 0, "config.json: linux.seccomp.syscalls[%zu].action: missing or unknown", ri);
		}
		if (action == def_action)
			continue; /* libseccomp refuses rules equal to the default */
		struct scmp_arg_cmp cmps[6];
		unsigned ncmp = 0;
		const struct json *args = json_get(r, "args");
		for (const struct json *a = args ? args->child : NULL; a; a = a->next) {
			const struct json *idx = json_get(a, "index"), *val = json_get(a, "value"),
					  *two = json_get(a, "valueTwo");
			const char *op = json_get_str(a, "op");
			enum scmp_compare cmp;
			if (ncmp == 6 || !idx || !idx->is_integer || !val || !op || parse_op(op, &cmp) < 0) {
				seccomp_release(ctx);
				return fail(e, 0, "config.json: linux.seccomp.syscalls[%zu].args: bad argument rule", ri);
			}
			if (!(val->is_unsigned || val->is_integer) || (two && !(two->is_unsigned || two->is_integer))) {
				seccomp_release(ctx);
				return fail(e, 0, "config.json: linux.seccomp.syscalls[%zu].args: value must be an integer", ri);
			}
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
			int nr = seccomp_syscall_resolve_name(n->str);
			if (nr == __NR_SCMP_ERROR)
				continue; /* unknown on this kernel/arch: as runc, skip it */
			rc = seccomp_rule_add_array(ctx, action, nr, ncmp, cmps);
			if (rc < 0) {
				seccomp_release(ctx);
				return fail(e, -rc, "seccomp_rule_add %s (linux.seccomp.syscalls[%zu])", n->str, ri);
			}
		}
	}
	*out = ctx;
	return 0;
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
