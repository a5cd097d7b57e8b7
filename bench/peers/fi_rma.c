/* SPDX-License-Identifier: MIT */
/*
 * fi_rma: libfabric one-sided write bandwidth and latency, and two-sided
 * message latency, on a reliable-datagram (FI_EP_RDM) endpoint of the tcp
 * provider (in libfabric 1.17 that is "tcp;ofi_rxm"), over loopback. Debian
 * ships no fabtests, and fi_pingpong measures messages only, so bench/compare
 * needs this to set libfabric's RMA beside san_rdma_write().
 *
 * Both ends open the fabric, register one buffer with fi_mr_reg() and swap
 * endpoint names, memory keys and addresses over the plain TCP control
 * connection of peer.h; the fabric's own connection is made by the provider
 * on the first operation (inside the warm-up).
 *
 *   write_bw   the client keeps --depth fi_write()s of --size bytes in
 *              flight into min(depth, 64 MiB / size) slots of the server's
 *              buffer. Timed from the first write to the answer to a message
 *              sent after the last completion; the endpoint orders sends
 *              after writes (FI_ORDER_SAW), so the answer means the server
 *              has placed every byte, as a libsan write completes only once
 *              the target placed it.
 *   write_lat  ping-pong of fi_write()s: each side writes --size bytes into
 *              the other's buffer, the last byte carrying a sequence number,
 *              and busy-polls its own buffer (reading the completion queue,
 *              which drives the provider's progress) until the peer's write
 *              with the next number has landed. As ucx_perftest's put_lat.
 *   msg_lat    ping-pong of fi_send()/fi_recv(), as fi_pingpong.
 *
 * In the latency tests, payloads up to the provider's inject size go out
 * with fi_inject*(), the fastest path it offers (write_bw counts
 * completions, so it always uses fi_write). The provider is "tcp" unless --prov;
 * FI_TCP_IFACE defaults to "lo". See peer.h for the rest of the CLI.
 */
#include "peer.h"

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#define FI_RMA_API FI_VERSION(1, 9)
#define SLOT_BYTES (64u << 20)
/* Room after the data area for the small synchronisation messages. */
#define MSG_AREA 4096

enum { T_WRITE_BW, T_WRITE_LAT, T_MSG_LAT };

#define FI_OK(expr)                                                                      \
	do {                                                                             \
		int rc_ = (int)(expr);                                                   \
		if (rc_)                                                                 \
			peer_die("%s:%d: %s: %s", __FILE__, __LINE__, #expr,             \
				 fi_strerror(rc_ < 0 ? -rc_ : rc_));                     \
	} while (0)

/* What one side tells the other about itself. */
struct fab_wire {
	uint64_t key;
	uint64_t base; /* address of the buffer as the peer must name it */
	uint32_t addrlen;
	uint8_t addr[252];
};

struct fab {
	struct fi_info *info;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_cq *cq;
	struct fid_av *av;
	struct fid_ep *ep;
	struct fid_mr *mr;
	char *buf;        /* data area [0, len), then MSG_AREA for sync messages */
	size_t len;
	void *desc;
	fi_addr_t peer;
	uint64_t rkey, rbase; /* the peer's buffer */
	size_t inject;
	uint64_t tx_done, rx_done; /* completions seen */
};

static int test_of(const char *name)
{
	if (!strcmp(name, "write_bw"))
		return T_WRITE_BW;
	if (!strcmp(name, "write_lat"))
		return T_WRITE_LAT;
	if (!strcmp(name, "msg_lat"))
		return T_MSG_LAT;
	peer_die("unknown --test '%s' (write_bw, write_lat or msg_lat)", name);
}

static unsigned slots_for(const struct peer_hdr *h)
{
	uint64_t s = SLOT_BYTES / h->size;

	if (s < 1)
		s = 1;
	if (s > h->depth)
		s = h->depth;
	return (unsigned)s;
}

/* Bytes of this side's data area for the test. */
static size_t data_len(const struct peer_hdr *h, int test, int server)
{
	if (test == T_WRITE_BW)
		return server ? (size_t)h->size * slots_for(h) : (size_t)h->size;
	return 2 * (size_t)h->size; /* [0, size) receives, [size, 2 size) sends */
}

