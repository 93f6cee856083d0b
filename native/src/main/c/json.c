#include "json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
	const char *s; /* NUL-terminated, no NUL before its end (json_parse checks) */
	size_t pos;
	char *err;
	size_t errlen;
	int depth;
};

static struct json *parse_value(struct parser *p);

static void *perror_at(struct parser *p, const char *what)
{
	if (p->err[0] == '\0')
		snprintf(p->err, p->errlen, "offset %zu: %s", p->pos, what);
	return NULL;
}

static void skip_ws(struct parser *p)
{
	while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r')
		p->pos++;
}

static struct json *node(enum json_type t)
{
	struct json *j = calloc(1, sizeof *j);
	if (j)
		j->type = t;
	return j;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int read_hex4(struct parser *p, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(p->s[p->pos + (size_t)i]);
		if (h < 0)
			return -1;
		v = v * 16 + (unsigned)h;
	}
	p->pos += 4;
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	} else if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	} else if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* The length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0. Stops at a NUL, which is never a continuation byte. */
static size_t utf8_len(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n;
	unsigned lo = 0x80, hi = 0xBF; /* the range of the second byte */
	if (u[0] >= 0xC2 && u[0] <= 0xDF)
		n = 2;
	else if (u[0] >= 0xE0 && u[0] <= 0xEF) {
		n = 3;
		if (u[0] == 0xE0)
			lo = 0xA0; /* overlong */
		else if (u[0] == 0xED)
			hi = 0x9F; /* U+D800..U+DFFF */
	} else if (u[0] >= 0xF0 && u[0] <= 0xF4) {
		n = 4;
		if (u[0] == 0xF0)
			lo = 0x90; /* overlong */
		else if (u[0] == 0xF4)
			hi = 0x8F; /* above U+10FFFF */
	} else
		return 0;
	if (u[1] < lo || u[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (u[i] < 0x80 || u[i] > 0xBF)
			return 0;
	return n;
}

/* Parses a string starting at the opening quote; returns a malloc'd UTF-8 string. */
static char *parse_string(struct parser *p)
{
	if (p->s[p->pos] != '"')
		return perror_at(p, "expected a string");
	p->pos++;
	size_t start = p->pos, n = 0;
	/* The decoded string is never longer than the source text. */
	while (p->s[start + n] && p->s[start + n] != '"') {
		if (p->s[start + n] == '\\' && p->s[start + n + 1])
			n++;
		n++;
	}
	char *out = malloc(n + 1), *o = out;
	if (!out)
		return perror_at(p, "out of memory");
	for (;;) {
		char c = p->s[p->pos];
		if (c == '\0') {
			free(out);
			return perror_at(p, "unterminated string");
		}
		if ((unsigned char)c < 0x20) {
			free(out);
			return perror_at(p, "control character in string");
		}
		p->pos++;
		if (c == '"')
			break;
		if ((unsigned char)c >= 0x80) {
			size_t n = utf8_len(p->s + p->pos - 1);
			if (n == 0) {
				p->pos--;
				free(out);
				return perror_at(p, "invalid UTF-8 in string");
			}
			memcpy(o, p->s + p->pos - 1, n);
			o += n;
			p->pos += n - 1;
			continue;
		}
		if (c != '\\') {
			*o++ = c;
			continue;
		}
		c = p->s[p->pos++];
		switch (c) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '/': *o++ = '/'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u': {
			unsigned cp, lo;
			size_t esc = p->pos - 2; /* errors name where the escape starts */
			if (read_hex4(p, &cp) < 0) {
				free(out);
				p->pos = esc;
				return perror_at(p, "bad \\u escape");
			}
			if (cp >= 0xDC00 && cp <= 0xDFFF) {
				free(out);
				p->pos = esc;
				return perror_at(p, "lone low surrogate in \\u escape");
			}
			if (cp >= 0xD800 && cp < 0xDC00) {
				if (p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
					free(out);
					p->pos = esc;
					return perror_at(p, "lone high surrogate in \\u escape");
				}
				p->pos += 2;
				if (read_hex4(p, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF) {
					free(out);
					p->pos = esc;
					return perror_at(p, "bad surrogate pair");
				}
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			}
			if (cp == 0) {
				free(out);
				p->pos = esc;
				return perror_at(p, "NUL in string");
			}
			o += put_utf8(o, cp);
			break;
		}
		default:
			free(out);
			return perror_at(p, "bad escape");
		}
	}
	*o = '\0';
	return out;
}

/* A number in the strict JSON grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? (no hex, inf,
 * nan, '+' or leading zeros, all of which strtod would take). Integers without a fraction or an
 * exponent are also read exactly, with overflow detected, into integer and uinteger. */
static struct json *parse_number(struct parser *p)
{
	const char *start = p->s + p->pos, *c = start;
	bool negative = *c == '-', integral = true;
	if (negative)
		c++;
	if (*c == '0')
		c++;
	else if (*c >= '1' && *c <= '9')
		while (*c >= '0' && *c <= '9')
			c++;
	else
		return perror_at(p, "bad number");
	const char *digits_end = c;
	if (*c == '.') {
		integral = false;
		if (!(*++c >= '0' && *c <= '9'))
			return perror_at(p, "bad number: no digit after '.'");
		while (*c >= '0' && *c <= '9')
			c++;
	}
	if (*c == 'e' || *c == 'E') {
		integral = false;
		if (*++c == '+' || *c == '-')
			c++;
		if (!(*c >= '0' && *c <= '9'))
			return perror_at(p, "bad number: no digit in the exponent");
		while (*c >= '0' && *c <= '9')
			c++;
	}
	size_t len = (size_t)(c - start);
	char text[512];
	if (len >= sizeof text)
		return perror_at(p, "number too long");
	memcpy(text, start, len);
	text[len] = '\0';
	struct json *j = node(JSON_NUMBER);
	if (!j)
		return perror_at(p, "out of memory");
	j->num = strtod(text, NULL);
	if (integral) {
		uint64_t mag = 0;
		bool overflow = false;
		for (const char *d = start + negative; d < digits_end; d++) {
			unsigned digit = (unsigned)(*d - '0');
			if (mag > (UINT64_MAX - digit) / 10)
				overflow = true;
			else
				mag = mag * 10 + digit;
		}
		if (!overflow && !negative) {
			j->uinteger = mag;
			j->is_unsigned = true;
		}
		if (!overflow && (negative ? mag <= (uint64_t)INT64_MAX + 1 : mag <= (uint64_t)INT64_MAX)) {
			j->integer = negative ? (int64_t)(0 - mag) : (int64_t)mag;
			j->is_integer = true;
		}
	}
	p->pos += len;
	return j;
}

static struct json *parse_container(struct parser *p, bool object)
{
	struct json *j = node(object ? JSON_OBJECT : JSON_ARRAY), **tail;
	if (!j)
		return perror_at(p, "out of memory");
	if (++p->depth > JSON_MAX_DEPTH) {
		json_free(j);
		return perror_at(p, "nested too deeply");
	}
	tail = &j->child;
	p->pos++;
	skip_ws(p);
	char close = object ? '}' : ']';
	if (p->s[p->pos] == close) {
		p->pos++;
		p->depth--;
		return j;
	}
	for (;;) {
		char *key = NULL;
		skip_ws(p);
		if (object) {
			key = parse_string(p);
			if (!key)
				goto fail;
			skip_ws(p);
			if (p->s[p->pos] != ':') {
				free(key);
				perror_at(p, "expected ':'");
				goto fail;
			}
			p->pos++;
		}
		struct json *v = parse_value(p);
		if (!v) {
			free(key);
			goto fail;
		}
		v->key = key;
		*tail = v;
		tail = &v->next;
		skip_ws(p);
		if (p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->s[p->pos] == close) {
			p->pos++;
			p->depth--;
			return j;
		}
		perror_at(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
		goto fail;
	}
fail:
	json_free(j);
	return NULL;
}

static struct json *parse_value(struct parser *p)
{
	skip_ws(p);
	char c = p->s[p->pos];
	if (c == '{' || c == '[')
		return parse_container(p, c == '{');
	if (c == '"') {
		char *s = parse_string(p);
		if (!s)
			return NULL;
		struct json *j = node(JSON_STRING);
		if (!j) {
			free(s);
			return perror_at(p, "out of memory");
		}
		j->str = s;
		return j;
	}
	if (c == '-' || (c >= '0' && c <= '9'))
		return parse_number(p);
	static const struct {
		const char *word;
		enum json_type type;
		bool value;
	} words[] = {{"true", JSON_BOOL, true}, {"false", JSON_BOOL, false}, {"null", JSON_NULL, false}};
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		size_t n = strlen(words[i].word);
		if (strncmp(p->s + p->pos, words[i].word, n) == 0) {
			struct json *j = node(words[i].type);
			if (!j)
				return perror_at(p, "out of memory");
			j->boolean = words[i].value;
			p->pos += n;
			return j;
		}
	}
	return perror_at(p, "unexpected character");
}

struct json *json_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct parser p = {.s = text, .err = err, .errlen = errlen};
	err[0] = '\0';
	if (len > JSON_MAX_TEXT)
		return perror_at(&p, "document larger than 32 MiB");
	const char *nul = memchr(text, '\0', len);
	if (nul) {
		p.pos = (size_t)(nul - text);
		return perror_at(&p, "NUL byte in the document");
	}
	if (text[len] != '\0') {
		p.pos = len;
		return perror_at(&p, "text not NUL-terminated at its length");
	}
	struct json *j = parse_value(&p);
	if (!j)
		return NULL;
	skip_ws(&p);
	if (p.s[p.pos] != '\0') {
		json_free(j);
		return perror_at(&p, "trailing characters");
	}
	return j;
}

