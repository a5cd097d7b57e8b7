/* SPDX-License-Identifier: MIT */
/*
 * Stream sockets: configuration, the public calls, and the connection
 * handshake with the optional move to a Unix socket (docs/stream.md §2, §7).
 */
#include "stream/stream_int.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define HS_MS 10000       /* the stream handshake, after the SAN one */
#define HS_LOCAL_MS 15000 /* the accept side waits this long for the move */
#define HS_TOKEN_MS 5000  /* the connect side waits this long for TOKEN_ACK */

struct san_stream_listener {
	san_provider *p;
	san_listener *l, *ux;          /* ux: the Unix listener for the local move, or NULL */
	char uxname[SS_NAME_MAX];      /* "@san-stream-<hex>" */
	int fdl;                       /* plain Unix listener "<uxname>.fd" handing out the
					* shared rings' memfd, or -1 */
	struct san_stream_config cfg;
	pthread_mutex_t accept_mu;     /* one handshake at a time (the Unix listener is shared) */
};

/* ---- configuration ---- */

static void env_size(const char *name, size_t *v, uint64_t min, uint64_t max)
{
	const char *e = getenv(name);
	uint64_t x;

	if (!e || !*e)
		return;
	if (san__parse_size(e, &x) || x < min || x > max) {
		san__log("%s=%s: out of range, ignored", name, e);
		return;
	}
	*v = (size_t)x;
}

static void env_bool(const char *name, int *v)
{
	const char *e = getenv(name);

	if (!e || !*e)
		return;
	if (!strcmp(e, "0") || !strcasecmp(e, "off") || !strcasecmp(e, "no"))
		*v = 0;
	else if (!strcmp(e, "1") || !strcasecmp(e, "on") || !strcasecmp(e, "yes"))
		*v = 1;
	else
		san__log("%s=%s: not 0 or 1, ignored", name, e);
}

void san_stream_config_init(struct san_stream_config *c)
{
	const char *e;
	size_t v;

	if (!c)
		return;
	memset(c, 0, sizeof(*c));
	c->rdma_threshold = 256 << 10;
	c->flow = SAN_STREAM_FLOW_READ;
	c->slots = 16;
	c->slot_size = 64 << 10;
	c->local = 1;
	c->sink_wait_us = 100;
	c->shm = 1;
	c->shm_ring = 4 << 20;
	c->spin_us = 100;
	env_size("SAN_STREAM_RDMA_THRESHOLD", &c->rdma_threshold, 0, SS_MAX_XFER);
	v = c->slots;
	env_size("SAN_STREAM_SLOTS", &v, SS_MIN_SLOTS, SS_MAX_SLOTS);
	c->slots = (unsigned)v;
	env_size("SAN_STREAM_SLOT_SIZE", &c->slot_size, SS_MIN_SLOT_SIZE, 16 << 20);
	v = c->sink_wait_us;
	env_size("SAN_STREAM_SINK_WAIT_US", &v, 0, 1000000);
	c->sink_wait_us = (unsigned)v;
	env_bool("SAN_STREAM_LOCAL", &c->local);
	env_bool("SAN_STREAM_SHM", &c->shm);
	env_size("SAN_STREAM_SHM_RING", &c->shm_ring, 64 << 10, 1 << 30);
	if (c->shm_ring & (c->shm_ring - 1)) {
		san__log("SAN_STREAM_SHM_RING: not a power of two, using 4M");
		c->shm_ring = 4 << 20;
	}
	v = c->spin_us;
	env_size("SAN_STREAM_SPIN_US", &v, 0, 1000000);
	c->spin_us = (unsigned)v;
	env_bool("SAN_STREAM_NONBLOCK", &c->nonblock);
	e = getenv("SAN_STREAM_FLOW");
	if (e && *e) {
		if (!strcasecmp(e, "read"))
			c->flow = SAN_STREAM_FLOW_READ;
		else if (!strcasecmp(e, "write"))
			c->flow = SAN_STREAM_FLOW_WRITE;
		else
			san__log("SAN_STREAM_FLOW=%s: not read or write, ignored", e);
	}
}

