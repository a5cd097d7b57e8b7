/* SPDX-License-Identifier: MIT */
/*
 * Internals of the stream switch, shared by its files:
 *   stream.c       config, listen/accept/connect (with the local move), close, options
 *   stream_core.c  the engine: completions, messages, credits, control queue, waiting
 *   stream_tx.c    san_stream_send: copy path, read flow source, write flow into a sink
 *   stream_rx.c    san_stream_recv: copy out, RDMA reads, offering a sink
 *   stream_proto.c the wire messages
 *
 * The switch is a client of the provider: it uses san.h (sockets,
 * registration, send/recv/RDMA, san_poll, san_dma_alloc,
 * san_socket_event_fd) and nothing below it.
 *
 * Locking: s->mu protects every field below it. A thread that must wait
 * either becomes the stream's poller (s->polling: it alone calls san_poll
 * on the socket, with mu dropped, then processes what it reaped under mu
 * and wakes the others) or sleeps on s->cv. send_mu and recv_mu serialise
 * senders and receivers (taken before mu): one send and one receive may
 * run at once, from different threads.
 */
#ifndef SAN_STREAM_INT_H
#define SAN_STREAM_INT_H

#include <san.h>
#include <san/stream.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "stream/stream_proto.h"

/* What a completion's ctx says: kind | index << 3. */
enum { CTX_TXD = 1, CTX_TXC, CTX_RX, CTX_READ, CTX_WRITE };
#define CTX(kind, idx) ((void *)(uintptr_t)((uintptr_t)(idx) << 3 | (kind)))

#define SS_TXC_SLOTS 8 /* control messages in flight from one side */
#define SS_SLICE_MS 20 /* a waiting thread re-checks the stream this often */
#define SS_CTLQ 16     /* control messages waiting for a slot */
#define SS_STAGE (256u << 10) /* staging area for short receives of large sends */
#define SS_STAGE_BELOW (64u << 10) /* receives shorter than this use it */

enum sink_state {
	SINK_NONE = 0,
	SINK_OFFERED,  /* SINK_AVAIL sent: the peer may write into it */
	SINK_REVOKED,  /* data arrived first: revoked, waiting for the decline */
};

/* A receive slot holding a data-class message until the application took
 * it (DATA: off of len payload bytes consumed; SRC_AVAIL: src_off of
 * src_len bytes read). */
struct ss_rx {
	uint8_t type;
	uint32_t off, len;
	uint64_t src_id, src_len, src_off;
	struct san_rdma_desc desc;
};

struct san_stream {
	san_provider *p;
	san_socket *sock;
	int transport;                 /* SAN_STREAM_TRANSPORT_* */
	pthread_mutex_t send_mu, recv_mu;
	pthread_mutex_t mu;
	pthread_cond_t cv;

	/* ---- mu ---- */
	struct san_stream_config cfg;
	bool polling;                  /* a thread is in san_poll for the stream */
	int waiters;                   /* threads asleep on cv */

	/* message regions (R1.6), from the pools, registered once */
	struct san_dma txm, txc, rxm;  /* data send slots, control send slots, receive slots */
	san_handle htx, htxc, hrx;
	unsigned n_local, nrx;         /* our data slots; receive slots posted (n_local + SS_CTL_SLOTS) */
	size_t s_local;                /* our slot size */
	unsigned n_peer;               /* the peer's data slots: our credits at the start */
	size_t max_payload;            /* DATA payload that fits both sides' slots */
	uint16_t *txd_free, *txc_free; /* stacks of free send slots */
	unsigned txd_n, txc_n;
	struct ss_rx *rx;              /* per receive slot */
	uint16_t *rxq;                 /* data-class messages in arrival order (ring of nrx) */
	unsigned rxq_head, rxq_len;

	/* credits (cumulative counters, mod 2^32; docs/stream.md §3) */
	uint32_t tx_data_sent;         /* data-class messages we sent */
	uint32_t peer_freed;           /* ... of which the peer said it freed the slot */
	uint32_t rx_data_rcvd;         /* data-class messages we received */
	uint32_t rx_freed;             /* ... whose slot we freed again */
	uint32_t rx_announced;         /* rx_freed as last told to the peer */
	uint32_t cmsg_sent;            /* CREDIT messages we sent */
	uint32_t peer_cacks;           /* ... that the peer says it processed */
	uint32_t cmsg_rcvd;            /* CREDIT messages we processed */
	uint64_t tx_seq, rx_seq;       /* stream bytes sent / received (incl. large transfers) */
	uint64_t next_id;

