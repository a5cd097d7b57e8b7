/* Smoke: send/recv, RDMA write and read between two processes, 1 MiB.
 * SAN_TEST_TRANSPORTS */
#include "harness.h"

#include <sys/mman.h>

#define LEN (1u << 20)

static int peer(void *arg, int ctl)
{
	san_provider *p = san_test_provider();
	san_socket *s = san_test_connect_peer(p, ctl);
	char *buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct san_rdma_desc d;
	san_handle h;
	struct san_completion c;

	CHECK_OK(san_register_memory(s, buf, LEN, SAN_MEM_READWRITE, &h));
	struct san_buf b = { buf, LEN, h };
	CHECK_OK(san_recv(s, &b, 1, (void *)1));
	c = san_test_wait_one(s, 5000);
	CHECK_RC(c.status, 0);
	CHECK(c.bytes == LEN);
	CHECK(san_test_verify(buf, LEN, 7));
	/* learn the server's descriptor */
	san_test_ctl_recv(ctl, &d, sizeof(d));
	san_test_fill(buf, LEN, 9);
	CHECK_OK(san_rdma_write(s, &b, 1, &d, 0, (void *)2));
	c = san_test_wait_one(s, 5000);
	CHECK_RC(c.status, 0);
	memset(buf, 0, LEN);
	CHECK_OK(san_rdma_read(s, &b, 1, &d, 0, (void *)3));
	c = san_test_wait_one(s, 5000);
	CHECK_RC(c.status, 0);
	CHECK(san_test_verify(buf, LEN, 9));
	san_test_sync(ctl, "done");
	CHECK_OK(san_deregister_memory(s, h));
	CHECK_OK(san_close(s));
	san_provider_close(p);
	munmap(buf, LEN);
	return 0;
}

int main(void)
{
	int ctl;
	san_test_start(30);
	pid_t pid = san_test_fork(peer, NULL, &ctl);
	san_provider *p = san_test_provider();
	san_socket *s = san_test_accept_peer(p, ctl);
	char *buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *tgt = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct san_rdma_desc d;
	san_handle h;

	san_test_fill(buf, LEN, 7);
	CHECK_OK(san_register_memory(s, buf, LEN, SAN_MEM_READ, &h));
	struct san_buf b = { buf, LEN, 0 };
	CHECK_OK(san_send(s, &b, 1, NULL));
	struct san_completion c = san_test_wait_one(s, 5000);
	CHECK_RC(c.status, 0);
	CHECK_OK(san_register_rdma_memory(s, tgt, LEN, SAN_MEM_READWRITE, &d));
	san_test_ctl_send(ctl, &d, sizeof(d));
	san_test_sync(ctl, "done");
	CHECK(san_test_verify(tgt, LEN, 9));
	CHECK_OK(san_deregister_rdma_memory(s, &d));
	CHECK_OK(san_deregister_memory(s, h));
	san_test_wait(pid, ctl);
	CHECK_OK(san_close(s));
	san_provider_close(p);
	munmap(buf, LEN);
	munmap(tgt, LEN);
	san_test_check_leaks();
	return 0;
}