static void fab_open(struct fab *f, const char *prov, size_t len)
{
	struct fi_info *hints = fi_allocinfo();
	struct fi_cq_attr cqa = { .size = 1024, .format = FI_CQ_FORMAT_MSG,
				  .wait_obj = FI_WAIT_NONE };
	struct fi_av_attr ava = { .type = FI_AV_TABLE, .count = 4 };
	int rc;

	if (!hints)
		peer_die("fi_allocinfo: out of memory");
	hints->ep_attr->type = FI_EP_RDM;
	hints->caps = FI_MSG | FI_RMA;
	hints->mode = 0; /* no FI_CONTEXT: operations carry no context */
	hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED |
				      FI_MR_PROV_KEY | FI_MR_ENDPOINT;
	hints->domain_attr->threading = FI_THREAD_DOMAIN;
	hints->tx_attr->msg_order = FI_ORDER_SAW | FI_ORDER_SAS;
	hints->rx_attr->msg_order = FI_ORDER_SAW | FI_ORDER_SAS;
	hints->fabric_attr->prov_name = strdup(prov);
	rc = fi_getinfo(FI_RMA_API, "127.0.0.1", NULL, FI_SOURCE, hints, &f->info);
	if (rc)
		peer_die("fi_getinfo(provider %s, 127.0.0.1, RDM, MSG|RMA): %s", prov,
			 fi_strerror(-rc));
	fi_freeinfo(hints);

	FI_OK(fi_fabric(f->info->fabric_attr, &f->fabric, NULL));
	FI_OK(fi_domain(f->fabric, f->info, &f->domain, NULL));
	FI_OK(fi_cq_open(f->domain, &cqa, &f->cq, NULL));
	FI_OK(fi_av_open(f->domain, &ava, &f->av, NULL));
	FI_OK(fi_endpoint(f->domain, f->info, &f->ep, NULL));
	FI_OK(fi_ep_bind(f->ep, &f->av->fid, 0));
	FI_OK(fi_ep_bind(f->ep, &f->cq->fid, FI_TRANSMIT | FI_RECV));
	FI_OK(fi_enable(f->ep));
	f->inject = f->info->tx_attr->inject_size;

	f->len = len;
	f->buf = peer_alloc(len + MSG_AREA);
	memset(f->buf, 0, len + MSG_AREA);
	FI_OK(fi_mr_reg(f->domain, f->buf, len + MSG_AREA,
			FI_SEND | FI_RECV | FI_WRITE | FI_READ | FI_REMOTE_WRITE | FI_REMOTE_READ,
			0, 1, 0, &f->mr, NULL));
	if (f->info->domain_attr->mr_mode & FI_MR_ENDPOINT) {
		FI_OK(fi_mr_bind(f->mr, &f->ep->fid, 0));
		FI_OK(fi_mr_enable(f->mr));
	}
	f->desc = fi_mr_desc(f->mr);
}

/* Swaps names, keys and addresses with the peer over the control socket. */
static void fab_exchange(struct fab *f, int ctl)
{
	struct fab_wire me = { 0 }, them;
	size_t alen = sizeof(me.addr);

	FI_OK(fi_getname(&f->ep->fid, me.addr, &alen));
	me.addrlen = (uint32_t)alen;
	me.key = fi_mr_key(f->mr);
	me.base = f->info->domain_attr->mr_mode & FI_MR_VIRT_ADDR ? (uint64_t)(uintptr_t)f->buf
								   : 0;
	peer_write_all(ctl, &me, sizeof(me));
	peer_read_all(ctl, &them, sizeof(them), 0);
	if (them.addrlen > sizeof(them.addr))
		peer_die("peer sent an endpoint name of %u bytes", them.addrlen);
	if (fi_av_insert(f->av, them.addr, 1, &f->peer, 0, NULL) != 1)
		peer_die("fi_av_insert of the peer's endpoint name failed");
	f->rkey = them.key;
	f->rbase = them.base;
}

static void fab_close(struct fab *f)
{
	fi_close(&f->mr->fid);
	fi_close(&f->ep->fid);
	fi_close(&f->av->fid);
	fi_close(&f->cq->fid);
	fi_close(&f->domain->fid);
	fi_close(&f->fabric->fid);
	fi_freeinfo(f->info);
	free(f->buf);
}

