/* Tests of the shim's JSON reader (json.c): documents read back through the getters, and what a
 * hostile or broken config.json could hold: malformed text, deep nesting, huge values, NUL
 * bytes, bad UTF-8 and surrogates, numbers at the edges. Built with the sanitizers when the
 * compiler has them (see the Makefile's test target); exits 1 if any check fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define TEST_NAME "json_test"
#include "check.h"

static char err[256];

/* Parses len bytes copied into a buffer of exactly len + 1 bytes (so the sanitizer sees any read
 * past the terminating NUL). */
static struct json *parse_n(const char *text, size_t len)
{
	char *buf = malloc(len + 1);
	if (!buf) {
		perror("malloc");
		exit(2);
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	struct json *j = json_parse(buf, len, err, sizeof err);
	free(buf);
	return j;
}

static struct json *parse(const char *text)
{
	return parse_n(text, strlen(text));
}

/* text must be refused with an error naming an offset and containing reason. */
static void refused_n(int line, const char *text, size_t len, const char *reason)
{
	struct json *j = parse_n(text, len);
	checks++;
	if (j || strncmp(err, "offset ", 7) != 0 || !strstr(err, reason)) {
		failures++;
		fprintf(stderr, "json_test:%d: FAILED: '%.60s' should be refused with '%s', got %s '%s'\n", line,
			text, reason, j ? "a document" : "error", j ? "" : err);
	}
	json_free(j);
}
#define REFUSED(text, reason) refused_n(__LINE__, text, strlen(text), reason)
#define REFUSED_N(text, len, reason) refused_n(__LINE__, text, len, reason)

/* The single string value of text, decoded, compared with want. */
static void string_is(int line, const char *text, const char *want)
{
	struct json *j = parse(text);
	checks++;
	if (!j || j->type != JSON_STRING || strcmp(j->str, want) != 0) {
		failures++;
		fprintf(stderr, "json_test:%d: FAILED: %s should decode to '%s', got %s\n", line, text, want,
			!j ? err : j->type == JSON_STRING ? j->str : "another type");
	}
	json_free(j);
}
#define STRING_IS(text, want) string_is(__LINE__, text, want)

static void test_document_round_trip(void)
{
	struct json *j = parse(" {\"ociVersion\": \"1.2.0\", \"process\": {\"args\": [\"sh\", \"-c\", \"echo hi\"],"
			       " \"user\": {\"uid\": 1000, \"gid\": 0}, \"terminal\": false, \"cwd\": \"/\"},"
			       " \"hostname\": null, \"weight\": -2.5e3, \"empty\": {}, \"none\": [] }\r\n\t");
	CHECK(j && j->type == JSON_OBJECT, "%s", err);
	if (!j)
		return;
	CHECK(json_len(j) == 6, "%zu members", json_len(j));
	CHECK(strcmp(json_get_str(j, "ociVersion"), "1.2.0") == 0, "ociVersion");
	const struct json *proc = json_get(j, "process");
	CHECK(proc && proc->type == JSON_OBJECT && strcmp(proc->key, "process") == 0, "process");
	const struct json *args = json_get(proc, "args");
	CHECK(args && args->type == JSON_ARRAY && json_len(args) == 3, "args");
	const char *want[] = {"sh", "-c", "echo hi"};
	int i = 0;
	for (const struct json *a = args ? args->child : NULL; a; a = a->next, i++)
		CHECK(a->type == JSON_STRING && !a->key && strcmp(a->str, want[i]) == 0, "args[%d]", i);
	uint32_t uid = 7, gid = 7;
	CHECK(json_id(json_get(json_get(proc, "user"), "uid"), &uid) && uid == 1000, "uid %u", uid);
	CHECK(json_id(json_get(json_get(proc, "user"), "gid"), &gid) && gid == 0, "gid %u", gid);
	const struct json *term = json_get(proc, "terminal");
	CHECK(term && term->type == JSON_BOOL && !term->boolean, "terminal");
	CHECK(json_get(j, "hostname") && json_get(j, "hostname")->type == JSON_NULL, "hostname");
	CHECK(json_get_str(j, "hostname") == NULL, "null is not a string");
	const struct json *w = json_get(j, "weight");
	CHECK(w && w->type == JSON_NUMBER && w->num == -2500.0 && !w->is_integer && !w->is_unsigned, "weight");
	CHECK(json_len(json_get(j, "empty")) == 0 && json_get(j, "empty")->type == JSON_OBJECT, "empty");
	CHECK(json_len(json_get(j, "none")) == 0 && json_get(j, "none")->type == JSON_ARRAY, "none");
	CHECK(json_get(j, "missing") == NULL && json_get(NULL, "x") == NULL && json_get(args, "sh") == NULL,
	      "json_get on what is not there");
	CHECK(json_len(NULL) == 0 && json_len(json_get(j, "ociVersion")) == 0, "json_len of a non-container");
	json_free(j);

	struct json *t = parse("[true,false,null,0,\"\"]");
	CHECK(t && json_len(t) == 5 && t->child->boolean && !t->child->next->boolean &&
		      t->child->next->next->type == JSON_NULL && t->child->next->next->next->is_integer &&
		      strcmp(t->child->next->next->next->next->str, "") == 0,
	      "%s", err);
	json_free(t);
	json_free(NULL);
}

static void test_malformed(void)
{
	REFUSED("", "unexpected character");
	REFUSED("   ", "unexpected character");
	REFUSED("{", "expected a string");
	REFUSED("[", "unexpected character");
	REFUSED("[1,", "unexpected character");
	REFUSED("[1,]", "unexpected character");
	REFUSED("[1 2]", "expected ',' or ']'");
	REFUSED("{\"a\":1", "expected ',' or '}'");
	REFUSED("{\"a\"}", "expected ':'");
	REFUSED("{\"a\":}", "unexpected character");
	REFUSED("{\"a\":1,}", "expected a string");
	REFUSED("{a:1}", "expected a string");
	REFUSED("{'a':1}", "expected a string");
	REFUSED("[1]x", "trailing characters");
	REFUSED("[1] [2]", "trailing characters");
	REFUSED("{} // comment", "trailing characters");
	REFUSED("tru", "unexpected character");
	REFUSED("nul", "unexpected character");
	REFUSED("truex", "trailing characters");
	REFUSED("True", "unexpected character");
	REFUSED("\"abc", "unterminated string");
	REFUSED("\"abc\\", "bad escape");
	REFUSED("\"abc\\\"", "unterminated string");
	REFUSED("{\"a", "unterminated string");
	REFUSED("\"\\x41\"", "bad escape");
	REFUSED("\"\\'\"", "bad escape");
	REFUSED("\"\\u12\"", "bad \\u escape");
	REFUSED("\"\\u12G4\"", "bad \\u escape");
	REFUSED("\"\\u", "bad \\u escape");
	REFUSED("\"a\tb\"", "control character");
	REFUSED("\"a\nb\"", "control character");
	REFUSED("\"\x1f\"", "control character");
	/* Surrogates must come in pairs, high then low. */
	REFUSED("\"\\ud800\"", "lone high surrogate");
	REFUSED("\"\\ud800x\"", "lone high surrogate");
	REFUSED("\"\\udbff\\n\"", "lone high surrogate");
	REFUSED("\"\\udc00\"", "lone low surrogate");
	REFUSED("\"\\udfff\\ud800\"", "lone low surrogate");
	REFUSED("\"\\ud800\\u0041\"", "bad surrogate pair");
	REFUSED("\"\\ud800\\ud800\"", "bad surrogate pair");
	REFUSED("\"\\ud800\\u", "bad surrogate pair");
	/* Raw bytes must be well-formed UTF-8. */
	REFUSED("\"\xc3\"", "invalid UTF-8");
	REFUSED("\"\xc3(\"", "invalid UTF-8");
	REFUSED("\"\xc0\xaf\"", "invalid UTF-8");         /* overlong '/' */
	REFUSED("\"\xe0\x80\xaf\"", "invalid UTF-8");     /* overlong '/' */
	REFUSED("\"\xf0\x80\x80\xaf\"", "invalid UTF-8"); /* overlong '/' */
	REFUSED("\"\xed\xa0\x80\"", "invalid UTF-8");     /* U+D800 encoded */
	REFUSED("\"\xf4\x90\x80\x80\"", "invalid UTF-8"); /* above U+10FFFF */
	REFUSED("\"\xe2\x82\"", "invalid UTF-8");         /* truncated */
	REFUSED("\"\xe2\x82", "invalid UTF-8");
	REFUSED("\"\xff\"", "invalid UTF-8");
	REFUSED("\"\x80\"", "invalid UTF-8");
	REFUSED("{\"k\xfe\":1}", "invalid UTF-8");
	REFUSED("\xef\xbb\xbf{}", "unexpected character"); /* a byte-order mark is not JSON */
	REFUSED("[1]\x80", "trailing characters");
	/* The offset names where it went wrong. */
	CHECK(!parse("[1,2,x]") && strncmp(err, "offset 5:", 9) == 0, "%s", err);
}

static void test_deep_nesting(void)
{
	enum { N = 100000 };
	char *deep = malloc(2 * N + 1);
	if (!deep)
		exit(2);
	memset(deep, '[', N);
	memset(deep + N, ']', N);
	deep[2 * N] = '\0';
	REFUSED(deep, "nested too deeply");
	REFUSED_N(deep, N, "nested too deeply");
	/* Exactly the limit parses; one more does not. */
	char *ok = deep + N - JSON_MAX_DEPTH;
	ok[2 * JSON_MAX_DEPTH] = '\0';
	struct json *j = parse(ok);
	CHECK(j && j->type == JSON_ARRAY, "%d deep: %s", JSON_MAX_DEPTH, err);
	json_free(j);
	ok[2 * JSON_MAX_DEPTH] = ']';
	char *over = deep + N - JSON_MAX_DEPTH - 1;
	over[2 * (JSON_MAX_DEPTH + 1)] = '\0';
	REFUSED(over, "nested too deeply");
	free(deep);

	/* Objects nest the same way. */
	size_t n = 10000, len = 0;
	char *obj = malloc(n * 5 + n + 2);
	if (!obj)
		exit(2);
	for (size_t i = 0; i < n; i++) {
		memcpy(obj + len, "{\"a\":", 5);
		len += 5;
	}
	obj[len++] = '1';
	memset(obj + len, '}', n);
	len += n;
	REFUSED_N(obj, len, "nested too deeply");
	free(obj);
}

static void test_huge(void)
{
	/* A 64 MiB string value: refused by size before any parsing or allocation. */
	size_t n = (size_t)64 << 20;
	char *big = malloc(n + 3);
	if (!big)
		exit(2);
	big[0] = '"';
	memset(big + 1, 'a', n);
	big[n + 1] = '"';
	big[n + 2] = '\0';
	REFUSED_N(big, n + 2, "larger than");
	/* The largest document taken: a string of JSON_MAX_TEXT - 2 bytes reads back whole. */
	size_t max = JSON_MAX_TEXT - 2;
	big[max + 1] = '"';
	big[max + 2] = '\0';
	struct json *j = json_parse(big, max + 2, err, sizeof err);
	CHECK(j && j->type == JSON_STRING && strlen(j->str) == max, "%s", err);
	json_free(j);
	/* One byte more is refused. */
	big[max + 1] = 'a';
	big[max + 2] = '"';
	big[max + 3] = '\0';
	j = json_parse(big, max + 3, err, sizeof err);
	CHECK(!j && strstr(err, "larger than"), "JSON_MAX_TEXT + 1 taken: %s", err);
	json_free(j);

	/* Many escapes, each decoding to more than one byte: the output buffer (sized from the
	 * source) holds them; the sanitizer would see an overflow. */
	size_t pairs = 100000, len = 0;
	char *esc = malloc(pairs * 12 + 3);
	if (!esc)
		exit(2);
	esc[len++] = '"';
	for (size_t i = 0; i < pairs; i++) {
		memcpy(esc + len, i % 2 ? "\\ud83d\\ude00" : "\\u20ac\\u00e9", 12);
		len += 12;
	}
	esc[len++] = '"';
	esc[len] = '\0';
	j = json_parse(esc, len, err, sizeof err);
	CHECK(j && strlen(j->str) == pairs / 2 * 4 + pairs / 2 * 5, "%s", err);
	json_free(j);
	free(esc);

	/* A long array of numbers. */
	size_t count = 1000000;
	char *arr = malloc(count * 2 + 2);
	if (!arr)
		exit(2);
	arr[0] = '[';
	for (size_t i = 0; i < count; i++) {
		arr[1 + 2 * i] = '7';
		arr[2 + 2 * i] = ',';
	}
	arr[2 * count] = ']';
	arr[2 * count + 1] = '\0';
	j = json_parse(arr, 2 * count + 1, err, sizeof err);
	CHECK(j && json_len(j) == count, "%s", err);
	json_free(j);
	free(arr);
	free(big);
}

static void test_nul(void)
{
	/* A C string cannot hold a NUL: refusing it beats cutting a value short into another one. */
	REFUSED("\"a\\u0000b\"", "NUL in string");
	REFUSED("\"\\u0000\"", "NUL in string");
	REFUSED("{\"uid\\u0000x\":0}", "NUL in string");
	REFUSED("{\"path\":\"/etc\\u0000/../x\"}", "NUL in string");
	/* Raw NUL bytes anywhere in the document, even after a complete value. */
	REFUSED_N("{\"a\":\"x\0y\"}", 11, "NUL byte");
	REFUSED_N("{\"a\":\"/etc/shadow\0\"}", 20, "NUL byte");
	REFUSED_N("{\"a\":1}\0{\"a\":2}", 15, "NUL byte");
	REFUSED_N("\0", 1, "NUL byte");
	CHECK(!parse_n("[1]\0", 4) && strncmp(err, "offset 3:", 9) == 0, "%s", err);
	/* Errors in an escape name where the escape starts. */
	CHECK(!parse("\"ab\\u0000\"") && strncmp(err, "offset 3:", 9) == 0, "%s", err);
	CHECK(!parse("[\"x\\ud800\"]") && strncmp(err, "offset 3:", 9) == 0, "%s", err);
	/* The terminator is where len says. */
	char text[] = "[1]x";
	CHECK(!json_parse(text, 3, err, sizeof err) && strstr(err, "not NUL-terminated"), "no NUL at text[len]: %s", err);
}

static void test_unicode(void)
{
	STRING_IS("\"\\u0041\"", "A");
	STRING_IS("\"\\u00e9\"", "\xc3\xa9");
	STRING_IS("\"\\u00E9\"", "\xc3\xa9");
	STRING_IS("\"\\u07ff\"", "\xdf\xbf");
	STRING_IS("\"\\u0800\"", "\xe0\xa0\x80");
	STRING_IS("\"\\u20ac\"", "\xe2\x82\xac");
	STRING_IS("\"\\uffff\"", "\xef\xbf\xbf");
	STRING_IS("\"\\ud800\\udc00\"", "\xf0\x90\x80\x80");
	STRING_IS("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80");
	STRING_IS("\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf");
	STRING_IS("\"\\u0001\\u001f\"", "\x01\x1f");
	STRING_IS("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"",
		  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf");
	STRING_IS("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t");
	STRING_IS("\"a\\u00e9b\\ud83d\\ude00c\"", "a\xc3\xa9"
						 "b\xf0\x9f\x98\x80"
						 "c");
	struct json *j = parse("{\"\\u00e9t\\u00e9\":\"summer\"}");
	CHECK(j && strcmp(json_get_str(j, "\xc3\xa9t\xc3\xa9"), "summer") == 0, "escaped key: %s", err);
	json_free(j);
}

/* The number in text: whether it is exact in int64 / uint64, and json_describe's words. */
static void number_is(int line, const char *text, int is_integer, long long integer, int is_unsigned,
		      unsigned long long uinteger, const char *described)
{
	struct json *j = parse(text);
	char d[64] = "";
	json_describe(j, d, sizeof d);
	checks++;
	if (!j || j->type != JSON_NUMBER || j->is_integer != is_integer || (is_integer && j->integer != integer) ||
	    j->is_unsigned != is_unsigned || (is_unsigned && j->uinteger != uinteger) || strcmp(d, described) != 0) {
		failures++;
		fprintf(stderr, "json_test:%d: FAILED: number %s: %s, described as '%s'\n", line, text,
			j ? "wrong fields" : err, d);
	}
	json_free(j);
}
#define NUMBER_IS(text, ...) number_is(__LINE__, text, __VA_ARGS__)

static void test_numbers(void)
{
	NUMBER_IS("0", 1, 0, 1, 0, "0");
	NUMBER_IS("-0", 1, 0, 0, 0, "0");
	NUMBER_IS("42", 1, 42, 1, 42, "42");
	NUMBER_IS("-1", 1, -1, 0, 0, "-1");
	NUMBER_IS("9223372036854775807", 1, 9223372036854775807LL, 1, 9223372036854775807ULL, "9223372036854775807");
	NUMBER_IS("9223372036854775808", 0, 0, 1, 9223372036854775808ULL, "9223372036854775808");
	NUMBER_IS("18446744073709551615", 0, 0, 1, 18446744073709551615ULL, "18446744073709551615");
	NUMBER_IS("18446744073709551616", 0, 0, 0, 0, "1.8446744073709552e+19");
	NUMBER_IS("99999999999999999999999", 0, 0, 0, 0, "9.9999999999999992e+22");
	NUMBER_IS("-9223372036854775808", 1, (-9223372036854775807LL - 1), 0, 0, "-9223372036854775808");
	NUMBER_IS("-9223372036854775809", 0, 0, 0, 0, "-9.2233720368547758e+18");
	NUMBER_IS("1.5", 0, 0, 0, 0, "1.5");
	NUMBER_IS("1.0", 0, 0, 0, 0, "1");
	NUMBER_IS("1e2", 0, 0, 0, 0, "100");
	NUMBER_IS("1E-2", 0, 0, 0, 0, "0.01");
	NUMBER_IS("-1.25e+2", 0, 0, 0, 0, "-125");
	NUMBER_IS("0.5", 0, 0, 0, 0, "0.5");
	REFUSED("01", "trailing characters");
	REFUSED("-01", "trailing characters");
	REFUSED("00", "trailing characters");
	REFUSED("-", "bad number");
	REFUSED("--1", "bad number");
	REFUSED("+1", "unexpected character");
	REFUSED("0x10", "trailing characters");
	REFUSED("1.", "no digit after '.'");
	REFUSED("1.e3", "no digit after '.'");
	REFUSED(".5", "unexpected character");
	REFUSED("1e", "no digit in the exponent");
	REFUSED("1e+", "no digit in the exponent");
	REFUSED("Infinity", "unexpected character");
	REFUSED("-Infinity", "bad number");
	REFUSED("NaN", "unexpected character");
	REFUSED("[1,-]", "bad number");
	/* A number of 511 characters is read; 512 is refused (bounded). */
	char digits[600];
	memset(digits, '9', sizeof digits);
	digits[511] = '\0';
	struct json *j = parse(digits);
	CHECK(j && j->type == JSON_NUMBER && !j->is_integer && !j->is_unsigned, "511 digits: %s", err);
	json_free(j);
	digits[511] = '9';
	digits[512] = '\0';
	REFUSED(digits, "number too long");

	/* json_id: ids are integers in 0..2^31-1, written without fraction or exponent. */
	static const struct {
		const char *text;
		int ok;
		uint32_t id;
	} ids[] = {{"0", 1, 0},	     {"2147483647", 1, 2147483647}, {"2147483648", 0, 0}, {"4294967295", 0, 0},
		   {"4294967296", 0, 0}, {"-1", 0, 0},		   {"1.0", 0, 0},	 {"1e3", 0, 0},
		   {"\"1\"", 0, 0},	    {"true", 0, 0},		   {"null", 0, 0}};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		struct json *v = parse(ids[i].text);
		uint32_t id = 12345;
		bool ok = json_id(v, &id);
		CHECK(v && ok == ids[i].ok && (ok ? id == ids[i].id : id == 12345), "json_id(%s)", ids[i].text);
		json_free(v);
	}
	uint32_t id = 5;
	CHECK(!json_id(NULL, &id) && id == 5, "json_id(NULL)");
	char d[32];
	json_describe(NULL, d, sizeof d);
	CHECK(strcmp(d, "missing") == 0, "%s", d);
	j = parse("[\"x\",{},[],true,null]");
	const char *names[] = {"a string", "an object", "an array", "a boolean", "null"};
	int i = 0;
	for (const struct json *c = j ? j->child : NULL; c; c = c->next, i++) {
		json_describe(c, d, sizeof d);
		CHECK(strcmp(d, names[i]) == 0, "%s", d);
	}
	json_free(j);
}

int main(void)
{
	test_document_round_trip();
	test_malformed();
	test_deep_nesting();
	test_huge();
	test_nul();
	test_unicode();
	test_numbers();
	if (failures) {
		fprintf(stderr, "json_test: %d of %d checks FAILED\n", failures, checks);
		return 1;
	}
	printf("json_test: %d checks passed\n", checks);
	return 0;
}
