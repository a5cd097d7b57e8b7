/* SPDX-License-Identifier: MIT */
/*
 * bench_rdma_write: the main job's demo. One-sided RDMA write bandwidth of
 * libsan between two processes, measured in the same run as the thing it
 * has to be compared with: a plain io_uring fixed-buffer socket copy.
 *
 *   (a) libsan: a forked target registers a buffer with
 *       san_register_rdma_memory() and hands the descriptor to the
 *       initiator over a control socketpair; the initiator registers its
 *       source once per size and keeps --depth san_rdma_write()s
 *       outstanding, reaping completions with san_poll(). Bandwidth is the
 *       bytes of the completed writes over the time from the first post to
 *       the last completion (a write completes once the target has placed
 *       it). Afterwards the target checks every slot of its buffer against
 *       the pattern, so a fast number with wrong bytes is reported as a
 *       failure, not as a result.
 *   (b) baseline: the same sizes, window and number of transfers, with no
 *       library: the sender registers its buffer as an io_uring fixed buffer
 *       and WRITE_FIXEDs it into a connected socket; the receiver
 *       READ_FIXEDs into its own fixed buffer, resubmitting short reads.
 *       Timed from the first write to the receiver's "got everything".
 *
 * Warm-up transfers (TCP windows, page tables, caches) are excluded from
 * both. Without --iters, the baseline's warm-up calibrates the number of
 * transfers to --seconds and libsan then does the same number (capped at
 * 3 x --seconds so a slow build cannot hang the demo; the table shows the
 * counts whenever they differ). Size by size, the two systems are measured
 * in alternating rounds (--rounds) and each keeps its median, so that load
 * from elsewhere on a shared machine falls on both alike.
 *
 * Exit status: 0, or 1 if anything failed (an error, a completion with a
 * bad status or byte count, or a content mismatch).
 */
#include <san.h>

#include <liburing.h>

#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZES 16
#define MAX_SIZE (1ull << 30)
#define MAX_DEPTH 256
#define MAX_ROUNDS 15
#define SAN_BENCH_MAX(a, b) ((a) > (b) ? (a) : (b))
/* The target's buffer holds min(depth, SLOT_BYTES / size) slots, so that
 * writes in flight land in different places without pinning gigabytes. */
#define SLOT_BYTES (64u << 20)
/* No completion for this long: something is stuck. */
#define STALL_MS 20000

enum { FMT_TABLE, FMT_CSV, FMT_JSON };
enum { TR_TCP, TR_UNIX };

struct opts {
	size_t sizes[MAX_SIZES];
	int nsizes;
	unsigned depth;
	long iters;     /* 0: calibrated to seconds */
	long warmup;    /* -1: automatic */
	double seconds; /* measured time per size, system and round */
	int rounds;     /* alternating measurements per size; median reported */
	int transport;
	int format;
	int run_libsan, run_baseline;
};

struct result {
	size_t size;
	long base_iters, san_iters;
	double base_mbps, san_mbps; /* < 0: not run */
	int verified;               /* libsan content check passed */
};

static struct opts o = {
	.sizes = { 4u << 10, 64u << 10, 1u << 20, 16u << 20 },
	.nsizes = 4,
	.depth = 8,
	.iters = 0,
	.warmup = -1,
	.seconds = 0.5,
	.rounds = 2,
	.transport = TR_TCP,
	.format = FMT_TABLE,
	.run_libsan = 1,
	.run_baseline = 1,
};

/* ---- pattern: 64-bit words of a keyed mix, fast enough for 64 MiB ---- */

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void pattern_fill(void *buf, size_t len, uint64_t seed)
{
	uint8_t *p = buf;
	size_t i, nw = len / 8;

	for (i = 0; i < nw; i++) {
		uint64_t w = mix64(seed ^ (i << 20) ^ i);
		memcpy(p + i * 8, &w, 8);
	}
	if (len % 8) {
		uint64_t w = mix64(seed ^ (nw << 20) ^ nw);
		memcpy(p + nw * 8, &w, len % 8);
	}
}

/* Returns the offset of the first wrong byte, or len if all are right. */
static size_t pattern_check(const void *buf, size_t len, uint64_t seed)
{
	const uint8_t *p = buf;
	size_t i, nw = len / 8;

	for (i = 0; i < nw; i++) {
		uint64_t w = mix64(seed ^ (i << 20) ^ i), got;
		memcpy(&got, p + i * 8, 8);
		if (got != w) {
			for (size_t b = 0; b < 8; b++)
				if (((const uint8_t *)&got)[b] != ((const uint8_t *)&w)[b])
					return i * 8 + b;
		}
	}
	if (len % 8) {
		uint64_t w = mix64(seed ^ (nw << 20) ^ nw);
		for (size_t b = 0; b < len % 8; b++)
			if (p[nw * 8 + b] != ((const uint8_t *)&w)[b])
				return nw * 8 + b;
	}
	return len;
}

