/* SPDX-License-Identifier: MIT */
/*
 * Body of test_stream_chunks_*: stream semantics under random chunking on
 * both sides, in both directions at once. Each process runs a sender
 * thread and receives in its main thread, on the same stream: sends of
 * 1 byte to 64 MiB (log-uniform, with sizes at the RDMA threshold and one
 * either side of it drawn often), receives cut independently the same way,
 * so message boundaries never line up. Every byte is checked against the
 * generator, and the FNV hash of each direction is compared across the
 * control channel at the end. Then the counters must show that both the
 * copy path and the chosen RDMA flow carried data.
 *
 * The including file defines CH_FLOW (SAN_STREAM_FLOW_*) and CH_THRESHOLD,
 * and CH_SHM 1 to run over the shared rings of a local move.
 */
#include "stream_test.h"

#include <pthread.h>

/* Bytes each way. Under the sanitizers (TSan runs these 20-50x slower)
 * a quarter: still several 64 MiB-class sends and thousands of cuts. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define CH_TOTAL (48ull << 20)
#else
#define CH_TOTAL (192ull << 20)
#endif
#define CH_CAP (64u << 20)      /* the largest single send or receive */

struct ch_tx {
	san_stream *s;
	uint32_t seed;
	uint64_t rng, hash;
};

static void *ch_sender(void *arg)
{
	struct ch_tx *t = arg;
	uint8_t *buf = xt_map(CH_CAP);

	t->hash = st_send_all(t->s, buf, CH_CAP, CH_TOTAL, t->seed, t->rng, CH_THRESHOLD);
	xt_unmap(buf, CH_CAP);
	return NULL;
}

#ifndef CH_SHM
#define CH_SHM 0
#endif

static struct san_stream_config ch_config(void)
{
	struct san_stream_config c = st_config();

	c.flow = CH_FLOW;
	c.rdma_threshold = CH_THRESHOLD;
	/* Write flow: offers come when the receiver blocks with a large
	 * buffer; wait for them a little longer than by default, so that
	 * the run uses them often (a sender with data in flight must
	 * decline: the offer's position is behind). */
	c.sink_wait_us = 2000;
	if (CH_SHM) {
		c.local = 1;
		c.shm = 1;
		c.shm_ring = 256 << 10; /* small: wraps and fills often */
	}
	return c;
}

/* Runs both directions; returns the hashes sent and received. */
static void ch_run(san_stream *s, uint32_t tx_seed, uint32_t rx_seed, uint64_t rng,
		   uint64_t *tx_hash, uint64_t *rx_hash)
{
	struct ch_tx t = { s, tx_seed, rng * 7 + 1, 0 };
	uint8_t *buf = xt_map(CH_CAP);
	pthread_t th;

	CHECK(pthread_create(&th, NULL, ch_sender, &t) == 0);
	*rx_hash = st_recv_all(s, buf, CH_CAP, CH_TOTAL, rx_seed, rng * 13 + 5, CH_THRESHOLD);
	CHECK(pthread_join(th, NULL) == 0);
	*tx_hash = t.hash;
	xt_unmap(buf, CH_CAP);
}

static void ch_check_flows(san_stream *s)
{
	struct san_stream_stats st = st_stats(s);

	printf("[%d] sent %llu (copied %llu, src offers %llu, written into sinks %llu), "
	       "received %llu (copied %llu, rdma-read %llu), sinks offered %llu declined %llu, "
	       "credit msgs %llu, transport %d\n",
	       (int)getpid(), (unsigned long long)st.bytes_sent, (unsigned long long)st.copy_bytes_sent,
	       (unsigned long long)st.src_avail_sent, (unsigned long long)st.rdma_write_bytes,
	       (unsigned long long)st.bytes_received, (unsigned long long)st.copy_bytes_received,
	       (unsigned long long)st.rdma_read_bytes, (unsigned long long)st.sink_avail_sent,
	       (unsigned long long)st.sinks_declined, (unsigned long long)st.credit_msgs_sent,
	       st.transport);
	CHECK(st.bytes_sent == CH_TOTAL && st.bytes_received == CH_TOTAL);
	CHECK(st.copy_bytes_sent > 0 && st.copy_bytes_received > 0);
	if (CH_SHM) {
		/* The transfer tests' unix variant has no local move. */
		if (!strcmp(san_test_transport(), "tcp") && !getenv("SAN_TEST_LISTEN"))
			CHECK(st.transport == SAN_STREAM_TRANSPORT_SHM);
		if (st.transport == SAN_STREAM_TRANSPORT_SHM)
			CHECK(st.copy_bytes_sent == CH_TOTAL && st.src_avail_sent == 0);
	} else if (CH_FLOW == SAN_STREAM_FLOW_READ) {
		CHECK(st.src_avail_sent > 0 && st.rdma_read_bytes > 0);
		CHECK(st.rdma_write_bytes == 0 && st.sink_avail_sent == 0);
	}
	/* Write flow: a side offers its buffer only when its receive finds
	 * nothing queued, and writes into an offer only when one stands at
	 * its send: both depend on timing (under TSan one side may never
	 * wait). The two sides together must have: main() adds them up. */
}

