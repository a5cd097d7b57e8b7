/* SPDX-License-Identifier: MIT */
/*
 * Fault: the connection is cut under the engine. The test finds the
 * survivor's data socket in /proc/self/fd (the one socket that appeared
 * with the connection) and shutdown(SHUT_RDWR)s it behind the library's
 * back, as a broken path or a reset by the network would:
 *
 *   1. with 64 MiB operations in flight in both directions (the survivor's
 *      RDMA write, RDMA read, send and receive; the peer's RDMA write into
 *      the survivor and its send and receive): every operation on both
 *      sides completes, with 0 or -ECONNRESET (at least one of the
 *      survivor's is cut), then san_poll says -ECONNRESET on both sides;
 *   2. on an idle connection: the engine notices by itself (its receive
 *      returns end of stream) and san_poll says -ECONNRESET, with no
 *      operation posted.
 * After each cut the socket refuses new work, closes cleanly, and VmPin,
 * fds, pinned bytes, keys and heap are back at the baseline; a new
 * connection then transfers intact data. SAN_TEST_TRANSPORTS
 */
#include "fault.h"

#define LEN (64 * MIB)

enum { CUT_BUSY = 1, CUT_IDLE = 2 };

static int cut_peer(void *arg, int ctl)
{
	int mode = *(const int *)arg;
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);

	if (mode == CUT_BUSY) {
		/* [0, LEN) read by the survivor, [LEN, 2 LEN) written by it. */
		uint8_t *tgt = xt_map(2 * LEN), *in = xt_map(LEN), *out = xt_map(LEN);
		struct san_rdma_desc dp = xt_rreg(s, tgt, 2 * LEN, SAN_MEM_READWRITE), ds;
		san_handle hi = xt_reg(s, in, LEN, SAN_MEM_WRITE);
		san_handle ho = xt_reg(s, out, LEN, SAN_MEM_READ);
		struct san_completion c[3];

		fault_fill(tgt, LEN, 11);
		fault_fill(out, LEN, 12);
		xt_send_desc(ctl, &dp);
		ds = xt_recv_desc(ctl);
		xt_recv(s, in, LEN, hi, XT_CTX(1));
		CHECK_OK(kill_post(s, SAN_OP_RDMA_WRITE, out, LEN, ho, &ds, 0, XT_CTX(2)));
		CHECK_OK(kill_post(s, SAN_OP_SEND, out, LEN, ho, NULL, 0, XT_CTX(3)));
		san_test_sync(ctl, "peer-posted");
		fault_collect(s, c, 3, XT_TIMEOUT_MS);
		for (int i = 0; i < 3; i++) {
			if (c[i].status == 0 && c[i].op == SAN_OP_RECV)
				CHECK(fault_verify("peer: the survivor's message", in, LEN, 13));
			if (c[i].status != 0 && c[i].status != -ECONNRESET) {
				fprintf(stderr, "peer: %s completed with %d (%s)\n", xt_opname(c[i].op),
					c[i].status, san_strerror(c[i].status));
				return 1;
			}
		}
		fault_expect_reset(s, XT_TIMEOUT_MS);
		san_test_sync(ctl, "peer-reset");
		CHECK_OK(san_deregister_memory(s, hi));
		CHECK_OK(san_deregister_memory(s, ho));
		CHECK_OK(san_deregister_rdma_memory(s, &dp));
		xt_teardown(p, s);
		xt_unmap(tgt, 2 * LEN);
		xt_unmap(in, LEN);
		xt_unmap(out, LEN);
	} else {
		san_test_sync(ctl, "idle");
		fault_expect_reset(s, XT_TIMEOUT_MS);
		san_test_sync(ctl, "peer-reset");
		xt_teardown(p, s);
	}
	return 0;
}

