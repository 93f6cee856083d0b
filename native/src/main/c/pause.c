/* coracle-pause: PID 1 of a pod. Holds the pod's namespaces open, reaps every
 * zombie that is reparented to it, and exits 0 on SIGTERM or SIGINT. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		puts("coracle-pause");
		return 0;
	}

	sigset_t set;
	if (sigemptyset(&set) < 0 || sigaddset(&set, SIGTERM) < 0 || sigaddset(&set, SIGINT) < 0 ||
	    sigaddset(&set, SIGCHLD) < 0) {
		fprintf(stderr, "coracle-pause: sigaddset: %s\n", strerror(errno));
		return 1;
	}
	/* Block the signals we care about and take them synchronously: no handler races. */
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
		fprintf(stderr, "coracle-pause: sigprocmask: %s\n", strerror(errno));
		return 1;
	}

	for (;;) {
		int sig;
		int rc = sigwait(&set, &sig);
		if (rc != 0) {
			fprintf(stderr, "coracle-pause: sigwait: %s\n", strerror(rc));
			return 1;
		}
		if (sig == SIGTERM || sig == SIGINT)
			return 0;
		/* SIGCHLD: reap everything that has exited; several may be pending behind one signal. */
		for (;;) {
			pid_t pid = waitpid(-1, NULL, WNOHANG);
			if (pid > 0)
				continue;
			if (pid < 0 && errno != ECHILD) {
				fprintf(stderr, "coracle-pause: waitpid: %s\n", strerror(errno));
				return 1;
			}
			break;
		}
	}
}
