/* SPDX-License-Identifier: MIT */
/*
 * The stream handshake's tools (stream_hs.c), for the connect side
 * (stream.c) and the accept side (stream_accept.c).
 */
#ifndef SAN_STREAM_HS_H
#define SAN_STREAM_HS_H

#include "stream/stream_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#define HS_MS 10000       /* the stream handshake, after the SAN one */
#define HS_LOCAL_MS 15000 /* the accept side waits this long for the move */
#define HS_TOKEN_MS 5000  /* the connect side waits this long for TOKEN_ACK */

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


/* A socket that closed under the handshake: the peer is gone. */
static inline int san__hs_err(int rc)
{
	return rc == -ENOTCONN ? -ECONNRESET : rc;
}

static inline uint8_t *san__hs_area(struct hs *h, int a)
{
	return (uint8_t *)h->page.addr + (size_t)a * HS_AREA;
}

int san__hs_page(san_provider *p, struct hs *h);
int san__hs_attach(struct hs *h, san_socket *sock, san_handle *hd);
int san__hs_post_recv(struct hs *h, san_socket *sock, san_handle hd, int area);
int san__hs_take(struct hs *h, int area, struct ss_msg *m);
int san__hs_poll(struct hs *h, san_socket *sock, int ms);
int san__hs_reap(struct hs *h, san_socket *sock);
int san__hs_wait(struct hs *h, san_socket *sock, int area, int sends, int ms, struct ss_msg *m);
int san__hs_send(struct hs *h, san_socket *sock, san_handle hd, int area, const struct ss_msg *m);
void san__hs_hello_fill(struct ss_msg *m, const struct san_stream_config *c, uint16_t flags);
int san__hs_random(uint8_t *out, size_t n);
socklen_t san__hs_abstract_addr(struct sockaddr_un *un, const char *name, const char *suffix);
void san__hs_sock_timeouts(int fd, int ms);
void san__hs_sock_drop(san_socket *sock, san_handle hd);
int san__hs_open(struct san_stream *s, san_socket *sock, const struct ss_hello *peer,
		 int transport, san_stream **s_out);
int san__ss_config_of(const struct san_stream_config *c, struct san_stream_config *out);

#endif
