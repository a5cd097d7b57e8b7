/* SPDX-License-Identifier: MIT */
/*
 * Inline payloads (SAN_INLINE_MAX, include/san.h): a send or RDMA write of
 * at most inline_max bytes, posted while nothing else of the connection is
 * in flight, goes out in the header's sendmsg(), taken from the buffer's
 * current mapping at post time (as IBV_SEND_INLINE); anything larger goes
 * from the pinned pages. Data a peer reads never comes from a mapping.
 *
 * The one way to see which pages a transfer took: a registration gone stale
 * unseen. With SAN_MONITOR=none and SAN_RCACHE=0 nothing watches the
 * mappings, so A registers X (bytes OLD), unmaps it, maps fresh memory at
 * the same address with bytes NEW, and keeps posting with the old handle
 * (an application error the monitor would catch: test_hazard_*_nodereg).
 * Then, for inline_max = 256:
 *   - sends of 1, 8 and 256 bytes deliver NEW, 257 bytes deliver OLD;
 *   - a two-element send of 100 + 100 bytes delivers NEW, 200 + 100 OLD
 *     (the limit is on the message, not the element);
 *   - an RDMA write of 64 bytes places NEW, of 300 bytes OLD;
 *   - B's RDMA memory Y goes stale the same way: A's 64-byte RDMA read
 *     returns OLD (the pinned pages B registered), never what B maps there
 *     now (a peer reads only what was registered for it: docs/security.md).
 * And for inline_max = 0 every transfer takes the pinned pages (OLD).
 * Before that, the limit's parsing: strict numbers 0..4096, a bad
 * environment value ignored, an out-of-range config refused by
 * san_provider_open.
 * SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define INL 256
#define OLD_X 310
#define NEW_X 311
#define OLD_Y 320
#define NEW_Y 321

/* One message or write as B must see it. */
struct step {
	size_t len[2]; /* elements of a send (len[1] == 0: one element) */
	int write;     /* an RDMA write into B's W instead of a send */
};

static const struct step steps[] = {
	{ { 1, 0 }, 0 },   { { 8, 0 }, 0 },    { { INL, 0 }, 0 }, { { INL + 1, 0 }, 0 },
	{ { 100, 100 }, 0 }, { { 200, 100 }, 0 }, { { 64, 0 }, 1 },  { { 300, 0 }, 1 },
};
#define NSTEPS ((int)(sizeof(steps) / sizeof(steps[0])))

static size_t step_len(const struct step *st)
{
	return st->len[0] + st->len[1];
}

/* The bytes of X (seed) that step st carries: element 0 from X, element 1
 * from X + 2048 (both stale). */
static void step_bytes(const struct step *st, uint32_t seed, uint8_t *out)
{
	static uint8_t x[4096];

	san_test_fill(x, sizeof(x), seed);
	memcpy(out, x, st->len[0]);
	memcpy(out + st->len[0], x + 2048, st->len[1]);
}

static int peer(void *arg, int ctl)
{
	unsigned inl = (unsigned)(uintptr_t)arg;
	size_t pg = xt_page();
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *r = xt_map(pg), *w = xt_map(pg), *y = san_test_map_apart(pg), *want = malloc(pg);
	san_handle hr = xt_reg(s, r, pg, SAN_MEM_WRITE);
	struct san_rdma_desc dw = xt_rreg(s, w, pg, SAN_MEM_WRITE), dy;

	CHECK(want);
	san_test_fill(y, pg, OLD_Y);
	dy = xt_rreg(s, y, pg, SAN_MEM_READ);
	xt_unmap(y, pg);
	CHECK(san_test_map_at(y, pg) == y);
	san_test_fill(y, pg, NEW_Y);
	xt_send_desc(ctl, &dw);
	xt_send_desc(ctl, &dy);

	for (int i = 0; i < NSTEPS; i++) {
		const struct step *st = &steps[i];
		size_t len = step_len(st);
		int fresh = len <= inl;
		uint8_t *got = st->write ? w : r;

		memset(got, 0, pg);
		if (!st->write)
			xt_recv(s, r, pg, hr, XT_CTX(i + 1));
		san_test_sync(ctl, "ready");
		if (!st->write)
			xt_expect(s, XT_CTX(i + 1), SAN_OP_RECV, 0, len);
		san_test_sync(ctl, "done");
		step_bytes(st, fresh ? NEW_X : OLD_X, want);
		if (memcmp(got, want, len)) {
			step_bytes(st, fresh ? OLD_X : NEW_X, want);
			fprintf(stderr, "inline_max %u, step %d (%s of %zu + %zu bytes): want the %s "
					"bytes, got %s\n",
				inl, i, st->write ? "write" : "send", st->len[0], st->len[1],
				fresh ? "NEW (mapped)" : "OLD (pinned)",
				memcmp(got, want, len) ? "neither" : "the other");
			return 1;
		}
	}
	san_test_sync(ctl, "end");
	CHECK_OK(san_deregister_memory(s, hr));
	CHECK_OK(san_deregister_rdma_memory(s, &dw));
	CHECK_OK(san_deregister_rdma_memory(s, &dy));
	xt_teardown(p, s);
	xt_unmap(r, pg);
	xt_unmap(w, pg);
	xt_unmap(y, pg);
	free(want);
	return 0;
}

