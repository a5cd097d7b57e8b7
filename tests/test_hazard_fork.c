/* SPDX-License-Identifier: MIT */
/*
 * Hazard, fork() with registered and cached memory, then writes in parent
 * AND child. Without care this is the classic RDMA fork bug: the parent's
 * pages become copy-on-write, its next write gets a new page and the
 * registration keeps the old one. With FOLL_LONGTERM pins (io_uring fixed
 * buffers) the kernel copies pinned pages for the CHILD at fork, so the
 * parent keeps the pinned pages: its registrations stay right, and since
 * its mapping did not change the cache keeps them (a re-registration is a
 * hit, nothing is invalidated).
 *
 * Local side: A registers X and sends it (deregistered: cached/parked) and
 * keeps a live registration of X2; forks a child that writes both buffers;
 * A writes new bytes, re-registers X and sends X (and RDMA-writes it) and
 * X2 through its live handle: B receives A's NEW bytes; a message B sends
 * lands in A's X. The child sees only its own writes, A only its own.
 * Remote side: B registers Y for RDMA (then deregisters: cached) and keeps
 * a live RDMA registration of Y2; forks a child that writes both; B writes
 * new bytes and re-registers Y: A's RDMA reads return B's new bytes and
 * A's RDMA writes land in B's pages, read through B's pointers.
 * SAN_TEST_TRANSPORTS
 */
#include "hazard.h"

#include <sys/prctl.h>

#define LEN (256 * 1024)

/* A child that writes c over a and b, says so, waits for the word and
 * checks that its copies still hold only its own bytes. Returns its pid;
 * *to_child / *from_child are the parent's ends of two pipes. */
static pid_t writer(uint8_t *a, uint8_t *b, uint8_t c, int *to_child, int *from_child)
{
	int down[2], up[2];
	pid_t pid;
	char x;

	CHECK(pipe2(down, O_CLOEXEC) == 0 && pipe2(up, O_CLOEXEC) == 0);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* Only async-signal-safe calls: the parent has threads. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		alarm(20);
		close(down[1]);
		close(up[0]);
		memset(a, c, LEN);
		memset(b, c, LEN);
		if (write(up[1], "w", 1) != 1 || read(down[0], &x, 1) != 1)
			_exit(2);
		_exit(xt_all(a, LEN, c) && xt_all(b, LEN, c) ? 0 : 3);
	}
	close(down[0]);
	close(up[1]);
	CHECK(read(up[0], &x, 1) == 1); /* the child has written */
	*to_child = down[1];
	*from_child = up[0];
	return pid;
}

static void writer_end(pid_t pid, int to_child, int from_child)
{
	int st;

	CHECK(write(to_child, "v", 1) == 1);
	CHECK(waitpid(pid, &st, 0) == pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "[%d] forked child: %s %d (3: the parent's writes showed in "
				"the child's memory)\n", (int)getpid(),
			WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		exit(1);
	}
	close(to_child);
	close(from_child);
}

