/* SPDX-License-Identifier: MIT */
/*
 * The io_uring software NIC: one ring per provider, one engine lock, and a
 * progress thread that serves peers (their RDMA reads and writes, our
 * receives) while the application is not calling in — as a real NIC would.
 *
 * Who waits where. Waking a sleeping thread costs 20-25 us here, so the
 * design avoids hand-offs on the hot path: whichever thread holds the engine
 * lock processes every completion of the ring. An application thread in
 * san_poll spins on the completion ring (no syscall), then sleeps in
 * io_uring_enter itself. While any application thread polls, the progress
 * thread is parked on a condition variable, so completions wake only the
 * thread that wants them; it takes over again when the last poller leaves.
 */
#include "uring.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

struct io_uring_sqe *san__uring_sqe(struct uring_nic *nic)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&nic->ring);

	while (!sqe) {
		/* SQ full: hand what we have to the kernel and retry. */
		io_uring_submit(&nic->ring);
		sqe = io_uring_get_sqe(&nic->ring);
	}
	return sqe;
}

void san__uring_submit(struct uring_nic *nic)
{
	if (io_uring_sq_ready(&nic->ring))
		io_uring_submit_and_get_events(&nic->ring);
}

static void wake_sleepers(struct uring_nic *nic)
{
	struct io_uring_sqe *sqe = san__uring_sqe(nic);

	io_uring_prep_nop(sqe);
	sqe->user_data = 0;
}

/* ---- Reading headers in step ----
 * A frame header that waits in the ring as a RECV costs, when it arrives,
 * a trip through the kernel to run the request's task work and another to
 * submit the payload read: at 8 bytes that was ~1.5 us of an ~8.5 us hop
 * (a ping-pong on raw io_uring measured the same). While an app thread
 * spins in san_poll, no RECV for the next header is put in the ring:
 * every pass of the spinner reads it with recv(MSG_DONTWAIT) (40 bytes of
 * ours; payload still goes by READ_FIXED into pinned pages), at most
 * URING_SYNC_MAX_EPS connections at a time. Before any thread sleeps in the
 * kernel, and once no app thread spins, those headers go back into the
 * ring (sync_arm_all), so a sleeper is woken by them as before. Only the
 * engine-lock holder reads a socket, and never while one of its rx SQEs is
 * in the kernel, so the bytes stay in order.
 * Bare responses that a spinner's pass queued (WRITE_ACKs) wait for its
 * next post on that connection, which sends them in the same sendmsg() and
 * TCP segment, or else for its next pass (the defer list). */

bool san__uring_spinning(const struct uring_nic *nic)
{
	return !nic->arming && nic->app_pollers > nic->app_sleepers;
}

void san__uring_sync_add(struct uring_ep *ep)
{
	struct uring_nic *nic = ep->nic;

	if (ep->sync_pprev)
		return;
	ep->sync_next = NULL;
	ep->sync_pprev = nic->sync_tail;
	*nic->sync_tail = ep;
	nic->sync_tail = &ep->sync_next;
	nic->nsync++;
}

void san__uring_sync_del(struct uring_ep *ep)
{
	struct uring_nic *nic = ep->nic;

	if (!ep->sync_pprev)
		return;
	*ep->sync_pprev = ep->sync_next;
	if (ep->sync_next)
		ep->sync_next->sync_pprev = ep->sync_pprev;
	else
		nic->sync_tail = ep->sync_pprev;
	ep->sync_next = NULL;
	ep->sync_pprev = NULL;
	nic->nsync--;
}

void san__uring_defer(struct uring_ep *ep)
{
	if (ep->deferred)
		return;
	ep->deferred = true;
	ep->defer_next = ep->nic->defer_head;
	ep->nic->defer_head = ep;
}

void san__uring_defer_del(struct uring_ep *ep)
{
	struct uring_ep **pp = &ep->nic->defer_head;

	if (!ep->deferred)
		return;
	while (*pp != ep)
		pp = &(*pp)->defer_next;
	*pp = ep->defer_next;
	ep->deferred = false;
}

/* Sends every response held back by san__uring_defer. */
static void defer_flush(struct uring_nic *nic)
{
	struct uring_ep *ep;

	while ((ep = nic->defer_head)) {
		nic->defer_head = ep->defer_next;
		ep->deferred = false;
		san__uring_tx_flush(ep);
	}
}

/* One recv() round over the list: each ep reads until nothing is there
 * (back on the list, at the end) or until its frame needs the ring. */
static void sync_pass(struct uring_nic *nic)
{
	for (int n = nic->nsync; n > 0 && nic->sync_head; n--) {
		struct uring_ep *ep = nic->sync_head;

		san__uring_sync_del(ep);
		san__uring_rx_kick(ep);
	}
}

