/* SPDX-License-Identifier: MIT */
/*
 * The seed names (include/san/wsp.h) over the public API of <san.h>.
 *
 * Nothing here reaches below san.h: this layer is what a Windows-shaped
 * caller (a "switch") would be written against, so it must work with any
 * build of the library and must not depend on its internals.
 *
 * Overlapped operations: the WSAOVERLAPPED's address is the native
 * completion's ctx. Its Internal field is the status word: WSA_IO_PENDING
 * from just before the operation is posted until its completion is reaped,
 * then 0 or the WSAE* error; InternalHigh is the byte count, written before
 * Internal. Internal is read and written with __atomic builtins (the public
 * struct stays a plain C/C++ struct) so that one thread may reap another
 * thread's completion while that thread looks at its Internal.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <san.h>
#include <san/wsp.h>

_Static_assert(MEM_READ == SAN_MEM_READ, "MEM_READ is SAN_MEM_READ");
_Static_assert(MEM_WRITE == SAN_MEM_WRITE, "MEM_WRITE is SAN_MEM_WRITE");
_Static_assert(MEM_READWRITE == SAN_MEM_READWRITE, "MEM_READWRITE is SAN_MEM_READWRITE");
_Static_assert(sizeof(DWORD) == 4 && sizeof(ULONG) == 4, "Windows widths");
_Static_assert(sizeof(ULONG_PTR) >= sizeof(int), "Internal holds a WSA status");

/* Completions reaped per san_poll call. */
#define WSP_REAP_BATCH 16
/* A waiting WSPGetOverlappedResult sleeps in san_poll at most this long
 * before looking at its own status again: another thread may have reaped its
 * completion meanwhile, and san_poll would not wake for that. */
#define WSP_WAIT_SLICE_MS 10

static void wsp_set_errno(LPINT lpErrno, int wsa)
{
	if (lpErrno)
		*lpErrno = wsa;
}

/* Fails a call returning int: *lpErrno = wsa, SOCKET_ERROR. */
static int wsp_fail(LPINT lpErrno, int wsa)
{
	wsp_set_errno(lpErrno, wsa);
	return SOCKET_ERROR;
}

static DWORD wsp_dword(size_t n)
{
	return n > UINT32_MAX ? UINT32_MAX : (DWORD)n;
}

static ULONG_PTR wsp_ov_status(const WSAOVERLAPPED *ov)
{
	return __atomic_load_n(&ov->Internal, __ATOMIC_ACQUIRE);
}

static void wsp_ov_start(WSAOVERLAPPED *ov)
{
	ov->InternalHigh = 0;
	__atomic_store_n(&ov->Internal, (ULONG_PTR)WSA_IO_PENDING, __ATOMIC_RELEASE);
}

static void wsp_ov_finish(WSAOVERLAPPED *ov, int status, size_t bytes)
{
	ov->InternalHigh = bytes;
	__atomic_store_n(&ov->Internal, (ULONG_PTR)WSPErrorFromErrno(status), __ATOMIC_RELEASE);
}

/* Reaps what san_poll has (waiting up to timeout_ms) into the overlapped
 * structures the completions name. Returns the count or a negative errno. */
static int wsp_reap(SOCKET s, int timeout_ms)
{
	struct san_completion c[WSP_REAP_BATCH];
	int n = san_poll(s, c, WSP_REAP_BATCH, timeout_ms);

	for (int i = 0; i < n; i++)
		if (c[i].ctx)
			wsp_ov_finish(c[i].ctx, c[i].status, c[i].bytes);
	return n;
}

/* Waits (or just looks, wait == 0) until ov is no longer pending. Returns 0
 * when it finished, else WSA_IO_INCOMPLETE or the mapped san_poll error. */
static int wsp_ov_wait(SOCKET s, WSAOVERLAPPED *ov, int wait)
{
	while (wsp_ov_status(ov) == WSA_IO_PENDING) {
		int rc = wsp_reap(s, wait ? WSP_WAIT_SLICE_MS : 0);

		if (wsp_ov_status(ov) != WSA_IO_PENDING)
			break;
		if (rc < 0)
			return WSPErrorFromErrno(rc);
		if (!wait)
			return WSA_IO_INCOMPLETE;
	}
	return 0;
}

