/* SPDX-License-Identifier: MIT */
/*
 * libsan: a SAN service provider for Linux.
 *
 * RDMA-style networking without RDMA hardware: registered memory, messages
 * and one-sided RDMA reads and writes between processes and machines, with a
 * registration cache that stays correct when applications free and reuse
 * memory. The software NIC runs on io_uring: registered memory becomes
 * io_uring fixed buffers (the kernel pins the pages), and the kernel moves
 * payload between sockets and those pinned pages; no payload is copied in
 * user space.
 *
 * Conventions (see STYLE.md): functions return 0 or a count on success and
 * -errno on failure; san_strerror() turns an error into text; output
 * parameters come last, end in _out, and are written only on success.
 *
 * Threads: every call may be made from any thread. Calls on different
 * sockets run in parallel; calls on one socket are serialised internally.
 */
#ifndef SAN_H
#define SAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SAN_VERSION_MAJOR 0
#define SAN_VERSION_MINOR 1

typedef struct san_provider san_provider; /* the NIC + registration cache of a process */
typedef struct san_listener san_listener;
typedef struct san_socket san_socket;     /* a connected SAN socket: one remote peer */
typedef uint64_t san_handle;              /* local registration handle, 0 = none */

/* What the NIC may do with registered memory. READ: it may be read from (a
 * send or RDMA-write source; for an RDMA registration the peer may RDMA-read
 * it). WRITE: it may be written into (a receive or RDMA-read sink; the peer
 * may RDMA-write it). */
enum { SAN_MEM_READ = 1, SAN_MEM_WRITE = 2, SAN_MEM_READWRITE = 3 };

/* An RDMA buffer descriptor: opaque bytes the registering side hands to its
 * peer (by any means, usually a san_send). Valid only on the connection it
 * was registered on. */
#define SAN_RDMA_DESC_SIZE 32
struct san_rdma_desc {
	uint8_t bytes[SAN_RDMA_DESC_SIZE];
};

/* WSABUFEX: a buffer and the handle of the registration that covers it;
 * handle 0 means "find the registration of this socket that covers it". */
struct san_buf {
	void *buf;
	size_t len;
	san_handle handle;
};

enum san_op { SAN_OP_SEND = 1, SAN_OP_RECV, SAN_OP_RDMA_WRITE, SAN_OP_RDMA_READ };

/* One finished operation. status is 0 or -errno; bytes is what moved. */
struct san_completion {
	void *ctx;
	int op;
	int status;
	size_t bytes;
};

/* Largest scatter/gather list of one operation. */
#define SAN_MAX_SGE 64

enum san_monitor_kind {
	SAN_MONITOR_NONE = 0, /* nothing watches mappings: nothing is cached */
	SAN_MONITOR_UFFD = 1, /* userfaultfd (UFFD_USER_MODE_ONLY) events */
};

/* Configuration: san_config_init() fills defaults, then applies SAN_* env. */
struct san_config {
	int rcache_enabled;          /* SAN_RCACHE=0|1 (default 1) */
	uint64_t rcache_max_regions; /* SAN_RCACHE_MAX_REGIONS (default 4096) */
	uint64_t rcache_max_bytes;   /* SAN_RCACHE_MAX_BYTES, accepts K/M/G (default 1G) */
	int monitor;                 /* SAN_MONITOR=uffd|none (default uffd) */
	unsigned ring_entries;       /* SAN_RING_ENTRIES: io_uring SQ size (default 256) */
	unsigned max_outstanding;    /* SAN_MAX_OUTSTANDING: posted, unreaped ops per socket (default 1024) */
	unsigned poll_spin_us;       /* SAN_POLL_SPIN_US: san_poll busy-polls this long before sleeping (default 50) */
	int progress_thread;         /* SAN_PROGRESS_THREAD=0|1: serve peers without the app calling in (default 1) */
	unsigned max_msg_mb;         /* SAN_MAX_MSG_MB: largest frame payload accepted from a peer, MiB (default 1024) */
	unsigned tcp_timeout_ms;     /* SAN_TCP_TIMEOUT_MS: a TCP connection whose sent bytes stay
				      * unacknowledged this long fails (TCP_USER_TIMEOUT): its
				      * operations complete with -ECONNRESET. 0: the kernel's
				      * (about 15 minutes). Default 30000. */
	unsigned inline_max;         /* SAN_INLINE_MAX: a send or RDMA write of at most this
				      * many bytes, posted while nothing else of the
				      * connection is in flight, is taken from the buffer's
				      * current mapping when posted, in the header's system
				      * call (as IBV_SEND_INLINE), not from the pinned pages
				      * later: one system call less per message. The bytes
				      * are the same unless the registration went stale
				      * unseen (SAN_MONITOR=none). 0: never. (Pool memory,
				      * san_dma_alloc, goes this way at any size: its
				      * mapping never leaves the pinned pages.) At most 4096;
				      * default 256. Never for data a peer reads (RDMA read
				      * responses come from pinned pages). */
};

