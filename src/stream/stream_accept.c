/* SPDX-License-Identifier: MIT */
/*
 * Stream listeners and the accept side of the handshake (docs/stream.md
 * §2, §7), for many peers at once.
 *
 * A listener keeps the handshakes under way in a table (ACC_MAX). Every
 * san_stream_accept call steps all of them without blocking — takes new
 * SAN connections, reads what came, answers — and returns the first one
 * that is done. In between it passes again without sleeping for a moment
 * after a handshake moved (its next message is microseconds away), then
 * naps, 50 us doubling to 2 ms (or sleeps in san_accept when the table is
 * empty). So a peer that connects and says
 * nothing, or asks for the local move and never makes it, costs a table
 * entry until its deadline, not the time of the peers behind it, and
 * timeout_ms bounds the call whatever the peers do.
 *
 * The local move: our HELLO offers a Unix listener shared by every
 * handshake; a connection on it belongs to the handshake whose token it
 * presents (A_TOKEN entries until it does). The shared rings' memfd goes
 * out on a plain Unix listener to whoever presents the token of a
 * handshake that offered rings (struct fdc).
 */
#include "stream/stream_hs.h"
#include "util/util.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACC_MAX 64        /* handshakes under way per listener */
#define ACC_TOKEN_MAX 16  /* of them: Unix connections that have not shown a token yet */
#define ACC_TOKEN_MS 1000 /* a Unix connection shows its token within this */
#define ACC_FDC_MAX 8     /* memfd fetches under way */
#define ACC_SLICE_MS 2    /* longest sleep while handshakes are under way: their
			   * steps and new connections are looked for between sleeps */
#define ACC_NAP_MIN_NS (50ull * 1000) /* first sleep after a step; doubles up to the slice */
#define ACC_IDLE_MS 100   /* longest sleep in san_accept with none under way */
#define ACC_SPIN_NS (300ull * 1000) /* after a handshake moved, look again (without
				     * sleeping) this long */

enum acc_state {
	A_FREE,
	A_HELLO,   /* sock: waits for the peer's HELLO (RECV1) */
	A_REPLIED, /* our HELLO went without an offer, or the peer said STAY: waits for our sends */
	A_OFFERED, /* our HELLO offered the move: waits for STAY (RECV1) or for the peer on the
		    * Unix listener */
	A_TOKEN,   /* ux only: a connection on the Unix listener, waits for its TOKEN (RECV2) */
	A_MOVED,   /* moved to ux: waits for our sends (TOKEN_ACK) */
	A_SHM,     /* moved, rings offered: waits for SHM_OK or STAY (RECV2) */
	A_READY,   /* done: a call returns it */
	A_FAILED,  /* err: a call reports it */
};

struct acc {
	enum acc_state state;
	int err;
	struct hs h;           /* SEND1/RECV1 on sock, SEND2/RECV2 on ux */
	san_socket *sock, *ux; /* the listener's connection; the Unix one it moved to */
	san_handle hd, hd2;    /* h's page registered on sock, on ux */
	int sends_sock;        /* our sends on sock not completed yet */
	int sends_ux;          /* on ux */
	int memfd;             /* A_SHM: the rings we offered, or -1 */
	bool fetched;          /* the peer took memfd */
	bool shm_ok;           /* the peer mapped the rings */
	struct ss_hello peer;
	uint8_t token[SS_TOKEN_LEN];
	uint64_t deadline;
};

/* A connection on the memfd listener, until it showed a token. */
struct fdc {
	int fd;
	size_t got;
	uint8_t token[SS_TOKEN_LEN];
	uint64_t deadline;
};