BOOL WSPGetOverlappedResult(SOCKET s, LPWSAOVERLAPPED lpOverlapped, LPDWORD lpcbTransfer,
			    BOOL fWait, LPDWORD lpdwFlags, LPINT lpErrno)
{
	int err;
	ULONG_PTR status;

	if (!s) {
		wsp_set_errno(lpErrno, WSAENOTSOCK);
		return FALSE;
	}
	if (!lpOverlapped) {
		wsp_set_errno(lpErrno, WSAEFAULT);
		return FALSE;
	}
	err = wsp_ov_wait(s, lpOverlapped, fWait);
	if (err) {
		wsp_set_errno(lpErrno, err);
		return FALSE;
	}
	status = wsp_ov_status(lpOverlapped);
	if (lpcbTransfer)
		*lpcbTransfer = wsp_dword(lpOverlapped->InternalHigh);
	if (status) {
		wsp_set_errno(lpErrno, (int)status);
		return FALSE;
	}
	if (lpdwFlags)
		*lpdwFlags = 0;
	return TRUE;
}

/* ---- registration ---- */

HANDLE WSPRegisterMemory(SOCKET s, PVOID lpBuffer, DWORD dwBufferLength, DWORD dwFlags,
			 LPINT lpErrno)
{
	san_handle h;
	int rc;

	if (!s) {
		wsp_set_errno(lpErrno, WSAENOTSOCK);
		return NULL;
	}
	/* dwFlags is a DWORD; the native flags an int. Bits above the int's
	 * range are invalid flags either way. */
	if (dwFlags > (DWORD)MEM_READWRITE) {
		wsp_set_errno(lpErrno, WSAEINVAL);
		return NULL;
	}
	rc = san_register_memory(s, lpBuffer, dwBufferLength, (int)dwFlags, &h);
	if (rc < 0) {
		wsp_set_errno(lpErrno, WSPErrorFromErrno(rc));
		return NULL;
	}
#if UINTPTR_MAX < UINT64_MAX
	/* A HANDLE narrower than san_handle cannot carry every handle. */
	if (h > UINTPTR_MAX) {
		san_deregister_memory(s, h);
		wsp_set_errno(lpErrno, WSAENOBUFS);
		return NULL;
	}
#endif
	return (HANDLE)(uintptr_t)h;
}

int WSPDeregisterMemory(SOCKET s, HANDLE Handle, LPINT lpErrno)
{
	int rc;

	if (!s)
		return wsp_fail(lpErrno, WSAENOTSOCK);
	rc = san_deregister_memory(s, (san_handle)(uintptr_t)Handle);
	if (rc < 0)
		return wsp_fail(lpErrno, WSPErrorFromErrno(rc));
	return 0;
}

int WSPRegisterRdmaMemory(SOCKET s, PVOID lpBuffer, DWORD dwBufferLength, DWORD dwFlags,
			  LPVOID lpRdmaBufferDescriptor, LPDWORD lpdwDescriptorLength,
			  LPINT lpErrno)
{
	struct san_rdma_desc d;
	int rc;

	if (!s)
		return wsp_fail(lpErrno, WSAENOTSOCK);
	if (!lpdwDescriptorLength)
		return wsp_fail(lpErrno, WSAEFAULT);
	/* Checked before registering: a too-small block must leave nothing
	 * registered behind, and lets the caller ask for the size. */
	if (!lpRdmaBufferDescriptor || *lpdwDescriptorLength < sizeof(d)) {
		*lpdwDescriptorLength = (DWORD)sizeof(d);
		return wsp_fail(lpErrno, WSAEFAULT);
	}
	if (dwFlags > (DWORD)MEM_READWRITE)
		return wsp_fail(lpErrno, WSAEINVAL);
	rc = san_register_rdma_memory(s, lpBuffer, dwBufferLength, (int)dwFlags, &d);
	if (rc < 0)
		return wsp_fail(lpErrno, WSPErrorFromErrno(rc));
	/* The block comes from the caller, maybe unaligned: copy bytes. */
	memcpy(lpRdmaBufferDescriptor, &d, sizeof(d));
	*lpdwDescriptorLength = (DWORD)sizeof(d);
	return 0;
}

/* Copies a caller's descriptor block into a native descriptor. Returns 0 or
 * the WSA error. */
static int wsp_desc_in(const void *block, DWORD len, struct san_rdma_desc *d_out)
{
	if (!block)
		return WSAEFAULT;
	if (len != sizeof(*d_out))
		return WSAEINVAL;
	memcpy(d_out, block, sizeof(*d_out));
	return 0;
}

int WSPDeregisterRdmaMemory(SOCKET s, LPVOID lpRdmaBufferDescriptor, DWORD dwDescriptorLength,
			    LPINT lpErrno)
{
	struct san_rdma_desc d;
	int err, rc;

	if (!s)
		return wsp_fail(lpErrno, WSAENOTSOCK);
	err = wsp_desc_in(lpRdmaBufferDescriptor, dwDescriptorLength, &d);
	if (err)
		return wsp_fail(lpErrno, err);
	rc = san_deregister_rdma_memory(s, &d);
	if (rc < 0)
		return wsp_fail(lpErrno, WSPErrorFromErrno(rc));
	return 0;
}