/* The same round with recv() off: every ep's header goes into the ring,
 * none comes back on the list, so the list ends empty. */
static void sync_arm_all(struct uring_nic *nic)
{
	nic->arming = true;
	sync_pass(nic);
	nic->arming = false;
}

/* Handles every CQE there is, also those that handling them brings. */
static void reap_cqes(struct uring_nic *nic)
{
	struct io_uring_cqe *cqes[64];
	unsigned got;

	san__uring_submit(nic);
	while ((got = io_uring_peek_batch_cqe(&nic->ring, cqes, SAN_ARRAY_SIZE(cqes))) > 0) {
		for (unsigned i = 0; i < got; i++) {
			uint64_t ud = cqes[i]->user_data;
			int res = cqes[i]->res;

			/* Mark the CQE seen before handling it: handlers submit
			 * SQEs, which may enter the kernel and post more CQEs. */
			io_uring_cqe_seen(&nic->ring, cqes[i]);
			if (ud & UD_PTR_MASK)
				san__uring_ep_cqe((struct uring_ep *)(uintptr_t)(ud & UD_PTR_MASK),
						  ud, res);
		}
		san__uring_submit(nic);
	}
}

int san__uring_progress(struct uring_nic *nic)
{
	uint64_t before = nic->ncompleted;
	int done;

	/* COOP_TASKRUN: the kernel does not interrupt a running thread to
	 * finish its requests (an IPI, ~10 us on a VM); it raises a flag, and
	 * entering the kernel runs the work. A polling thread checks the flag
	 * on every pass: a load, and a syscall only when there is work. */
	if (IO_URING_READ_ONCE(*nic->ring.sq.kflags) & IORING_SQ_TASKRUN)
		io_uring_get_events(&nic->ring);
	/* Responses held back since the last pass; what the kernel finished,
	 * in its order; then the headers by recv(), and the payload reads
	 * they started (done inline). */
	defer_flush(nic);
	reap_cqes(nic);
	if (nic->sync_head) {
		if (san__uring_spinning(nic))
			sync_pass(nic);
		else
			sync_arm_all(nic);
		reap_cqes(nic);
	}
	done = (int)(nic->ncompleted - before);
	/* Someone asleep in the kernel may be waiting for what we just
	 * completed on its behalf: give it a CQE to wake up on. */
	if (done && nic->app_sleepers) {
		wake_sleepers(nic);
		san__uring_submit(nic);
	}
	return done;
}

/* Sleeps in the kernel until a CQE is ready or timeout_ms passes. */
static void enter_wait(struct uring_nic *nic, int timeout_ms)
{
	struct __kernel_timespec ts;
	struct io_uring_getevents_arg arg = { 0 };
	unsigned flags = IORING_ENTER_GETEVENTS;

	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
		arg.ts = (uint64_t)(uintptr_t)&ts;
		flags |= IORING_ENTER_EXT_ARG;
	}
	syscall(__NR_io_uring_enter, nic->ring.ring_fd, 0, 1, flags,
		timeout_ms >= 0 ? (void *)&arg : NULL,
		timeout_ms >= 0 ? sizeof(arg) : (size_t)_NSIG / 8);
}

int san__uring_wait(struct uring_nic *nic, int timeout_ms, bool app)
{
	if (app)
		nic->app_sleepers++;
	sync_arm_all(nic); /* what we sleep for must be able to wake us */
	defer_flush(nic);
	pthread_mutex_unlock(&nic->lock);
	enter_wait(nic, timeout_ms);
	pthread_mutex_lock(&nic->lock);
	if (app)
		nic->app_sleepers--;
	return 0;
}

static int uring_wait(struct san_nic *n, int timeout_ms)
{
	return san__uring_wait(NIC(n), timeout_ms, true);
}

static void uring_poll_enter(struct san_nic *n)
{
	NIC(n)->app_pollers++;
}

static void uring_poll_leave(struct san_nic *n)
{
	struct uring_nic *nic = NIC(n);

	if (--nic->app_pollers == 0)
		nic->app_last_ns = san__now_ns();
	/* The last spinner leaves while others sleep in the ring: app threads
	 * in san_poll (the progress thread stays parked for them), or the
	 * progress thread itself (it parks only once a CQE woke it). What the
	 * spinner kept out of the ring goes back now, or nobody would see it.
	 * Usually the progress thread is parked and checks back on its own. */
	if ((nic->app_sleepers || nic->prog_asleep) && !san__uring_spinning(nic)) {
		sync_arm_all(nic);
		defer_flush(nic);
	}
}

