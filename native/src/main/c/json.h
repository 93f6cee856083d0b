/* A small JSON reader for config.json and process.json: a tree of nodes. */
#ifndef CORACLE_JSON_H
#define CORACLE_JSON_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json {
	enum json_type type;
	char *key;           /* the member name when inside an object */
	char *str;           /* JSON_STRING */
	double num;          /* JSON_NUMBER */
	int64_t integer;     /* JSON_NUMBER, when integral and within int64 */
	bool is_integer;
	uint64_t uinteger;   /* JSON_NUMBER, when integral and >= 0 (up to UINT64_MAX) */
	bool is_unsigned;
	bool boolean;        /* JSON_BOOL */
	struct json *child;  /* first element or member */
	struct json *next;   /* next sibling */
};

/* Limits of a document: its size in bytes and how deep arrays and objects nest. */
#define JSON_MAX_TEXT (32u << 20)
#define JSON_MAX_DEPTH 64
/* Parses the len bytes at text, which must be followed by a NUL (text[len] == '\0', as read_file
 * leaves it). Strict RFC 8259: strings are valid UTF-8 (escapes too: no lone surrogates) and hold
 * no NUL (a raw NUL byte anywhere, or \u0000, is refused rather than cut the string short). On
 * error returns NULL and writes "offset N: reason" into err. */
struct json *json_parse(const char *text, size_t len, char *err, size_t errlen);
void json_free(struct json *j);
/* Member of an object, or NULL (also when obj is NULL or not an object). */
const struct json *json_get(const struct json *obj, const char *key);
/* Member that is a string, or NULL. */
const char *json_get_str(const struct json *obj, const char *key);
size_t json_len(const struct json *arr);
/* The largest uid or gid taken (2^31-1, as runc's): larger ones, or -1 as (uid_t)-1, are refused. */
#define JSON_ID_MAX 2147483647
/* v as a uid or gid: an integer written without fraction or exponent, in 0..JSON_ID_MAX. */
bool json_id(const struct json *v, uint32_t *out);
/* What v is, for an error message: the number as written (integers exactly), or its type. */
void json_describe(const struct json *v, char *buf, size_t len);
#endif