/* ---- transfers ---- */

/* One operation, translated to native terms, ready to post. */
struct wsp_op {
	enum san_op kind;
	struct san_buf bufs[SAN_MAX_SGE];
	int n;
	struct san_rdma_desc desc; /* RDMA only */
	uint64_t offset;           /* RDMA only */
};

static int wsp_op_post(SOCKET s, const struct wsp_op *op, void *ctx)
{
	switch (op->kind) {
	case SAN_OP_SEND:
		return san_send(s, op->bufs, op->n, ctx);
	case SAN_OP_RECV:
		return san_recv(s, op->bufs, op->n, ctx);
	case SAN_OP_RDMA_WRITE:
		return san_rdma_write(s, op->bufs, op->n, &op->desc, op->offset, ctx);
	case SAN_OP_RDMA_READ:
		return san_rdma_read(s, op->bufs, op->n, &op->desc, op->offset, ctx);
	}
	return -EINVAL;
}

/* Checks what every transfer call checks. Returns 0 or the WSA error. */
static int wsp_op_check(SOCKET s, const void *bufs, DWORD count, DWORD flags,
			LPWSAOVERLAPPED_COMPLETION_ROUTINE routine)
{
	if (!s)
		return WSAENOTSOCK;
	if (routine || flags)
		return WSAEOPNOTSUPP;
	if (count > SAN_MAX_SGE)
		return WSAEINVAL;
	if (count && !bufs)
		return WSAEFAULT;
	return 0;
}

/* Starts op: overlapped (returns SOCKET_ERROR with WSA_IO_PENDING) or, with
 * ov NULL, waits for it (returns 0 and *bytes_out, or SOCKET_ERROR). */
static int wsp_op_submit(SOCKET s, const struct wsp_op *op, LPWSAOVERLAPPED ov,
			 LPDWORD bytes_out, LPINT lpErrno)
{
	WSAOVERLAPPED *w;
	ULONG_PTR status;
	int rc, err;

	if (ov) {
		/* Pending before posting: the completion may be reaped by
		 * another thread before san_* even returns. */
		wsp_ov_start(ov);
		rc = wsp_op_post(s, op, ov);
		if (rc < 0) {
			wsp_ov_finish(ov, rc, 0);
			return wsp_fail(lpErrno, WSPErrorFromErrno(rc));
		}
		return wsp_fail(lpErrno, WSA_IO_PENDING);
	}

	/* Without an overlapped structure the call blocks. Its completion
	 * context lives on the heap, not the stack: if collecting failed
	 * while the operation were still in flight, a later reap would write
	 * into it, so on that path it is deliberately left allocated. */
	w = calloc(1, sizeof(*w));
	if (!w)
		return wsp_fail(lpErrno, WSAENOBUFS);
	wsp_ov_start(w);
	rc = wsp_op_post(s, op, w);
	if (rc < 0) {
		free(w);
		return wsp_fail(lpErrno, WSPErrorFromErrno(rc));
	}
	err = wsp_ov_wait(s, w, 1);
	if (err)
		return wsp_fail(lpErrno, err); /* w still in flight: see above */
	status = wsp_ov_status(w);
	if (bytes_out)
		*bytes_out = wsp_dword(w->InternalHigh);
	free(w);
	if (status)
		return wsp_fail(lpErrno, (int)status);
	return 0;
}

/* WSABUF[] -> san_buf[] (handle 0: the provider finds the registration). */
static void wsp_bufs_in(struct wsp_op *op, const WSABUF *bufs, DWORD count)
{
	for (DWORD i = 0; i < count; i++) {
		op->bufs[i].buf = bufs[i].buf;
		op->bufs[i].len = bufs[i].len;
		op->bufs[i].handle = 0;
	}
	op->n = (int)count;
}

static void wsp_bufexs_in(struct wsp_op *op, const WSABUFEX *bufs, DWORD count)
{
	for (DWORD i = 0; i < count; i++) {
		op->bufs[i].buf = bufs[i].buf;
		op->bufs[i].len = bufs[i].len;
		op->bufs[i].handle = (san_handle)(uintptr_t)bufs[i].handle;
	}
	op->n = (int)count;
}

