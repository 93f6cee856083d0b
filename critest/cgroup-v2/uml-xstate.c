/*
 * Preloaded into Debian's user-mode-linux (6.1) by run-in-uml.sh, on hosts whose XSAVE area is larger
 * than that kernel knows (AVX-512, AMX). UML saves and restores its processes' FP state with
 * PTRACE_GETREGSET/SETREGSET(NT_X86_XSTATE) in a fixed 832-byte buffer (x87, SSE, AVX); the host
 * kernel refuses a SETREGSET shorter than its whole XSAVE area (EFAULT), and UML then kills the
 * process: init dies at boot ("fatal_sigsegv" in put_fp_registers).
 *
 * This wrapper gives the host a whole area: a GETREGSET fills UML's buffer with the first bytes and
 * keeps the rest beside it, keyed by the buffer's address (one per UML thread, in its task); a
 * SETREGSET sends UML's bytes followed by the rest kept for that buffer, so the state UML cannot
 * hold (AVX-512, opmasks) goes back to the thread it was taken from. Other requests pass through.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Larger than any XSAVE area so far (AMX: about 11 KiB). */
#define AREA_MAX (64 * 1024)

typedef long (*ptrace_fn)(enum __ptrace_request, pid_t, void *, void *);

struct kept {
	const void *buffer; /* UML's buffer (the key) */
	unsigned char *area; /* the whole area last read for it */
};

/* The wrapper's state: UML calls ptrace from one thread, the lock is for safety only. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct kept *kept;
static size_t kept_count, kept_cap;
static size_t area_size; /* the host's whole XSAVE area, learnt at the first call */

static ptrace_fn real_ptrace(void)
{
	static ptrace_fn fn;
	if (fn == NULL) {
		fn = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
		if (fn == NULL) {
			fprintf(stderr, "uml-xstate: dlsym(ptrace): %s\n", dlerror());
			abort();
		}
	}
	return fn;
}

/* The area kept for UML's buffer, made (zeroed) if there is none; NULL when out of memory. */
static unsigned char *area_for(const void *buffer)
{
	for (size_t i = 0; i < kept_count; i++) {
		if (kept[i].buffer == buffer) {
			return kept[i].area;
		}
	}
	if (kept_count == kept_cap) {
		size_t cap = kept_cap == 0 ? 256 : kept_cap * 2;
		struct kept *grown = realloc(kept, cap * sizeof *kept);
		if (grown == NULL) {
			return NULL;
		}
		kept = grown;
		kept_cap = cap;
	}
	unsigned char *area = calloc(1, area_size);
	if (area == NULL) {
		return NULL;
	}
	kept[kept_count].buffer = buffer;
	kept[kept_count].area = area;
	kept_count++;
	return area;
}

/* GETREGSET of the whole area into area; the bytes read, or -1 with errno. */
static long read_area(pid_t pid, unsigned char *area, size_t size)
{
	struct iovec whole = {.iov_base = area, .iov_len = size};
	long r = real_ptrace()(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &whole);
	return r < 0 ? -1 : (long)whole.iov_len;
}

static long xstate(enum __ptrace_request request, pid_t pid, struct iovec *iov)
{
	if (area_size == 0) {
		unsigned char *probe = malloc(AREA_MAX);
		if (probe == NULL) {
			errno = ENOMEM;
			return -1;
		}
		long n = read_area(pid, probe, AREA_MAX);
		free(probe);
		if (n < 0) {
			return -1;
		}
		area_size = (size_t)n;
	}
	if (iov->iov_len >= area_size) {
		return real_ptrace()(request, pid, (void *)NT_X86_XSTATE, iov);
	}
	unsigned char *area = area_for(iov->iov_base);
	if (area == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if (request == PTRACE_GETREGSET) {
		if (read_area(pid, area, area_size) < 0) {
			return -1;
		}
		memcpy(iov->iov_base, area, iov->iov_len);
		return 0;
	}
	memcpy(area, iov->iov_base, iov->iov_len);
	struct iovec whole = {.iov_base = area, .iov_len = area_size};
	return real_ptrace()(PTRACE_SETREGSET, pid, (void *)NT_X86_XSTATE, &whole);
}

long ptrace(enum __ptrace_request request, ...)
{
	va_list ap;
	va_start(ap, request);
	pid_t pid = va_arg(ap, pid_t);
	void *addr = va_arg(ap, void *);
	void *data = va_arg(ap, void *);
	va_end(ap);
	if ((request == PTRACE_GETREGSET || request == PTRACE_SETREGSET) && (uintptr_t)addr == NT_X86_XSTATE
			&& data != NULL) {
		if (pthread_mutex_lock(&lock) != 0) {
			errno = EDEADLK;
			return -1;
		}
		long r = xstate(request, pid, data);
		int saved = errno;
		pthread_mutex_unlock(&lock);
		errno = saved;
		return r;
	}
	return real_ptrace()(request, pid, addr, data);
}
