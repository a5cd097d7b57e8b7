/* SPDX-License-Identifier: MIT */
/*
 * wsp_example: the seed names (include/san/wsp.h) end to end.
 *
 *   wsp_example [LISTEN-ADDR]     default tcp:127.0.0.1:0, or e.g. unix:@wsp-example
 *
 * The process forks. The parent (the "listener") listens, exposes an RDMA
 * buffer with WSPRegisterRdmaMemory and sends its descriptor with WSPSend.
 * The child (the "connector") receives it with WSPRecv, writes the first
 * half of that buffer with WSPRdmaWrite and reads the second half with
 * WSPRdmaRead, then says "done". The listener checks what landed, revokes
 * the descriptor, answers "ack", and both deregister and close. Exit 0 when
 * every step did what it should.
 *
 * Connections themselves are made with the native API (san_listen,
 * san_accept, san_connect): a SOCKET of the seed names is a san_socket *.
 *
 * tests/test_wsp_example.c compiles this file with WSP_EXAMPLE_NO_MAIN and
 * calls wsp_example_run(), so the example is run by ctest too.
 */
#include <san.h>
#include <san/wsp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define EX_RDMA_LEN 8192 /* the listener's RDMA buffer: two halves */
#define EX_HALF (EX_RDMA_LEN / 2)
#define EX_MSG_LEN 4096  /* message buffers */

static const char ex_written[] = "written by the connector with WSPRdmaWrite";
static const char ex_exposed[] = "second half of the listener's buffer, read with WSPRdmaRead";

/* Page-aligned anonymous memory, so no registration shares a page. */
static char *ex_pages(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : (char *)p;
}

static int ex_wsa_fail(const char *who, const char *what, int err)
{
	fprintf(stderr, "[%s] %s failed: %s (%d)\n", who, what, WSPErrorName(err), err);
	return 1;
}

static int ex_san_fail(const char *who, const char *what, int rc)
{
	fprintf(stderr, "[%s] %s failed: %s\n", who, what, san_strerror(rc));
	return 1;
}

/* Checks that an overlapped call started (SOCKET_ERROR + WSA_IO_PENDING). */
static int ex_started(const char *who, const char *what, int rc, int err)
{
	if (rc == SOCKET_ERROR && err == WSA_IO_PENDING)
		return 0;
	if (rc == 0) {
		fprintf(stderr, "[%s] %s: completed at once, expected WSA_IO_PENDING\n", who, what);
		return 1;
	}
	return ex_wsa_fail(who, what, err);
}

/* Waits for an overlapped operation; *bytes = what it moved. */
static int ex_finish(const char *who, const char *what, SOCKET s, WSAOVERLAPPED *ov,
		     DWORD *bytes)
{
	DWORD flags;
	int err;

	if (!WSPGetOverlappedResult(s, ov, bytes, TRUE, &flags, &err))
		return ex_wsa_fail(who, what, err);
	printf("[%s] %s: %u bytes\n", who, what, (unsigned)*bytes);
	return 0;
}

/* ---- the listener (parent) ---- */

