/* SPDX-License-Identifier: MIT */
/*
 * tcp_stream: plain TCP streaming bandwidth over loopback, one send() of
 * --size bytes per message. The server reads into a --size buffer and
 * answers one byte once it has every byte of a phase; the client times its
 * --iters messages from the first send to that answer, so the figure counts
 * bytes the receiver has, not bytes queued in the sender's socket buffer.
 * A warm-up phase of --warmup messages (TCP window, page tables) comes
 * first, untimed. TCP_NODELAY on both ends, as the other messaging peers
 * push every message at once. See peer.h for the CLI.
 *
 * Test name: tcp_bw.
 */
#include "peer.h"

static void client_phase(int fd, const char *buf, const struct peer_hdr *h, uint64_t n)
{
	char ack;

	for (uint64_t i = 0; i < n; i++)
		peer_write_all(fd, buf, h->size);
	peer_read_all(fd, &ack, 1, 0);
}

static void server_phase(int fd, char *buf, const struct peer_hdr *h, uint64_t n)
{
	uint64_t left = n * h->size;
	char ack = 1;

	while (left) {
		size_t want = left < h->size ? (size_t)left : (size_t)h->size;
		ssize_t r = recv(fd, buf, want, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			peer_die("recv: %s", r < 0 ? strerror(errno) : "the peer closed");
		left -= (uint64_t)r;
	}
	peer_write_all(fd, &ack, 1);
}

int main(int argc, char **argv)
{
	static const char tests[] = "tcp_bw";
	struct peer_opts o;
	struct peer_hdr h;
	char *buf;
	int fd;

	peer_parse(argc, argv, tests, &o);
	if (o.host) {
		double t0;

		if (strcmp(o.h.test, "tcp_bw"))
			peer_die("unknown --test '%s' (%s)", o.h.test, tests);
		fd = peer_client_start(&o);
		buf = peer_alloc(o.h.size);
		client_phase(fd, buf, &o.h, o.h.warmup);
		t0 = peer_now();
		client_phase(fd, buf, &o.h, o.h.iters);
		peer_report(&o.h, o.h.iters, peer_now() - t0, NULL);
	} else {
		fd = peer_server_start(&o, &h);
		buf = peer_alloc(h.size);
		server_phase(fd, buf, &h, h.warmup);
		server_phase(fd, buf, &h, h.iters);
	}
	free(buf);
	close(fd);
	return 0;
}