static void uring_wake(struct san_nic *n)
{
	struct uring_nic *nic = NIC(n);

	if (nic->app_sleepers) {
		wake_sleepers(nic);
		san__uring_submit(nic);
	}
}

static int uring_progress(struct san_nic *n)
{
	return san__uring_progress(NIC(n));
}

/* lock held: an app thread polls, or did within the grace period. */
static bool app_driving(const struct uring_nic *nic)
{
	return nic->app_pollers || san__now_ns() - nic->app_last_ns < URING_GRACE_NS;
}

/* lock held, app_driving: the progress thread stays off the ring while an
 * app thread drives it, so completions wake nobody but that thread. It
 * checks back after the grace period, then after twice as long each time
 * the app is still at it, up to URING_PARK_MAX_NS: an app that polls in a
 * loop sees a few hundred wake-ups of this thread a second (each takes a
 * CPU and the engine lock from it on 2 vCPUs), not one every 200 us. The
 * price: after the app's last poll, peers' requests wait for the ring
 * until the next check (at most URING_PARK_MAX_NS). */
static void park(struct uring_nic *nic)
{
	uint64_t wait_ns = URING_GRACE_NS;

	do {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(wait_ns / 1000000000ull);
		ts.tv_nsec += (long)(wait_ns % 1000000000ull);
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&nic->prog_cond, &nic->lock, &ts);
		wait_ns = SAN_MIN(wait_ns * 2, URING_PARK_MAX_NS);
	} while (!nic->stop && app_driving(nic) &&
		 !(nic->hook_fn && san__now_ns() - nic->hook_last_ns >= URING_HOOK_NS));
}