void json_free(struct json *j)
{
	while (j) {
		struct json *next = j->next;
		json_free(j->child);
		free(j->key);
		free(j->str);
		free(j);
		j = next;
	}
}

const struct json *json_get(const struct json *obj, const char *key)
{
	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	for (const struct json *m = obj->child; m; m = m->next)
		if (strcmp(m->key, key) == 0)
			return m;
	return NULL;
}

const char *json_get_str(const struct json *obj, const char *key)
{
	const struct json *v = json_get(obj, key);
	return v && v->type == JSON_STRING ? v->str : NULL;
}

bool json_id(const struct json *v, uint32_t *out)
{
	if (!v || v->type != JSON_NUMBER || !v->is_integer || v->integer < 0 || v->integer > JSON_ID_MAX)
		return false;
	*out = (uint32_t)v->integer;
	return true;
}

void json_describe(const struct json *v, char *buf, size_t len)
{
	static const char *const names[] = {"null", "a boolean", "a number", "a string", "an array", "an object"};
	if (v && v->type == JSON_NUMBER && v->is_integer)
		snprintf(buf, len, "%lld", (long long)v->integer);
	else if (v && v->type == JSON_NUMBER && v->is_unsigned)
		snprintf(buf, len, "%llu", (unsigned long long)v->uinteger);
	else if (v && v->type == JSON_NUMBER)
		snprintf(buf, len, "%.17g", v->num);
	else
		snprintf(buf, len, "%s", v ? names[v->type] : "missing");
}

size_t json_len(const struct json *arr)
{
	size_t n = 0;
	if (arr && (arr->type == JSON_ARRAY || arr->type == JSON_OBJECT))
		for (const struct json *c = arr->child; c; c = c->next)
			n++;
	return n;
}