static uint64_t size_seed(size_t size)
{
	return 0x53414e00ull ^ ((uint64_t)size * 0x100000001b3ull);
}

/* ---- memory ---- */

static void *map_bytes(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		bench_die("mmap %zu: %s", len, strerror(errno));
	return p;
}

static unsigned slots_for(size_t size)
{
	size_t s = SLOT_BYTES / size;

	if (s < 1)
		s = 1;
	if (s > o.depth)
		s = o.depth;
	return (unsigned)s;
}

static long warmup_for(size_t size)
{
	long w;

	if (o.warmup >= 0)
		return o.warmup;
	w = (long)((256u << 20) / size);
	if (w < 2 * (long)o.depth)
		w = 2 * (long)o.depth;
	if (w > 20000)
		w = 20000;
	return w;
}

/* Transfers to measure, from a warm-up of w transfers that took t seconds. */
static long calibrate(size_t size, long w, double t)
{
	double n;

	if (o.iters > 0)
		return o.iters;
	if (w <= 0 || t <= 0) /* --warmup 0: nothing to go by, move ~256 MiB */
		return SAN_BENCH_MAX(2 * (long)o.depth, (long)((256u << 20) / size));
	n = o.seconds * (double)w / t;
	if (n < 2 * (double)o.depth)
		n = 2 * (double)o.depth;
	if (n > 1e8)
		n = 1e8;
	return (long)n;
}

/* ---- control channel (socketpair between the two processes) ---- */

static void ctl_write(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t r = write(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			bench_die("control write: %s", r < 0 ? strerror(errno) : "short");
		p += r;
		len -= (size_t)r;
	}
}

static void ctl_read(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t r = read(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			bench_die("control channel: peer went away");
		if (r < 0)
			bench_die("control read: %s", strerror(errno));
		p += r;
		len -= (size_t)r;
	}
}

struct ctl_cmd {
	uint64_t size;  /* 0: finish */
	uint64_t count; /* transfers (baseline); seed to verify (libsan) */
	uint32_t slots;
	uint32_t op;
};

enum { CMD_QUIT, CMD_BUFFER, CMD_RECV, CMD_END, CMD_VERIFY };

struct ctl_reply {
	int64_t status; /* 0 or -errno, or 1 = content mismatch */
	uint64_t value; /* bytes received / mismatch offset */
	struct san_rdma_desc desc;
};

/* Descriptors of this process that a peer forked now must not keep (the
 * other peer's control socket: its EOF tells that peer we are gone). */
static int child_close[2] = { -1, -1 };

static pid_t fork_peer(int (*fn)(int ctl), int *ctl_out)
{
	int sv[2];
	pid_t pid, parent = getpid();

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		bench_die("socketpair: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(sv[0]);
		for (int i = 0; i < 2; i++)
			if (child_close[i] >= 0)
				close(child_close[i]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		fflush(NULL);
		_exit(fn(sv[1]));
	}
	close(sv[1]);
	*ctl_out = sv[0];
	return pid;
}

static int wait_peer(pid_t pid, int ctl)
{
	int st;

	close(ctl);
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	fprintf(stderr, "bench_rdma_write: peer %d %s %d\n", (int)pid,
		WIFEXITED(st) ? "exited with" : "killed by signal",
		WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	return -1;
}

/* ==== (b) baseline: io_uring fixed-buffer socket copy ==== */

/* One window entry: the transfer it carries and how far it got. */
struct xfer {
	size_t off, len; /* progress within this transfer */
	char *base;      /* where this transfer's bytes are */
};

static int ring_init(struct io_uring *ring)
{
	int rc = io_uring_queue_init(2 * o.depth + 8, ring, 0);

	if (rc < 0)
		bench_die("io_uring_queue_init: %s", strerror(-rc));
	return 0;
}

static void ring_fixed(struct io_uring *ring, void *buf, size_t len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	int rc = io_uring_register_buffers(ring, &iov, 1);

	if (rc < 0)
		bench_die("io_uring_register_buffers %zu bytes: %s", len, strerror(-rc));
}

static void prep_xfer(struct io_uring *ring, int fd, struct xfer *x, int write, unsigned idx)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe)
		bench_die("io_uring SQ full");
	if (write)
		io_uring_prep_write_fixed(sqe, fd, x->base + x->off, x->len - x->off, 0, 0);
	else
		io_uring_prep_read_fixed(sqe, fd, x->base + x->off, x->len - x->off, 0, 0);
	io_uring_sqe_set_data64(sqe, idx);
}