/* Reads what the completion queue has (and so drives the provider). */
static void fab_progress(struct fab *f)
{
	struct fi_cq_msg_entry e[16];
	ssize_t n = fi_cq_read(f->cq, e, 16);

	if (n == -FI_EAGAIN)
		return;
	if (n == -FI_EAVAIL) {
		struct fi_cq_err_entry err = { 0 };

		fi_cq_readerr(f->cq, &err, 0);
		peer_die("completion error: %s (%s)", fi_strerror(err.err),
			 fi_cq_strerror(f->cq, err.prov_errno, err.err_data, NULL, 0));
	}
	if (n < 0)
		peer_die("fi_cq_read: %s", fi_strerror((int)-n));
	for (ssize_t i = 0; i < n; i++) {
		if (e[i].flags & FI_RECV)
			f->rx_done++;
		else
			f->tx_done++;
	}
}

/* Posts with retries while the provider says "again". Returns 1 if the
 * operation will produce a completion (it was not an inject). */
static int fab_send(struct fab *f, const void *buf, size_t len)
{
	ssize_t rc;
	int inject = len <= f->inject;

	for (;;) {
		rc = inject ? fi_inject(f->ep, buf, len, f->peer)
			    : fi_send(f->ep, buf, len, f->desc, f->peer, NULL);
		if (rc != -FI_EAGAIN)
			break;
		fab_progress(f);
	}
	if (rc)
		peer_die("fi_send %zu bytes: %s", len, fi_strerror((int)-rc));
	return !inject;
}

static void fab_recv(struct fab *f, void *buf, size_t len)
{
	ssize_t rc;

	while ((rc = fi_recv(f->ep, buf, len, f->desc, f->peer, NULL)) == -FI_EAGAIN)
		fab_progress(f);
	if (rc)
		peer_die("fi_recv %zu bytes: %s", len, fi_strerror((int)-rc));
}

static int fab_write(struct fab *f, const void *buf, size_t len, uint64_t off, int may_inject)
{
	ssize_t rc;
	int inject = may_inject && len <= f->inject;

	for (;;) {
		rc = inject ? fi_inject_write(f->ep, buf, len, f->peer, f->rbase + off, f->rkey)
			    : fi_write(f->ep, buf, len, f->desc, f->peer, f->rbase + off, f->rkey,
				       NULL);
		if (rc != -FI_EAGAIN)
			break;
		fab_progress(f);
	}
	if (rc)
		peer_die("fi_write %zu bytes at +%" PRIu64 ": %s", len, off, fi_strerror((int)-rc));
	return !inject;
}

/* Waits for every completion this side is owed. */
static void fab_wait(struct fab *f, uint64_t tx, uint64_t rx)
{
	while (f->tx_done < tx || f->rx_done < rx)
		fab_progress(f);
}

/* A message round trip in the message area: sync after a bandwidth phase. */
static void sync_client(struct fab *f, uint64_t *tx)
{
	char *m = f->buf + f->len;
	uint64_t rx = f->rx_done + 1;

	fab_recv(f, m, 8);
	*tx += (uint64_t)fab_send(f, m + 8, 8);
	fab_wait(f, *tx, rx);
}

static void sync_server(struct fab *f, uint64_t *tx)
{
	char *m = f->buf + f->len;
	uint64_t rx = f->rx_done + 1;

	fab_recv(f, m, 8);
	fab_wait(f, *tx, rx);
	*tx += (uint64_t)fab_send(f, m + 8, 8);
	fab_wait(f, *tx, rx);
}

/* count writes, depth in flight; returns when all have completed. */
static void write_phase(struct fab *f, const struct peer_hdr *h, uint64_t count, uint64_t *tx)
{
	unsigned slots = slots_for(h);
	uint64_t posted = 0, base = *tx;

	while (f->tx_done < base + count) {
		while (posted < count && posted - (f->tx_done - base) < h->depth) {
			/* fi_write, not inject: the window counts completions. */
			fab_write(f, f->buf, (size_t)h->size, (posted % slots) * h->size, 0);
			posted++;
		}
		fab_progress(f);
	}
	*tx = base + count;
}