struct san_stream_listener {
	san_provider *p;
	san_listener *l, *ux;     /* ux: the Unix listener for the local move, or NULL */
	char uxname[SS_NAME_MAX]; /* "@san-stream-<hex>" */
	int fdl;                  /* plain Unix listener "<uxname>.fd" handing out the
				   * shared rings' memfd, or -1 */
	struct san_stream_config cfg;
	pthread_mutex_t mu;       /* all below; never held while sleeping */
	struct acc acc[ACC_MAX];
	struct fdc fdc[ACC_FDC_MAX];
	int nfdc;
};

static uint64_t ms_from(uint64_t now, int ms)
{
	return now + (uint64_t)ms * 1000000;
}

/* ---- entries ---- */

/* An empty entry (A_FREE, no memfd). */
static void acc_reset(struct acc *a)
{
	memset(a, 0, sizeof(*a));
	a->memfd = -1;
}

/* Closes what an entry holds (after a failure: san_close ends what is
 * still posted, R1.8) and frees it. */
static void acc_close(san_stream_listener *l, struct acc *a)
{
	if (a->sock)
		san__hs_sock_drop(a->sock, a->hd);
	if (a->ux)
		san__hs_sock_drop(a->ux, a->hd2);
	if (a->memfd >= 0)
		close(a->memfd);
	if (a->h.page.addr)
		san_dma_free(l->p, &a->h.page);
	acc_reset(a);
}

static void acc_fail(san_stream_listener *l, struct acc *a, int err)
{
	if (a->state == A_TOKEN) {
		acc_close(l, a); /* someone else on this host, or garbage: not a peer of ours */
		return;
	}
	a->state = A_FAILED;
	a->err = err;
}

static int acc_count(const san_stream_listener *l, enum acc_state st)
{
	int n = 0;

	for (int i = 0; i < ACC_MAX; i++)
		n += l->acc[i].state == st;
	return n;
}

static struct acc *acc_slot(san_stream_listener *l)
{
	for (int i = 0; i < ACC_MAX; i++)
		if (l->acc[i].state == A_FREE)
			return &l->acc[i];
	return NULL;
}

/* A new connection in a, waiting for its first message: HELLO on the
 * listener's connection, TOKEN on a Unix one. */
static void acc_add(san_stream_listener *l, struct acc *a, san_socket *sock, bool unix_move,
		    uint64_t now)
{
	int rc;

	acc_reset(a);
	if (unix_move)
		a->ux = sock;
	else
		a->sock = sock;
	a->state = unix_move ? A_TOKEN : A_HELLO;
	a->deadline = ms_from(now, unix_move ? ACC_TOKEN_MS : HS_MS);
	rc = san__hs_page(l->p, &a->h);
	if (rc) {
		a->h.page.addr = NULL;
		acc_fail(l, a, rc);
		return;
	}
	if (unix_move) {
		rc = san__hs_attach(&a->h, sock, &a->hd2);
		if (!rc)
			rc = san__hs_post_recv(&a->h, sock, a->hd2, HS_RECV2);
	} else {
		rc = san__hs_attach(&a->h, sock, &a->hd);
		if (!rc)
			rc = san__hs_post_recv(&a->h, sock, a->hd, HS_RECV1);
	}
	if (rc)
		acc_fail(l, a, san__hs_err(rc));
}

/* The peer's HELLO came: answer it, offering the move if it asked and we
 * can. */
static int acc_hello(san_stream_listener *l, struct acc *a, const struct ss_msg *m, uint64_t now)
{
	struct ss_msg r;
	bool offer;
	int rc = 0;

	if (m->h.type != SS_HELLO || (m->u.hello.flags & SS_HF_OFFER_LOCAL))
		return -EPROTO;
	a->peer = m->u.hello;
	offer = (a->peer.flags & SS_HF_WANT_LOCAL) && l->ux;
	san__hs_hello_fill(&r, &l->cfg, offer ? SS_HF_OFFER_LOCAL : 0);
	if (offer) {
		memcpy(r.u.hello.name, l->uxname, SS_NAME_MAX);
		rc = san__hs_random(a->token, SS_TOKEN_LEN);
		memcpy(r.u.hello.token, a->token, SS_TOKEN_LEN);
		if (!rc)
			rc = san__hs_post_recv(&a->h, a->sock, a->hd, HS_RECV1); /* for a STAY */
	}
	if (!rc)
		rc = san__hs_send(&a->h, a->sock, a->hd, HS_SEND1, &r);
	if (rc)
		return san__hs_err(rc);
	a->sends_sock++;
	a->state = offer ? A_OFFERED : A_REPLIED;
	a->deadline = ms_from(now, offer ? HS_LOCAL_MS : HS_MS);
	return 0;
}