static int ex_listener(san_provider *p, SOCKET s)
{
	const char *me = "listener";
	char *rdma = ex_pages(EX_RDMA_LEN), *out = ex_pages(EX_MSG_LEN), *in = ex_pages(EX_MSG_LEN);
	HANDLE h_out, h_in;
	WSAOVERLAPPED ov_send, ov_recv;
	WSABUF wb_out, wb_in;
	DWORD desc_len = 0, bytes, flags = 0;
	int err, rc;

	if (!rdma || !out || !in)
		return ex_san_fail(me, "mmap", -ENOMEM);
	memset(rdma, 0, EX_RDMA_LEN);
	memcpy(rdma + EX_HALF, ex_exposed, sizeof(ex_exposed));

	/* How big is a descriptor? A NULL block asks (WSAEFAULT + the size). */
	rc = WSPRegisterRdmaMemory(s, rdma, EX_RDMA_LEN, MEM_READWRITE, NULL, &desc_len, &err);
	if (rc != SOCKET_ERROR || err != WSAEFAULT)
		return ex_wsa_fail(me, "descriptor size query", err);
	printf("[%s] a descriptor takes %u bytes\n", me, (unsigned)desc_len);

	/* Register the message buffers: out is sent from, in is received into. */
	h_out = WSPRegisterMemory(s, out, EX_MSG_LEN, MEM_READ, &err);
	if (!h_out)
		return ex_wsa_fail(me, "WSPRegisterMemory(out)", err);
	h_in = WSPRegisterMemory(s, in, EX_MSG_LEN, MEM_WRITE, &err);
	if (!h_in)
		return ex_wsa_fail(me, "WSPRegisterMemory(in)", err);

	/* Expose the RDMA buffer; the descriptor goes straight into out. */
	if (WSPRegisterRdmaMemory(s, rdma, EX_RDMA_LEN, MEM_READWRITE, out, &desc_len, &err))
		return ex_wsa_fail(me, "WSPRegisterRdmaMemory", err);
	printf("[%s] exposed %d bytes for RDMA\n", me, EX_RDMA_LEN);

	/* Post the receive for "done" first, then send the descriptor. */
	wb_in.buf = in;
	wb_in.len = EX_MSG_LEN;
	rc = WSPRecv(s, &wb_in, 1, NULL, &flags, &ov_recv, NULL, NULL, &err);
	if (ex_started(me, "WSPRecv", rc, err))
		return 1;
	wb_out.buf = out;
	wb_out.len = desc_len;
	rc = WSPSend(s, &wb_out, 1, NULL, 0, &ov_send, NULL, NULL, &err);
	if (ex_started(me, "WSPSend(descriptor)", rc, err) ||
	    ex_finish(me, "WSPSend(descriptor)", s, &ov_send, &bytes))
		return 1;

	if (ex_finish(me, "WSPRecv", s, &ov_recv, &bytes))
		return 1;
	printf("[%s] received \"%.*s\"\n", me, (int)bytes, in);
	if (bytes != 5 || memcmp(in, "done", 5)) {
		fprintf(stderr, "[%s] expected \"done\"\n", me);
		return 1;
	}
	if (memcmp(rdma, ex_written, sizeof(ex_written))) {
		fprintf(stderr, "[%s] the RDMA write did not land\n", me);
		return 1;
	}
	printf("[%s] RDMA buffer now starts with \"%s\"\n", me, rdma);

	/* Revoke the descriptor, then answer without an overlapped structure
	 * (the call waits: 0 and the byte count). */
	if (WSPDeregisterRdmaMemory(s, out, desc_len, &err))
		return ex_wsa_fail(me, "WSPDeregisterRdmaMemory", err);
	memcpy(out, "ack", 4);
	wb_out.len = 4;
	if (WSPSend(s, &wb_out, 1, &bytes, 0, NULL, NULL, NULL, &err))
		return ex_wsa_fail(me, "WSPSend(ack)", err);
	printf("[%s] sent \"ack\" (%u bytes, blocking)\n", me, (unsigned)bytes);

	if (WSPDeregisterMemory(s, h_out, &err) || WSPDeregisterMemory(s, h_in, &err))
		return ex_wsa_fail(me, "WSPDeregisterMemory", err);
	/* The RDMA buffer is about to be unmapped: tell the cache first. */
	if (WSPMemoryRegistrationCacheCallback(p, rdma, EX_RDMA_LEN, &err))
		return ex_wsa_fail(me, "WSPMemoryRegistrationCacheCallback", err);
	printf("[%s] deregistered everything, cache told about the RDMA buffer\n", me);
	munmap(rdma, EX_RDMA_LEN);
	munmap(out, EX_MSG_LEN);
	munmap(in, EX_MSG_LEN);
	return 0;
}

/* ---- the connector (child) ---- */

static int ex_connector(SOCKET s)
{
	const char *me = "connector";
	char *in = ex_pages(EX_MSG_LEN), *out = ex_pages(EX_MSG_LEN);
	char *src = ex_pages(EX_MSG_LEN), *sink = ex_pages(EX_MSG_LEN);
	HANDLE h_in, h_out, h_src, h_sink;
	WSAOVERLAPPED ov;
	WSABUF wb;
	WSABUFEX wbx;
	DWORD desc_len, bytes, flags = 0;
	int err, rc;

	if (!in || !out || !src || !sink)
		return ex_san_fail(me, "mmap", -ENOMEM);
	h_in = WSPRegisterMemory(s, in, EX_MSG_LEN, MEM_WRITE, &err);
	h_out = h_in ? WSPRegisterMemory(s, out, EX_MSG_LEN, MEM_READ, &err) : NULL;
	h_src = h_out ? WSPRegisterMemory(s, src, EX_MSG_LEN, MEM_READ, &err) : NULL;
	h_sink = h_src ? WSPRegisterMemory(s, sink, EX_MSG_LEN, MEM_WRITE, &err) : NULL;
	if (!h_sink)
		return ex_wsa_fail(me, "WSPRegisterMemory", err);

	/* The descriptor: a blocking receive (no overlapped structure). */
	wb.buf = in;
	wb.len = EX_MSG_LEN;
	if (WSPRecv(s, &wb, 1, &desc_len, &flags, NULL, NULL, NULL, &err))
		return ex_wsa_fail(me, "WSPRecv(descriptor)", err);
	printf("[%s] received a %u-byte descriptor\n", me, (unsigned)desc_len);

	/* RDMA-write the first half of the listener's buffer. */
	memcpy(src, ex_written, sizeof(ex_written));
	wbx.buf = src;
	wbx.len = sizeof(ex_written);
	wbx.handle = h_src;
	rc = WSPRdmaWrite(s, &wbx, 1, in, desc_len, 0, NULL, 0, &ov, NULL, NULL, &err);
	if (ex_started(me, "WSPRdmaWrite", rc, err) ||
	    ex_finish(me, "WSPRdmaWrite", s, &ov, &bytes))
		return 1;

	/* RDMA-read the second half. */
	wbx.buf = sink;
	wbx.len = sizeof(ex_exposed);
	wbx.handle = h_sink;
	rc = WSPRdmaRead(s, &wbx, 1, in, desc_len, EX_HALF, NULL, 0, &ov, NULL, NULL, &err);
	if (ex_started(me, "WSPRdmaRead", rc, err) || ex_finish(me, "WSPRdmaRead", s, &ov, &bytes))
		return 1;
	if (bytes != sizeof(ex_exposed) || memcmp(sink, ex_exposed, sizeof(ex_exposed))) {
		fprintf(stderr, "[%s] the RDMA read brought the wrong bytes\n", me);
		return 1;
	}
	printf("[%s] read \"%s\"\n", me, sink);

	/* "done", then wait for "ack". */
	memcpy(out, "done", 5);
	wb.buf = out;
	wb.len = 5;
	if (WSPSend(s, &wb, 1, &bytes, 0, NULL, NULL, NULL, &err))
		return ex_wsa_fail(me, "WSPSend(done)", err);
	wb.buf = in;
	wb.len = EX_MSG_LEN;
	if (WSPRecv(s, &wb, 1, &bytes, &flags, NULL, NULL, NULL, &err))
		return ex_wsa_fail(me, "WSPRecv(ack)", err);
	printf("[%s] received \"%.*s\"\n", me, (int)bytes, in);

	if (WSPDeregisterMemory(s, h_in, &err) || WSPDeregisterMemory(s, h_out, &err) ||
	    WSPDeregisterMemory(s, h_src, &err) || WSPDeregisterMemory(s, h_sink, &err))
		return ex_wsa_fail(me, "WSPDeregisterMemory", err);
	munmap(in, EX_MSG_LEN);
	munmap(out, EX_MSG_LEN);
	munmap(src, EX_MSG_LEN);
	munmap(sink, EX_MSG_LEN);
	return 0;
}