static void cut_busy(san_provider *p)
{
	unsigned long before[64];
	int nb, mode = CUT_BUSY, ctl, fd, cut = 0;
	uint8_t *tgt = xt_map(LEN), *in = xt_map(LEN), *out = xt_map(LEN), *sink = xt_map(LEN);
	uint8_t *page = xt_map(xt_page());
	struct san_completion c[4];
	struct san_rdma_desc ds, dp;
	san_handle hi, ho, hk;
	san_socket *s;
	pid_t pid;

	pid = fault_spawn(cut_peer, &mode, sizeof(mode), &ctl);
	nb = fault_socket_inodes(before, 64, NULL); /* with ctl */
	CHECK(nb <= 64);
	s = san_test_accept_peer(p, ctl);
	fd = fault_new_socket_fd(before, nb);
	fault_fill(out, LEN, 13);
	ds = xt_rreg(s, tgt, LEN, SAN_MEM_READWRITE);
	hi = xt_reg(s, in, LEN, SAN_MEM_WRITE);
	ho = xt_reg(s, out, LEN, SAN_MEM_READ);
	hk = xt_reg(s, sink, LEN, SAN_MEM_WRITE);
	dp = xt_recv_desc(ctl);
	xt_send_desc(ctl, &ds);
	xt_recv(s, in, LEN, hi, XT_CTX(1));
	CHECK_OK(kill_post(s, SAN_OP_RDMA_WRITE, out, LEN, ho, &dp, LEN, XT_CTX(2)));
	CHECK_OK(kill_post(s, SAN_OP_RDMA_READ, sink, LEN, hk, &dp, 0, XT_CTX(3)));
	CHECK_OK(kill_post(s, SAN_OP_SEND, out, LEN, ho, NULL, 0, XT_CTX(4)));
	san_test_sync(ctl, "peer-posted");

	/* Both directions are moving: cut. */
	CHECK(shutdown(fd, SHUT_RDWR) == 0);
	fault_collect(s, c, 4, XT_TIMEOUT_MS);
	for (int i = 0; i < 4; i++) {
		if (c[i].status == -ECONNRESET) {
			cut++;
			continue;
		}
		if (c[i].status != 0 || c[i].bytes != LEN) {
			fprintf(stderr, "survivor: %s completed with %d (%s), %zu bytes\n",
				xt_opname(c[i].op), c[i].status, san_strerror(c[i].status), c[i].bytes);
			exit(1);
		}
		if (c[i].op == SAN_OP_RECV)
			CHECK(fault_verify("survivor: the peer's message", in, LEN, 12));
		if (c[i].op == SAN_OP_RDMA_READ)
			CHECK(fault_verify("survivor: what it read", sink, LEN, 11));
	}
	printf("busy connection cut: %d of 4 of the survivor's operations cut\n", cut);
	CHECK(cut > 0);
	fault_expect_reset(s, XT_TIMEOUT_MS);
	fault_expect_refusals(s, page, out, ho, SAN_MEM_READ, &dp);
	san_test_sync(ctl, "peer-reset");
	CHECK_OK(san_deregister_memory(s, hi));
	CHECK_OK(san_deregister_memory(s, ho));
	CHECK_OK(san_deregister_memory(s, hk));
	CHECK_OK(san_deregister_rdma_memory(s, &ds));
	CHECK_OK(san_close(s));
	san_test_wait(pid, ctl);
	xt_unmap(tgt, LEN);
	xt_unmap(in, LEN);
	xt_unmap(out, LEN);
	xt_unmap(sink, LEN);
	xt_unmap(page, xt_page());
}

static void cut_idle(san_provider *p)
{
	unsigned long before[64];
	int nb, mode = CUT_IDLE, ctl, fd;
	uint8_t *buf = xt_map(MIB), *page = xt_map(xt_page());
	san_handle h;
	san_socket *s;
	long long t0;
	pid_t pid;

	pid = fault_spawn(cut_peer, &mode, sizeof(mode), &ctl);
	nb = fault_socket_inodes(before, 64, NULL); /* with ctl */
	CHECK(nb <= 64);
	s = san_test_accept_peer(p, ctl);
	fd = fault_new_socket_fd(before, nb);
	h = xt_reg(s, buf, MIB, SAN_MEM_READWRITE);
	san_test_sync(ctl, "idle");
	t0 = xt_now_ms();
	CHECK(shutdown(fd, SHUT_RDWR) == 0);
	fault_expect_reset(s, XT_TIMEOUT_MS);
	printf("idle connection cut: -ECONNRESET after %lld ms\n", xt_now_ms() - t0);
	fault_expect_refusals(s, page, buf, h, SAN_MEM_READWRITE, NULL);
	san_test_sync(ctl, "peer-reset");
	CHECK_OK(san_deregister_memory(s, h));
	CHECK_OK(san_close(s));
	san_test_wait(pid, ctl);
	xt_unmap(buf, MIB);
	xt_unmap(page, xt_page());
}

int main(int argc, char **argv)
{
	struct kill_arg good = { .op = SAN_OP_RDMA_WRITE, .who = KILL_SURVIVOR_INITIATES, .seed = 1 };
	struct fault_snap base;
	san_provider *p;

	fault_peers_init(argc, argv, cut_peer, NULL);
	san_test_start(100);
	printf("connection cut under the engine, transport %s\n", san_test_transport());
	p = san_test_provider();
	kill_phase(p, &good);
	base = fault_snap(p);

	for (int round = 0; round < 2; round++) {
		cut_busy(p);
		fault_expect_snap("a busy connection was cut", p, &base);
		good.seed++;
		good.op = SAN_OP_SEND;
		kill_phase(p, &good);
		fault_expect_snap("a good exchange after a cut", p, &base);

		cut_idle(p);
		fault_expect_snap("an idle connection was cut", p, &base);
		good.seed++;
		good.op = SAN_OP_RDMA_READ;
		kill_phase(p, &good);
		fault_expect_snap("a good exchange after an idle cut", p, &base);
	}
	printf("new connections after each cut: intact\n");
	san_provider_close(p);
	san_test_check_leaks();
	return 0;
}