/*
 * Moves count transfers of size bytes with a window of depth outstanding
 * requests. Sender: every transfer writes buf[0, size). Receiver: transfer
 * i reads into slot i % slots of buf; its requests never ask for more than
 * the stream still owes, so nothing is left posted past the last byte.
 * Returns the bytes moved.
 */
static uint64_t uring_stream(struct io_uring *ring, int fd, char *buf, size_t size,
			     unsigned slots, long count, int write)
{
	struct xfer win[MAX_DEPTH];
	long started = 0, done = 0;
	uint64_t bytes = 0;
	unsigned i, n = o.depth;

	if ((long)n > count)
		n = (unsigned)count;
	for (i = 0; i < n; i++) {
		win[i].off = 0;
		win[i].len = size;
		win[i].base = write ? buf : buf + (size_t)(started % slots) * size;
		started++;
		prep_xfer(ring, fd, &win[i], write, i);
	}
	while (done < count) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		int rc = io_uring_submit_and_wait(ring, 1);

		if (rc < 0 && rc != -EINTR)
			bench_die("io_uring_submit_and_wait: %s", strerror(-rc));
		io_uring_for_each_cqe(ring, head, cqe) {
			struct xfer *x = &win[cqe->user_data];
			unsigned idx = (unsigned)cqe->user_data;
			int res = cqe->res;

			seen++;
			if (res == -EAGAIN || res == -EINTR) {
				prep_xfer(ring, fd, x, write, idx);
				continue;
			}
			if (res < 0)
				bench_die("%s_FIXED: %s", write ? "WRITE" : "READ", strerror(-res));
			if (res == 0)
				bench_die("%s_FIXED: connection closed", write ? "WRITE" : "READ");
			x->off += (size_t)res;
			bytes += (uint64_t)res;
			if (x->off < x->len) { /* short: the rest of it, same buffer */
				prep_xfer(ring, fd, x, write, idx);
				continue;
			}
			done++;
			if (started < count) {
				x->off = 0;
				x->base = write ? buf : buf + (size_t)(started % slots) * size;
				started++;
				prep_xfer(ring, fd, x, write, idx);
			}
		}
		io_uring_cq_advance(ring, seen);
	}
	return bytes;
}

static char base_addr[128];

static int base_connect(void)
{
	int fd;

	if (o.transport == TR_UNIX) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		size_t n = strlen(base_addr);

		memcpy(sun.sun_path + 1, base_addr, n); /* abstract */
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sun,
				      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)))
			bench_die("connect unix:@%s: %s", base_addr, strerror(errno));
	} else {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		int one = 1;

		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin.sin_port = htons((uint16_t)atoi(base_addr));
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)))
			bench_die("connect 127.0.0.1:%s: %s", base_addr, strerror(errno));
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	return fd;
}

/* Listens before the fork, so the receiver can connect at once. */
static int base_listen(void)
{
	int fd;

	if (o.transport == TR_UNIX) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		size_t n;

		snprintf(base_addr, sizeof(base_addr), "san-bench-base-%d", (int)getpid());
		n = strlen(base_addr);
		memcpy(sun.sun_path + 1, base_addr, n);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sun,
				   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)))
			bench_die("bind unix:@%s: %s", base_addr, strerror(errno));
	} else {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		socklen_t sl = sizeof(sin);

		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) ||
		    getsockname(fd, (struct sockaddr *)&sin, &sl))
			bench_die("bind 127.0.0.1: %s", strerror(errno));
		snprintf(base_addr, sizeof(base_addr), "%u", ntohs(sin.sin_port));
	}
	if (listen(fd, 1))
		bench_die("listen: %s", strerror(errno));
	return fd;
}

/* The receiving process: takes (size, count) commands, answers with bytes. */
static int base_receiver(int ctl)
{
	struct io_uring ring;
	struct ctl_cmd cmd;
	int fd;

	bench_role = "baseline receiver";
	fd = base_connect();
	ring_init(&ring);
	for (;;) {
		struct ctl_reply rep = { 0 };
		char *buf;
		size_t len;

		ctl_read(ctl, &cmd, sizeof(cmd));
		if (cmd.op == CMD_QUIT)
			break;
		len = (size_t)cmd.size * cmd.slots;
		buf = map_bytes(len);
		memset(buf, 0, len);
		ring_fixed(&ring, buf, len);
		ctl_write(ctl, &rep, sizeof(rep)); /* ready */
		for (;;) {
			ctl_read(ctl, &cmd, sizeof(cmd));
			if (cmd.op != CMD_RECV)
				break;
			rep.value = uring_stream(&ring, fd, buf, (size_t)cmd.size, cmd.slots,
						 (long)cmd.count, 0);
			ctl_write(ctl, &rep, sizeof(rep));
		}
		io_uring_unregister_buffers(&ring);
		munmap(buf, len);
		if (cmd.op == CMD_QUIT)
			break;
	}
	io_uring_queue_exit(&ring);
	close(fd);
	return 0;
}

