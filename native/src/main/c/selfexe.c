#include "selfexe.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
/* Set across the re-exec: a copy that still finds itself unsealed fails instead of looping. */
#define MARKER "_CORACLE_SHIM_SEALED"

extern char **environ;

static int sealed(int fd)
{
	int seals = fcntl(fd, F_GET_SEALS);
	return seals >= 0 && (seals & SEALS) == SEALS;
}

/* The bytes the kernel loads: up to the end of the last PT_LOAD segment. What follows (debug
 * info, section headers) is not copied: it would cost memory in every shim for nothing. */
static off_t loaded_size(int fd, off_t size)
{
	Elf64_Ehdr eh;
	if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    eh.e_phnum > 64)
		return size;
	Elf64_Phdr ph[64];
	size_t len = (size_t)eh.e_phnum * sizeof ph[0];
	if (eh.e_phoff > (uint64_t)size || pread(fd, ph, len, (off_t)eh.e_phoff) != (ssize_t)len)
		return size;
	uint64_t end = eh.e_phoff + len;
	for (int i = 0; i < eh.e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_offset + ph[i].p_filesz > end)
			end = ph[i].p_offset + ph[i].p_filesz;
	return end < (uint64_t)size ? (off_t)end : size;
}

int self_exe_seal(char **argv, struct cerr *e)
{
	int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return fail(e, errno, "open /proc/self/exe");
	if (sealed(self)) {
		close(self);
		unsetenv(MARKER);
		/* Run from a descriptor, the process is named after the memfd: give it its name back. */
		if (prctl(PR_SET_NAME, "coracle-shim", 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
			return fail(e, errno, "prctl");
		return 0;
	}
	if (getenv(MARKER)) {
		close(self);
		return fail(e, 0, "re-executed from a memfd, yet /proc/self/exe is not sealed");
	}
	struct stat st;
	if (fstat(self, &st) < 0) {
		int err = errno;
		close(self);
		return fail(e, err, "stat /proc/self/exe");
	}
	int copy = memfd_create("coracle-shim", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (copy < 0) {
		int err = errno;
		close(self);
		return fail(e, err, "memfd_create");
	}
	for (off_t left = loaded_size(self, st.st_size); left > 0;) {
		ssize_t n = sendfile(copy, self, NULL, (size_t)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? errno : EIO;
			close(self);
			close(copy);
			return fail(e, err, "copy /proc/self/exe to a memfd");
		}
		left -= n;
	}
	close(self);
	if (fcntl(copy, F_ADD_SEALS, SEALS) < 0) {
		int err = errno;
		close(copy);
		return fail(e, err, "seal the memfd copy of the shim");
	}
	if (setenv(MARKER, "1", 1) < 0) {
		int err = errno;
		close(copy);
		return fail(e, err, "setenv");
	}
	/* AT_EMPTY_PATH runs the descriptor itself: no path, and MFD_CLOEXEC closes it in the copy. */
	syscall(SYS_execveat, copy, "", argv, environ, AT_EMPTY_PATH);
	int err = errno;
	close(copy);
	unsetenv(MARKER);
	return fail(e, err, "execveat the sealed copy of the shim");
}