static int run(unsigned inl)
{
	size_t pg = xt_page();
	san_provider *p;
	san_socket *s;
	uint8_t *x, *rd;
	san_handle h, hrd;
	struct san_rdma_desc dw, dy;
	char val[16];
	int ctl, rc;
	pid_t pid;

	snprintf(val, sizeof(val), "%u", inl);
	CHECK(setenv("SAN_INLINE_MAX", val, 1) == 0); /* before the fork: both sides */
	pid = xt_fork(peer, (void *)(uintptr_t)inl, &ctl);
	s = xt_server(&p, ctl);
	dw = xt_recv_desc(ctl);
	dy = xt_recv_desc(ctl);

	x = san_test_map_apart(pg);
	san_test_fill(x, pg, OLD_X);
	h = xt_reg(s, x, pg, SAN_MEM_READ);
	xt_unmap(x, pg);
	CHECK(san_test_map_at(x, pg) == x);
	san_test_fill(x, pg, NEW_X);

	for (int i = 0; i < NSTEPS; i++) {
		const struct step *st = &steps[i];
		struct san_buf b[2] = { { x, st->len[0], h }, { x + 2048, st->len[1], h } };
		void *ctx = XT_CTX(100 + i);
		struct san_completion c;

		san_test_sync(ctl, "ready");
		if (st->write)
			rc = san_rdma_write(s, b, 1, &dw, 0, ctx);
		else
			rc = san_send(s, b, st->len[1] ? 2 : 1, ctx);
		CHECK_OK(rc);
		c = xt_wait_ctx(s, ctx, XT_TIMEOUT_MS);
		CHECK(c.status == 0 && c.bytes == step_len(st));
		san_test_sync(ctl, "done");
	}

	/* A peer's read takes the pinned pages, whatever the limit. */
	rd = xt_map(pg);
	hrd = xt_reg(s, rd, pg, SAN_MEM_WRITE);
	xt_rdma_read(s, rd, 64, hrd, &dy, 0, 0);
	if (!san_test_verify(rd, 64, OLD_Y)) {
		fprintf(stderr, "inline_max %u: an RDMA read of 64 bytes returned %s bytes\n", inl,
			san_test_verify(rd, 64, NEW_Y) ? "the peer's NEW (mapped, unregistered)"
						       : "unexpected");
		return 1;
	}
	san_test_sync(ctl, "end");

	xt_expect_idle(s);
	CHECK_OK(san_deregister_memory(s, h));
	CHECK_OK(san_deregister_memory(s, hrd));
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	xt_unmap(x, pg);
	xt_unmap(rd, pg);
	return 0;
}

/* The limit's own checks: plain numbers 0..4096, strictly. */
static void check_config(void)
{
	static const char *bad[] = { "4097", "-1", "1K", "", " 8", "8 ", "0x10", "99999999999999999999",
				     NULL };
	struct san_config c;
	san_provider *p;

	CHECK(setenv("SAN_INLINE_MAX", "junk", 1) == 0);
	san_config_init(&c); /* ignored, with a message: the default stays */
	CHECK(c.inline_max == INL);
	for (int i = 0; i < (int)(sizeof(bad) / sizeof(bad[0])); i++) {
		CHECK(san_config_set(&c, "SAN_INLINE_MAX", bad[i]) == -EINVAL);
		CHECK(c.inline_max == INL);
	}
	CHECK_OK(san_config_set(&c, "inline_max", "4096"));
	CHECK(c.inline_max == 4096);
	CHECK_OK(san_config_set(&c, "SAN_INLINE_MAX", "0"));
	CHECK(c.inline_max == 0);
	c.inline_max = 4097; /* set behind the parser's back */
	CHECK(san_provider_open(&c, &p) == -EINVAL);
}

int main(void)
{
	san_test_start(60);
	check_config();
	/* Nothing watches mappings: the stale handle stays usable. */
	CHECK(setenv("SAN_RCACHE", "0", 1) == 0);
	CHECK(setenv("SAN_MONITOR", "none", 1) == 0);
	if (run(INL) || run(0))
		return 1;
	san_test_check_leaks();
	return 0;
}
