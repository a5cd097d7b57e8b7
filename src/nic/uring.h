/* SPDX-License-Identifier: MIT */
/*
 * Internals of the io_uring software NIC, shared by its files:
 *   nic_uring.c  ring, engine lock, progress thread, waiting
 *   nic_mem.c    registrations: pinned pages as io_uring fixed buffers
 *   nic_conn.c   listen/accept/connect and the handshake
 *   nic_ep.c     the protocol engine of one connection (nic_ep.h): its
 *                lifecycle, failure and reaping, post, CQE dispatch
 *   nic_key.c    memory keys exposed to a peer
 *   nic_tx.c     transmit queue and chains
 *   nic_rx.c     receive state machine
 */
#ifndef SAN_NIC_URING_H
#define SAN_NIC_URING_H

#include "nic.h"
#include "wire.h"
#include "util/util.h"

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* io_uring limits: 16384 registered buffers of at most 1 GiB each. A
 * registration larger than a chunk uses consecutive slots. */
#define URING_MAX_SLOTS 16384
#define URING_CHUNK (1ull << 30)
#define URING_TX_CHAIN 16            /* linked SQEs in flight per connection */
#define URING_SCRATCH (64u << 10)    /* sink for refused or oversized payload */
#define URING_HANDSHAKE_MS 10000
#define URING_ACCEPT_PENDING 64      /* handshakes under way per listener */
#define URING_ACCEPT_SLICE_NS (100ull * 1000000) /* longest poll() in san_accept */
/* Responses queued for a peer before we stop reading its requests. A
 * peer's own outstanding requests are bounded by its max_outstanding
 * (default 1024), so only a peer that never reads reaches this. */
#define URING_MAX_RESP_QUEUED 65536
/* Payload reads of at least this many bytes wait for up to
 * URING_LOWAT_MAX of them (SO_RCVLOWAT) instead of taking each segment as
 * it comes (rx_set_lowat). */
#define URING_LOWAT_MIN (64u << 10)
#define URING_LOWAT_MAX (512u << 10)
/* The progress thread stays parked this long after an app poller left:
 * apps that poll in a loop do not pay a thread hand-off per call. */
#define URING_GRACE_NS 200000ull
/* ...and checks back at most this long apart while they go on polling. */
#define URING_PARK_MAX_NS 1600000ull
#define URING_HOOK_NS 100000000ull /* idle hook period */
/* While an app thread spins in san_poll, at most this many connections
 * read their next frame header with a plain recv() on each pass instead of
 * a RECV waiting in the ring (see "Reading headers in step" in
 * nic_uring.c); the others wait in the ring as usual. */
#define URING_SYNC_MAX_EPS 4

/* Not in Debian's kernel headers yet (Linux 6.18): no SIGPIPE from a write. */
#define URING_RWF_NOSIGNAL 0x00000100

/* user_data of our SQEs: an ep pointer (64-byte aligned) | kind | index. */
#define UD_KIND_MASK 3ull
#define UD_TX 1ull
#define UD_RX 2ull
#define UD_IDX_SHIFT 2
#define UD_IDX_MASK (0xfull << UD_IDX_SHIFT)
#define UD_PTR_MASK (~63ull)
/* user_data 0: wake-up NOPs and cancel requests; their CQEs are ignored. */

struct uring_nic {
	struct io_uring ring;
	int rw_flags;                 /* URING_RWF_NOSIGNAL when the kernel has it */
	uint64_t max_msg;             /* largest payload we accept from a peer */
	unsigned tcp_timeout_ms;      /* TCP_USER_TIMEOUT of every connection (0: leave it) */
	size_t inline_max;            /* payloads up to this go in the header's sendmsg() */

	pthread_mutex_t lock;         /* the engine lock: ring, every ep */
	pthread_cond_t prog_cond;     /* parks the progress thread while apps poll */
	int app_pollers;              /* lock: app threads inside san_poll */
	uint64_t app_last_ns;         /* lock: when the last one left */
	int app_sleepers;             /* lock: app threads asleep in the kernel */
	bool stop;                    /* lock: progress thread must exit */
	bool prog_asleep;             /* lock: progress thread asleep in the ring (not parked) */
	bool have_thread;
	pthread_t thread;
	int neps;                     /* lock: live eps */
	void (*hook_fn)(void *);      /* lock: the idle hook */
	void *hook_arg;
	bool hook_running;            /* lock */
	uint64_t hook_last_ns;        /* progress thread only */
	uint64_t ncompleted;          /* lock: ops completed, ever */
	/* lock: eps whose next header is read by recv() while an app thread
	 * spins, oldest first (san__uring_sync_add); none while anyone sleeps */
	struct uring_ep *sync_head, **sync_tail;
	int nsync;
	bool arming;                  /* lock: sync_arm_all at work: no recv() */
	/* lock: eps holding bare responses (ACKs) back while an app thread
	 * spins, for its next post on them or the next pass (san__uring_defer) */
	struct uring_ep *defer_head;