/* Counters of one provider (all monotonic except the last three). */
struct san_stats {
	uint64_t reg_hits;       /* registrations served from the cache (no pinning) */
	uint64_t reg_misses;     /* registrations that pinned */
	uint64_t pins;           /* NIC registrations made (pages pinned) */
	uint64_t unpins;         /* NIC registrations dropped (pages unpinned) */
	uint64_t evictions;      /* cached regions dropped for the limits */
	uint64_t invalidations;  /* cached regions dropped because their mapping changed */
	uint64_t cached_regions; /* regions now in the cache (in use or not) */
	uint64_t pinned_bytes;   /* bytes now pinned for registrations */
	uint64_t keys_active;    /* RDMA keys now exposed to peers */
	uint64_t tx_direct;      /* sends and RDMA writes whose payload went with their header in
				  * one sendmsg() from the buffer's mapping: inline payloads
				  * (SAN_INLINE_MAX) and pool memory (san_dma_alloc) */
	uint64_t rx_direct;      /* payloads up to 64 KiB for pool memory that a spinning
				  * poller read with recv() into their place, not through
				  * the ring */
};

/* Fills *c with defaults, then overrides from SAN_* environment variables.
 * Invalid environment values are ignored with a message on stderr. */
void san_config_init(struct san_config *c);

/* Sets one configuration key by its environment name ("SAN_RCACHE") or its
 * field name ("rcache_enabled"). Returns 0, -ENOENT for an unknown key, or
 * -EINVAL for a value that does not parse or is out of range. */
int san_config_set(struct san_config *c, const char *key, const char *value);

/* Writes the configuration as "name = value" lines into buf (like snprintf).
 * Returns the length it needed, excluding the terminating NUL. */
int san_config_format(const struct san_config *c, char *buf, size_t len);

/* Opens the provider of this process: the io_uring NIC, its progress
 * thread, the registration cache and the memory monitor. c NULL: defaults
 * (san_config_init). Returns 0, -EINVAL (bad config), -ENOMEM, -ENOSYS (no
 * io_uring), or another -errno from the kernel. */
int san_provider_open(const struct san_config *c, san_provider **p_out);

/* Closes every socket and listener still open (their outstanding operations
 * complete with -ECANCELED and are discarded), drops every registration and
 * releases every pin. */
void san_provider_close(san_provider *p);

/* Listens on addr: "tcp:HOST:PORT" (PORT 0 picks one; HOST an IPv4 or
 * IPv6 literal, "[v6]" accepted, or a name) or "unix:PATH" ("unix:@NAME" for
 * the abstract namespace). Returns 0, -EINVAL (bad address), or the -errno of
 * socket/bind/listen. */
int san_listen(san_provider *p, const char *addr, san_listener **l_out);

/* Writes the bound address in the same syntax into buf. Returns its length,
 * or -ENOSPC if len is too small. */
int san_listener_addr(san_listener *l, char *buf, size_t len);

/* Accepts one connection whose handshake completes within timeout_ms (-1:
 * wait forever; 0: only what is ready now). Connections whose peer has not
 * finished its HELLO yet stay with the listener for later calls (up to 64,
 * each for at most 10 s), so a stalled peer delays neither the call nor the
 * peers behind it. Returns 0, -ETIMEDOUT, -EPROTO (a peer that is not a
 * libsan peer of this protocol version), -ECONNRESET (one that hung up in
 * the handshake; -ETIMEDOUT also for one that stayed silent 10 s), or
 * another -errno; a failed peer is gone, call again for the next. */
int san_accept(san_listener *l, int timeout_ms, san_socket **s_out);

/* Connects and runs the handshake. Returns 0, -EINVAL (bad address),
 * -ECONNREFUSED, -ETIMEDOUT, -EPROTO, or another -errno. */
int san_connect(san_provider *p, const char *addr, san_socket **s_out);

void san_listener_close(san_listener *l);

/* Closes the socket (R1.8). Threads blocked in san_poll on it return
 * -ENOTCONN first; no other call on the socket may race with san_close or
 * follow it (the socket is freed). Outstanding operations complete with
 * -ECANCELED (they are discarded: the socket is gone), the peer's complete
 * with -ECONNRESET, every RDMA descriptor of the socket is revoked and every
 * registration of the socket is released. Returns 0. */
int san_close(san_socket *s);

