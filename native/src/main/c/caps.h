/* Capabilities: the five sets of process.capabilities, clamped to what the shim holds. */
#ifndef CORACLE_CAPS_H
#define CORACLE_CAPS_H
#include <stdint.h>
#include "error.h"
#include "json.h"

struct capsets {
	uint64_t bounding, effective, permitted, inheritable, ambient;
	uint64_t unavailable; /* asked for but missing from the shim's bounding set */
};

/* Reads process.capabilities (absent: all sets empty). Capabilities the shim itself lacks
 * are left out and listed in unavailable; unknown names are an error. */
int caps_parse(const struct json *caps, struct capsets *out, struct cerr *e);
/* Drops every capability outside the bounding set; call while still privileged. */
int caps_drop_bounding(const struct capsets *c, struct cerr *e);
/* Sets effective, permitted, inheritable and ambient; call after the uid switch
 * (done with PR_SET_KEEPCAPS). */
int caps_apply(const struct capsets *c, struct cerr *e);
/* Comma-separated names of the capabilities in mask, into buf. */
void caps_names(uint64_t mask, char *buf, size_t len);
#endif
