#include "caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *const cap_names[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
};
#define NCAPS ((int)(sizeof cap_names / sizeof cap_names[0]))

/* The capabilities this process may still grant: its own bounding set. */
static uint64_t held_bounding(void)
{
	uint64_t mask = 0;
	for (int i = 0; i < 64; i++) {
		int r = prctl(PR_CAPBSET_READ, i, 0, 0, 0);
		if (r < 0)
			break; /* EINVAL past the kernel's last capability */
		if (r == 1)
			mask |= UINT64_C(1) << i;
	}
	return mask;
}

static int parse_set(const struct json *caps, const char *key, uint64_t *mask, struct cerr *e)
{
	*mask = 0;
	const struct json *arr = json_get(caps, key);
	if (!arr || arr->type == JSON_NULL)
		return 0;
	if (arr->type != JSON_ARRAY)
		return refuse(e, 0, "config.json: process.capabilities.%s: not an array", key);
	for (const struct json *c = arr->child; c; c = c->next) {
		if (c->type != JSON_STRING)
			return refuse(e, 0, "config.json: process.capabilities.%s: not a string", key);
		int found = -1;
		for (int i = 0; i < NCAPS; i++)
			if (strcasecmp(c->str, cap_names[i]) == 0 || strcasecmp(c->str, cap_names[i] + 4) == 0)
				found = i;
		if (found < 0)
			return refuse(e, 0, "config.json: process.capabilities.%s: unknown capability '%s'", key, c->str);
		*mask |= UINT64_C(1) << found;
	}
	return 0;
}

int caps_parse(const struct json *caps, struct capsets *out, struct cerr *e)
{
	memset(out, 0, sizeof *out);
	if (caps && caps->type != JSON_OBJECT && caps->type != JSON_NULL)
		return refuse(e, 0, "config.json: process.capabilities: not an object");
	if (parse_set(caps, "bounding", &out->bounding, e) < 0 || parse_set(caps, "effective", &out->effective, e) < 0 ||
	    parse_set(caps, "permitted", &out->permitted, e) < 0 ||
	    parse_set(caps, "inheritable", &out->inheritable, e) < 0 || parse_set(caps, "ambient", &out->ambient, e) < 0)
		return -1;
	uint64_t held = held_bounding();
	out->unavailable = (out->bounding | out->effective | out->permitted | out->inheritable | out->ambient) & ~held;
	out->bounding &= held;
	out->effective &= held;
	out->permitted &= held;
	out->inheritable &= held;
	out->ambient &= held;
	return 0;
}

int caps_drop_bounding(const struct capsets *c, struct cerr *e)
{
	for (int i = 0; i < 64; i++) {
		int r = prctl(PR_CAPBSET_READ, i, 0, 0, 0);
		if (r < 0)
			break;
		if (r == 1 && !(c->bounding & (UINT64_C(1) << i)) && prctl(PR_CAPBSET_DROP, i, 0, 0, 0) < 0)
			return fail(e, errno, "prctl(PR_CAPBSET_DROP, %s)", i < NCAPS ? cap_names[i] : "?");
	}
	return 0;
}

int caps_apply(const struct capsets *c, struct cerr *e)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];
	data[0].effective = (uint32_t)c->effective;
	data[1].effective = (uint32_t)(c->effective >> 32);
	data[0].permitted = (uint32_t)c->permitted;
	data[1].permitted = (uint32_t)(c->permitted >> 32);
	data[0].inheritable = (uint32_t)c->inheritable;
	data[1].inheritable = (uint32_t)(c->inheritable >> 32);
	if (syscall(SYS_capset, &hdr, data) < 0)
		return fail(e, errno, "capset");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return fail(e, errno, "prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
	for (int i = 0; i < NCAPS; i++)
		if ((c->ambient & (UINT64_C(1) << i)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, i, 0, 0) < 0)
			return fail(e, errno, "prctl(PR_CAP_AMBIENT_RAISE, %s)", cap_names[i]);
	return 0;
}

void caps_names(uint64_t mask, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	for (int i = 0; i < 64 && n < len; i++)
		if (mask & (UINT64_C(1) << i)) {
			int w = snprintf(buf + n, len - n, "%s%s", n ? "," : "", i < NCAPS ? cap_names[i] : "?");
			if (w < 0)
				break;
			n += (size_t)w;
		}
}