/* R1.1. Registers [buf, buf+len) for the NIC's use by this process.
 * flags: SAN_MEM_* (nonzero, no other bits). Returns 0, -EINVAL (flags, len
 * 0, NULL buf), -EFAULT (not wholly mapped writable user memory: the kernel
 * pins every registration for writing), -EOPNOTSUPP (file-backed memory the
 * kernel will not pin long-term), -ENOMEM (out of pinnable memory after the
 * cache evicted what it could), -ENOTCONN (socket closed or reset). */
int san_register_memory(san_socket *s, void *buf, size_t len, int flags, san_handle *h_out);

/* R1.2. Returns 0, -EINVAL (not a live handle of this socket), -EBUSY (an
 * outstanding operation uses it). */
int san_deregister_memory(san_socket *s, san_handle h);

/* R1.3. Registers [buf, buf+len) for the peer of s: *d_out is the
 * descriptor to hand to it. The peer may RDMA-read it if flags has READ,
 * RDMA-write it if flags has WRITE; the local process may also use the range
 * in its own operations. Errors as san_register_memory. */
int san_register_rdma_memory(san_socket *s, void *buf, size_t len, int flags,
			     struct san_rdma_desc *d_out);

/* R1.4. Revokes the descriptor at once: the peer's next operation with it
 * fails with -EACCES. A peer transfer already in progress into or out of it
 * finishes first, into the pages it started on. Returns 0, -EINVAL (not a
 * live descriptor of this socket), -EBUSY (a local outstanding operation of
 * this process uses the range through it). */
int san_deregister_rdma_memory(san_socket *s, const struct san_rdma_desc *d);

/* Asynchronous operations: 0 = posted, the result arrives from san_poll as
 * a completion carrying ctx. Posting errors (returned, no completion):
 * -EINVAL (n out of 0..SAN_MAX_SGE, NULL bufs with n > 0, malformed or
 * NULL descriptor, a handle that is not live on this socket), -EFAULT (no live registration covers a buffer), -EACCES (the
 * registration lacks the right), -EAGAIN (max_outstanding operations already
 * posted and unreaped), -EMSGSIZE (larger than the peer's max_msg, or for a
 * read than ours), -ENOTCONN / -ECONNRESET (socket closed / peer gone).
 *
 * san_send: the message is the concatenation of bufs; it lands in the next
 * receive the peer posts. Completes when the data has left this process.
 * san_recv: receives one message into bufs; a message larger than the
 * buffers completes with -EMSGSIZE and bytes = what fitted. With no receive
 * posted the engine stops reading the connection (back-pressure).
 * san_rdma_write: writes bufs into the peer's memory at dst + dst_offset;
 * completes when the peer has placed it (or refused: -EACCES, -ERANGE).
 * san_rdma_read: reads the peer's memory at src + src_offset into bufs. */
int san_send(san_socket *s, const struct san_buf *bufs, int n, void *ctx);
int san_recv(san_socket *s, const struct san_buf *bufs, int n, void *ctx);
int san_rdma_write(san_socket *s, const struct san_buf *src, int n,
		   const struct san_rdma_desc *dst, uint64_t dst_offset, void *ctx);
int san_rdma_read(san_socket *s, const struct san_buf *dst, int n,
		  const struct san_rdma_desc *src, uint64_t src_offset, void *ctx);

/* Returns the number of completions written to out (at most max), 0 on
 * timeout (timeout_ms 0: just check; -1: wait forever), -EINVAL, or
 * -ENOTCONN when another thread closed the socket meanwhile. After
 * the connection failed, outstanding operations complete with -ECONNRESET;
 * once none are left, san_poll returns -ECONNRESET. */
int san_poll(san_socket *s, struct san_completion *out, int max, int timeout_ms);

/* R2.4: WSPMemoryRegistrationCacheCallback. Drops every cached registration
 * overlapping [addr, addr+len) before its mapping changes; registrations in
 * use are marked stale and unpinned when released. Returns the number of
 * cached regions dropped or marked, or -EINVAL. */
int san_invalidate(san_provider *p, void *addr, size_t len);

int san_get_stats(san_provider *p, struct san_stats *st_out);

/* The provider a socket belongs to. */
san_provider *san_socket_provider(san_socket *s);

/* Text for a -errno returned by this library (also accepts +errno). */
const char *san_strerror(int err);


/* ---- Readiness for event loops (issue 6) -------------------------------- */

