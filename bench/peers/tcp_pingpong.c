/* SPDX-License-Identifier: MIT */
/*
 * tcp_pingpong: plain TCP ping-pong latency over loopback, the floor under
 * any messaging library on sockets. The client sends --size bytes, the
 * server echoes them, --iters times after --warmup; one-way latency is half
 * of each round trip. Both ends busy-poll (recv with MSG_DONTWAIT in a loop)
 * unless --block, where they sleep in recv() and pay the scheduler's
 * wake-up on every hop. TCP_NODELAY on both ends. See peer.h for the CLI.
 *
 * Test name: tcp_lat.
 */
#include "peer.h"

static void pingpong(int fd, const struct peer_hdr *h, int client)
{
	char *buf = peer_alloc(h->size);
	uint64_t total = h->warmup + h->iters;
	double *lat = client ? peer_lat_array(h->iters) : NULL;
	double t0 = 0, start = 0;

	for (uint64_t i = 0; i < total; i++) {
		if (client) {
			if (i == h->warmup)
				start = peer_now();
			t0 = peer_now();
			peer_write_all(fd, buf, h->size);
			peer_read_all(fd, buf, h->size, (int)h->spin);
			if (i >= h->warmup)
				lat[i - h->warmup] = (peer_now() - t0) / 2;
		} else {
			peer_read_all(fd, buf, h->size, (int)h->spin);
			peer_write_all(fd, buf, h->size);
		}
	}
	if (client)
		peer_report(h, h->iters, peer_now() - start, lat);
	free(lat);
	free(buf);
}

int main(int argc, char **argv)
{
	static const char tests[] = "tcp_lat";
	struct peer_opts o;
	struct peer_hdr h;
	int fd;

	peer_parse(argc, argv, tests, &o);
	if (o.host) {
		if (strcmp(o.h.test, "tcp_lat"))
			peer_die("unknown --test '%s' (%s)", o.h.test, tests);
		fd = peer_client_start(&o);
		pingpong(fd, &o.h, 1);
	} else {
		fd = peer_server_start(&o, &h);
		pingpong(fd, &h, 0);
	}
	close(fd);
	return 0;
}