int WSPSend(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesSent,
	    DWORD dwFlags, LPWSAOVERLAPPED lpOverlapped,
	    LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine, LPWSATHREADID lpThreadId,
	    LPINT lpErrno)
{
	struct wsp_op op;
	int err = wsp_op_check(s, lpBuffers, dwBufferCount, dwFlags, lpCompletionRoutine);

	(void)lpThreadId;
	if (err)
		return wsp_fail(lpErrno, err);
	op.kind = SAN_OP_SEND;
	wsp_bufs_in(&op, lpBuffers, dwBufferCount);
	return wsp_op_submit(s, &op, lpOverlapped, lpNumberOfBytesSent, lpErrno);
}

int WSPRecv(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesRecvd,
	    LPDWORD lpFlags, LPWSAOVERLAPPED lpOverlapped,
	    LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine, LPWSATHREADID lpThreadId,
	    LPINT lpErrno)
{
	struct wsp_op op;
	int err, rc;

	(void)lpThreadId;
	if (s && !lpFlags)
		return wsp_fail(lpErrno, WSAEFAULT);
	err = wsp_op_check(s, lpBuffers, dwBufferCount, s ? *lpFlags : 0, lpCompletionRoutine);
	if (err)
		return wsp_fail(lpErrno, err);
	op.kind = SAN_OP_RECV;
	wsp_bufs_in(&op, lpBuffers, dwBufferCount);
	rc = wsp_op_submit(s, &op, lpOverlapped, lpNumberOfBytesRecvd, lpErrno);
	if (rc == 0)
		*lpFlags = 0;
	return rc;
}

/* WSPRdmaWrite and WSPRdmaRead differ only in direction. */
static int wsp_rdma(enum san_op kind, SOCKET s, LPWSABUFEX lpBuffers, DWORD dwBufferCount,
		    LPVOID desc, DWORD desc_len, DWORD offset, LPDWORD bytes_out, DWORD dwFlags,
		    LPWSAOVERLAPPED lpOverlapped, LPWSAOVERLAPPED_COMPLETION_ROUTINE routine,
		    LPINT lpErrno)
{
	struct wsp_op op;
	int err = wsp_op_check(s, lpBuffers, dwBufferCount, dwFlags, routine);

	if (!err)
		err = wsp_desc_in(desc, desc_len, &op.desc);
	if (err)
		return wsp_fail(lpErrno, err);
	op.kind = kind;
	op.offset = offset;
	wsp_bufexs_in(&op, lpBuffers, dwBufferCount);
	return wsp_op_submit(s, &op, lpOverlapped, bytes_out, lpErrno);
}

int WSPRdmaWrite(SOCKET s, LPWSABUFEX lpBuffers, DWORD dwBufferCount,
		 LPVOID lpTargetBufferDescriptor, DWORD dwTargetDescriptorLength,
		 DWORD dwTargetBufferOffset, LPDWORD lpdwNumberOfBytesWritten, DWORD dwFlags,
		 LPWSAOVERLAPPED lpOverlapped,
		 LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine,
		 LPWSATHREADID lpThreadId, LPINT lpErrno)
{
	(void)lpThreadId;
	return wsp_rdma(SAN_OP_RDMA_WRITE, s, lpBuffers, dwBufferCount, lpTargetBufferDescriptor,
			dwTargetDescriptorLength, dwTargetBufferOffset, lpdwNumberOfBytesWritten,
			dwFlags, lpOverlapped, lpCompletionRoutine, lpErrno);
}

int WSPRdmaRead(SOCKET s, LPWSABUFEX lpBuffers, DWORD dwBufferCount,
		LPVOID lpTargetBufferDescriptor, DWORD dwTargetDescriptorLength,
		DWORD dwTargetBufferOffset, LPDWORD lpdwNumberOfBytesRead, DWORD dwFlags,
		LPWSAOVERLAPPED lpOverlapped,
		LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine,
		LPWSATHREADID lpThreadId, LPINT lpErrno)
{
	(void)lpThreadId;
	return wsp_rdma(SAN_OP_RDMA_READ, s, lpBuffers, dwBufferCount, lpTargetBufferDescriptor,
			dwTargetDescriptorLength, dwTargetBufferOffset, lpdwNumberOfBytesRead,
			dwFlags, lpOverlapped, lpCompletionRoutine, lpErrno);
}

/* ---- registration cache ---- */

int WSPMemoryRegistrationCacheCallback(san_provider *Provider, LPVOID lpvAddress, SIZE_T Size,
				       LPINT lpErrno)
{
	int rc;

	if (!Provider)
		return wsp_fail(lpErrno, WSAEINVAL);
	rc = san_invalidate(Provider, lpvAddress, Size);
	if (rc < 0)
		return wsp_fail(lpErrno, WSPErrorFromErrno(rc));
	return 0; /* rc regions dropped; the seed signature has no room for it */
}
