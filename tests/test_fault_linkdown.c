/* SPDX-License-Identifier: MIT */
/*
 * Fault: the network link goes down under a busy connection. Like
 * tests/netns/run.sh, but inline: two network namespaces of this test's
 * own (san-la-PID, san-lb-PID) joined by a veth pair, 192.0.2.1/24 and
 * 192.0.2.2/24 (TEST-NET-1, which exists only inside them). The test
 * process moves into the first and listens on 192.0.2.1; its forked peer
 * enters the second (SAN_TEST_PEER_NETNS, tests/harness.h) and connects.
 * Needs root, ip(8) and veth; skips (77) otherwise.
 *
 *   1. a good exchange across the link (160 MiB);
 *   2. flap: 64 MiB operations in flight both ways (an RDMA write, an RDMA
 *      read, a send and a receive on each side), the link goes down for
 *      1.5 s and comes back: TCP retransmits, every operation completes
 *      with 0 and intact data;
 *   3. down: the same operations, the link goes down and stays down. The
 *      test runs with SAN_TCP_TIMEOUT_MS=5000 (TCP_USER_TIMEOUT): every
 *      operation must complete, with -ECONNRESET unless it finished before
 *      the link went, within 5 s + 10 s of slack (without the option TCP
 *      retries for about 15 minutes). Both sides then close their sockets:
 *      san_close must return within 2 s, and leave VmPin, fds, pinned
 *      bytes, keys and heap at the baseline;
 *   4. the link comes back up and a new connection transfers intact data.
 *
 * A guardian process deletes the namespaces when the test ends, however it
 * ends (it waits for a pipe to close).
 */
#include "fault.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>

#define LEN (64 * MIB)

static char ns_a[64], ns_b[64];

static int run(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	fflush(NULL);
	st = system(cmd);
	return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

/* Deletes the namespaces once the write end of the pipe closes. */
static int start_guardian(void)
{
	int pfd[2];
	pid_t pid;

	CHECK(pipe(pfd) == 0);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		char b;

		close(pfd[1]);
		setsid();
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGALRM, SIG_IGN);
		while (read(pfd[0], &b, 1) != 0 && errno == EINTR)
			;
		run("ip netns del %s >/dev/null 2>&1", ns_a);
		run("ip netns del %s >/dev/null 2>&1", ns_b);
		_exit(0);
	}
	close(pfd[0]);
	return pfd[1];
}

static void setup_netns(void)
{
	char path[128];
	int fd;

	if (getuid() != 0)
		san_test_skip("network namespaces need root (uid %d)", (int)getuid());
	if (run("command -v ip >/dev/null 2>&1"))
		san_test_skip("no ip(8) (package iproute2)");
	snprintf(ns_a, sizeof(ns_a), "san-la-%d", (int)getpid());
	snprintf(ns_b, sizeof(ns_b), "san-lb-%d", (int)getpid());
	if (run("ip netns add %s >/dev/null 2>&1", ns_a))
		san_test_skip("cannot create network namespace %s", ns_a);
	if (run("ip netns add %s >/dev/null 2>&1", ns_b)) {
		run("ip netns del %s", ns_a);
		san_test_skip("cannot create network namespace %s", ns_b);
	}
	if (run("ip -n %s link add veth0 type veth peer name veth0 netns %s >/dev/null 2>&1", ns_a,
		ns_b)) {
		run("ip netns del %s; ip netns del %s", ns_a, ns_b);
		san_test_skip("cannot create a veth pair");
	}
	CHECK(run("ip -n %s link set lo up && ip -n %s link set lo up && "
		  "ip -n %s addr add 192.0.2.1/24 dev veth0 && "
		  "ip -n %s addr add 192.0.2.2/24 dev veth0 && "
		  "ip -n %s link set veth0 up && ip -n %s link set veth0 up",
		  ns_a, ns_b, ns_a, ns_b, ns_a, ns_b) == 0);
	snprintf(path, sizeof(path), "/run/netns/%s", ns_b);
	CHECK(setenv("SAN_TEST_PEER_NETNS", path, 1) == 0);
	CHECK(setenv("SAN_TEST_LISTEN", "tcp:192.0.2.1:0", 1) == 0);
	CHECK(setenv("SAN_TEST_TRANSPORT", "tcp", 1) == 0);
	snprintf(path, sizeof(path), "/run/netns/%s", ns_a);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(setns(fd, CLONE_NEWNET) == 0);
	close(fd);
}