/* u (A_TOKEN) showed the token of a (A_OFFERED): a moves to u's
 * connection; u's page goes, a's serves the Unix connection from now on. */
static int acc_move(san_stream_listener *l, struct acc *a, struct acc *u, uint64_t now)
{
	struct ss_msg t = { .h.type = SS_TOKEN_ACK };
	bool shm = (a->peer.flags & SS_HF_SHM) && l->cfg.shm && l->fdl >= 0;
	int rc;

	a->ux = u->ux;
	u->ux = NULL;
	san_deregister_memory(a->ux, u->hd2);
	acc_close(l, u);
	rc = san__hs_attach(&a->h, a->ux, &a->hd2);
	t.u.ack.flags = shm ? SS_AF_SHM : 0;
	if (!rc && shm)
		rc = san__hs_post_recv(&a->h, a->ux, a->hd2, HS_RECV2); /* SHM_OK or STAY */
	if (!rc)
		rc = san__hs_send(&a->h, a->ux, a->hd2, HS_SEND2, &t);
	if (rc)
		return san__hs_err(rc);
	a->sends_ux++;
	/* Without a memfd the peer's fetch fails and it says STAY. */
	if (shm)
		a->memfd = san__ss_shm_create(l->cfg.shm_ring);
	a->state = shm ? A_SHM : A_MOVED;
	a->deadline = ms_from(now, HS_MS);
	return 0;
}

static struct acc *acc_offered(san_stream_listener *l, const uint8_t *token)
{
	for (int i = 0; i < ACC_MAX; i++)
		if (l->acc[i].state == A_OFFERED && !memcmp(l->acc[i].token, token, SS_TOKEN_LEN))
			return &l->acc[i];
	return NULL;
}

/* Takes what came on a's connections and moves its handshake on. */
static void acc_step(san_stream_listener *l, struct acc *a, uint64_t now)
{
	struct ss_msg m;
	int n = 0, rc;

	if (a->sock) {
		n = san__hs_reap(&a->h, a->sock);
		if (n < 0 && a->ux) {
			/* Moved: the peer closes the listener's connection, and
			 * what we sent on it is over either way. */
			a->sends_sock = 0;
			n = 0;
		}
		a->sends_sock -= n;
	}
	if (n >= 0 && a->ux) {
		n = san__hs_reap(&a->h, a->ux);
		a->sends_ux -= n > 0 ? n : 0;
	}
	if (n < 0) {
		acc_fail(l, a, n);
		return;
	}
	switch (a->state) {
	case A_HELLO:
		rc = san__hs_take(&a->h, HS_RECV1, &m);
		if (rc == 1)
			rc = acc_hello(l, a, &m, now);
		break;
	case A_OFFERED:
		rc = san__hs_take(&a->h, HS_RECV1, &m);
		if (rc == 1 && m.h.type != SS_STAY)
			rc = -EPROTO;
		if (rc == 1) {
			a->state = A_REPLIED; /* the peer could not reach the Unix socket */
			rc = 0;
		}
		break;
	case A_TOKEN:
		rc = san__hs_take(&a->h, HS_RECV2, &m);
		if (rc == 1) {
			struct acc *o = m.h.type == SS_TOKEN ? acc_offered(l, m.u.token.token) : NULL;

			if (!o) {
				acc_close(l, a);
				return;
			}
			rc = acc_move(l, o, a, now);
			if (rc)
				acc_fail(l, o, rc);
			return;
		}
		break;
	case A_SHM:
		rc = san__hs_take(&a->h, HS_RECV2, &m);
		if (rc == 1 && m.h.type == SS_SHM_OK && !a->fetched)
			rc = -EPROTO; /* it says it mapped rings it cannot have */
		else if (rc == 1 && m.h.type != SS_SHM_OK && m.h.type != SS_STAY)
			rc = -EPROTO;
		if (rc == 1) {
			a->shm_ok = m.h.type == SS_SHM_OK;
			a->state = A_MOVED;
			rc = 0;
		}
		break;
	default:
		rc = 0;
		break;
	}
	if (rc < 0) {
		acc_fail(l, a, rc);
		return;
	}
	if ((a->state == A_REPLIED || a->state == A_MOVED) && a->sends_sock <= 0 && a->sends_ux <= 0)
		a->state = A_READY;
	else if (now >= a->deadline)
		acc_fail(l, a, -ETIMEDOUT);
}

