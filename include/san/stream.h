/* SPDX-License-Identifier: MIT */
/*
 * libsan stream sockets: the switch of the seed. A TCP-like byte stream
 * (ordered, no loss, no duplication, partial reads, orderly shutdown, EOF)
 * carried over a SAN socket of san.h:
 *
 *  - each connection has two message regions from the pinned pools
 *    (san_dma_alloc), registered once: one for outgoing messages, one whose
 *    slots are posted as receives; credit-based flow control (R1.6);
 *  - data below a threshold is copied through the message regions; at or
 *    above it the application's buffer is registered (through the cache)
 *    and moved by RDMA: the receiver RDMA-reads the sender's buffer (read
 *    flow) or the sender RDMA-writes into the receiver's buffer (write
 *    flow) (R1.7);
 *  - when both ends are on one host, the connection may move to a Unix
 *    socket by itself (SAN_STREAM_LOCAL), and its bytes to shared-memory
 *    rings (SAN_STREAM_SHM).
 *
 * The protocol, the flows, the credits and the deregistration order are in
 * docs/stream.md.
 *
 * Conventions as san.h: 0 or a count on success, -errno on failure. Byte
 * counts are ssize_t, as for send(2)/recv(2) (a count can exceed INT_MAX).
 * Threads: one thread may send while another receives on the same stream;
 * concurrent sends (or receives) are serialised. No call may race with
 * san_stream_close. No SIGPIPE is ever raised.
 */
#ifndef SAN_STREAM_H
#define SAN_STREAM_H

#include <san.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct san_stream san_stream;
typedef struct san_stream_listener san_stream_listener;

enum san_stream_flow {
	SAN_STREAM_FLOW_READ = 0,  /* the receiver RDMA-reads the sender's buffer */
	SAN_STREAM_FLOW_WRITE = 1, /* the sender RDMA-writes into a buffer the receiver offered */
};

/* Per-stream settings. san_stream_config_init() fills defaults, then
 * applies the SAN_STREAM_* environment variables. */
struct san_stream_config {
	size_t rdma_threshold; /* SAN_STREAM_RDMA_THRESHOLD (default 256K): a blocking send of
				* at least this many bytes moves by RDMA; 0 = never */
	int flow;              /* SAN_STREAM_FLOW=read|write (default read) */
	unsigned slots;        /* SAN_STREAM_SLOTS: message slots = credits (default 16, 2..1024) */
	size_t slot_size;      /* SAN_STREAM_SLOT_SIZE: payload bytes per slot (default 64K, 4K..16M) */
	int local;             /* SAN_STREAM_LOCAL=0|1: move to a Unix socket when the
				* peer is on this host (default 1) */
	unsigned sink_wait_us; /* SAN_STREAM_SINK_WAIT_US: write flow, how long a large send
				* waits for the receiver's buffer before the read flow (default 100) */
	int nonblock;          /* SAN_STREAM_NONBLOCK=0|1 (default 0) */
	int shm;               /* SAN_STREAM_SHM=0|1: after a local move, carry the bytes in
				* shared-memory rings (default 1) */
	size_t shm_ring;       /* SAN_STREAM_SHM_RING: bytes per direction (default 4M,
				* a power of two, 64K..1G) */
	unsigned spin_us;      /* SAN_STREAM_SPIN_US: shared-memory mode, how long a
				* call spins on the ring before it sleeps (default 50) */
};

void san_stream_config_init(struct san_stream_config *c);

/* Listens on addr (the syntax of san_listen). With c->local and a TCP
 * address it also listens on an abstract Unix socket with a random name
 * (same host, same network namespace only) for san_stream_connect to move
 * to. c NULL: san_stream_config_init defaults. Returns 0 or an error of
 * san_listen, -EINVAL, -ENOMEM. */
int san_stream_listen(san_provider *p, const char *addr, const struct san_stream_config *c,
		      san_stream_listener **l_out);
/* The bound address (TCP or Unix) as san_listener_addr. */
int san_stream_listener_addr(san_stream_listener *l, char *buf, size_t len);
/* Accepts one stream whose handshake (the SAN one, then the stream's own,
 * including the move to a Unix socket: docs/stream.md §7) completes within
 * timeout_ms (-1: wait forever; 0: only what is ready now). Handshakes not
 * finished yet stay with the listener for later calls (up to 64, each for
 * at most 10 s, 15 s after an offer to move), so a stalled peer delays
 * neither the call nor the peers behind it; several threads may accept on
 * one listener. Returns 0, -ETIMEDOUT, -EPROTO (a peer that is not a
 * libsan stream peer), -ECONNRESET (one that hung up in the handshake;
 * -ETIMEDOUT also for one that stalled to its deadline), -ENOMEM (no pool
 * memory for the message regions), or an error of san_accept; a failed
 * peer is gone, call again for the next. */
int san_stream_accept(san_stream_listener *l, int timeout_ms, san_stream **s_out);
void san_stream_listener_close(san_stream_listener *l);

/* Connects (addr as san_connect). c NULL: defaults. Returns 0, -EPROTO,
 * -ETIMEDOUT, -ENOMEM, or an error of san_connect. */
int san_stream_connect(san_provider *p, const char *addr, const struct san_stream_config *c,
		       san_stream **s_out);

/* san_stream_send/recv flags */
#define SAN_STREAM_DONTWAIT 1 /* this call does not block (as MSG_DONTWAIT) */