static void *progress_main(void *arg)
{
	struct uring_nic *nic = arg;
	sigset_t all;

	/* Ours: no signal of the application's may land here. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_mutex_lock(&nic->lock);
	while (!nic->stop) {
		uint64_t now;

		san__uring_progress(nic);
		if (nic->stop)
			break;
		now = san__now_ns();
		if (nic->hook_fn && now - nic->hook_last_ns >= URING_HOOK_NS) {
			void (*fn)(void *) = nic->hook_fn;
			void *harg = nic->hook_arg;

			nic->hook_running = true;
			nic->hook_last_ns = now;
			pthread_mutex_unlock(&nic->lock);
			fn(harg);
			pthread_mutex_lock(&nic->lock);
			nic->hook_running = false;
			continue;
		}
		if (app_driving(nic)) {
			park(nic);
			continue;
		}
		nic->prog_asleep = true;
		san__uring_wait(nic, nic->hook_fn ? (int)(URING_HOOK_NS / 1000000) : -1, false);
		nic->prog_asleep = false;
	}
	pthread_mutex_unlock(&nic->lock);
	return NULL;
}

static void uring_lock(struct san_nic *n)
{
	pthread_mutex_lock(&NIC(n)->lock);
}

static void uring_unlock(struct san_nic *n)
{
	pthread_mutex_unlock(&NIC(n)->lock);
}

/* Does the kernel take RWF_NOSIGNAL on writes (Linux 6.18+)? Without it a
 * write to a socket the peer closed raises SIGPIPE in whichever thread runs
 * the request. */
static int probe_nosignal(void)
{
	int sv[2], ok;
	char b = 0;
	struct iovec iov = { &b, 1 };

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return 0;
	shutdown(sv[0], SHUT_WR);
	ok = pwritev2(sv[0], &iov, 1, -1, URING_RWF_NOSIGNAL) < 0 && errno == EPIPE;
	close(sv[0]);
	close(sv[1]);
	return ok;
}

static void uring_close(struct san_nic *n);

static int uring_open(const struct san_config *c, struct san_nic **nic_out)
{
	struct uring_nic *nic;
	struct io_uring_params params = { 0 };
	int rc;

	if (sysconf(_SC_PAGESIZE) != (long)san__page_size())
		return -EOPNOTSUPP;
	nic = calloc(1, sizeof(*nic));
	if (!nic)
		return -ENOMEM;
	nic->sync_tail = &nic->sync_head;
	nic->max_msg = (uint64_t)c->max_msg_mb << 20;
	nic->tcp_timeout_ms = c->tcp_timeout_ms;
	nic->inline_max = c->inline_max;
	/* See docs/design-notes.md: task work without IPIs, flagged in the
	 * SQ ring, costs 5.5 us one-way here against 14.4 us by default.
	 * Kernels before 5.19 lack the flags: fall back. */
	params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
		       IORING_SETUP_TASKRUN_FLAG;
	params.cq_entries = c->ring_entries * 16;
	rc = io_uring_queue_init_params(c->ring_entries, &nic->ring, &params);
	if (rc == -EINVAL) {
		memset(&params, 0, sizeof(params));
		params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
		params.cq_entries = c->ring_entries * 16;
		rc = io_uring_queue_init_params(c->ring_entries, &nic->ring, &params);
	}
	if (rc) {
		free(nic);
		return rc;
	}
	rc = io_uring_register_buffers_sparse(&nic->ring, URING_MAX_SLOTS);
	if (rc)
		goto out_ring;
	nic->scratch = malloc(URING_SCRATCH);
	if (!nic->scratch) {
		rc = -ENOMEM;
		goto out_ring;
	}
	if (probe_nosignal()) {
		nic->rw_flags = URING_RWF_NOSIGNAL;
	} else {
		struct sigaction sa;

		/* Older kernel: SIGPIPE from a write to a dead connection
		 * would kill the process. Ignore it, unless the application
		 * chose a disposition of its own. */
		if (!sigaction(SIGPIPE, NULL, &sa) && sa.sa_handler == SIG_DFL)
			signal(SIGPIPE, SIG_IGN);
	}
	pthread_mutex_init(&nic->lock, NULL);
	pthread_mutex_init(&nic->slot_lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&nic->prog_cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	if (c->progress_thread) {
		rc = -pthread_create(&nic->thread, NULL, progress_main, nic);
		if (rc) {
			uring_close((struct san_nic *)nic);
			return rc;
		}
		nic->have_thread = true;
	}
	*nic_out = (struct san_nic *)nic;
	return 0;

out_ring:
	io_uring_queue_exit(&nic->ring);
	free(nic->scratch);
	free(nic);
	return rc;
}

static void uring_close(struct san_nic *n)
{
	struct uring_nic *nic = NIC(n);

	if (nic->have_thread) {
		pthread_mutex_lock(&nic->lock);
		nic->stop = true;
		pthread_cond_signal(&nic->prog_cond);
		wake_sleepers(nic);
		san__uring_submit(nic);
		pthread_mutex_unlock(&nic->lock);
		pthread_join(nic->thread, NULL);
	}
	/* Exiting the ring unregisters (unpins) every buffer left. */
	io_uring_queue_exit(&nic->ring);
	pthread_cond_destroy(&nic->prog_cond);
	pthread_mutex_destroy(&nic->slot_lock);
	pthread_mutex_destroy(&nic->lock);
	free(nic->scratch);
	free(nic);
}

static void uring_set_idle_hook(struct san_nic *n, void (*fn)(void *), void *arg)
{
	struct uring_nic *nic = NIC(n);

	pthread_mutex_lock(&nic->lock);
	nic->hook_fn = fn;
	nic->hook_arg = arg;
	while (nic->hook_running) {
		pthread_mutex_unlock(&nic->lock);
		usleep(1000);
		pthread_mutex_lock(&nic->lock);
	}
	pthread_mutex_unlock(&nic->lock);
}

static void uring_stats(struct san_nic *n, struct san_nic_stats *st)
{
	struct uring_nic *nic = NIC(n);

	st->pins = atomic_load(&nic->pins);
	st->unpins = atomic_load(&nic->unpins);
	st->pinned_bytes = atomic_load(&nic->pinned_bytes);
	st->keys_active = atomic_load(&nic->keys_active);
	st->tx_direct = atomic_load(&nic->tx_direct);
	st->rx_direct = atomic_load(&nic->rx_direct);
}

const struct san_nic_ops san__nic_uring_ops = {
	.name = "uring",
	.open = uring_open,
	.close = uring_close,
	.lock = uring_lock,
	.unlock = uring_unlock,
	.mem_reg = san__uring_mem_reg,
	.mem_dereg = san__uring_mem_dereg,
	.listen = san__uring_listen,
	.listener_addr = san__uring_listener_addr,
	.accept = san__uring_accept,
	.listener_close = san__uring_listener_close,
	.connect = san__uring_connect,
	.ep_close = san__uring_ep_close,
	.ep_state = san__uring_ep_state,
	.ep_state_ptr = san__uring_ep_state_ptr,
	.ep_nonce = san__uring_ep_nonce,
	.ep_set_notify = san__uring_ep_set_notify,
	.key_add = san__uring_key_add,
	.key_revoke = san__uring_key_revoke,
	.post = san__uring_post,
	.progress = uring_progress,
	.wait = uring_wait,
	.poll_enter = uring_poll_enter,
	.poll_leave = uring_poll_leave,
	.wake = uring_wake,
	.stats = uring_stats,
	.set_idle_hook = uring_set_idle_hook,
};
