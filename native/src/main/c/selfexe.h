/* The shim's defence against being rewritten from inside a container (CVE-2019-5736): every
 * subcommand that enters a container's namespaces runs from a sealed memfd copy of the binary,
 * so /proc/<pid>/exe of the shim and of its children is that copy, which nobody can write,
 * truncate or grow; and it is not dumpable, so a container process without CAP_SYS_PTRACE
 * cannot even open /proc/<pid>/{exe,mem,fd} of it before it execs the container's program
 * (execve makes the program dumpable again by the kernel's usual rules). */
#ifndef CORACLE_SELFEXE_H
#define CORACLE_SELFEXE_H
#include "error.h"

/* When /proc/self/exe is not yet a sealed copy: copies it into a memfd, seals it and
 * re-executes it with the same argv (does not return on success). Then (in the copy) makes
 * the process non-dumpable. Returns 0 when running from the sealed copy, -1 with e set. */
int self_exe_seal(char **argv, struct cerr *e);
#endif