static void link_set(const char *state)
{
	CHECK(run("ip -n %s link set veth0 %s", ns_a, state) == 0);
}

/* Waits until the path works again both ways: neighbour entries that
 * failed while the link was down are flushed, and a TCP connect from here
 * to a closed port of 192.0.2.2 is refused (the peer's namespace answered,
 * and learnt our address on the way). */
static void wait_reachable(void)
{
	long long end = xt_now_ms() + 10000;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(9) };

	run("ip -n %s neigh flush dev veth0 >/dev/null 2>&1", ns_a);
	run("ip -n %s neigh flush dev veth0 >/dev/null 2>&1", ns_b);
	CHECK(inet_pton(AF_INET, "192.0.2.2", &sa.sin_addr) == 1);
	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), err = 0;
		socklen_t el = sizeof(err);

		CHECK(fd >= 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == EINPROGRESS) {
			struct pollfd pf = { fd, POLLOUT, 0 };

			if (poll(&pf, 1, 500) == 1)
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
		} else {
			err = errno;
		}
		close(fd);
		if (err == ECONNREFUSED)
			return;
		CHECK(xt_now_ms() < end);
		xt_sleep_ms(100);
	}
}

enum { BUSY_FLAP = 1, BUSY_DOWN = 2 };

struct side {
	uint8_t *tgt, *in, *out, *sink;
	struct san_rdma_desc mine, theirs;
	san_handle hi, ho, hk;
};

static void side_open(san_socket *s, struct side *x, int ctl, int first, uint64_t seed)
{
	x->tgt = xt_map(2 * LEN); /* [0, LEN): read by the peer; [LEN, 2 LEN): written */
	x->in = xt_map(LEN);
	x->out = xt_map(LEN);
	x->sink = xt_map(LEN);
	fault_fill(x->tgt, LEN, seed);
	fault_fill(x->out, LEN, seed + 1);
	x->mine = xt_rreg(s, x->tgt, 2 * LEN, SAN_MEM_READWRITE);
	x->hi = xt_reg(s, x->in, LEN, SAN_MEM_WRITE);
	x->ho = xt_reg(s, x->out, LEN, SAN_MEM_READ);
	x->hk = xt_reg(s, x->sink, LEN, SAN_MEM_WRITE);
	if (first) {
		xt_send_desc(ctl, &x->mine);
		x->theirs = xt_recv_desc(ctl);
	} else {
		x->theirs = xt_recv_desc(ctl);
		xt_send_desc(ctl, &x->mine);
	}
	xt_recv(s, x->in, LEN, x->hi, XT_CTX(1));
	CHECK_OK(kill_post(s, SAN_OP_RDMA_WRITE, x->out, LEN, x->ho, &x->theirs, LEN, XT_CTX(2)));
	CHECK_OK(kill_post(s, SAN_OP_RDMA_READ, x->sink, LEN, x->hk, &x->theirs, 0, XT_CTX(3)));
	CHECK_OK(kill_post(s, SAN_OP_SEND, x->out, LEN, x->ho, NULL, 0, XT_CTX(4)));
}

/* All four done: each with 0 and intact data (peer_seed: the other side's). */
static void side_check_all(san_socket *s, struct side *x, uint64_t peer_seed)
{
	struct san_completion c[4];

	fault_collect(s, c, 4, 30000);
	for (int i = 0; i < 4; i++) {
		CHECK_RC(c[i].status, 0);
		CHECK(c[i].bytes == LEN);
	}
	CHECK(fault_verify("received message", x->in, LEN, peer_seed + 1));
	CHECK(fault_verify("what was read", x->sink, LEN, peer_seed));
}

static void side_close(struct side *x)
{
	xt_unmap(x->tgt, 2 * LEN);
	xt_unmap(x->in, LEN);
	xt_unmap(x->out, LEN);
	xt_unmap(x->sink, LEN);
}