static int config_check(const struct san_stream_config *c)
{
	if (c->slots < SS_MIN_SLOTS || c->slots > SS_MAX_SLOTS)
		return -EINVAL;
	if (c->slot_size < SS_MIN_SLOT_SIZE || c->slot_size > (16u << 20))
		return -EINVAL;
	if (c->flow != SAN_STREAM_FLOW_READ && c->flow != SAN_STREAM_FLOW_WRITE)
		return -EINVAL;
	if (c->rdma_threshold > SS_MAX_XFER || c->sink_wait_us > 1000000 || c->spin_us > 1000000)
		return -EINVAL;
	if (c->shm && (c->shm_ring < (64 << 10) || c->shm_ring > (1u << 30) ||
		       (c->shm_ring & (c->shm_ring - 1))))
		return -EINVAL;
	return 0;
}

static int config_of(const struct san_stream_config *c, struct san_stream_config *out)
{
	if (c)
		*out = *c;
	else
		san_stream_config_init(out);
	return config_check(out);
}

/* ---- the handshake ---- */

/* One page of pool memory for the handshake messages: two send areas and
 * two receive areas of 1 KiB (the TCP connection and the Unix one may
 * both have a receive posted). Receives that complete while we wait for
 * something else are kept in got[]. */
struct hs {
	san_provider *p;
	struct san_dma page;
	bool got[4];
	int status[4];
	size_t bytes[4];
};

enum { HS_SEND1 = 0, HS_RECV1 = 1, HS_SEND2 = 2, HS_RECV2 = 3 };
#define HS_AREA 1024

static uint8_t *hs_area(struct hs *h, int a)
{
	return (uint8_t *)h->page.addr + (size_t)a * HS_AREA;
}

static int hs_attach(struct hs *h, san_socket *sock, san_handle *hd)
{
	return san_register_memory(sock, h->page.addr, 4 * HS_AREA, SAN_MEM_READWRITE, hd);
}

static int hs_post_recv(struct hs *h, san_socket *sock, san_handle hd, int area)
{
	struct san_buf b = { hs_area(h, area), HS_AREA, hd };

	h->got[area] = false;
	return san_recv(sock, &b, 1, CTX(CTX_RX, area));
}

/* Takes the message received into area, if it came. 1: *m is it;
 * 0: not yet; -errno. */
static int hs_take(struct hs *h, int area, struct ss_msg *m)
{
	if (!h->got[area])
		return 0;
	h->got[area] = false;
	if (h->status[area])
		return h->status[area] == -EMSGSIZE ? -EPROTO : -ECONNRESET;
	if (san__ss_parse(hs_area(h, area), h->bytes[area], m))
		return -EPROTO;
	return 1;
}

/* Polls sock once (up to ms) and records what completed. Returns the
 * number of sends completed, or -errno. */
static int hs_poll(struct hs *h, san_socket *sock, int ms)
{
	struct san_completion c;
	int n = san_poll(sock, &c, 1, ms);
	unsigned area = (unsigned)((uintptr_t)c.ctx >> 3) & 3;

	if (n <= 0)
		return n == -ENOTCONN ? -ECONNRESET : n;
	if (c.op == SAN_OP_SEND)
		return c.status ? -ECONNRESET : 1;
	h->got[area] = true;
	h->status[area] = c.status;
	h->bytes[area] = c.bytes;
	return 0;
}

/* Waits for the message of area (area < 0: none) and for `sends` sends
 * of ours on sock. Returns 0, -ETIMEDOUT, -EPROTO, -ECONNRESET. */
static int hs_wait(struct hs *h, san_socket *sock, int area, int sends, int ms, struct ss_msg *m)
{
	uint64_t end = san__now_ns() + (uint64_t)ms * 1000000;
	bool got = area < 0;

	for (;;) {
		uint64_t now = san__now_ns();
		int n;

		if (!got) {
			n = hs_take(h, area, m);
			if (n < 0)
				return n;
			got = n == 1;
		}
		if (got && !sends)
			return 0;
		if (now >= end)
			return -ETIMEDOUT;
		n = hs_poll(h, sock, (int)((end - now) / 1000000) + 1);
		if (n < 0)
			return n;
		sends -= n;
	}
}

static int hs_send(struct hs *h, san_socket *sock, san_handle hd, int area, const struct ss_msg *m)
{
	struct san_buf b = { hs_area(h, area), 0, hd };

	b.len = san__ss_encode(m, b.buf);
	return san_send(sock, &b, 1, CTX(CTX_TXC, area));
}