	pthread_mutex_t slot_lock;    /* slot bitmap; never held with the engine lock */
	uint64_t slot_map[URING_MAX_SLOTS / 64];
	unsigned slot_hint;

	_Atomic uint64_t pins, unpins, pinned_bytes, keys_active;
	_Atomic uint64_t tx_direct;   /* nic_tx.c: tx_sync_headers */
	_Atomic uint64_t rx_direct;   /* nic_rx.c: rx_sync_payload (payloads begun) */

	void *scratch;                /* kernel-written sink, never read */
};

struct uring_mr {
	struct san_nic_mr pub;
	struct uring_nic *nic;
	_Atomic int refs;             /* owner (until mem_dereg) + keys + rx targets */
	uint16_t slot, nslots;
};

struct uring_key {
	struct uring_key *next;       /* hash chain */
	uint64_t key;
	struct uring_mr *mr;          /* holds a ref */
	uintptr_t addr;
	size_t len;
	int rights;
	int refs;                     /* lock: 1 for the table + in-flight peer ops */
	bool revoked;
};

struct tx_item {
	struct tx_item *next;
	uint8_t hdr[sizeof(struct san_wire_hdr)]; /* read by the kernel while in flight */
	struct san_nic_op *op;        /* SEND, WRITE, READ_REQ */
	struct uring_key *key;        /* READ_RESP with payload: holds a key ref */
	struct san_nic_sge *sge;      /* payload parts (op->sge or &one) */
	int nsge;
	struct san_nic_sge one;
	bool resp;                    /* a WRITE_ACK or READ_RESP we owe */
};

enum rx_state {
	RX_HDR,       /* reading a frame header */
	RX_WAIT_RECV, /* a SEND arrived and no receive is posted: not reading */
	RX_PAYLOAD,   /* reading payload into pinned pages */
	RX_DRAIN,     /* reading payload into scratch */
};

enum rx_after { RXA_RECV = 1, RXA_WRITE, RXA_READ_RESP };

struct uring_ep {
	struct uring_nic *nic;
	int fd;
	/* enum san_nic_ep_state: written under the engine lock, read
	 * without it by registration (a stale read is harmless). */
	_Atomic int state;
	int fail_status;              /* what outstanding ops complete with */
	void (*notify_fn)(void *);    /* lock: told when the ep fails (ep_set_notify) */
	void *notify_arg;
	uint64_t nonce, peer_max_msg, next_id;

	/* transmit: a queue of frames and a cursor into it */
	struct tx_item *tx_head, **tx_tail;
	int tx_part;                  /* -1: header, else payload part */
	size_t tx_off;
	int tx_nfl, tx_back;          /* SQEs of the chain in flight / returned */
	bool rx_resume;               /* responses fell below the limit: rx_resume() */
	bool tx_flush;                /* responses rx queued, not yet kicked (san__uring_rx_kick) */
	bool deferred;                /* on the nic's defer list (defer_next) */
	struct uring_ep *defer_next;
	unsigned resp_queued;         /* responses in the tx queue */
	struct { size_t len; int res; } tx_fl[URING_TX_CHAIN];

	/* ops waiting for the peer's response, in wire order */
	struct san_nic_op *await_head, **await_tail;
	/* posted receives */
	struct san_nic_op *recv_head, **recv_tail;

	/* receive */
	enum rx_state rx_state;
	uint8_t rx_inflight;            /* rx SQEs in the kernel: 0, 1, or 2 (payload + linked header) */
	bool rx_linked;                 /* the next header's RECV is linked behind the payload read */
	bool rx_tcp;                    /* a TCP socket: SO_RCVLOWAT works (rx_set_lowat) */
	int rx_lowat;                   /* the socket's SO_RCVLOWAT as we last set it (0: never set) */
	uint8_t rx_hdr_buf[sizeof(struct san_wire_hdr)]; /* kernel-written */
	size_t rx_hdr_got;
	struct san_wire_hdr rx_hdr;
	struct san_nic_sge *rx_sge;   /* RX_PAYLOAD target */
	int rx_nsge, rx_idx;
	size_t rx_off, rx_left;       /* offset in part; bytes left to place */
	struct san_nic_sge rx_one;
	size_t rx_drain_left;
	enum rx_after rx_after;
	struct san_nic_op *rx_op;
	struct uring_key *rx_key;
	int rx_status;                /* SAN_WIRE_* for the response */
	size_t rx_placed;
	/* on the nic's sync list: no header RECV in the ring, the spinning app
	 * thread's passes recv() it (sync_pprev NULL: not on the list) */
	struct uring_ep *sync_next, **sync_pprev;