static void run_write_bw(struct fab *f, const struct peer_hdr *h, int client)
{
	uint64_t tx = 0;
	double t0;

	if (!client) {
		sync_server(f, &tx); /* after the warm-up */
		sync_server(f, &tx); /* after the measured writes */
		return;
	}
	write_phase(f, h, h->warmup, &tx);
	sync_client(f, &tx);
	t0 = peer_now();
	write_phase(f, h, h->iters, &tx);
	sync_client(f, &tx);
	peer_report(h, h->iters, peer_now() - t0, NULL);
}

/* Busy-polls until the last byte of [0, size) reads seq. */
static void wait_byte(struct fab *f, size_t size, uint8_t seq)
{
	volatile uint8_t *last = (volatile uint8_t *)f->buf + size - 1;

	while (*last != seq)
		fab_progress(f);
}

static void run_write_lat(struct fab *f, const struct peer_hdr *h, int client)
{
	size_t size = (size_t)h->size;
	char *tx_area = f->buf + size;
	uint64_t total = h->warmup + h->iters, tx = 0;
	double *lat = client ? peer_lat_array(h->iters) : NULL, start = 0;

	for (uint64_t i = 0; i < total; i++) {
		uint8_t seq = (uint8_t)(i % 255 + 1);
		double t0 = peer_now();

		if (client && i == h->warmup)
			start = t0;
		if (!client)
			wait_byte(f, size, seq);
		tx_area[size - 1] = (char)seq;
		tx += (uint64_t)fab_write(f, tx_area, size, 0, 1);
		if (client) {
			wait_byte(f, size, seq);
			if (i >= h->warmup)
				lat[i - h->warmup] = (peer_now() - t0) / 2;
		}
	}
	fab_wait(f, tx, 0);
	if (client)
		peer_report(h, h->iters, peer_now() - start, lat);
	free(lat);
}

static void run_msg_lat(struct fab *f, const struct peer_hdr *h, int client)
{
	size_t size = (size_t)h->size;
	char *rx_area = f->buf, *tx_area = f->buf + size;
	uint64_t total = h->warmup + h->iters, tx = 0;
	double *lat = client ? peer_lat_array(h->iters) : NULL, start = 0;

	fab_recv(f, rx_area, size);
	for (uint64_t i = 0; i < total; i++) {
		double t0 = peer_now();

		if (client && i == h->warmup)
			start = t0;
		if (!client) {
			fab_wait(f, 0, i + 1);
			if (i + 1 < total)
				fab_recv(f, rx_area, size);
		}
		tx += (uint64_t)fab_send(f, tx_area, size);
		if (client) {
			fab_wait(f, 0, i + 1);
			if (i + 1 < total)
				fab_recv(f, rx_area, size);
			if (i >= h->warmup)
				lat[i - h->warmup] = (peer_now() - t0) / 2;
		}
	}
	fab_wait(f, tx, 0);
	if (client)
		peer_report(h, h->iters, peer_now() - start, lat);
	free(lat);
}

int main(int argc, char **argv)
{
	static const char tests[] = "write_bw, write_lat or msg_lat";
	struct peer_opts o;
	struct peer_hdr h;
	struct fab f = { 0 };
	int ctl, test, client;
	char done = 1;

	peer_parse(argc, argv, tests, &o);
	setenv("FI_TCP_IFACE", "lo", 0);
	client = o.host != NULL;
	if (client) {
		test = test_of(o.h.test);
		ctl = peer_client_start(&o);
		h = o.h;
	} else {
		ctl = peer_server_start(&o, &h);
		test = test_of(h.test);
	}
	fab_open(&f, o.extra ? o.extra : "tcp", data_len(&h, test, !client));
	fab_exchange(&f, ctl);
	if (test == T_WRITE_BW)
		run_write_bw(&f, &h, client);
	else if (test == T_WRITE_LAT)
		run_write_lat(&f, &h, client);
	else
		run_msg_lat(&f, &h, client);
	/* Neither side tears its endpoint down while the other may still be
	 * owed a completion from it. */
	peer_write_all(ctl, &done, 1);
	peer_read_all(ctl, &done, 1, 0);
	fab_close(&f);
	close(ctl);
	return 0;
}