static void hello_fill(struct ss_msg *m, const struct san_stream_config *c, uint16_t flags)
{
	memset(m, 0, sizeof(*m));
	m->h.type = SS_HELLO;
	m->u.hello.magic = SS_MAGIC;
	m->u.hello.version = SS_VERSION;
	m->u.hello.flags = flags;
	m->u.hello.slots = c->slots;
	m->u.hello.slot_size = (uint32_t)(c->slot_size + SS_SLOT_PAD);
}

/* Is a "tcp:" address one of this host's (loopback, or an address of one
 * of our interfaces in this network namespace)? */
static bool addr_is_local(const char *addr)
{
	struct ifaddrs *ifs, *i;
	struct san_addr a;
	bool local = false;

	if (strncmp(addr, "tcp:", 4) || san__addr_parse(addr, &a))
		return false;
	if (a.family == AF_INET && (ntohl(a.u.in4.sin_addr.s_addr) >> 24) == 127)
		return true;
	if (a.family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&a.u.in6.sin6_addr))
		return true;
	if (a.family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a.u.in6.sin6_addr) &&
	    a.u.in6.sin6_addr.s6_addr[12] == 127)
		return true;
	if (getifaddrs(&ifs))
		return false;
	for (i = ifs; i && !local; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != a.family)
			continue;
		if (a.family == AF_INET)
			local = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr ==
				a.u.in4.sin_addr.s_addr;
		else
			local = !memcmp(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr,
					&a.u.in6.sin6_addr, sizeof(struct in6_addr));
	}
	freeifaddrs(ifs);
	return local;
}

static int random_bytes(uint8_t *out, size_t n)
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

/* An abstract address "@name" + suffix. Returns its length or -1. */
static socklen_t abstract_addr(struct sockaddr_un *un, const char *name, const char *suffix)
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

