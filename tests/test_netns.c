/* SPDX-License-Identifier: MIT */
/*
 * Cross-machine run: the transfer tests again, between two network
 * namespaces joined by a veth pair (tests/netns/run.sh does the work; this
 * program is how ctest runs it). Skips (77) where namespaces cannot be made:
 * not root, no ip(8), no netns/veth support.
 *
 * The script is found next to this source: CMake compiles tests with their
 * absolute path, so __FILE__ names the source directory. SAN_NETNS_SCRIPT
 * overrides it. The test programs are the ones built beside this one (the
 * directory of /proc/self/exe).
 *
 * run.sh picks the transfer tests by a word in their source, which this file
 * must never contain: ctest would run it twice and run.sh would run it from
 * inside itself. run.sh also exports SAN_NETNS_RUNNING, and this program
 * skips when it sees it, so it cannot recurse either way.
 */
#include "harness.h"

#include <limits.h>

/* ctest kills at 120 s (tests/CMakeLists.txt); stop first and let run.sh
 * delete its namespaces. */
#define WATCHDOG_S 110

static volatile sig_atomic_t expired;

static void on_alarm(int sig)
{
	(void)sig;
	expired = 1;
}

/* dirname of path into out (which ends with no slash). */
static void dir_of(const char *path, char *out, size_t len)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;

	if (!slash) {
		snprintf(out, len, ".");
		return;
	}
	if (n == 0)
		n = 1; /* "/x" */
	if (n >= len)
		n = len - 1;
	memcpy(out, path, n);
	out[n] = '\0';
}

int main(void)
{
	char script[PATH_MAX], exe[PATH_MAX], bindir[PATH_MAX], srcdir[PATH_MAX];
	const char *env = getenv("SAN_NETNS_SCRIPT");
	struct sigaction sa;
	ssize_t n;
	pid_t pid;
	int st;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (getenv("SAN_NETNS_RUNNING"))
		san_test_skip("already inside tests/netns/run.sh");

	if (env && *env) {
		snprintf(script, sizeof(script), "%s", env);
	} else {
		dir_of(__FILE__, srcdir, sizeof(srcdir));
		if (snprintf(script, sizeof(script), "%s/netns/run.sh", srcdir) >=
		    (int)sizeof(script)) {
			fprintf(stderr, "source path too long: %s\n", __FILE__);
			return 1;
		}
	}
	if (access(script, R_OK)) {
		fprintf(stderr, "cannot find %s (%s); set SAN_NETNS_SCRIPT\n", script,
			strerror(errno));
		return 1;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		fprintf(stderr, "readlink /proc/self/exe: %s\n", strerror(errno));
		return 1;
	}
	exe[n] = '\0';
	dir_of(exe, bindir, sizeof(bindir));

	printf("%s %s\n", script, bindir);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* Its own process group: the watchdog stops the script and the
		 * test it is running together. */
		setpgid(0, 0);
		execlp("bash", "bash", script, bindir, (char *)NULL);
		fprintf(stderr, "exec bash: %s\n", strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART: waitpid returns EINTR */
	sigaction(SIGALRM, &sa, NULL);
	alarm(WATCHDOG_S);
	while (waitpid(pid, &st, 0) != pid) {
		CHECK(errno == EINTR);
		if (expired) {
			fprintf(stderr, "test_netns: still running after %d s, stopping it\n",
				WATCHDOG_S);
			kill(-pid, SIGTERM); /* run.sh's trap deletes the namespaces */
			alarm(10);
			expired = 0;
			sa.sa_handler = SIG_DFL; /* a second expiry ends this process */
			sigaction(SIGALRM, &sa, NULL);
		}
	}
	alarm(0);
	if (WIFSIGNALED(st)) {
		fprintf(stderr, "run.sh killed by signal %d\n", WTERMSIG(st));
		return 1;
	}
	return WEXITSTATUS(st);
}
