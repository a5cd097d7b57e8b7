/* SPDX-License-Identifier: MIT */
/*
 * The stream handshake's tools, shared by the connect side (stream.c) and
 * the accept side (stream_accept.c): a page of pool memory for the
 * handshake messages, sending, receiving and waiting on it, and the
 * stream's opening once the handshake is over (docs/stream.md §2, §7).
 */
#include "stream/stream_hs.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int san__hs_attach(struct hs *h, san_socket *sock, san_handle *hd)
{
	return san_register_memory(sock, h->page.addr, 4 * HS_AREA, SAN_MEM_READWRITE, hd);
}

int san__hs_post_recv(struct hs *h, san_socket *sock, san_handle hd, int area)
{
	struct san_buf b = { san__hs_area(h, area), HS_AREA, hd };

	h->got[area] = false;
	return san_recv(sock, &b, 1, CTX(CTX_RX, area));
}

/* Takes the message received into area, if it came. 1: *m is it;
 * 0: not yet; -errno. */
int san__hs_take(struct hs *h, int area, struct ss_msg *m)
{
	if (!h->got[area])
		return 0;
	h->got[area] = false;
	if (h->status[area])
		return h->status[area] == -EMSGSIZE ? -EPROTO : -ECONNRESET;
	if (san__ss_parse(san__hs_area(h, area), h->bytes[area], m))
		return -EPROTO;
	return 1;
}

/* Records one completion: a receive into its area's got[]. Returns 1 for
 * one of our sends, 0 for a receive, -ECONNRESET for a failed send. */
static int hs_record(struct hs *h, const struct san_completion *c)
{
	unsigned area = (unsigned)((uintptr_t)c->ctx >> 3) & 3;

	if (c->op == SAN_OP_SEND)
		return c->status ? -ECONNRESET : 1;
	h->got[area] = true;
	h->status[area] = c->status;
	h->bytes[area] = c->bytes;
	return 0;
}

/* Polls sock once (up to ms) and records what completed. Returns the
 * number of sends completed, or -errno. */
int san__hs_poll(struct hs *h, san_socket *sock, int ms)
{
	struct san_completion c;
	int n = san_poll(sock, &c, 1, ms);

	if (n <= 0)
		return san__hs_err(n);
	return hs_record(h, &c);
}

/* Records every completion there is on sock now, without waiting.
 * Returns the number of our sends among them, or -errno. */
int san__hs_reap(struct hs *h, san_socket *sock)
{
	struct san_completion c[8];
	int sends = 0, n;

	while ((n = san_poll(sock, c, 8, 0)) > 0) {
		for (int i = 0; i < n; i++) {
			int r = hs_record(h, &c[i]);

			if (r < 0)
				return r;
			sends += r;
		}
	}
	if (n < 0)
		return san__hs_err(n);
	return sends;
}

/* Waits for the message of area (area < 0: none) and for `sends` sends
 * of ours on sock. Returns 0, -ETIMEDOUT, -EPROTO, -ECONNRESET. */
int san__hs_wait(struct hs *h, san_socket *sock, int area, int sends, int ms, struct ss_msg *m)
{
	uint64_t end = san__now_ns() + (uint64_t)ms * 1000000;
	bool got = area < 0;

	for (;;) {
		uint64_t now = san__now_ns();
		int n;

		if (!got) {
			n = san__hs_take(h, area, m);
			if (n < 0)
				return n;
			got = n == 1;
		}
		if (got && !sends)
			return 0;
		if (now >= end)
			return -ETIMEDOUT;
		n = san__hs_poll(h, sock, (int)((end - now) / 1000000) + 1);
		if (n < 0)
			return n;
		sends -= n;
	}
}

int san__hs_send(struct hs *h, san_socket *sock, san_handle hd, int area, const struct ss_msg *m)
{
	struct san_buf b = { san__hs_area(h, area), 0, hd };

	b.len = san__ss_encode(m, b.buf);
	return san_send(sock, &b, 1, CTX(CTX_TXC, area));
}

void san__hs_hello_fill(struct ss_msg *m, const struct san_stream_config *c, uint16_t flags)
{
	memset(m, 0, sizeof(*m));
	m->h.type = SS_HELLO;
	m->u.hello.magic = SS_MAGIC;
	m->u.hello.version = SS_VERSION;
	m->u.hello.flags = flags;
	m->u.hello.slots = c->slots;
	m->u.hello.slot_size = (uint32_t)(c->slot_size + SS_SLOT_PAD);
}

int san__hs_random(uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t r;
		int rc = san__random64(&r);

		if (rc)
			return rc;
		memcpy(out + i, &r, SAN_MIN((size_t)8, n - i));
	}
	return 0;
}

/* ---- the shared rings' memfd, over a plain Unix socket ---- */

/* An abstract address "@name" + suffix. Returns its length, or 0 when
 * name is not "@..." or too long. */
socklen_t san__hs_abstract_addr(struct sockaddr_un *un, const char *name, const char *suffix)
{
	int n;

	memset(un, 0, sizeof(*un));
	un->sun_family = AF_UNIX;
	if (name[0] != '@')
		return 0;
	n = snprintf(un->sun_path + 1, sizeof(un->sun_path) - 1, "%s%s", name + 1, suffix);
	if (n < 0 || (size_t)n >= sizeof(un->sun_path) - 1)
		return 0;
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

/* Bounds the blocking calls on a plain socket fd. */
void san__hs_sock_timeouts(int fd, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Closes a socket after deregistering what no pending transfer uses
 * (R1.8: san_close releases the rest). */
void san__hs_sock_drop(san_socket *sock, san_handle hd)
{
	if (hd)
		san_deregister_memory(sock, hd);
	san_close(sock);
}

/* The handshake's page of pool memory (san_dma_free(h->p, &h->page)). */
int san__hs_page(san_provider *p, struct hs *h)
{
	h->p = p;
	return san_dma_alloc(p, 4 * HS_AREA, &h->page);
}

/* After the handshake: the stream's regions on the chosen connection. */
int san__hs_open(struct san_stream *s, san_socket *sock, const struct ss_hello *peer,
		  int transport, san_stream **s_out)
{
	int rc = san__ss_attach(s, sock, peer->slots, peer->slot_size);

	if (rc) {
		san_close(sock);
		san__ss_free(s);
		return san__hs_err(rc);
	}
	s->transport = transport;
	s->st.transport = transport;
	*s_out = s;
	return 0;
}