	/* control messages waiting for a control send slot, in order */
	struct ss_msg ctlq[SS_CTLQ];
	unsigned ctlq_head, ctlq_len;

	/* read flow, as sender: the buffer we exposed */
	bool src_active, src_done;
	uint64_t src_id;
	/* write flow, as receiver: the buffer we offered */
	int sink_state;
	uint64_t sink_id, sink_got;
	size_t sink_len;
	bool sink_done;
	struct san_rdma_desc sink_desc;
	/* write flow, as sender: the peer's offer */
	bool psink_valid;
	uint64_t psink_id, psink_seq, psink_len;
	struct san_rdma_desc psink_desc;
	/* read flow, receiving into a short buffer: a larger piece of the
	 * source is read into this staging area (pool memory, made at the
	 * first need) and handed out by later receives */
	struct san_dma stage;
	size_t stage_off, stage_len;
	/* our RDMA read (recv side) and RDMA write (send side): 0 idle,
	 * 1 posted, 2 completed with *_status */
	int rd_state, rd_status, wr_state, wr_status;

	int err;                       /* sticky: -ECONNRESET, -EPROTO, -ENOMEM */
	int post_err;                  /* a post failed: the connection is going (sends stop) */
	bool fin_sent, fin_rcvd, shut_rd, shut_wr, closing;
	/* shared-memory mode (stream_shm.c): the SAN socket then carries
	 * only DOORBELL and FIN */
	bool shm;
	uint8_t *shm_base;
	size_t shm_len;
	uint64_t ring;                 /* bytes per direction (private copy) */
	struct ss_shm_dir *txd, *rxd;  /* we produce into txd, consume from rxd */
	uint8_t *tx_ring, *rx_ring;
	uint64_t tx_tail, rx_head;     /* ours: the shared copies are only published */
	int efd;                       /* san_socket_event_fd, -1 until asked for */
	int interest;                  /* SAN_STREAM_IN / OUT for the fd */
	struct san_stream_stats st;
};

/* stream_core.c (mu held for all) */
int san__ss_new(san_provider *p, const struct san_stream_config *c, struct san_stream **s_out);
int san__ss_attach(struct san_stream *s, san_socket *sock, unsigned n_peer, size_t s_peer);
void san__ss_free(struct san_stream *s);
void san__ss_fail(struct san_stream *s, int err);
void san__ss_progress(struct san_stream *s, int timeout_ms);
void san__ss_flush(struct san_stream *s);
int san__ss_ctl(struct san_stream *s, const struct ss_msg *m);
int san__ss_send_msg(struct san_stream *s, struct ss_msg *m, bool data_class);
uint32_t san__ss_credits(const struct san_stream *s);
bool san__ss_can_send_data(const struct san_stream *s);
void san__ss_decline(struct san_stream *s);
void san__ss_free_rx(struct san_stream *s, unsigned idx, bool data_class);
void san__ss_drop_rx(struct san_stream *s);
int san__ss_ready(struct san_stream *s);
void san__ss_fd_update(struct san_stream *s);
uint8_t *san__ss_rx_slot(const struct san_stream *s, unsigned idx);
int san__ss_reg_err(int rc);

/* stream_shm.c */
struct ss_shm_dir;
#define SS_SHM_HDR 4096
/* Accept side: a sealed memfd with both rings (ring bytes each). Returns
 * the fd or -errno. */
int san__ss_shm_create(size_t ring);
/* Maps a memfd the peer sent (checks seals, size, header). Returns 0 or
 * -errno; on success the stream is in shared-memory mode. role 0: accept
 * side (produces ring 0), 1: connect side. Takes ownership of nothing. */
int san__ss_shm_attach(struct san_stream *s, int fd, int role);
void san__ss_shm_detach(struct san_stream *s);
ssize_t san__ss_shm_tx(struct san_stream *s, const uint8_t *buf, size_t len, bool nb);
ssize_t san__ss_shm_rx(struct san_stream *s, uint8_t *buf, size_t len, bool nb);
int san__ss_shm_ready(struct san_stream *s);
/* Before sleeping: asks the peer for a DOORBELL when the events of `want`
 * may have changed. */
void san__ss_shm_arm(struct san_stream *s, int want);
void san__ss_shm_fin(struct san_stream *s);
void san__ss_shm_drop(struct san_stream *s);

/* stream_tx.c, stream_rx.c (send_mu / recv_mu and mu held) */
ssize_t san__ss_tx(struct san_stream *s, const uint8_t *buf, size_t len, bool nb);
ssize_t san__ss_rx(struct san_stream *s, uint8_t *buf, size_t len, bool nb);

#endif
