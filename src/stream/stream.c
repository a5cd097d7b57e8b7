/* SPDX-License-Identifier: MIT */
/*
 * Stream sockets: configuration, the connect side of the handshake with
 * the optional move to a Unix socket (docs/stream.md §2, §7), and the
 * calls on an open stream. The accept side: stream_accept.c.
 */
#include "stream/stream_hs.h"
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

int san__ss_config_of(const struct san_stream_config *c, struct san_stream_config *out)
{
	if (c)
		*out = *c;
	else
		san_stream_config_init(out);
	return config_check(out);
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


/* Connect side: fetches the memfd. Returns it or -errno. The blocking
 * calls retry on EINTR: io_uring work that this thread queued runs by
 * interrupting them (san.h, san_socket_event_fd). */
static int fd_fetch(const char *name, const uint8_t *token)
{
	struct sockaddr_un un;
	socklen_t sl = san__hs_abstract_addr(&un, name, ".fd");
	char cbuf[CMSG_SPACE(sizeof(int))];
	uint8_t one;
	struct iovec iov = { &one, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	ssize_t r;
	int c, fd = -EPROTO;

	if (!sl)
		return -EINVAL;
	c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0)
		return -errno;
	san__hs_sock_timeouts(c, HS_TOKEN_MS);
	while ((r = connect(c, (struct sockaddr *)&un, sl)) && errno == EINTR)
		;
	if (r && errno == EISCONN) /* an interrupted connect went on */
		r = 0;
	if (!r)
		while ((r = send(c, token, SS_TOKEN_LEN, MSG_NOSIGNAL)) < 0 && errno == EINTR)
			;
	if (r == SS_TOKEN_LEN)
		while ((r = recvmsg(c, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
			;
	if (r != 1) {
		fd = r < 0 ? -errno : -EPROTO;
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

	rc = san__hs_attach(h, sock, &hd);
	if (!rc)
		rc = san__hs_post_recv(h, sock, hd, HS_RECV1);
	san__hs_hello_fill(&m, c, want ? SS_HF_WANT_LOCAL | (c->shm ? SS_HF_SHM : 0) : 0);
	if (!rc)
		rc = san__hs_send(h, sock, hd, HS_SEND1, &m);
	if (!rc)
		rc = san__hs_wait(h, sock, HS_RECV1, 1, HS_MS, &m);
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
			rc = san__hs_attach(h, ux, &hd2);
			if (!rc)
				rc = san__hs_post_recv(h, ux, hd2, HS_RECV2);
			if (!rc)
				rc = san__hs_send(h, ux, hd2, HS_SEND2, &t);
			if (!rc)
				rc = san__hs_wait(h, ux, HS_RECV2, 1, HS_TOKEN_MS, &m);
			if (!rc && (m.h.type != SS_TOKEN_ACK ||
				    ((m.u.ack.flags & SS_AF_SHM) && !c->shm)))
				rc = -EPROTO;
			if (!rc) {
				/* Moved: the TCP connection has nothing pending. */
				san__hs_sock_drop(sock, hd);
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
					rc = san__hs_send(h, sock, hd, HS_SEND2, &r);
					if (!rc)
						rc = san__hs_wait(h, sock, -1, 1, HS_MS, &m);
				}
				goto out;
			}
			san__hs_sock_drop(ux, hd2);
		}
		/* Stay on TCP, and say so: the accept side waits for either. */
		m = (struct ss_msg){ .h.type = SS_STAY };
		rc = san__hs_send(h, sock, hd, HS_SEND1, &m);
		if (!rc)
			rc = san__hs_wait(h, sock, -1, 1, HS_MS, &m);
	}
out:
	if (!rc)
		san_deregister_memory(sock, hd);
	*sock_io = sock;
	return rc;
}


/* ---- connections ---- */


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
	rc = san__ss_config_of(c, &cfg);
	if (rc)
		return rc;
	rc = san__ss_new(p, &cfg, &s);
	if (rc)
		return rc;
	rc = san__hs_page(p, &h);
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
	return san__hs_open(s, sock, &peer, transport, s_out);
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