static int fd_listen(const char *name)
{
	struct sockaddr_un un;
	socklen_t sl = abstract_addr(&un, name, ".fd");
	int fd;

	if (!sl)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&un, sl) || listen(fd, 16)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void sock_timeouts(int fd, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Accept side: hands memfd to whoever presents token on the fd listener
 * before the deadline (strangers are dropped). Returns 0 or -errno. */
static int fd_serve(int fdl, const uint8_t *token, int memfd, uint64_t end)
{
	for (;;) {
		struct pollfd pf = { fdl, POLLIN, 0 };
		uint8_t got[SS_TOKEN_LEN], one = 1;
		uint64_t now = san__now_ns();
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { &one, 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *cm;
		int c;

		if (now >= end)
			return -ETIMEDOUT;
		if (poll(&pf, 1, (int)((end - now) / 1000000) + 1) <= 0)
			continue;
		c = accept4(fdl, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		sock_timeouts(c, 1000);
		if (recv(c, got, sizeof(got), MSG_WAITALL) != (ssize_t)sizeof(got) ||
		    memcmp(got, token, sizeof(got))) {
			close(c);
			continue;
		}
		memset(cbuf, 0, sizeof(cbuf));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &memfd, sizeof(int));
		c = sendmsg(c, &mh, MSG_NOSIGNAL) == 1 ? (close(c), 0) : (close(c), -EPIPE);
		return c;
	}
}

/* Connect side: fetches the memfd. Returns it or -errno. */
static int fd_fetch(const char *name, const uint8_t *token)
{
	struct sockaddr_un un;
	socklen_t sl = abstract_addr(&un, name, ".fd");
	char cbuf[CMSG_SPACE(sizeof(int))];
	uint8_t one;
	struct iovec iov = { &one, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	int c, fd = -EPROTO;

	if (!sl)
		return -EINVAL;
	c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0)
		return -errno;
	sock_timeouts(c, HS_TOKEN_MS);
	if (connect(c, (struct sockaddr *)&un, sl) ||
	    send(c, token, SS_TOKEN_LEN, MSG_NOSIGNAL) != SS_TOKEN_LEN ||
	    recvmsg(c, &mh, MSG_CMSG_CLOEXEC) != 1) {
		fd = -errno ? -errno : -EPROTO;
		close(c);
		return fd;
	}
	close(c);
	cm = CMSG_FIRSTHDR(&mh);
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
	    cm->cmsg_len == CMSG_LEN(sizeof(int)) && !(mh.msg_flags & MSG_CTRUNC))
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* Closes a socket after deregistering what no pending transfer uses
 * (R1.8: san_close releases the rest). */
static void sock_drop(san_socket *sock, san_handle hd)
{
	if (hd)
		san_deregister_memory(sock, hd);
	san_close(sock);
}

/* Connect side. On success *sock_io is the connection to use (the TCP one,
 * or the Unix one it moved to) and *peer the peer's HELLO. */
static int hs_connect(struct san_stream *s, const char *addr, struct hs *h,
		      const struct san_stream_config *c, san_socket **sock_io,
		      struct ss_hello *peer, int *transport)
{
	san_provider *p = s->p;
	san_socket *sock = *sock_io, *ux = NULL;
	san_handle hd = 0, hd2 = 0;
	bool want = c->local && addr_is_local(addr);
	struct ss_msg m;
	int rc;

	rc = hs_attach(h, sock, &hd);
	if (!rc)
		rc = hs_post_recv(h, sock, hd, HS_RECV1);
	hello_fill(&m, c, want ? SS_HF_WANT_LOCAL | (c->shm ? SS_HF_SHM : 0) : 0);
	if (!rc)
		rc = hs_send(h, sock, hd, HS_SEND1, &m);
	if (!rc)
		rc = hs_wait(h, sock, HS_RECV1, 1, HS_MS, &m);
	if (!rc && (m.h.type != SS_HELLO || (m.u.hello.flags & SS_HF_WANT_LOCAL) ||
		    ((m.u.hello.flags & SS_HF_OFFER_LOCAL) && !want)))
		rc = -EPROTO;
	if (rc)
		goto out;
	*peer = m.u.hello;
	*transport = strncmp(addr, "unix:", 5) ? SAN_STREAM_TRANSPORT_TCP : SAN_STREAM_TRANSPORT_UNIX;
	if (!(peer->flags & SS_HF_OFFER_LOCAL))
		goto out;
	{
		char uaddr[8 + SS_NAME_MAX];
		struct ss_msg t = { .h.type = SS_TOKEN };

		snprintf(uaddr, sizeof(uaddr), "unix:%s", peer->name);
		/* A different network namespace has other abstract names:
		 * the connect fails and we stay on TCP. */
		if (san_connect(p, uaddr, &ux))
			ux = NULL;
		if (ux) {
			memcpy(t.u.token.token, peer->token, SS_TOKEN_LEN);
			rc = hs_attach(h, ux, &hd2);
			if (!rc)
				rc = hs_post_recv(h, ux, hd2, HS_RECV2);
			if (!rc)
				rc = hs_send(h, ux, hd2, HS_SEND2, &t);
			if (!rc)
				rc = hs_wait(h, ux, HS_RECV2, 1, HS_TOKEN_MS, &m);
			if (!rc && (m.h.type != SS_TOKEN_ACK ||
				    ((m.u.ack.flags & SS_AF_SHM) && !c->shm)))
				rc = -EPROTO;
			if (!rc) {
				/* Moved: the TCP connection has nothing pending. */
				sock_drop(sock, hd);
				hd = hd2;
				sock = ux;
				*transport = SAN_STREAM_TRANSPORT_LOCAL;
				if (m.u.ack.flags & SS_AF_SHM) {
					/* The rings: take them if they are sound,
					 * else say STAY and use the socket. */
					struct ss_msg r = { .h.type = SS_SHM_OK };
					int fd = fd_fetch(peer->name, peer->token);

					if (fd < 0 || san__ss_shm_attach(s, fd, 1))
						r.h.type = SS_STAY;
					if (fd >= 0)
						close(fd);
					if (r.h.type == SS_SHM_OK)
						*transport = SAN_STREAM_TRANSPORT_SHM;
					rc = hs_send(h, sock, hd, HS_SEND2, &r);
					if (!rc)
						rc = hs_wait(h, sock, -1, 1, HS_MS, &m);
				}
				goto out;
			}
			sock_drop(ux, hd2);
		}
		/* Stay on TCP, and say so: the accept side waits for either. */
		m = (struct ss_msg){ .h.type = SS_STAY };
		rc = hs_send(h, sock, hd, HS_SEND1, &m);
		if (!rc)
			rc = hs_wait(h, sock, -1, 1, HS_MS, &m);
	}
out:
	if (!rc)
		san_deregister_memory(sock, hd);
	*sock_io = sock;
	return rc;
}

/* Accept side, after TOKEN_ACK offered the rings: hands out the memfd and
 * waits for SHM_OK (rings) or STAY (the socket carries the bytes). */
static int accept_shm(san_stream_listener *l, struct san_stream *s, struct hs *h,
		      san_socket *ux, const uint8_t *token)
{
	uint64_t end = san__now_ns() + (uint64_t)HS_TOKEN_MS * 1000000;
	int memfd = san__ss_shm_create(l->cfg.shm_ring), rc;
	struct ss_msg m;

	/* Without a memfd the peer's fetch fails and it says STAY. */
	if (memfd >= 0 && !fd_serve(l->fdl, token, memfd, end) && san__ss_shm_attach(s, memfd, 0))
		san__log("stream: cannot map the shared rings we made");
	if (memfd >= 0)
		close(memfd);
	rc = hs_wait(h, ux, HS_RECV2, 0, HS_MS, &m);
	if (!rc && m.h.type == SS_SHM_OK && !s->shm)
		rc = -EPROTO; /* it says it mapped rings it cannot have */
	else if (!rc && m.h.type != SS_SHM_OK && m.h.type != SS_STAY)
		rc = -EPROTO;
	if (rc || m.h.type == SS_STAY) {
		san__ss_shm_detach(s);
		s->shm = false;
	}
	return rc;
}

/* Accept side: the HELLO came in on sock; answers, and moves to the Unix
 * listener if the peer asked and we can. */
static int hs_accept(san_stream_listener *l, struct san_stream *s, struct hs *h,
		     san_socket **sock_io, struct ss_hello *peer, int *transport)
{
	san_socket *sock = *sock_io;
	san_handle hd = 0;
	struct ss_msg m;
	bool offer;
	int rc;

	*transport = SAN_STREAM_TRANSPORT_TCP;
	rc = hs_attach(h, sock, &hd);
	if (!rc)
		rc = hs_post_recv(h, sock, hd, HS_RECV1);
	if (!rc)
		rc = hs_wait(h, sock, HS_RECV1, 0, HS_MS, &m);
	if (!rc && (m.h.type != SS_HELLO || (m.u.hello.flags & SS_HF_OFFER_LOCAL)))
		rc = -EPROTO;
	if (rc)
		goto out;
	*peer = m.u.hello;
	offer = (peer->flags & SS_HF_WANT_LOCAL) && l->ux;
	hello_fill(&m, &l->cfg, offer ? SS_HF_OFFER_LOCAL : 0);
	if (offer) {
		memcpy(m.u.hello.name, l->uxname, SS_NAME_MAX);
		rc = random_bytes(m.u.hello.token, SS_TOKEN_LEN);
		if (!rc)
			rc = hs_post_recv(h, sock, hd, HS_RECV1); /* for a STAY */
	}
	if (!rc)
		rc = hs_send(h, sock, hd, HS_SEND1, &m);
	if (!rc)
		rc = hs_wait(h, sock, -1, 1, HS_MS, NULL);
	if (rc || !offer)
		goto out;
	{
		uint8_t token[SS_TOKEN_LEN];
		uint64_t end = san__now_ns() + (uint64_t)HS_LOCAL_MS * 1000000;

		memcpy(token, m.u.hello.token, SS_TOKEN_LEN);
		for (;;) {
			san_socket *ux;
			san_handle hd2 = 0;
			struct ss_msg t;

			if (san__now_ns() >= end) {
				rc = -ETIMEDOUT;
				goto out;
			}
			rc = san_accept(l->ux, 10, &ux);
			if (!rc) {
				rc = hs_attach(h, ux, &hd2);
				if (!rc)
					rc = hs_post_recv(h, ux, hd2, HS_RECV2);
				if (!rc)
					rc = hs_wait(h, ux, HS_RECV2, 0, 1000, &t);
				/* Someone else on this host, or garbage: not ours. */
				if (!rc && (t.h.type != SS_TOKEN ||
					    memcmp(t.u.token.token, token, SS_TOKEN_LEN)))
					rc = -EPROTO;
				if (!rc) {
					bool shm = (peer->flags & SS_HF_SHM) && l->cfg.shm && l->fdl >= 0;

					t = (struct ss_msg){ .h.type = SS_TOKEN_ACK };
					t.u.ack.flags = shm ? SS_AF_SHM : 0;
					if (shm)
						rc = hs_post_recv(h, ux, hd2, HS_RECV2); /* SHM_OK */
					if (!rc)
						rc = hs_send(h, ux, hd2, HS_SEND2, &t);
					if (!rc)
						rc = hs_wait(h, ux, -1, 1, HS_MS, NULL);
					if (!rc && shm)
						rc = accept_shm(l, s, h, ux, token);
				}
				if (!rc) {
					/* Our receive for a STAY is still posted on
					 * the TCP connection: san_close ends it. */
					san_close(sock);
					hd = hd2;
					sock = ux;
					*transport = s->shm ? SAN_STREAM_TRANSPORT_SHM
							    : SAN_STREAM_TRANSPORT_LOCAL;
					goto out;
				}
				sock_drop(ux, hd2);
				rc = 0;
			}
			/* The peer could not reach the Unix socket? Then its
			 * STAY arrives in the receive posted on sock. */
			rc = hs_poll(h, sock, 0);
			if (rc < 0)
				goto out;
			rc = hs_take(h, HS_RECV1, &t);
			if (rc < 0)
				goto out;
			if (rc == 1) {
				rc = t.h.type == SS_STAY ? 0 : -EPROTO;
				break;
			}
		}
	}
out:
	if (!rc)
		san_deregister_memory(sock, hd);
	*sock_io = sock;
	return rc;
}

/* ---- listeners ---- */

int san_stream_listen(san_provider *p, const char *addr, const struct san_stream_config *c,
		      san_stream_listener **l_out)
{
	san_stream_listener *l;
	int rc;

	if (!p || !addr || !l_out)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	rc = config_of(c, &l->cfg);
	if (!rc)
		rc = san_listen(p, addr, &l->l);
	if (rc) {
		free(l);
		return rc;
	}
	l->p = p;
	pthread_mutex_init(&l->accept_mu, NULL);
	/* The move to a Unix socket: an abstract name nobody can guess (and
	 * only this host, in this network namespace, can reach). Without it
	 * the listener still works, over TCP only. */
	if (l->cfg.local && !strncmp(addr, "tcp:", 4)) {
		for (int tries = 0; tries < 4 && !l->ux; tries++) {
			uint8_t r[16];
			char ua[8 + SS_NAME_MAX];

			if (random_bytes(r, sizeof(r)))
				break;
			snprintf(l->uxname, sizeof(l->uxname), "@san-stream-");
			for (int i = 0; i < 16; i++)
				snprintf(l->uxname + 12 + 2 * i, 3, "%02x", r[i]);
			snprintf(ua, sizeof(ua), "unix:%s", l->uxname);
			if (san_listen(p, ua, &l->ux))
				l->ux = NULL;
		}
	}
	l->fdl = l->ux && l->cfg.shm ? fd_listen(l->uxname) : -1;
	*l_out = l;
	return 0;
}

int san_stream_listener_addr(san_stream_listener *l, char *buf, size_t len)
{
	if (!l)
		return -EINVAL;
	return san_listener_addr(l->l, buf, len);
}

void san_stream_listener_close(san_stream_listener *l)
{
	if (!l)
		return;
	if (l->ux)
		san_listener_close(l->ux);
	if (l->fdl >= 0)
		close(l->fdl);
	san_listener_close(l->l);
	pthread_mutex_destroy(&l->accept_mu);
	free(l);
}

/* ---- connections ---- */

static int hs_page(san_provider *p, struct hs *h)
{
	h->p = p;
	return san_dma_alloc(p, 4 * HS_AREA, &h->page);
}

/* After the handshake: the stream's regions on the chosen connection. */
static int stream_open(struct san_stream *s, san_socket *sock, const struct ss_hello *peer,
		       int transport, san_stream **s_out)
{
	int rc = san__ss_attach(s, sock, peer->slots, peer->slot_size);

	if (rc) {
		san_close(sock);
		san__ss_free(s);
		return rc == -ENOTCONN ? -ECONNRESET : rc;
	}
	s->transport = transport;
	s->st.transport = transport;
	*s_out = s;
	return 0;
}

int san_stream_accept(san_stream_listener *l, int timeout_ms, san_stream **s_out)
{
	struct san_stream *s;
	struct ss_hello peer;
	san_socket *sock;
	struct hs h;
	int rc, transport;

	if (!l || !s_out)
		return -EINVAL;
	rc = san__ss_new(l->p, &l->cfg, &s);
	if (rc)
		return rc;
	rc = hs_page(l->p, &h);
	if (rc) {
		san__ss_free(s);
		return rc;
	}
	pthread_mutex_lock(&l->accept_mu);
	rc = san_accept(l->l, timeout_ms, &sock);
	if (!rc) {
		rc = hs_accept(l, s, &h, &sock, &peer, &transport);
		if (rc)
			san_close(sock);
	}
	pthread_mutex_unlock(&l->accept_mu);
	san_dma_free(l->p, &h.page);
	if (rc) {
		san__ss_free(s);
		return rc;
	}
	if (transport == SAN_STREAM_TRANSPORT_TCP) {
		char a[256];

		if (san_listener_addr(l->l, a, sizeof(a)) >= 5 && !strncmp(a, "unix:", 5))
			transport = SAN_STREAM_TRANSPORT_UNIX;
	}
	return stream_open(s, sock, &peer, transport, s_out);
}

int san_stream_connect(san_provider *p, const char *addr, const struct san_stream_config *c,
		       san_stream **s_out)
{
	struct san_stream_config cfg;
	struct san_stream *s;
	struct ss_hello peer;
	san_socket *sock;
	struct hs h;
	int rc, transport;

	if (!p || !addr || !s_out)
		return -EINVAL;
	rc = config_of(c, &cfg);
	if (rc)
		return rc;
	rc = san__ss_new(p, &cfg, &s);
	if (rc)
		return rc;
	rc = hs_page(p, &h);
	if (rc) {
		san__ss_free(s);
		return rc;
	}
	rc = san_connect(p, addr, &sock);
	if (!rc) {
		rc = hs_connect(s, addr, &h, &cfg, &sock, &peer, &transport);
		if (rc)
			san_close(sock);
	}
	san_dma_free(p, &h.page);
	if (rc) {
		san__ss_free(s);
		return rc;
	}
	return stream_open(s, sock, &peer, transport, s_out);
}

/* ---- data ---- */

ssize_t san_stream_send(san_stream *s, const void *buf, size_t len, int flags)
{
	ssize_t n;

	if (!s || (!buf && len) || (flags & ~SAN_STREAM_DONTWAIT))
		return -EINVAL;
	pthread_mutex_lock(&s->send_mu);
	pthread_mutex_lock(&s->mu);
	n = san__ss_tx(s, buf, len, s->cfg.nonblock || (flags & SAN_STREAM_DONTWAIT));
	san__ss_fd_update(s);
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_unlock(&s->send_mu);
	return n;
}

ssize_t san_stream_recv(san_stream *s, void *buf, size_t len, int flags)
{
	ssize_t n;

	if (!s || (!buf && len) || (flags & ~SAN_STREAM_DONTWAIT))
		return -EINVAL;
	pthread_mutex_lock(&s->recv_mu);
	pthread_mutex_lock(&s->mu);
	n = san__ss_rx(s, buf, len, s->cfg.nonblock || (flags & SAN_STREAM_DONTWAIT));
	san__ss_fd_update(s);
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_unlock(&s->recv_mu);
	return n;
}

/* mu held: queues FIN (after a decline of an offer we will not use). */
static void send_fin(struct san_stream *s)
{
	struct ss_msg m = { .h.type = SS_FIN };

	if (s->fin_sent || s->err)
		return;
	san__ss_decline(s);
	s->fin_sent = true;
	if (s->shm)
		san__ss_shm_fin(s); /* the ring says it; the message wakes */
	san__ss_ctl(s, &m);
}

int san_stream_shutdown(san_stream *s, int how)
{
	if (!s || (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR))
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	if (s->closing) {
		pthread_mutex_unlock(&s->mu);
		return -ENOTCONN;
	}
	if (how != SHUT_RD) {
		s->shut_wr = true;
		send_fin(s);
	}
	if (how != SHUT_WR) {
		s->shut_rd = true;
		if (s->shm)
			san__ss_shm_drop(s);
		else
			san__ss_drop_rx(s);
	}
	san__ss_flush(s);
	if (s->waiters)
		pthread_cond_broadcast(&s->cv);
	san__ss_fd_update(s);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

int san_stream_close(san_stream *s)
{
	uint64_t end;

	if (!s)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	s->closing = true;
	send_fin(s);
	/* Everything sent leaves this process before the socket goes: every
	 * message took a credit or a control slot the peer keeps posted, so
	 * the peer's NIC takes it without its application (bounded). */
	end = san__now_ns() + 5000000000ull;
	while (!s->err && (s->ctlq_len || s->txd_n < s->n_local || s->txc_n < SS_TXC_SLOTS) &&
	       san__now_ns() < end)
		san__ss_progress(s, SS_SLICE_MS);
	if (s->sink_state == SINK_OFFERED)
		san_deregister_rdma_memory(s->sock, &s->sink_desc);
	pthread_mutex_unlock(&s->mu);
	/* R1.8: deregister what no pending transfer uses (the send regions;
	 * -EBUSY if a send is still out after the wait), then close: the
	 * provider releases the receive region with its posted receives. */
	san_deregister_memory(s->sock, s->htx);
	san_deregister_memory(s->sock, s->htxc);
	san_close(s->sock);
	san__ss_free(s);
	return 0;
}

/* ---- readiness, options, statistics ---- */

int san_stream_fd(san_stream *s)
{
	int fd;

	if (!s)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	if (s->efd < 0) {
		fd = san_socket_event_fd(s->sock);
		if (fd >= 0)
			s->efd = fd;
	}
	fd = s->efd;
	san__ss_fd_update(s);
	pthread_mutex_unlock(&s->mu);
	return fd;
}

int san_stream_poll(san_stream *s, int events)
{
	int r;

	if (!s || (events & ~(SAN_STREAM_IN | SAN_STREAM_OUT)))
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	if (events)
		s->interest = events;
	if (!s->polling)
		san__ss_progress(s, 0);
	r = san__ss_ready(s);
	san__ss_fd_update(s);
	pthread_mutex_unlock(&s->mu);
	return r;
}

int san_stream_setopt(san_stream *s, int opt, uint64_t v)
{
	int rc = 0;

	if (!s)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	switch (opt) {
	case SAN_STREAM_OPT_RDMA_THRESHOLD:
		if (v > SS_MAX_XFER)
			rc = -EINVAL;
		else
			s->cfg.rdma_threshold = (size_t)v;
		break;
	case SAN_STREAM_OPT_NONBLOCK:
		if (v > 1)
			rc = -EINVAL;
		else
			s->cfg.nonblock = (int)v;
		break;
	case SAN_STREAM_OPT_FLOW:
		if (v != SAN_STREAM_FLOW_READ && v != SAN_STREAM_FLOW_WRITE)
			rc = -EINVAL;
		else
			s->cfg.flow = (int)v;
		break;
	case SAN_STREAM_OPT_SINK_WAIT_US:
		if (v > 1000000)
			rc = -EINVAL;
		else
			s->cfg.sink_wait_us = (unsigned)v;
		break;
	default:
		rc = -EINVAL;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int san_stream_getopt(san_stream *s, int opt, uint64_t *v)
{
	int rc = 0;

	if (!s || !v)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	switch (opt) {
	case SAN_STREAM_OPT_RDMA_THRESHOLD: *v = s->cfg.rdma_threshold; break;
	case SAN_STREAM_OPT_NONBLOCK: *v = (uint64_t)s->cfg.nonblock; break;
	case SAN_STREAM_OPT_FLOW: *v = (uint64_t)s->cfg.flow; break;
	case SAN_STREAM_OPT_SINK_WAIT_US: *v = s->cfg.sink_wait_us; break;
	default: rc = -EINVAL;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int san_stream_get_stats(san_stream *s, struct san_stream_stats *st_out)
{
	if (!s || !st_out)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	*st_out = s->st;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

san_socket *san_stream_socket(san_stream *s)
{
	return s ? s->sock : NULL;
}