/* Sends len bytes. Blocking: returns len once every byte is in the
 * stream (for the RDMA path: once the peer has taken it, the buffer is
 * free again), or, after an error, the bytes sent before it if any.
 * Non-blocking (SAN_STREAM_NONBLOCK or DONTWAIT): copies what the credits
 * allow through the message region and returns that count (>= 1), or
 * -EAGAIN; it never uses RDMA (the buffer is the caller's again at once).
 * Errors: -EINVAL, -EPIPE (shut down for writing, or the connection is
 * gone), -EAGAIN, -ENOBUFS (the buffer could not be registered: out of
 * pinnable memory), -EPROTO (the peer broke the protocol). A buffer the
 * NIC cannot pin (read-only or file-backed memory) is copied instead. */
ssize_t san_stream_send(san_stream *s, const void *buf, size_t len, int flags);

/* Receives up to len bytes: returns how many (at least 1; fewer than len
 * when that is what is there: partial reads), 0 at end of stream (the peer
 * shut down its sending side and every byte was read, or this side shut
 * down reading), or -EAGAIN (non-blocking, nothing there), -EINVAL,
 * -ECONNRESET (the connection failed before the peer's end of stream),
 * -ENOBUFS (an RDMA read needed the buffer registered and it could not
 * be), -EPROTO (the peer broke the protocol). */
ssize_t san_stream_recv(san_stream *s, void *buf, size_t len, int flags);

/* SHUT_RD, SHUT_WR or SHUT_RDWR (sys/socket.h). SHUT_WR sends the end of
 * stream after every byte already sent; later sends fail with -EPIPE.
 * SHUT_RD: later receives return 0 and data that arrives is dropped
 * (credits still flow, so the peer is not blocked). Threads blocked in
 * this stream wake up. Returns 0, -EINVAL, -ENOTCONN (already closed). */
int san_stream_shutdown(san_stream *s, int how);

/* Sends the end of stream (if not yet), waits until everything sent has
 * left this process, deregisters the send region (R1.8), closes the SAN
 * socket (which releases the receive region with its pending receives)
 * and frees the regions. Close every stream before san_provider_close
 * (which would close the sockets under them). Returns 0 or -EINVAL. */
int san_stream_close(san_stream *s);

/* Readiness. */
#define SAN_STREAM_IN 1  /* recv will not return -EAGAIN (data, end of stream or an error) */
#define SAN_STREAM_OUT 2 /* send will not return -EAGAIN (credit and a free slot, or an error) */
#define SAN_STREAM_ERR 4 /* the connection failed (also reported with IN and OUT) */
#define SAN_STREAM_HUP 8 /* the peer shut down sending: end of stream once drained */

/* A file descriptor for event loops: readable (EPOLLIN) whenever the
 * stream is ready for one of the events of interest (default
 * SAN_STREAM_IN), or when something arrived that may make it ready: a
 * wake-up can be spurious (the call then returns -EAGAIN and the fd is
 * quiet again). Level-triggered like a socket, with one rule: the state is
 * re-evaluated by every san_stream_* call on the stream (so call one after
 * each wake-up). Owned by the stream (do not close it). Needs the
 * provider's progress thread (SAN_PROGRESS_THREAD=1, the default) to move
 * data while the application sleeps. epoll_wait may return EINTR (see
 * san_socket_event_fd). Returns the fd or -errno. */
int san_stream_fd(san_stream *s);

/* Processes what arrived, sets the events of interest for san_stream_fd
 * (SAN_STREAM_IN | SAN_STREAM_OUT; 0 keeps the current set) and returns
 * the ready events now (a mask of SAN_STREAM_*), or -EINVAL. */
int san_stream_poll(san_stream *s, int events);

/* Options for san_stream_setopt / getopt. */
enum san_stream_opt {
	SAN_STREAM_OPT_RDMA_THRESHOLD = 1, /* bytes (0: never RDMA) */
	SAN_STREAM_OPT_NONBLOCK,           /* 0 or 1 */
	SAN_STREAM_OPT_FLOW,               /* SAN_STREAM_FLOW_* */
	SAN_STREAM_OPT_SINK_WAIT_US,
};
/* Returns 0, -EINVAL (unknown option or value out of range). */
int san_stream_setopt(san_stream *s, int opt, uint64_t value);
int san_stream_getopt(san_stream *s, int opt, uint64_t *value_out);

enum san_stream_transport {
	SAN_STREAM_TRANSPORT_TCP = 1,
	SAN_STREAM_TRANSPORT_UNIX = 2,  /* connected to a unix: address */
	SAN_STREAM_TRANSPORT_LOCAL = 3, /* connected over TCP, moved to a Unix socket */
	SAN_STREAM_TRANSPORT_SHM = 4,   /* moved to a Unix socket, bytes in shared-memory rings */
};

struct san_stream_stats {
	uint64_t bytes_sent, bytes_received;
	uint64_t copy_bytes_sent, copy_bytes_received; /* through the message regions */
	uint64_t rdma_read_bytes;   /* read from the peer's buffers (read flow, as receiver) */
	uint64_t rdma_write_bytes;  /* written into the peer's buffers (write flow, as sender) */
	uint64_t src_avail_sent;    /* large sends offered for reading */
	uint64_t sink_avail_sent;   /* receive buffers offered for writing */
	uint64_t sinks_used;        /* offered receive buffers of the peer we wrote into */
	uint64_t sinks_declined;    /* ... we declined (not writing then) */
	uint64_t msgs_sent, msgs_received, credit_msgs_sent;
	uint64_t credit_waits;      /* times a send waited for credit (or ring room) */
	uint64_t rdma_read_ops;     /* RDMA reads posted (read flow, as receiver) */
	int transport;              /* SAN_STREAM_TRANSPORT_* */
};
int san_stream_get_stats(san_stream *s, struct san_stream_stats *st_out);

/* The SAN socket under the stream (for san_get_stats and the like; do not
 * post operations on it). */
san_socket *san_stream_socket(san_stream *s);

#ifdef __cplusplus
}
#endif
#endif /* SAN_STREAM_H */