/* ---- the memfd of the shared rings, over a plain Unix socket ---- */

static int fd_listen(const char *name)
{
	struct sockaddr_un un;
	socklen_t sl = san__hs_abstract_addr(&un, name, ".fd");
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

static void fd_send(int c, int memfd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	uint8_t one = 1;
	struct iovec iov = { &one, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;

	memset(cbuf, 0, sizeof(cbuf));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &memfd, sizeof(int));
	(void)sendmsg(c, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void fdc_drop(san_stream_listener *l, int i)
{
	close(l->fdc[i].fd);
	l->fdc[i] = l->fdc[--l->nfdc];
}

/* Hands a handshake's memfd to the connection that shows its token;
 * strangers, and those too slow to show one, are dropped. */
static void fd_pass(san_stream_listener *l, uint64_t now)
{
	if (l->fdl < 0)
		return;
	while (l->nfdc < ACC_FDC_MAX) {
		int c = accept4(l->fdl, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (c < 0)
			break;
		l->fdc[l->nfdc++] = (struct fdc){ .fd = c, .deadline = ms_from(now, ACC_TOKEN_MS) };
	}
	for (int i = l->nfdc - 1; i >= 0; i--) {
		struct fdc *f = &l->fdc[i];
		ssize_t r = recv(f->fd, f->token + f->got, SS_TOKEN_LEN - f->got, MSG_DONTWAIT);

		if (r > 0)
			f->got += (size_t)r;
		else if (r == 0 || (errno != EAGAIN && errno != EINTR))
			f->deadline = 0;
		if (f->got == SS_TOKEN_LEN) {
			for (int k = 0; k < ACC_MAX; k++) {
				struct acc *a = &l->acc[k];

				if (a->state == A_SHM && a->memfd >= 0 && !a->fetched &&
				    !memcmp(a->token, f->token, SS_TOKEN_LEN)) {
					fd_send(f->fd, a->memfd);
					a->fetched = true;
					break;
				}
			}
			fdc_drop(l, i);
		} else if (now >= f->deadline) {
			fdc_drop(l, i);
		}
	}
}

/* ---- a pass, a wait ---- */

/* What the table looks like, to tell whether a pass changed anything. */
static uint64_t acc_shape(const san_stream_listener *l)
{
	uint64_t h = (uint64_t)l->nfdc;

	for (int i = 0; i < ACC_MAX; i++)
		h = h * 31 + (uint64_t)l->acc[i].state * 7 + (uint64_t)l->acc[i].fetched;
	return h;
}

/* Takes new connections while there is room, steps every handshake; sets
 * *moved if anything changed. Returns 0, or the error of a connection that
 * failed in the SAN handshake (san_accept's), to report if no stream is
 * ready. */
static int acc_pass(san_stream_listener *l, uint64_t now, bool *moved)
{
	uint64_t before = acc_shape(l);
	int err = 0;
	struct acc *a;
	san_socket *sock;

	while ((a = acc_slot(l))) {
		int rc = san_accept(l->l, 0, &sock);

		if (rc) {
			if (rc != -ETIMEDOUT)
				err = rc;
			break;
		}
		acc_add(l, a, sock, false, now);
	}
	while (l->ux && acc_count(l, A_TOKEN) < ACC_TOKEN_MAX && (a = acc_slot(l)) &&
	       !san_accept(l->ux, 0, &sock))
		acc_add(l, a, sock, true, now);
	fd_pass(l, now);
	for (int i = 0; i < ACC_MAX; i++)
		if (l->acc[i].state != A_FREE && l->acc[i].state != A_READY &&
		    l->acc[i].state != A_FAILED)
			acc_step(l, &l->acc[i], now);
	*moved = acc_shape(l) != before;
	return err;
}

/* Moves a finished handshake (a ready one first) out of the table into
 * *out. */
static bool acc_take(san_stream_listener *l, struct acc *out)
{
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < ACC_MAX; i++) {
			struct acc *a = &l->acc[i];

			if (a->state == (pass ? A_FAILED : A_READY)) {
				*out = *a;
				acc_reset(a);
				return true;
			}
		}
	return false;
}

/* Sleeps until something may have happened, at most left_ns. With no
 * handshake under way, in san_accept (a connection it returns joins the
 * table). Else for idle_ns, on the memfd connections and listener only:
 * the handshakes' own sockets have no descriptor to wait on (their
 * completion fds would stay armed for the stream's life, a system call
 * on every completion), so their next step waits for the next pass.
 * Returns 0 or an error of san_accept. */
static int acc_wait(san_stream_listener *l, uint64_t left_ns, uint64_t idle_ns)
{
	struct pollfd pfd[ACC_FDC_MAX + 1];
	int n = 0, rc;
	bool busy = l->nfdc > 0;

	for (int i = 0; i < ACC_MAX && !busy; i++)
		busy = l->acc[i].state != A_FREE;
	for (int i = 0; i < l->nfdc; i++)
		pfd[n++] = (struct pollfd){ l->fdc[i].fd, POLLIN, 0 };
	if (!busy) {
		uint64_t ms = SAN_MIN(left_ns, (uint64_t)ACC_IDLE_MS * 1000000) / 1000000;
		san_socket *sock;
		struct acc *a;

		pthread_mutex_unlock(&l->mu);
		rc = san_accept(l->l, (int)SAN_MAX(ms, 1), &sock);
		pthread_mutex_lock(&l->mu);
		if (rc)
			return rc == -ETIMEDOUT ? 0 : rc;
		a = acc_slot(l);
		if (a)
			acc_add(l, a, sock, false, san__now_ns());
		else
			san_close(sock); /* others filled the table meanwhile */
		return 0;
	}
	if (l->fdl >= 0 && acc_count(l, A_SHM))
		pfd[n++] = (struct pollfd){ l->fdl, POLLIN, 0 };
	pthread_mutex_unlock(&l->mu);
	/* A descriptor closed meanwhile by another caller only ends the
	 * sleep early. */
	{
		uint64_t ns = SAN_MIN(left_ns, idle_ns);
		struct timespec ts = { (time_t)(ns / 1000000000), (long)(ns % 1000000000) };

		(void)ppoll(pfd, (nfds_t)n, &ts, NULL);
	}
	pthread_mutex_lock(&l->mu);
	return 0;
}

/* Opens the stream of a finished handshake, or reports its failure. */
static int acc_finish(san_stream_listener *l, struct acc *a, san_stream **s_out)
{
	struct san_stream *s = NULL;
	san_socket *io = a->ux ? a->ux : a->sock;
	int rc = a->state == A_FAILED ? a->err : san__ss_new(l->p, &l->cfg, &s);
	int transport = SAN_STREAM_TRANSPORT_TCP;

	if (!rc && a->shm_ok)
		rc = san__ss_shm_attach(s, a->memfd, 0);
	if (rc) {
		if (s)
			san__ss_free(s);
		acc_close(l, a);
		return rc;
	}
	if (a->memfd >= 0)
		close(a->memfd);
	if (a->ux) {
		/* Our receive for a STAY is still posted on the listener's
		 * connection: san_close ends it. */
		san_close(a->sock);
		san_deregister_memory(a->ux, a->hd2);
		transport = a->shm_ok ? SAN_STREAM_TRANSPORT_SHM : SAN_STREAM_TRANSPORT_LOCAL;
	} else {
		char addr[256];

		san_deregister_memory(a->sock, a->hd);
		if (san_listener_addr(l->l, addr, sizeof(addr)) >= 5 && !strncmp(addr, "unix:", 5))
			transport = SAN_STREAM_TRANSPORT_UNIX;
	}
	san_dma_free(l->p, &a->h.page);
	return san__hs_open(s, io, &a->peer, transport, s_out);
}

int san_stream_accept(san_stream_listener *l, int timeout_ms, san_stream **s_out)
{
	uint64_t end, hot = 0, idle = ACC_NAP_MIN_NS;
	struct acc done;
	int rc;

	if (!l || !s_out)
		return -EINVAL;
	end = timeout_ms < 0 ? UINT64_MAX : ms_from(san__now_ns(), timeout_ms);
	pthread_mutex_lock(&l->mu);
	for (;;) {
		uint64_t now = san__now_ns();
		bool moved;

		rc = acc_pass(l, now, &moved);
		if (moved) {
			hot = now + ACC_SPIN_NS;
			idle = ACC_NAP_MIN_NS;
		}
		if (acc_take(l, &done))
			break;
		if (!rc && now >= end)
			rc = -ETIMEDOUT;
		if (!rc && now < hot) {
			/* A handshake just moved: its next message is some
			 * microseconds away, a sleep and wake-up 20-25 us, and
			 * the Unix listener is served only in a pass. */
			pthread_mutex_unlock(&l->mu);
			sched_yield();
			pthread_mutex_lock(&l->mu);
			continue;
		}
		if (!rc) {
			rc = acc_wait(l, end - now, idle);
			idle = SAN_MIN(idle * 2, (uint64_t)ACC_SLICE_MS * 1000000);
		}
		if (rc) {
			pthread_mutex_unlock(&l->mu);
			return rc;
		}
	}
	pthread_mutex_unlock(&l->mu);
	return acc_finish(l, &done, s_out);
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
	rc = san__ss_config_of(c, &l->cfg);
	if (!rc)
		rc = san_listen(p, addr, &l->l);
	if (rc) {
		free(l);
		return rc;
	}
	l->p = p;
	pthread_mutex_init(&l->mu, NULL);
	for (int i = 0; i < ACC_MAX; i++)
		acc_reset(&l->acc[i]);
	/* The move to a Unix socket: an abstract name nobody can guess (and
	 * only this host, in this network namespace, can reach). Without it
	 * the listener still works, over TCP only. */
	if (l->cfg.local && !strncmp(addr, "tcp:", 4)) {
		for (int tries = 0; tries < 4 && !l->ux; tries++) {
			uint8_t r[16];
			char ua[8 + SS_NAME_MAX];

			if (san__hs_random(r, sizeof(r)))
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
	for (int i = 0; i < ACC_MAX; i++)
		if (l->acc[i].state != A_FREE)
			acc_close(l, &l->acc[i]);
	while (l->nfdc)
		fdc_drop(l, l->nfdc - 1);
	if (l->ux)
		san_listener_close(l->ux);
	if (l->fdl >= 0)
		close(l->fdl);
	san_listener_close(l->l);
	pthread_mutex_destroy(&l->mu);
	free(l);
}