/* ---- the two processes ---- */

static int ex_child(int rd)
{
	char addr[256];
	san_provider *p;
	san_socket *s;
	ssize_t n = read(rd, addr, sizeof(addr) - 1);
	int rc;

	close(rd);
	if (n <= 0)
		return 1; /* the listener failed before it could say where */
	addr[n] = '\0';
	rc = san_provider_open(NULL, &p);
	if (rc < 0)
		return ex_san_fail("connector", "san_provider_open", rc);
	rc = san_connect(p, addr, &s);
	if (rc < 0) {
		san_provider_close(p);
		return ex_san_fail("connector", "san_connect", rc);
	}
	printf("[connector] connected to %s\n", addr);
	rc = ex_connector(s);
	san_close(s);
	san_provider_close(p);
	return rc;
}

static int ex_parent(const char *listen_addr, int wr, pid_t child)
{
	char bound[256];
	san_provider *p = NULL;
	san_listener *l = NULL;
	san_socket *s = NULL;
	int rc, st;

	rc = san_provider_open(NULL, &p);
	if (rc == 0)
		rc = san_listen(p, listen_addr, &l);
	if (rc == 0)
		rc = san_listener_addr(l, bound, sizeof(bound));
	if (rc > 0) {
		printf("[listener] listening on %s\n", bound);
		rc = write(wr, bound, (size_t)rc) == rc ? 0 : -EIO;
	}
	close(wr); /* the connector gives up if it read nothing */
	if (rc == 0)
		rc = san_accept(l, 10000, &s);
	if (l)
		san_listener_close(l);
	if (rc < 0)
		rc = ex_san_fail("listener", "setting up the connection", rc);
	else
		rc = ex_listener(p, s);
	/* On success the connection stays open until the connector is done
	 * with it. On failure it closes now, which wakes a connector waiting
	 * on us (its operations end with WSAECONNRESET). */
	if (rc && s) {
		san_close(s);
		s = NULL;
	}
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "[listener] the connector failed\n");
		rc = 1;
	}
	if (s)
		san_close(s);
	if (p)
		san_provider_close(p);
	return rc;
}

/* Runs the example; returns the exit status (0: every step worked). */
static int wsp_example_run(const char *listen_addr)
{
	int fds[2];
	pid_t pid;

	if (pipe(fds))
		return 1;
	fflush(NULL);
	pid = fork(); /* before any provider exists: one per process */
	if (pid < 0)
		return 1;
	if (pid == 0) {
		int rc;

		close(fds[1]);
		rc = ex_child(fds[0]);
		fflush(NULL);
		_exit(rc);
	}
	close(fds[0]);
	return ex_parent(listen_addr, fds[1], pid);
}

#ifndef WSP_EXAMPLE_NO_MAIN
int main(int argc, char **argv)
{
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = wsp_example_run(argc > 1 ? argv[1] : "tcp:127.0.0.1:0");
	printf("%s\n", rc ? "wsp_example: FAILED" : "wsp_example: ok");
	return rc;
}
#endif
