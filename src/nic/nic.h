/* SPDX-License-Identifier: MIT */
/*
 * The NIC boundary. Everything above (sockets, registration cache users)
 * talks to a NIC only through struct san_nic_ops, so another backend (a real
 * fabric through libfabric, or a mock) plugs in without touching them.
 *
 * Locking: each NIC has one engine lock (ops->lock/unlock). post_*, key_*,
 * ep_* state queries and progress are called with it held; op->done() is
 * called with it held. mem_reg/mem_dereg are called WITHOUT it (pinning is
 * slow and must not stall the engine) and are thread-safe on their own.
 */
#ifndef SAN_NIC_H
#define SAN_NIC_H

#include <san.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct san_nic;
struct san_nic_ep;
struct san_nic_listener;

/* A NIC registration: [base, base+len) is pinned and usable by the NIC.
 * Created by mem_reg, released by mem_dereg. The NIC keeps it alive (and
 * pinned) past mem_dereg while its own transfers or keys still use it. */
struct san_nic_mr {
	uintptr_t base;
	size_t len;
	/* Set (never cleared) when the mapping under it changed (R2.4): no
	 * new transfer may use it, no key of it admits the peer. */
	_Atomic int stale;
	/* Optional, set by the registration path: odd while an invalidation
	 * is being processed. A key check waits for even before reading
	 * stale (a munmap returns before its invalidation is done). */
	const _Atomic uint64_t *inv_busy;
	/* Set by the pools (core/dma.c) right after mem_reg: the mapping is
	 * libsan's own and stays over the pinned pages as long as the mr
	 * lives, so the virtual address reaches the same bytes as a fixed
	 * buffer: nic_tx.c sends such payloads in the header's sendmsg at any
	 * size (tx_direct), nic_rx.c reads them with recv() while an app
	 * thread spins (rx_may_sync_payload). */
	bool owned_map;
};

/* One element of a scatter/gather list, already checked against mr. */
struct san_nic_sge {
	uintptr_t addr;
	size_t len;
	struct san_nic_mr *mr;
};

/* A posted operation. The caller owns the memory; the NIC owns the fields
 * below "private" from post_* until done() is called (exactly once). */
struct san_nic_op {
	int opcode;          /* SAN_OP_* */
	int nsge;
	struct san_nic_sge *sge;
	uint64_t rkey;       /* RDMA: the peer's key */
	uint64_t roff;       /* RDMA: offset in the peer's registration */
	int status;          /* result, set before done() */
	size_t bytes;
	void (*done)(struct san_nic_op *op);
	/* private to the NIC */
	struct san_nic_op *next;
	uint64_t id;
	size_t len;          /* sum of sge lengths */
	int pend;            /* parts not yet done (frame out, response in) */
};

enum san_nic_ep_state {
	SAN_NIC_EP_OPEN = 0,
	SAN_NIC_EP_FAILED,   /* peer gone or protocol error: -ECONNRESET */
	SAN_NIC_EP_CLOSED,   /* ep_close called */
};

struct san_nic_stats {
	uint64_t pins, unpins, pinned_bytes, keys_active;
	uint64_t tx_direct; /* frames whose payload went in the header's sendmsg */
	uint64_t rx_direct; /* payloads read by recv() into pool memory */
};

struct san_nic_ops {
	const char *name;
	int (*open)(const struct san_config *c, struct san_nic **nic_out);
	/* Every ep and listener must be closed first. */
	void (*close)(struct san_nic *nic);

	void (*lock)(struct san_nic *nic);
	void (*unlock)(struct san_nic *nic);

	/* Pins [addr, addr+len) (page-aligned) for the NIC. Returns 0,
	 * -EFAULT, -ENOMEM (pinnable memory exhausted), -ENOSPC (no NIC slot
	 * left), -EOPNOTSUPP (memory the kernel will not pin long-term). */
	int (*mem_reg)(struct san_nic *nic, void *addr, size_t len, struct san_nic_mr **mr_out);
	void (*mem_dereg)(struct san_nic *nic, struct san_nic_mr *mr);

	int (*listen)(struct san_nic *nic, const char *addr, struct san_nic_listener **l_out);
	int (*listener_addr)(struct san_nic_listener *l, char *buf, size_t len);
	/* accept and connect run the handshake; call them without the lock. */
	int (*accept)(struct san_nic_listener *l, int timeout_ms, struct san_nic_ep **ep_out);
	void (*listener_close)(struct san_nic_listener *l);
	int (*connect)(struct san_nic *nic, const char *addr, struct san_nic_ep **ep_out);

	/* Lock held. Completes every outstanding op with -ECANCELED, revokes
	 * every key, waits for the ep's I/O to drain, frees the ep. */
	void (*ep_close)(struct san_nic_ep *ep);
	int (*ep_state)(struct san_nic_ep *ep);
	/* Where ep_state lives, for readers that must not pay a call (the
	 * registration hit path): valid until ep_close. */
	const _Atomic int *(*ep_state_ptr)(struct san_nic_ep *ep);
	uint64_t (*ep_nonce)(struct san_nic_ep *ep);
	/* Lock held. fn(arg) is called, with the lock held, when ep leaves the
	 * OPEN state on its own (the peer closed or the connection failed),
	 * also with nothing outstanding; not by ep_close. Optional (NULL). */
	void (*ep_set_notify)(struct san_nic_ep *ep, void (*fn)(void *arg), void *arg);

	/* Lock held. Exposes [addr, addr+len) inside mr to the peer of ep with
	 * rights SAN_MEM_*; returns a fresh random key. key_revoke: the peer's
	 * next use fails; returns 0 or -EINVAL (no such key). */
	int (*key_add)(struct san_nic_ep *ep, struct san_nic_mr *mr, uintptr_t addr, size_t len,
		       int rights, uint64_t *key_out);
	int (*key_revoke)(struct san_nic_ep *ep, uint64_t key);

	/* Lock held. Returns 0 (done() will be called) or -ECONNRESET. */
	int (*post)(struct san_nic_ep *ep, struct san_nic_op *op);

	/* Lock held. Processes whatever the kernel has finished; returns the
	 * number of ops completed. */
	int (*progress)(struct san_nic *nic);
	/* Lock held. An application thread starts / stops polling: while
	 * one polls, the NIC leaves the completions to it. */
	void (*poll_enter)(struct san_nic *nic);
	void (*poll_leave)(struct san_nic *nic);
	/* Lock held. Wakes every thread asleep in wait(). */
	void (*wake)(struct san_nic *nic);
	/* Lock held; drops it while sleeping until the NIC has something to
	 * process or timeout_ms passes (-1: no limit). Returns 0. */
	int (*wait)(struct san_nic *nic, int timeout_ms);

	void (*stats)(struct san_nic *nic, struct san_nic_stats *st);

	/* Housekeeping for the layers above: the progress thread calls fn(arg)
	 * about every 100 ms, with no lock held. Setting NULL returns once a
	 * call in progress has finished. Call without the lock. */
	void (*set_idle_hook)(struct san_nic *nic, void (*fn)(void *arg), void *arg);
};

extern const struct san_nic_ops san__nic_uring_ops;

#endif
