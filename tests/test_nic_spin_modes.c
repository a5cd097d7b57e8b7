/* SPDX-License-Identifier: MIT */
/*
 * The engine's two ways of reading frame headers (docs/design-notes.md,
 * "Headers in step"): while an application thread spins in san_poll, the
 * spinner reads headers with recv() for up to four connections and the
 * others wait in the ring; a WRITE_ACK queued then waits for the spinner's
 * next post or pass. Nothing may get lost or stuck in the switches:
 *   spin   six connections (more than four), the parent spins with
 *          san_poll(0) over all of them; each round the peer RDMA-writes
 *          over one connection (where the parent posts nothing: its ACK
 *          must go out with a later pass) and sends over another, which
 *          the parent answers; every write completes, every message is
 *          the round's;
 *   away   right after spinning the parent stops calling libsan: the
 *          peer's RDMA write, RDMA read and send (into a posted receive)
 *          over every connection complete, served by the progress thread;
 *   sleep  the parent blocks in san_poll with a long timeout; the peer
 *          sends 100 ms later: the message arrives;
 *   spin   once more, after sleeping.
 * The written memory ends up as the last writes say. SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define NS 6
#define ROUNDS 300
#define MSG 64
#define SLOT 4096

struct msg {
	uint32_t round, sock;
	uint8_t fill[MSG - 8];
};

static void msg_make(struct msg *m, uint32_t round, uint32_t sock)
{
	m->round = round;
	m->sock = sock;
	memset(m->fill, (int)(round * 7 + sock), sizeof(m->fill));
}

static int msg_ok(const struct msg *m, uint32_t round, uint32_t sock)
{
	struct msg want;

	msg_make(&want, round, sock);
	return !memcmp(m, &want, sizeof(want));
}

/* ---- peer: writes, reads and sends ---- */

struct pside {
	san_socket *s[NS];
	uint8_t *buf; /* NS slots: sources and sinks of RDMA, send and receive buffers */
	san_handle h[NS];
	struct san_rdma_desc d[NS];
};

static void peer_spin(struct pside *ps, int ctl, uint32_t base)
{
	san_test_sync(ctl, "spin");
	for (uint32_t r = base; r < base + ROUNDS; r++) {
		int w = (int)((r + 1) % NS), j = (int)(r % NS);
		uint8_t *src = ps->buf + (size_t)w * SLOT;
		struct msg *out = (struct msg *)(ps->buf + NS * SLOT + (size_t)j * MSG);
		struct msg *in = (struct msg *)(ps->buf + 2 * NS * SLOT + (size_t)j * MSG);
		struct san_buf b;

		san_test_fill(src, SLOT, r);
		b = xt_buf(src, SLOT, ps->h[w]);
		CHECK_OK(san_rdma_write(ps->s[w], &b, 1, &ps->d[w], 0, XT_CTX(1)));
		xt_recv(ps->s[j], in, MSG, ps->h[j], XT_CTX(2));
		msg_make(out, r, (uint32_t)j);
		xt_send(ps->s[j], out, MSG, ps->h[j], XT_CTX(3));
		xt_expect(ps->s[w], XT_CTX(1), SAN_OP_RDMA_WRITE, 0, SLOT);
		xt_expect(ps->s[j], XT_CTX(3), SAN_OP_SEND, 0, MSG);
		xt_expect(ps->s[j], XT_CTX(2), SAN_OP_RECV, 0, MSG);
		CHECK(msg_ok(in, r + 1000000, (uint32_t)j));
	}
}

static int peer(void *arg, int ctl)
{
	struct pside ps;
	san_provider *p = san_test_provider();
	size_t len = 3 * NS * SLOT;

	(void)arg;
	for (int i = 0; i < NS; i++)
		ps.s[i] = san_test_connect_peer(p, ctl);
	for (int i = 0; i < NS; i++)
		ps.d[i] = xt_recv_desc(ctl);
	ps.buf = xt_map(len);
	for (int i = 0; i < NS; i++)
		ps.h[i] = xt_reg(ps.s[i], ps.buf, len, SAN_MEM_READWRITE);

	peer_spin(&ps, ctl, 0);
	/* Every write of ours is acknowledged now, so placed. */
	san_test_sync(ctl, "spun");

	/* away: the parent is not calling libsan */
	san_test_sync(ctl, "away");
	for (int i = 0; i < NS; i++) {
		uint8_t *src = ps.buf + (size_t)i * SLOT;
		uint8_t *back = ps.buf + NS * SLOT + (size_t)i * SLOT;
		struct msg *out = (struct msg *)(ps.buf + 2 * NS * SLOT + (size_t)i * MSG);

		san_test_fill(src, SLOT, 5000 + (uint32_t)i);
		xt_rdma_write(ps.s[i], src, SLOT, ps.h[i], &ps.d[i], 0, 0);
		xt_rdma_read(ps.s[i], back, SLOT, ps.h[i], &ps.d[i], 0, 0);
		CHECK(xt_same_fill("read back while away", back, SLOT, 5000 + (uint32_t)i));
		msg_make(out, 7000, (uint32_t)i);
		xt_send(ps.s[i], out, MSG, ps.h[i], XT_CTX(4));
		xt_expect(ps.s[i], XT_CTX(4), SAN_OP_SEND, 0, MSG);
	}
	san_test_sync(ctl, "served");

	/* sleep: the parent waits in san_poll; send late */
	san_test_sync(ctl, "sleep");
	xt_sleep_ms(100);
	{
		struct msg *out = (struct msg *)(ps.buf + 2 * NS * SLOT);

		msg_make(out, 8000, 0);
		xt_send(ps.s[0], out, MSG, ps.h[0], XT_CTX(5));
		xt_expect(ps.s[0], XT_CTX(5), SAN_OP_SEND, 0, MSG);
	}

	peer_spin(&ps, ctl, ROUNDS);
	san_test_sync(ctl, "end");
	for (int i = 0; i < NS; i++)
		CHECK_OK(san_deregister_memory(ps.s[i], ps.h[i]));
	for (int i = 1; i < NS; i++)
		CHECK_OK(san_close(ps.s[i]));
	xt_teardown(p, ps.s[0]);
	xt_unmap(ps.buf, len);
	return 0;
}