/* Write flow: whether the random run wrote into an offer at all depends
 * on timing (above). One large transfer at the end, with the receiver
 * given the time to offer before the data is sent, makes sure the path
 * ran: the receiver blocks with nothing queued, so it offers; the sender
 * finds the offer standing at its position, so it writes. */
#define CH_SINK_LEN (2u * CH_THRESHOLD)

static void ch_sink_recv(san_stream *s, int ctl)
{
	uint8_t *buf = xt_map(CH_SINK_LEN);
	size_t got = 0;

	san_test_sync(ctl, "sink");
	while (got < CH_SINK_LEN) {
		ssize_t r = san_stream_recv(s, buf + got, CH_SINK_LEN - got, 0);

		CHECK(r > 0);
		got += (size_t)r;
	}
	CHECK(st_check(buf, CH_SINK_LEN, 0, 77) == CH_SINK_LEN);
	xt_unmap(buf, CH_SINK_LEN);
}

static void ch_sink_send(san_stream *s, int ctl)
{
	uint8_t *buf = xt_map(CH_SINK_LEN);

	uint64_t before = st_stats(s).rdma_write_bytes;

	st_fill(buf, CH_SINK_LEN, 0, 77);
	san_test_sync(ctl, "sink");
	usleep(50000); /* the receiver offers in well under 50 ms */
	CHECK_RC(san_stream_send(s, buf, CH_SINK_LEN, 0), CH_SINK_LEN);
	CHECK(st_stats(s).rdma_write_bytes - before == CH_SINK_LEN);
	xt_unmap(buf, CH_SINK_LEN);
}

static int ch_peer(void *arg, int ctl)
{
	struct san_stream_config c = ch_config();
	san_provider *p = san_test_provider();
	san_stream *s = st_connect(p, ctl, &c);
	uint64_t txh, rxh;

	ch_run(s, 2, 1, 99, &txh, &rxh);
	xt_send_u64(ctl, txh);
	xt_send_u64(ctl, rxh);
	ch_check_flows(s);
	if (CH_FLOW == SAN_STREAM_FLOW_WRITE && !CH_SHM)
		ch_sink_recv(s, ctl);
	xt_send_u64(ctl, st_stats(s).rdma_write_bytes);
	xt_send_u64(ctl, st_stats(s).sink_avail_sent);
	CHECK_OK(san_stream_close(s));
	san_provider_close(p);
	return 0;
}

int main(void)
{
	struct san_stream_config c = ch_config();
	san_provider *p;
	san_stream *s;
	uint64_t txh, rxh;
	int ctl;
	pid_t pid;

	san_test_start(120);
	pid = xt_fork(ch_peer, NULL, &ctl);
	p = san_test_provider();
	s = st_accept(p, ctl, &c);
	ch_run(s, 1, 2, 42, &txh, &rxh);
	/* What the peer received is what we sent, and the other way round. */
	CHECK(xt_recv_u64(ctl) == rxh);
	CHECK(xt_recv_u64(ctl) == txh);
	ch_check_flows(s);
	if (CH_FLOW == SAN_STREAM_FLOW_WRITE && !CH_SHM)
		ch_sink_send(s, ctl);
	{
		uint64_t written = xt_recv_u64(ctl) + st_stats(s).rdma_write_bytes;
		uint64_t offers = xt_recv_u64(ctl) + st_stats(s).sink_avail_sent;

		if (CH_FLOW == SAN_STREAM_FLOW_WRITE && !CH_SHM)
			CHECK(written > 0 && offers > 0);
	}
	CHECK_OK(san_stream_close(s));
	san_provider_close(p);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}
