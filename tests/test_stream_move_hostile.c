/* SPDX-License-Identifier: MIT */
/*
 * A fake client (stream_fake.h) breaks the local move (docs/stream.md §7)
 * against a real listener on TCP loopback; each case's handshake fails in
 * san_stream_accept with the error named, or is refused without one, and a
 * good move still works afterwards. The accept side's checks:
 *  1. offered the move, it answers with something other than STAY on the
 *     TCP connection: -EPROTO;
 *  2. moved, rings offered, it says SHM_OK without having fetched the
 *     memfd (rings it cannot have mapped): -EPROTO;
 *  3. moved, rings offered, it answers neither SHM_OK nor STAY: -EPROTO;
 *  4. a Unix connection that shows no token is closed within ~1 s (the
 *     fake sees the end); after the move, while the rings wait, a stranger
 *     on the memfd listener presents a wrong token and gets no descriptor
 *     (end of file); the fake fetches the memfd with the right token and
 *     says SHM_OK: the accepted stream is on the shared rings;
 *  5. it leaves after the offer: -ECONNRESET.
 * Leaks nothing (pins, fds).
 */
#include "stream_fake.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/un.h>

enum { C_NOT_STAY, C_SHM_NOFETCH, C_SHM_JUNK, C_STRANGERS, C_GONE, NCASE };

static san_provider *g_p;
static char g_addr[256];
static int g_case;
static _Atomic int g_accepted;

/* Connects to the memfd listener "<name>.fd" and presents token. Returns
 * the descriptor received, or -1 (end of file: refused). */
static int fetch(const char *name, const uint8_t *token)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	int n = snprintf(un.sun_path + 1, sizeof(un.sun_path) - 1, "%s.fd", name + 1);
	char cbuf[CMSG_SPACE(sizeof(int))];
	uint8_t one;
	struct iovec iov = { &one, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct timeval tv = { .tv_sec = 5 };
	struct cmsghdr *cm;
	ssize_t r;
	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), fd = -1;

	CHECK(c >= 0);
	CHECK(setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
	CHECK(connect(c, (struct sockaddr *)&un,
		      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)) == 0);
	CHECK(send(c, token, SS_TOKEN_LEN, MSG_NOSIGNAL) == SS_TOKEN_LEN);
	while ((r = recvmsg(c, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	CHECK(r >= 0);
	cm = CMSG_FIRSTHDR(&mh);
	if (r == 1 && cm && cm->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	close(c);
	return fd;
}

/* Opens a fake on addr. */
static void fake_open(struct fake *f, const char *addr)
{
	san_socket *s;

	CHECK_OK(san_connect(g_p, addr, &s));
	fk_attach(f, g_p, s);
}

static void *client(void *arg)
{
	struct fake f, u, silent;
	struct ss_msg m, t = { .h.type = SS_TOKEN };
	char uaddr[128], name[SS_NAME_MAX];
	uint8_t token[SS_TOKEN_LEN];
	int c = g_case, fd;

	(void)arg;
	fake_open(&f, g_addr);
	fk_hello(&m, SS_HF_WANT_LOCAL | SS_HF_SHM);
	CHECK_OK(fk_send(&f, &m, NULL));
	CHECK_OK(fk_recv(&f, &m, 5000));
	CHECK(m.h.type == SS_HELLO && (m.u.hello.flags & SS_HF_OFFER_LOCAL));
	memcpy(name, m.u.hello.name, SS_NAME_MAX);
	memcpy(token, m.u.hello.token, SS_TOKEN_LEN);
	if (c == C_NOT_STAY) {
		CHECK_OK(fk_send(&f, &(struct ss_msg){ .h.type = SS_CREDIT }, NULL));
		CHECK_RC(fk_recv(&f, &m, 5000), -ECONNRESET);
		fk_close(&f);
		return NULL;
	}
	if (c == C_GONE) {
		fk_close(&f);
		return NULL;
	}
	snprintf(uaddr, sizeof(uaddr), "unix:%s", name);
	if (c == C_STRANGERS) {
		fake_open(&silent, uaddr); /* never shows a token */
		CHECK_RC(fk_recv(&silent, &m, 5000), -ECONNRESET);
		fk_close(&silent);
	}
	fake_open(&u, uaddr);
	memcpy(t.u.token.token, token, SS_TOKEN_LEN);
	CHECK_OK(fk_send(&u, &t, NULL));
	CHECK_OK(fk_recv(&u, &m, 5000));
	CHECK(m.h.type == SS_TOKEN_ACK && (m.u.ack.flags & SS_AF_SHM));
	fk_close(&f);
	switch (c) {
	case C_SHM_NOFETCH:
		CHECK_OK(fk_send(&u, &(struct ss_msg){ .h.type = SS_SHM_OK }, NULL));
		break;
	case C_SHM_JUNK:
		CHECK_OK(fk_send(&u, &(struct ss_msg){ .h.type = SS_FIN }, NULL));
		break;
	case C_STRANGERS: {
		uint8_t wrong[SS_TOKEN_LEN];

		/* While the rings wait for us: a stranger's wrong token
		 * gets nothing, ours gets them. */
		memcpy(wrong, token, SS_TOKEN_LEN);
		wrong[0] ^= 0x80;
		CHECK(fetch(name, wrong) == -1);
		fd = fetch(name, token);
		CHECK(fd >= 0);
		close(fd);
		CHECK_OK(fk_send(&u, &(struct ss_msg){ .h.type = SS_SHM_OK }, NULL));
		/* Stay until the stream is accepted: a close now could be
		 * seen before the SHM_OK. */
		while (!atomic_load(&g_accepted))
			xt_sleep_ms(1);
		fk_close(&u);
		return NULL;
	}
	}
	CHECK_RC(fk_recv(&u, &m, 5000), -ECONNRESET);
	fk_close(&u);
	return NULL;
}

int main(void)
{
	static const int want[NCASE] = { -EPROTO, -EPROTO, -EPROTO, 0, -ECONNRESET };
	struct san_stream_config cfg;
	san_stream_listener *l;

	san_test_start(60);
	g_p = san_test_provider();
	san_stream_config_init(&cfg);
	cfg.local = 1;
	cfg.shm = 1;
	for (g_case = 0; g_case < NCASE; g_case++) {
		pthread_t th;
		san_stream *s = NULL;
		int rc;

		CHECK_OK(san_stream_listen(g_p, "tcp:127.0.0.1:0", &cfg, &l));
		CHECK(san_stream_listener_addr(l, g_addr, sizeof(g_addr)) > 0);
		CHECK(pthread_create(&th, NULL, client, NULL) == 0);
		rc = san_stream_accept(l, 10000, &s);
		if (rc != want[g_case]) {
			fprintf(stderr, "case %d: accept = %d, want %d\n", g_case, rc, want[g_case]);
			exit(1);
		}
		if (!rc) {
			struct san_stream_stats st;

			CHECK_OK(san_stream_get_stats(s, &st));
			CHECK(st.transport == SAN_STREAM_TRANSPORT_SHM);
			atomic_store(&g_accepted, 1);
		}
		CHECK(pthread_join(th, NULL) == 0);
		if (s)
			CHECK_OK(san_stream_close(s));
		san_stream_listener_close(l);
	}
	san_provider_close(g_p);
	san_test_check_leaks();
	return 0;
}
