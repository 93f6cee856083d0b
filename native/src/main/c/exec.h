/* Exec mode: coracle-shim exec --state DIR --process FILE [--exit-file FILE] [--tty [--resize-fifo FIFO]]
 *
 * Runs the OCI process object in FILE inside the running container whose monitor owns the
 * state DIR: it joins the container's namespaces (those that differ from the shim's), its
 * cgroups, and its root, and applies the process's user, capabilities, rlimits,
 * noNewPrivileges and the container's seccomp filter. The process inherits the shim's
 * stdin, stdout and stderr; with --tty it gets a pty (made inside the container) that the
 * shim relays to them, and "<rows> <cols>" lines written to FIFO resize it.
 * SIGTERM, SIGINT or SIGHUP to the shim kill the process (SIGKILL), and the process dies
 * with the shim (parent-death signal), so a caller's timeout always ends both. The shim
 * exits with the process's exit code (128+signal when killed), and writes FILE (temp,
 * fsync, rename) with {"exitCode":N,"signal":N} or, when the process could not be
 * started, {"error":"<what failed>","class":C} (exit code 126 then), C "invalid" when the
 * command itself cannot be run (not found, not executable, arguments too long), else "internal". */
#ifndef CORACLE_EXEC_H
#define CORACLE_EXEC_H
int cmd_exec(int argc, char **argv);
#endif