/* The sender's side of the baseline connection. */
struct base_peer {
	struct io_uring ring;
	int fd, ctl;
	pid_t pid;
	char *src;
	size_t size;
};

/* Listens and forks the receiver (no ring may exist yet: see main). */
static void base_fork(struct base_peer *b, int *lfd_out)
{
	*lfd_out = base_listen();
	child_close[0] = *lfd_out;
	b->pid = fork_peer(base_receiver, &b->ctl);
	child_close[1] = b->ctl;
}

static void base_accept(struct base_peer *b, int lfd)
{
	b->fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (b->fd < 0)
		bench_die("accept: %s", strerror(errno));
	close(lfd);
	if (o.transport == TR_TCP) {
		int one = 1;
		setsockopt(b->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	ring_init(&b->ring);
}

static void base_size_begin(struct base_peer *b, size_t size)
{
	struct ctl_cmd cmd = { .size = size, .slots = slots_for(size), .op = CMD_BUFFER };
	struct ctl_reply rep;

	b->size = size;
	b->src = map_bytes(size);
	pattern_fill(b->src, size, size_seed(size));
	ring_fixed(&b->ring, b->src, size);
	ctl_write(b->ctl, &cmd, sizeof(cmd));
	ctl_read(b->ctl, &rep, sizeof(rep));
}

/* One timed phase of the sender: count transfers, until the receiver has
 * them all. Returns seconds. */
static double base_phase(struct base_peer *b, long count)
{
	struct ctl_cmd cmd = { .size = b->size, .count = (uint64_t)count,
			       .slots = slots_for(b->size), .op = CMD_RECV };
	uint64_t want = (uint64_t)count * b->size;
	struct ctl_reply rep;
	double t0;

	ctl_write(b->ctl, &cmd, sizeof(cmd));
	t0 = bench_now_s();
	uring_stream(&b->ring, b->fd, b->src, b->size, 1, count, 1);
	ctl_read(b->ctl, &rep, sizeof(rep));
	if (rep.value != want)
		bench_die("baseline receiver got %" PRIu64 " bytes, want %" PRIu64, rep.value,
			  want);
	return bench_now_s() - t0;
}

static void base_size_end(struct base_peer *b)
{
	struct ctl_cmd cmd = { .op = CMD_END }; /* the receiver drops its buffer */

	io_uring_unregister_buffers(&b->ring);
	munmap(b->src, b->size);
	ctl_write(b->ctl, &cmd, sizeof(cmd));
}

static int base_finish(struct base_peer *b)
{
	struct ctl_cmd q = { .op = CMD_QUIT };

	ctl_write(b->ctl, &q, sizeof(q));
	io_uring_queue_exit(&b->ring);
	close(b->fd);
	return wait_peer(b->pid, b->ctl);
}

/* ==== (a) libsan: san_rdma_write into a registered buffer of the peer ==== */

static char san_addr_buf[256];

/* Waits for the next control command. With no progress thread the target's
 * NIC only moves bytes while the application calls in, so it polls. */
static void target_wait_cmd(san_socket *s, int ctl, int drive, struct ctl_cmd *cmd)
{
	while (drive) {
		struct pollfd pfd = { .fd = ctl, .events = POLLIN };
		struct san_completion c[8];

		if (poll(&pfd, 1, 0) > 0)
			break;
		int rc = san_poll(s, c, 8, 1);
		if (rc < 0)
			bench_die("target san_poll: %s", san_strerror(rc));
	}
	ctl_read(ctl, cmd, sizeof(*cmd));
}

static int san_target(int ctl)
{
	struct san_config cfg;
	san_provider *p;
	san_listener *l;
	san_socket *s;
	char addr[256];
	char *buf = NULL;
	size_t len = 0;
	struct san_rdma_desc desc = { 0 };

	bench_role = "libsan target";
	san_config_init(&cfg);
	SAN_OK(san_provider_open(&cfg, &p));
	if (o.transport == TR_UNIX)
		snprintf(addr, sizeof(addr), "unix:@san-bench-%d", (int)getpid());
	else
		snprintf(addr, sizeof(addr), "tcp:127.0.0.1:0");
	SAN_OK(san_listen(p, addr, &l));
	if (san_listener_addr(l, addr, sizeof(addr)) <= 0)
		bench_die("san_listener_addr failed");
	ctl_write(ctl, addr, sizeof(addr));
	SAN_OK(san_accept(l, 10000, &s));
	san_listener_close(l);

	for (;;) {
		struct ctl_cmd cmd;
		struct ctl_reply rep = { 0 };

		target_wait_cmd(s, ctl, !cfg.progress_thread, &cmd);
		if (cmd.op == CMD_QUIT)
			break;
		if (cmd.op == CMD_BUFFER) {
			len = (size_t)cmd.size * cmd.slots;
			buf = map_bytes(len);
			memset(buf, 0, len); /* a slot never written fails the check */
			rep.status = san_register_rdma_memory(s, buf, len, SAN_MEM_WRITE, &desc);
			rep.desc = desc;
			ctl_write(ctl, &rep, sizeof(rep));
			if (rep.status)
				bench_die("san_register_rdma_memory %zu bytes: %s", len,
					  san_strerror((int)rep.status));
		} else if (cmd.op == CMD_VERIFY) {
			size_t size = (size_t)cmd.size;

			/* Every write carried the same source bytes to slot i %
			 * slots; the buffer started zeroed. */
			for (uint32_t i = 0; i < cmd.slots && !rep.status; i++) {
				size_t bad = pattern_check(buf + i * size, size, cmd.count);
				if (bad != size) {
					rep.status = 1;
					rep.value = i * size + bad;
				}
			}
			rep.desc = desc;
			SAN_OK(san_deregister_rdma_memory(s, &desc));
			munmap(buf, len);
			buf = NULL;
			ctl_write(ctl, &rep, sizeof(rep));
		}
	}
	SAN_OK(san_close(s));
	san_provider_close(p);
	return 0;
}

/*
 * count writes of src (registered as h) into slot i % slots of the target,
 * depth outstanding. Stops posting after cap seconds (cap <= 0: never).
 * Returns the completed writes; *t_out the seconds they took.
 */
static long san_phase(san_socket *s, char *src, size_t size, san_handle h,
		      const struct san_rdma_desc *d, unsigned slots, long count, double cap,
		      double *t_out)
{
	struct san_buf b = { .buf = src, .len = size, .handle = h };
	struct san_completion c[64];
	long posted = 0, done = 0;
	unsigned inflight = 0;
	int idle_ms = 0, stop = 0;
	double t0 = bench_now_s();

	while (done < posted || (!stop && posted < count)) {
		while (!stop && posted < count && inflight < o.depth) {
			uint64_t off = (uint64_t)(posted % slots) * size;
			int rc = san_rdma_write(s, &b, 1, d, off, (void *)(uintptr_t)posted);

			if (rc == -EAGAIN)
				break;
			if (rc < 0)
				bench_die("san_rdma_write %zu bytes at %" PRIu64 ": %s", size, off,
					  san_strerror(rc));
			posted++;
			inflight++;
		}
		int n = san_poll(s, c, 64, 100);
		if (n < 0)
			bench_die("san_poll: %s (%ld writes posted, %ld completed)",
				  san_strerror(n), posted, done);
		if (n == 0) {
			idle_ms += 100;
			if (idle_ms >= STALL_MS)
				bench_die("stalled: no completion for %d s with %u writes of %zu "
					  "bytes outstanding (%ld posted, %ld completed)",
					  STALL_MS / 1000, inflight, size, posted, done);
			continue;
		}
		idle_ms = 0;
		for (int i = 0; i < n; i++) {
			if (c[i].op != SAN_OP_RDMA_WRITE || c[i].status != 0 || c[i].bytes != size)
				bench_die("completion of write #%ld: op %d status %d (%s) "
					  "bytes %zu, want op %d status 0 bytes %zu",
					  (long)(uintptr_t)c[i].ctx, c[i].op, c[i].status,
					  san_strerror(c[i].status), c[i].bytes,
					  SAN_OP_RDMA_WRITE, size);
			inflight--;
			done++;
		}
		if (cap > 0 && !stop && bench_now_s() - t0 > cap)
			stop = 1;
	}
	*t_out = bench_now_s() - t0;
	return done;
}

/* The initiator's side of the libsan connection. */
struct san_peer {
	san_provider *p;
	san_socket *s;
	int ctl;
	pid_t pid;
	char *src;
	size_t size;
	unsigned slots;
	san_handle h;
	struct san_rdma_desc desc;
};

static void san_fork(struct san_peer *sp)
{
	sp->pid = fork_peer(san_target, &sp->ctl);
}

static void san_open(struct san_peer *sp)
{
	SAN_OK(san_provider_open(NULL, &sp->p));
	ctl_read(sp->ctl, san_addr_buf, sizeof(san_addr_buf));
	SAN_OK(san_connect(sp->p, san_addr_buf, &sp->s));
}

/* The target registers slots x size and hands over the descriptor; the
 * source is registered once for every write of this size. */
static void san_size_begin(struct san_peer *sp, size_t size)
{
	struct ctl_cmd cmd = { .size = size, .slots = slots_for(size), .op = CMD_BUFFER };
	struct ctl_reply rep;

	sp->size = size;
	sp->slots = cmd.slots;
	sp->src = map_bytes(size);
	pattern_fill(sp->src, size, size_seed(size));
	ctl_write(sp->ctl, &cmd, sizeof(cmd));
	ctl_read(sp->ctl, &rep, sizeof(rep));
	if (rep.status)
		bench_die("target could not register %u x %zu bytes: %s", sp->slots, size,
			  san_strerror((int)rep.status));
	sp->desc = rep.desc;
	SAN_OK(san_register_memory(sp->s, sp->src, size, SAN_MEM_READ, &sp->h));
}

static long san_measure(struct san_peer *sp, long count, double cap, double *t_out)
{
	return san_phase(sp->s, sp->src, sp->size, sp->h, &sp->desc, sp->slots, count, cap,
			 t_out);
}

/* Returns 1 if the target found the pattern in every slot, else 0. */
static int san_size_end(struct san_peer *sp, long writes)
{
	struct ctl_cmd cmd = { .size = sp->size, .count = size_seed(sp->size),
			       .slots = sp->slots, .op = CMD_VERIFY };
	struct ctl_reply rep;
	char sz[32];

	SAN_OK(san_deregister_memory(sp->s, sp->h));
	munmap(sp->src, sp->size);
	ctl_write(sp->ctl, &cmd, sizeof(cmd));
	ctl_read(sp->ctl, &rep, sizeof(rep));
	if (!rep.status)
		return 1;
	bench_progress_done();
	fprintf(stderr,
		"bench_rdma_write: %s: target buffer wrong at byte %" PRIu64 " (slot %" PRIu64
		", offset %" PRIu64 ") after %ld writes\n",
		bench_size_str(sp->size, sz, sizeof(sz)), rep.value, rep.value / sp->size,
		rep.value % sp->size, writes);
	return 0;
}

static int san_finish(struct san_peer *sp)
{
	struct ctl_cmd q = { .op = CMD_QUIT };

	ctl_write(sp->ctl, &q, sizeof(q));
	SAN_OK(san_close(sp->s));
	san_provider_close(sp->p);
	return wait_peer(sp->pid, sp->ctl);
}

/* ==== the run: both systems, size by size ==== */

/*
 * For each size: both warm up, then --rounds alternating measurements
 * (baseline, libsan, baseline, libsan ...) so that both see the same
 * machine: on a shared machine the load drifts within seconds, and
 * measuring one system after the other would put the drift into the ratio.
 * Each system's figure is the median of its rounds.
 */
static int run(struct result *res)
{
	struct base_peer b = { .fd = -1 };
	struct san_peer sp = { .ctl = -1 };
	int lfd = -1, failed = 0;
	char sz[32];

	/* Both peers are forked before this process opens any ring or
	 * provider, so neither inherits one. */
	if (o.run_baseline)
		base_fork(&b, &lfd);
	if (o.run_libsan)
		san_fork(&sp);
	child_close[0] = child_close[1] = -1;
	if (o.run_baseline)
		base_accept(&b, lfd);
	if (o.run_libsan)
		san_open(&sp);

	for (int i = 0; i < o.nsizes; i++) {
		size_t size = o.sizes[i];
		long w = warmup_for(size), n = 0, min_iters = LONG_MAX;
		double bm[MAX_ROUNDS], sm[MAX_ROUNDS], t = 0, cap = o.iters > 0 ? 0 : 3 * o.seconds;

		bench_size_str(size, sz, sizeof(sz));
		if (o.run_baseline) {
			bench_progress("%s: baseline warm-up", sz);
			base_size_begin(&b, size);
			t = w ? base_phase(&b, w) : 0;
			n = calibrate(size, w, t);
		}
		if (o.run_libsan) {
			bench_progress("%s: libsan warm-up", sz);
			san_size_begin(&sp, size);
			if (w)
				w = san_measure(&sp, w, o.seconds, &t);
			if (!o.run_baseline)
				n = calibrate(size, w, t);
		}
		for (int r = 0; r < o.rounds; r++) {
			if (o.run_baseline) {
				bench_progress("%s: baseline, round %d/%d", sz, r + 1, o.rounds);
				bm[r] = (double)n * (double)size / base_phase(&b, n) / 1e6;
			}
			if (o.run_libsan) {
				long got;

				bench_progress("%s: libsan, round %d/%d", sz, r + 1, o.rounds);
				got = san_measure(&sp, n, cap, &t);
				sm[r] = (double)got * (double)size / t / 1e6;
				if (got < min_iters)
					min_iters = got;
			}
		}
		if (o.run_baseline) {
			base_size_end(&b);
			res[i].base_iters = n;
			res[i].base_mbps = bench_median(bm, o.rounds);
		}
		if (o.run_libsan) {
			res[i].verified = san_size_end(&sp, w + min_iters);
			if (!res[i].verified)
				failed = 1;
			res[i].san_iters = min_iters;
			res[i].san_mbps = bench_median(sm, o.rounds);
		}
	}
	bench_progress_done();
	if (o.run_baseline && base_finish(&b))
		failed = 1;
	if (o.run_libsan && san_finish(&sp))
		failed = 1;
	return failed ? -1 : 0;
}

/* ==== output ==== */

static void print_results(const struct result *r)
{
	const char *tr = o.transport == TR_UNIX ? "unix" : "tcp";
	char sz[32];

	if (o.format == FMT_CSV) {
		printf("transport,depth,size,libsan_iters,libsan_mbps,baseline_iters,baseline_mbps,"
		       "ratio,verified\n");
		for (int i = 0; i < o.nsizes; i++) {
			printf("%s,%u,%zu,%ld,", tr, o.depth, r[i].size, r[i].san_iters);
			if (r[i].san_mbps >= 0)
				printf("%.1f", r[i].san_mbps);
			printf(",%ld,", r[i].base_iters);
			if (r[i].base_mbps >= 0)
				printf("%.1f", r[i].base_mbps);
			putchar(',');
			if (r[i].san_mbps >= 0 && r[i].base_mbps > 0)
				printf("%.3f", r[i].san_mbps / r[i].base_mbps);
			printf(",%s\n", r[i].san_mbps < 0 ? "" : r[i].verified ? "yes" : "no");
		}
		return;
	}
	if (o.format == FMT_JSON) {
		printf("{\"benchmark\":\"rdma_write\",\"transport\":\"%s\",\"depth\":%u,"
		       "\"results\":[",
		       tr, o.depth);
		for (int i = 0; i < o.nsizes; i++) {
			printf("%s{\"size\":%zu", i ? "," : "", r[i].size);
			if (r[i].san_mbps >= 0)
				printf(",\"libsan_iters\":%ld,\"libsan_mbps\":%.1f,\"verified\":%s",
				       r[i].san_iters, r[i].san_mbps, r[i].verified ? "true" : "false");
			if (r[i].base_mbps >= 0)
				printf(",\"baseline_iters\":%ld,\"baseline_mbps\":%.1f", r[i].base_iters,
				       r[i].base_mbps);
			if (r[i].san_mbps >= 0 && r[i].base_mbps > 0)
				printf(",\"ratio\":%.3f", r[i].san_mbps / r[i].base_mbps);
			putchar('}');
		}
		printf("]}\n");
		return;
	}
	printf("RDMA write bandwidth, %s, window %u: libsan san_rdma_write vs io_uring "
	       "fixed-buffer socket copy\n",
	       o.transport == TR_UNIX ? "Unix sockets" : "TCP loopback", o.depth);
	printf("%10s %10s %13s %15s %7s\n", "size", "transfers", "libsan MB/s", "baseline MB/s",
	       "ratio");
	for (int i = 0; i < o.nsizes; i++) {
		char it[48], a[24] = "-", b[24] = "-", q[16] = "-";

		if (r[i].san_mbps >= 0)
			snprintf(a, sizeof(a), "%.0f%s", r[i].san_mbps, r[i].verified ? "" : " BAD");
		if (r[i].base_mbps >= 0)
			snprintf(b, sizeof(b), "%.0f", r[i].base_mbps);
		if (r[i].san_mbps >= 0 && r[i].base_mbps > 0)
			snprintf(q, sizeof(q), "%.2f", r[i].san_mbps / r[i].base_mbps);
		if (r[i].san_mbps >= 0 && r[i].base_mbps >= 0 && r[i].san_iters != r[i].base_iters)
			snprintf(it, sizeof(it), "%ld/%ld", r[i].san_iters, r[i].base_iters);
		else
			snprintf(it, sizeof(it), "%ld",
				 r[i].san_mbps >= 0 ? r[i].san_iters : r[i].base_iters);
		printf("%10s %10s %13s %15s %7s\n", bench_size_str(r[i].size, sz, sizeof(sz)), it,
		       a, b, q);
	}
	printf("MB/s = 10^6 bytes/s, median of %d alternating round%s of ~%.1f s (warm-up "
	       "excluded);\ntransfers per round (libsan/baseline where libsan hit its time cap); "
	       "ratio = libsan / baseline%s\n",
	       o.rounds, o.rounds > 1 ? "s" : "", o.seconds,
	       r[0].san_mbps >= 0 ? "; libsan bytes checked by the target (BAD: wrong)" : "");
}

/* ==== options ==== */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: bench_rdma_write [options]\n"
		"Forks a target and measures libsan one-sided RDMA write bandwidth against\n"
		"a plain io_uring fixed-buffer socket copy, in the same run.\n"
		"  --sizes LIST       transfer sizes, e.g. 4K,64K,1M,16M (default)\n"
		"  --depth N          outstanding transfers (default 8, max %d)\n"
		"  --seconds S        measured time per size, system and round (default 0.5)\n"
		"  --rounds R         alternating measurements per size, median kept\n"
		"                     (default 2, max %d)\n"
		"  --iters N          transfers per round instead of --seconds\n"
		"  --warmup N         warm-up transfers (default: ~256 MiB worth)\n"
		"  --transport T      tcp (loopback, default) or unix\n"
		"  --mode M           both (default), libsan or baseline\n"
		"  --format F         table (default), csv or json\n"
		"  --config           print the libsan configuration (SAN_* env) and exit\n",
		MAX_DEPTH, MAX_ROUNDS);
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "sizes", required_argument, NULL, 's' },
		{ "depth", required_argument, NULL, 'd' },
		{ "seconds", required_argument, NULL, 't' },
		{ "iters", required_argument, NULL, 'n' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "transport", required_argument, NULL, 'T' },
		{ "mode", required_argument, NULL, 'm' },
		{ "format", required_argument, NULL, 'f' },
		{ "config", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "s:d:t:n:r:w:T:m:f:ch", lo, NULL)) != -1) {
		char *end;

		switch (c) {
		case 's': {
			char *list = strdup(optarg), *save = NULL, *tok;

			o.nsizes = 0;
			for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				uint64_t v;

				if (o.nsizes == MAX_SIZES || bench_parse_size(tok, MAX_SIZE, &v))
					bench_die("bad --sizes element '%s' (1 B .. 1 GiB, at most %d)",
						  tok, MAX_SIZES);
				o.sizes[o.nsizes++] = v;
			}
			free(list);
			if (!o.nsizes)
				bench_die("--sizes is empty");
			break;
		}
		case 'd':
			o.depth = (unsigned)strtoul(optarg, &end, 10);
			if (*end || o.depth < 1 || o.depth > MAX_DEPTH)
				bench_die("bad --depth '%s' (1..%d)", optarg, MAX_DEPTH);
			break;
		case 't':
			o.seconds = strtod(optarg, &end);
			if (*end || !(o.seconds > 0) || o.seconds > 3600)
				bench_die("bad --seconds '%s'", optarg);
			break;
		case 'n':
			o.iters = strtol(optarg, &end, 10);
			if (*end || o.iters < 1)
				bench_die("bad --iters '%s'", optarg);
			break;
		case 'r':
			o.rounds = (int)strtol(optarg, &end, 10);
			if (*end || o.rounds < 1 || o.rounds > MAX_ROUNDS)
				bench_die("bad --rounds '%s' (1..%d)", optarg, MAX_ROUNDS);
			break;
		case 'w':
			o.warmup = strtol(optarg, &end, 10);
			if (*end || o.warmup < 0)
				bench_die("bad --warmup '%s'", optarg);
			break;
		case 'T':
			if (!strcmp(optarg, "tcp"))
				o.transport = TR_TCP;
			else if (!strcmp(optarg, "unix"))
				o.transport = TR_UNIX;
			else
				bench_die("bad --transport '%s' (tcp or unix)", optarg);
			break;
		case 'm':
			o.run_libsan = !strcmp(optarg, "both") || !strcmp(optarg, "libsan");
			o.run_baseline = !strcmp(optarg, "both") || !strcmp(optarg, "baseline");
			if (!o.run_libsan && !o.run_baseline)
				bench_die("bad --mode '%s' (both, libsan or baseline)", optarg);
			break;
		case 'f':
			if (!strcmp(optarg, "table"))
				o.format = FMT_TABLE;
			else if (!strcmp(optarg, "csv"))
				o.format = FMT_CSV;
			else if (!strcmp(optarg, "json"))
				o.format = FMT_JSON;
			else
				bench_die("bad --format '%s' (table, csv or json)", optarg);
			break;
		case 'c': {
			struct san_config cfg;
			char buf[4096];

			san_config_init(&cfg);
			san_config_format(&cfg, buf, sizeof(buf));
			fputs(buf, stdout);
			exit(0);
		}
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc)
		bench_die("unexpected argument '%s' (see --help)", argv[optind]);
}

int main(int argc, char **argv)
{
	struct result res[MAX_SIZES];
	int failed = 0;

	bench_role = "bench"; /* the forked peers say which they are */
	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < o.nsizes; i++)
		res[i] = (struct result){ .size = o.sizes[i], .base_mbps = -1, .san_mbps = -1 };

	if (run(res))
		failed = 1;
	print_results(res);
	return failed;
}