/* ---- parent: spins, goes away, sleeps ---- */

struct side {
	san_socket *s[NS];
	uint8_t *tgt; /* NS slots the peer writes and reads */
	struct san_rdma_desc d[NS];
	uint8_t *io; /* receive and send buffers: NS x MSG each */
	san_handle h[NS];
};

static void post_recv(struct side *sd, int i)
{
	xt_recv(sd->s[i], sd->io + (size_t)i * MSG, MSG, sd->h[i], XT_CTX(100 + i));
}

/* Spin over every socket with san_poll(0) until the peer's ROUNDS are
 * answered. */
static void spin(struct side *sd, int ctl, uint32_t base)
{
	uint32_t next = base;
	int busy[NS] = { 0 };

	san_test_sync(ctl, "spin");
	while (next < base + ROUNDS) {
		for (int i = 0; i < NS; i++) {
			struct san_completion c;
			int n = san_poll(sd->s[i], &c, 1, 0);

			CHECK(n >= 0);
			if (!n)
				continue;
			CHECK(c.status == 0);
			if (c.op == SAN_OP_SEND) {
				busy[i] = 0;
				continue;
			}
			CHECK(c.op == SAN_OP_RECV && c.ctx == XT_CTX(100 + i) && c.bytes == MSG);
			CHECK(i == (int)(next % NS));
			CHECK(msg_ok((struct msg *)(sd->io + (size_t)i * MSG), next, (uint32_t)i));
			post_recv(sd, i);
			CHECK(!busy[i]);
			{
				struct msg *out = (struct msg *)(sd->io + (size_t)(NS + i) * MSG);

				msg_make(out, next + 1000000, (uint32_t)i);
				xt_send(sd->s[i], out, MSG, sd->h[i], XT_CTX(200 + i));
			}
			busy[i] = 1;
			next++;
		}
	}
	for (int i = 0; i < NS; i++)
		if (busy[i])
			xt_expect(sd->s[i], XT_CTX(200 + i), SAN_OP_SEND, 0, MSG);
}

int main(void)
{
	struct side sd;
	san_provider *p;
	int ctl;
	pid_t pid;

	san_test_start(90);
	pid = xt_fork(peer, NULL, &ctl);
	p = san_test_provider();
	for (int i = 0; i < NS; i++)
		sd.s[i] = san_test_accept_peer(p, ctl);
	sd.tgt = xt_map(NS * SLOT);
	sd.io = xt_map(2 * NS * MSG);
	for (int i = 0; i < NS; i++)
		sd.h[i] = xt_reg(sd.s[i], sd.io, 2 * NS * MSG, SAN_MEM_READWRITE);
	for (int i = 0; i < NS; i++) {
		sd.d[i] = xt_rreg(sd.s[i], sd.tgt + (size_t)i * SLOT, SLOT, SAN_MEM_READWRITE);
		xt_send_desc(ctl, &sd.d[i]);
	}
	for (int i = 0; i < NS; i++)
		post_recv(&sd, i);

	spin(&sd, ctl, 0);
	/* The last round's write went over another connection than its
	 * message: it is placed once the peer saw it acknowledged (the
	 * progress thread serves it while we wait here). */
	san_test_sync(ctl, "spun");
	for (int i = 0; i < NS; i++) {
		/* the last round that wrote slot i: (r + 1) % NS == i */
		uint32_t r = ROUNDS - 1;

		while ((r + 1) % NS != (uint32_t)i)
			r--;
		CHECK(xt_same_fill("written while spinning", sd.tgt + (size_t)i * SLOT, SLOT, r));
	}

	/* away: no libsan call until the peer says it was served */
	san_test_sync(ctl, "away");
	san_test_sync(ctl, "served");
	for (int i = 0; i < NS; i++) {
		CHECK(xt_same_fill("written while away", sd.tgt + (size_t)i * SLOT, SLOT,
				   5000 + (uint32_t)i));
		xt_expect(sd.s[i], XT_CTX(100 + i), SAN_OP_RECV, 0, MSG);
		CHECK(msg_ok((struct msg *)(sd.io + (size_t)i * MSG), 7000, (uint32_t)i));
		post_recv(&sd, i);
	}

	/* sleep: one blocking san_poll (it spins briefly, then sleeps) */
	san_test_sync(ctl, "sleep");
	{
		struct san_completion c;
		int n = san_poll(sd.s[0], &c, 1, 10000);

		CHECK(n == 1 && c.status == 0 && c.op == SAN_OP_RECV && c.bytes == MSG);
		CHECK(msg_ok((struct msg *)sd.io, 8000, 0));
		post_recv(&sd, 0);
	}

	spin(&sd, ctl, ROUNDS);
	san_test_sync(ctl, "end");
	for (int i = 0; i < NS; i++)
		CHECK_OK(san_deregister_rdma_memory(sd.s[i], &sd.d[i]));
	/* sd.h: the receives still posted hold them; san_close releases */
	for (int i = 1; i < NS; i++)
		CHECK_OK(san_close(sd.s[i]));
	xt_teardown(p, sd.s[0]);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(sd.tgt, NS * SLOT);
	xt_unmap(sd.io, 2 * NS * MSG);
	return 0;
}