static int peer(void *arg, int ctl)
{
	int cached = hz_caching();
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *R = xt_map(LEN), *T = xt_map(LEN), *S = xt_map(LEN), *y = xt_map(LEN),
		*y2 = xt_map(LEN);
	san_handle hR = xt_reg(s, R, LEN, SAN_MEM_WRITE), hS = xt_reg(s, S, LEN, SAN_MEM_READ);
	struct san_rdma_desc dT = xt_rreg(s, T, LEN, SAN_MEM_READWRITE), dy, dy2;
	struct san_stats st, prev;
	int to_child, from_child;
	pid_t child;

	(void)arg;
	hz_p_ = p;
	xt_send_desc(ctl, &dT);
	hz_step_ = "peer, local side";
	hz_b_recv(s, ctl, R, LEN, hR, 40, 0);
	hz_b_recv(s, ctl, R, LEN, hR, 42, 40); /* X re-registered after the fork */
	san_test_sync(ctl, "wrote");
	hz_verify("RDMA write from the parent after the fork", T, LEN, 42, 40);
	hz_b_recv(s, ctl, R, LEN, hR, 43, 41); /* X2's live handle */
	san_test_fill(S, LEN, 44);
	san_test_sync(ctl, "a-recv-posted");
	xt_send(s, S, LEN, hS, XT_CTX(1));
	xt_expect(s, XT_CTX(1), SAN_OP_SEND, 0, LEN);

	hz_step_ = "peer, remote side";
	san_test_fill(y, LEN, 50);
	san_test_fill(y2, LEN, 52);
	dy = xt_rreg(s, y, LEN, SAN_MEM_READWRITE);
	dy2 = xt_rreg(s, y2, LEN, SAN_MEM_READWRITE); /* stays registered across the fork */
	xt_send_desc(ctl, &dy);
	xt_send_desc(ctl, &dy2);
	san_test_sync(ctl, "r-wrote-1");
	hz_verify("the peer's memory after an RDMA write", y, LEN, 51, 50);
	CHECK_OK(san_deregister_rdma_memory(s, &dy));
	prev = hz_stats(p);
	child = writer(y, y2, 0xdd, &to_child, &from_child);
	hz_verify("the peer's memory after its child wrote its copy", y, LEN, 51, 51);
	hz_verify("the peer's memory after its child wrote its copy", y2, LEN, 52, 52);
	san_test_fill(y, LEN, 53);
	dy = xt_rreg(s, y, LEN, SAN_MEM_READWRITE);
	st = hz_stats(p);
	HZ_EQ("invalidations (fork changes no mapping of the parent)", st.invalidations,
	      prev.invalidations);
	if (cached) {
		HZ_EQ("reg_hits", st.reg_hits, prev.reg_hits + 1);
		HZ_EQ("pins", st.pins, prev.pins);
	}
	xt_send_desc(ctl, &dy);
	san_test_sync(ctl, "r-wrote-2");
	hz_verify("the peer's memory after an RDMA write (re-registered after the fork)", y, LEN,
		  54, 53);
	hz_verify("the peer's memory after an RDMA write (registered across the fork)", y2, LEN,
		  55, 52);
	writer_end(child, to_child, from_child);
	san_test_sync(ctl, "end");

	CHECK_OK(san_deregister_rdma_memory(s, &dy));
	CHECK_OK(san_deregister_rdma_memory(s, &dy2));
	CHECK_OK(san_deregister_rdma_memory(s, &dT));
	CHECK_OK(san_deregister_memory(s, hR));
	CHECK_OK(san_deregister_memory(s, hS));
	xt_teardown(p, s);
	xt_unmap(R, LEN);
	xt_unmap(T, LEN);
	xt_unmap(S, LEN);
	xt_unmap(y, LEN);
	xt_unmap(y2, LEN);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	struct san_rdma_desc dT, dy, dy2;
	struct san_stats st, prev;
	uint8_t *x, *x2, *S;
	san_handle h, h2, hS;
	int ctl, cached, to_child, from_child;
	pid_t pid, child;

	san_test_start(30);
	cached = hz_caching();
	printf("fork, caching %s, transport %s\n", cached ? "on" : "off", san_test_transport());
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	hz_p_ = p;
	dT = xt_recv_desc(ctl);

	hz_step_ = "local side";
	x = xt_map(LEN);
	x2 = xt_map(LEN);
	san_test_fill(x, LEN, 40);
	san_test_fill(x2, LEN, 41);
	h = xt_reg(s, x, LEN, SAN_MEM_READWRITE);
	h2 = xt_reg(s, x2, LEN, SAN_MEM_READ); /* stays registered across the fork */
	hz_a_send(s, ctl, x, LEN, h);
	CHECK_OK(san_deregister_memory(s, h));
	prev = hz_stats(p);
	child = writer(x, x2, 0xcc, &to_child, &from_child);
	hz_verify("the parent's memory after the child wrote its copy", x, LEN, 40, 40);
	hz_verify("the parent's memory after the child wrote its copy", x2, LEN, 41, 41);
	san_test_fill(x, LEN, 42);
	san_test_fill(x2, LEN, 43);
	h = xt_reg(s, x, LEN, SAN_MEM_READWRITE);
	st = hz_stats(p);
	HZ_EQ("invalidations (fork changes no mapping of the parent)", st.invalidations,
	      prev.invalidations);
	if (cached) {
		HZ_EQ("reg_hits", st.reg_hits, prev.reg_hits + 1);
		HZ_EQ("pins", st.pins, prev.pins);
	}
	hz_a_send(s, ctl, x, LEN, h);
	xt_rdma_write(s, x, LEN, h, &dT, 0, 0);
	san_test_sync(ctl, "wrote");
	hz_a_send(s, ctl, x2, LEN, h2);
	memset(x, 0, LEN);
	xt_recv(s, x, LEN, h, XT_CTX(2));
	san_test_sync(ctl, "a-recv-posted");
	xt_expect(s, XT_CTX(2), SAN_OP_RECV, 0, LEN);
	hz_verify("message received into the parent's memory after the fork", x, LEN, 44, 42);
	writer_end(child, to_child, from_child);

	hz_step_ = "remote side";
	S = xt_map(LEN);
	hS = xt_reg(s, S, LEN, SAN_MEM_READWRITE);
	dy = xt_recv_desc(ctl);
	dy2 = xt_recv_desc(ctl);
	san_test_fill(S, LEN, 51);
	xt_rdma_write(s, S, LEN, hS, &dy, 0, 0);
	san_test_sync(ctl, "r-wrote-1");
	dy = xt_recv_desc(ctl); /* re-registered after the peer forked */
	xt_rdma_read(s, S, LEN, hS, &dy, 0, 0);
	hz_verify("RDMA read of the peer's memory after its fork", S, LEN, 53, 51);
	xt_rdma_read(s, S, LEN, hS, &dy2, 0, 0);
	hz_verify("RDMA read of the peer's memory after its fork (live registration)", S, LEN, 52,
		  52);
	san_test_fill(S, LEN, 54);
	xt_rdma_write(s, S, LEN, hS, &dy, 0, 0);
	san_test_fill(S, LEN, 55);
	xt_rdma_write(s, S, LEN, hS, &dy2, 0, 0);
	san_test_sync(ctl, "r-wrote-2");
	san_test_sync(ctl, "end");

	xt_expect_idle(s);
	CHECK_OK(san_deregister_memory(s, h));
	CHECK_OK(san_deregister_memory(s, h2));
	CHECK_OK(san_deregister_memory(s, hS));
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(x, LEN);
	xt_unmap(x2, LEN);
	xt_unmap(S, LEN);
	return 0;
}