static int busy_peer(void *arg, int ctl)
{
	int mode = *(const int *)arg;
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	struct side x;

	side_open(s, &x, ctl, 0, 200);
	san_test_sync(ctl, "posted");
	if (mode == BUSY_FLAP) {
		side_check_all(s, &x, 100);
		san_test_sync(ctl, "done");
		/* What the survivor wrote into our target. */
		CHECK(fault_verify("what the survivor wrote", x.tgt + LEN, LEN, 101));
		CHECK_OK(san_deregister_memory(s, x.hi));
		CHECK_OK(san_deregister_memory(s, x.ho));
		CHECK_OK(san_deregister_memory(s, x.hk));
		CHECK_OK(san_deregister_rdma_memory(s, &x.mine));
	} else {
		san_test_sync(ctl, "close-now");
	}
	CHECK_OK(san_close(s)); /* down: with everything in flight */
	san_provider_close(p);
	side_close(&x);
	return 0;
}

static void busy(san_provider *p, int mode)
{
	struct san_completion c[4];
	struct side x;
	san_socket *s;
	int ctl, got = 0;
	long long t0;
	pid_t pid;

	pid = fault_spawn(busy_peer, &mode, sizeof(mode), &ctl);
	s = san_test_accept_peer(p, ctl);
	side_open(s, &x, ctl, 1, 100);
	san_test_sync(ctl, "posted");
	link_set("down");
	if (mode == BUSY_FLAP) {
		xt_sleep_ms(1500);
		link_set("up");
		side_check_all(s, &x, 200);
		san_test_sync(ctl, "done");
		CHECK(fault_verify("what the peer wrote", x.tgt + LEN, LEN, 201));
		printf("flap: link down 1.5 s under 8 x 64 MiB of operations, all completed intact\n");
		CHECK_OK(san_deregister_memory(s, x.hi));
		CHECK_OK(san_deregister_memory(s, x.ho));
		CHECK_OK(san_deregister_memory(s, x.hk));
		CHECK_OK(san_deregister_rdma_memory(s, &x.mine));
		CHECK_OK(san_close(s));
	} else {
		long long down = xt_now_ms(), end = down + 15000;
		int failed = 0;

		while (got < 4 && xt_now_ms() < end) {
			int n = san_poll(s, c + got, 4 - got, 100);

			if (n == -ECONNRESET)
				break; /* nothing left outstanding */
			CHECK(n >= 0);
			got += n;
		}
		for (int i = 0; i < got; i++) {
			CHECK(c[i].status == 0 || c[i].status == -ECONNRESET);
			failed += c[i].status == -ECONNRESET;
		}
		printf("down: %d of 4 operations completed in %lld ms with the link down, %d with "
		       "-ECONNRESET (SAN_TCP_TIMEOUT_MS=5000)\n",
		       got, xt_now_ms() - down, failed);
		CHECK(got == 4);
		CHECK(failed >= 1);
		san_test_sync(ctl, "close-now");
		t0 = xt_now_ms();
		CHECK_OK(san_close(s)); /* registrations go with it */
		printf("down: san_close took %lld ms\n", xt_now_ms() - t0);
		CHECK(xt_now_ms() - t0 < 2000);
		link_set("up");
	}
	san_test_wait(pid, ctl);
	side_close(&x);
}

int main(int argc, char **argv)
{
	struct kill_arg good = { .op = SAN_OP_RDMA_WRITE, .who = KILL_SURVIVOR_INITIATES, .seed = 1 };
	struct fault_snap base;
	san_provider *p;
	int guard;

	/* A dead path must fail the connection (phase 3); the flap of phase 2
	 * (1.5 s) stays well inside it. Set before any peer starts. */
	setenv("SAN_TCP_TIMEOUT_MS", "5000", 1);
	fault_peers_init(argc, argv, busy_peer, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (getenv("SAN_NETNS_RUNNING"))
		san_test_skip("already inside network namespaces");
	setup_netns();
	guard = start_guardian();
	san_test_start(100);
	p = san_test_provider();
	kill_phase(p, &good);
	printf("good exchange across the veth link\n");
	base = fault_snap(p);

	busy(p, BUSY_FLAP);
	fault_expect_snap("a link flap", p, &base);
	busy(p, BUSY_DOWN);
	fault_expect_snap("closing with the link down", p, &base);
	wait_reachable();
	good.seed++;
	good.op = SAN_OP_SEND;
	kill_phase(p, &good);
	fault_expect_snap("a good exchange after the link came back", p, &base);
	printf("link back up: a new connection transfers intact data\n");
	san_provider_close(p);
	san_test_check_leaks();
	close(guard);
	while (wait(NULL) > 0 || errno == EINTR)
		;
	return 0;
}