	/* memory keys exposed to this peer */
	struct uring_key **keys;
	unsigned nbuckets, nkeys;
} __attribute__((aligned(64)));

/* An accepted connection whose HELLO has not fully come. */
struct uring_pending {
	int fd;
	size_t got;
	uint8_t buf[sizeof(struct san_wire_hello)];
	uint64_t deadline; /* ns: gone after URING_HANDSHAKE_MS */
};

struct uring_listener {
	struct uring_nic *nic;
	int fd;
	pthread_mutex_t lock; /* the pending set; never held while waiting */
	int npend;
	struct uring_pending pend[URING_ACCEPT_PENDING];
};

#define NIC(n) ((struct uring_nic *)(n))
#define EP(e) ((struct uring_ep *)(e))

/* nic_uring.c */
struct io_uring_sqe *san__uring_sqe(struct uring_nic *nic);
int san__uring_progress(struct uring_nic *nic);
void san__uring_submit(struct uring_nic *nic);
int san__uring_wait(struct uring_nic *nic, int timeout_ms, bool app);
/* Lock held. Does an app thread spin on the ring right now (and nobody
 * asks for every header RECV to be in the ring)? */
bool san__uring_spinning(const struct uring_nic *nic);
void san__uring_sync_add(struct uring_ep *ep);
void san__uring_sync_del(struct uring_ep *ep);
void san__uring_defer(struct uring_ep *ep);
void san__uring_defer_del(struct uring_ep *ep);

/* nic_mem.c */
int san__uring_mem_reg(struct san_nic *n, void *addr, size_t len, struct san_nic_mr **mr_out);
void san__uring_mem_dereg(struct san_nic *n, struct san_nic_mr *mr);
void san__uring_mr_get(struct uring_mr *mr);
void san__uring_mr_put(struct uring_mr *mr);
/* The slot and length of the fixed-buffer I/O at addr, at most len bytes. */
size_t san__uring_mr_span(const struct uring_mr *mr, uintptr_t addr, size_t len, unsigned *slot);

/* nic_conn.c */
int san__uring_listen(struct san_nic *n, const char *addr, struct san_nic_listener **l_out);
int san__uring_listener_addr(struct san_nic_listener *l, char *buf, size_t len);
int san__uring_accept(struct san_nic_listener *l, int timeout_ms, struct san_nic_ep **ep_out);
void san__uring_listener_close(struct san_nic_listener *l);
int san__uring_connect(struct san_nic *n, const char *addr, struct san_nic_ep **ep_out);

/* nic_ep.c */
struct uring_ep *san__uring_ep_new(struct uring_nic *nic, int fd, uint64_t nonce,
				   uint64_t peer_max_msg);
void san__uring_ep_close(struct san_nic_ep *e);
int san__uring_ep_state(struct san_nic_ep *e);
const _Atomic int *san__uring_ep_state_ptr(struct san_nic_ep *e);
uint64_t san__uring_ep_nonce(struct san_nic_ep *e);
void san__uring_ep_set_notify(struct san_nic_ep *e, void (*fn)(void *), void *arg);
int san__uring_post(struct san_nic_ep *e, struct san_nic_op *op);
/* One CQE of an ep; returns the number of ops it completed. */
int san__uring_ep_cqe(struct uring_ep *ep, uint64_t ud, int res);

/* nic_key.c */
int san__uring_key_add(struct san_nic_ep *e, struct san_nic_mr *mr, uintptr_t addr, size_t len,
		       int rights, uint64_t *key_out);
int san__uring_key_revoke(struct san_nic_ep *e, uint64_t key);

/* nic_tx.c */
/* Sends what waits at the transmit cursor, headers by sendmsg() first: an
 * app's post, the responses an rx step queued, a deferred response. */
void san__uring_tx_flush(struct uring_ep *ep);

/* nic_rx.c */
/* Reads on: a header by recv() while an app thread spins (the ep goes on
 * the sync list when nothing is there yet), else an SQE in the ring; then
 * sends the responses that reading queued (or holds ACKs back). */
void san__uring_rx_kick(struct uring_ep *ep);

#endif
