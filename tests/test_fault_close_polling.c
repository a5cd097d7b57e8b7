/* SPDX-License-Identifier: MIT */
/*
 * Fault: san_close(s) while another thread is blocked in san_poll(s).
 *
 * A thread waiting for a completion on s cannot know that another thread
 * is about to close s. san.h (san_close, san_poll): threads blocked in
 * san_poll on the socket return -ENOTCONN first, and the socket is freed
 * only once they are out; any other call that races with san_close or
 * follows it is the application's bug (not tested).
 *
 * Checked, several times each: the poller is asleep in the kernel inside
 * san_poll(s, 5 s) (seen in /proc/self/task/TID/syscall), with a receive
 * outstanding on s (busy) or with nothing outstanding (idle); san_close(s)
 * returns 0, and the poller returns -ENOTCONN within a second, without
 * touching the freed socket; the peer sees -ECONNRESET.
 *
 * To make a use after free visible without a sanitizer, the test runs
 * itself again with glibc's free() poisoning memory (MALLOC_PERTURB_) and
 * the per-thread cache off (tcache_count=0, so that free() really reaches
 * the poisoning code): a read of the freed socket then finds garbage
 * pointers instead of the old values. Under ASan the sanitizer reports it.
 * SAN_TEST_TRANSPORTS
 */
#include "fault.h"

#include <sys/syscall.h>

#define ROUNDS 4

static int peer(void *arg, int ctl)
{
	san_provider *p = san_test_provider();

	for (int i = 0; i < 2 * ROUNDS; i++) {
		san_socket *s = san_test_connect_peer(p, ctl);

		fault_expect_reset(s, XT_TIMEOUT_MS);
		CHECK_OK(san_close(s));
		san_test_sync(ctl, "round");
	}
	san_provider_close(p);
	return 0;
}

struct poller {
	san_socket *s;
	_Atomic pid_t tid;
	_Atomic int out;
	int rc;
	struct san_completion c;
};

static void *poll_main(void *arg)
{
	struct poller *q = arg;

	atomic_store(&q->tid, gettid());
	q->rc = san_poll(q->s, &q->c, 1, 5000);
	atomic_store(&q->out, 1);
	return NULL;
}

/* 1 once thread tid sleeps in io_uring_enter (san_poll's wait). */
static int in_uring_enter(pid_t tid)
{
	char path[64], buf[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return atoi(buf) == __NR_io_uring_enter;
}

static void reexec_poisoned(char **argv)
{
	if (getenv("SAN_FAULT_POISONED"))
		return;
	setenv("SAN_FAULT_POISONED", "1", 1);
	setenv("MALLOC_PERTURB_", "165", 1);
	setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0", 1);
	fflush(NULL);
	execv("/proc/self/exe", argv);
	fprintf(stderr, "exec /proc/self/exe: %s (running unpoisoned)\n", strerror(errno));
}

int main(int argc, char **argv)
{
	san_provider *p;
	uint8_t *in;
	int ctl;
	pid_t pid;

	(void)argc;
	reexec_poisoned(argv);
	san_test_start(100);
	pid = xt_fork(peer, NULL, &ctl);
	p = san_test_provider();
	in = xt_map(MIB);
	for (int i = 0; i < 2 * ROUNDS; i++) {
		int busy = i % 2 == 0;
		struct poller q = { 0 };
		long long t0, end;
		pthread_t t;

		q.s = san_test_accept_peer(p, ctl);
		if (busy) {
			san_handle h = xt_reg(q.s, in, MIB, SAN_MEM_WRITE);

			xt_recv(q.s, in, MIB, h, XT_CTX(1)); /* the peer sends nothing */
		}
		CHECK(pthread_create(&t, NULL, poll_main, &q) == 0);
		end = xt_now_ms() + XT_TIMEOUT_MS;
		while (!atomic_load(&q.tid) || !in_uring_enter(atomic_load(&q.tid))) {
			CHECK(!atomic_load(&q.out) && xt_now_ms() < end);
			xt_sleep_ms(1);
		}
		t0 = xt_now_ms();
		CHECK_OK(san_close(q.s));
		while (!atomic_load(&q.out)) {
			if (xt_now_ms() - t0 > 1000) {
				fprintf(stderr, "the poller is still in san_poll 1 s after san_close\n");
				return 1;
			}
			xt_sleep_ms(1);
		}
		CHECK(pthread_join(t, NULL) == 0);
		printf("%s socket: san_close while polled; the poller returned %d (%s) %lld ms later\n",
		       busy ? "busy" : "idle", q.rc, q.rc < 0 ? san_strerror(q.rc) : "completions",
		       xt_now_ms() - t0);
		CHECK_RC(q.rc, -ENOTCONN);
		san_test_sync(ctl, "round");
	}
	san_provider_close(p);
	san_test_wait(pid, ctl);
	xt_unmap(in, MIB);
	san_test_check_leaks();
	return 0;
}
