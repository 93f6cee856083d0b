/* Only in musl builds: Debian's libseccomp.a is compiled against glibc with _FORTIFY_SOURCE,
 * so it calls glibc's checked fprintf; musl has none. This forwards it (the size checks that
 * glibc would add do not apply to fprintf's arguments anyway). */
#include <stdarg.h>
#include <stdio.h>

int __fprintf_chk(FILE *f, int flag, const char *fmt, ...);

int __fprintf_chk(FILE *f, int flag, const char *fmt, ...)
{
	(void)flag;
	va_list ap;
	va_start(ap, fmt);
	int n = vfprintf(f, fmt, ap);
	va_end(ap);
	return n;
}