/* An eventfd (EFD_NONBLOCK | EFD_CLOEXEC, owned by the socket: do not close
 * it; san_close does) that becomes readable when a completion of s waits to
 * be reaped by san_poll. Created on the first call; the same fd after that.
 * It is signalled when the socket's completion queue goes from empty to
 * non-empty, so the protocol is "read, then drain": when epoll reports it,
 * read() it (clearing it), then call san_poll(s, ..., 0) until it returns 0.
 * A completion that arrives after that signals it again; one that arrives
 * between the read and the drain leaves a spurious wake-up, never a lost
 * one. Reaping fewer than all completions does not signal again.
 * A connection failure (or the peer closing) signals it too, also with
 * nothing outstanding: outstanding operations complete with -ECONNRESET,
 * and with none left san_poll returns -ECONNRESET. Completions arrive while the application sleeps only if the
 * provider has its progress thread (SAN_PROGRESS_THREAD=1, the default).
 * A thread asleep in epoll_wait/poll may see EINTR: the kernel runs
 * io_uring work that this thread queued (the NIC submits from whichever
 * thread calls in) by interrupting its sleep; retry, as for any signal.
 * Returns the fd, -EINVAL, -ENOTCONN (socket closing) or the -errno of
 * eventfd(). */
int san_socket_event_fd(san_socket *s);

/* ---- Pinned memory pools (issue 6, R3.2, R3.3) --------------------------- */

/* How a pool chunk is backed, best first. HUGETLB: 2 MiB pages of the
 * hugetlb pool (only when the administrator reserved some,
 * /proc/sys/vm/nr_hugepages); THP: 2 MiB-aligned anonymous memory that the
 * kernel backs with transparent huge pages (MADV_HUGEPAGE + MADV_COLLAPSE
 * succeeded); PAGES: ordinary 4 KiB pages (no physical contiguity beyond a
 * page). Each 2 MiB page of a HUGETLB or THP chunk is physically
 * contiguous. There is no "below 4 GB" kind: user space on Linux cannot
 * ask for physical addresses, and the software NIC does not need them (the
 * kernel copies between sockets and the pinned pages). */
enum { SAN_DMA_HUGETLB = 1, SAN_DMA_THP = 2, SAN_DMA_PAGES = 3 };

/* One allocation from the pools. Fill nothing; san_dma_alloc writes it. */
struct san_dma {
	void *addr;   /* page-aligned */
	size_t len;   /* what was asked for (the pages behind it may be more) */
	int kind;     /* SAN_DMA_* of the chunk it was carved from */
};

/* Figures of a provider's pools. */
struct san_dma_stats {
	uint64_t chunks;        /* chunks now mapped, pinned and registered */
	uint64_t chunk_bytes;   /* their total size */
	uint64_t hugetlb_bytes; /* of which backed by hugetlb pages */
	uint64_t thp_bytes;     /* ... by transparent huge pages */
	uint64_t pages_bytes;   /* ... by 4 KiB pages */
	uint64_t allocs;        /* live allocations */
	uint64_t alloc_bytes;   /* their total (page-rounded) size */
	uint64_t chunk_pins;    /* chunks ever pinned (monotonic) */
	uint64_t reg_hits;      /* registrations served from a pool chunk, no pin (monotonic) */
	int hugetlb_ok;         /* 1 if the last hugetlb attempt succeeded, 0 if it failed, -1 never tried */
	int thp_ok;             /* the same for transparent huge pages */
};

/* R3.2/R3.3: allocates len bytes of memory that is already pinned and
 * registered with the NIC. Any later san_register_memory or
 * san_register_rdma_memory of a range inside it, on any socket of p,
 * pins nothing (also with SAN_RCACHE=0). Small allocations are carved
 * from shared chunks (SAN_DMA_CHUNK, default 2M); one of more than half a
 * chunk gets a chunk of its own, rounded up to 2 MiB. SAN_DMA_KIND=
 * auto|hugetlb|thp|pages chooses the backing (auto: the best that works;
 * a named kind that is unavailable fails). The memory is zeroed, not
 * inherited by fork() children (MADV_DONTFORK), and must be released with
 * san_dma_free only (never munmap/free); san_provider_close releases
 * whatever is left. Returns 0, -EINVAL (NULL argument, len 0 or absurd),
 * -ENOMEM (out of memory, of reserved huge pages for SAN_DMA_KIND=hugetlb,
 * or of pinnable memory: RLIMIT_MEMLOCK). */
int san_dma_alloc(san_provider *p, size_t len, struct san_dma *d_out);

/* Returns an allocation to its pool. Registrations inside it that are
 * still live keep its pages pinned and mapped until they are released.
 * A NULL d, an already freed or unknown allocation is ignored (with a
 * message on stderr). Clears *d. */
void san_dma_free(san_provider *p, struct san_dma *d);

/* Fills *st_out. Returns 0 or -EINVAL. */
int san_dma_query(san_provider *p, struct san_dma_stats *st_out);

#ifdef __cplusplus
}
#endif
#endif /* SAN_H */
