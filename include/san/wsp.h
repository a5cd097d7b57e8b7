/* SPDX-License-Identifier: MIT */
/*
 * libsan: the seed-compatible names (Windows Sockets Direct SPI extensions).
 *
 * The seed documents describe a SAN service provider through the Windows
 * SPI functions that the Windows Sockets "switch" calls: WSPRegisterMemory,
 * WSPDeregisterMemory, WSPRegisterRdmaMemory, WSPDeregisterRdmaMemory,
 * WSPRdmaWrite, WSPRdmaRead, WSPMemoryRegistrationCacheCallback, plus the
 * ordinary SPI WSPSend, WSPRecv and WSPGetOverlappedResult. This header gives
 * those names on Linux as a thin layer over <san.h>: same parameters in the
 * same order, same return conventions (a value, and on failure an error code
 * stored at *lpErrno), same WSAE* error values as Windows.
 *
 * It is a translation layer, not an emulation of Winsock:
 * - Connections are made with the native API (san_provider_open,
 *   san_listen / san_accept, san_connect); a SOCKET here *is* a san_socket *.
 *   WSPSocket, WSPConnect, WSPAccept and WSPCloseSocket are not provided.
 * - There are no events, APCs or completion ports. An overlapped operation
 *   finishes when WSPGetOverlappedResult (which drives san_poll) says so.
 * - Windows types keep their Windows widths: DWORD and ULONG are 32 bits
 *   (so one buffer is at most 4 GiB - 1 through these names; the native API
 *   takes size_t).
 * - The names below (DWORD, HANDLE, SOCKET, BOOL ...) are ordinary typedefs in
 *   the global namespace; include this header only where they do not clash.
 *
 * Every function here only calls the public API of <san.h>; anything these
 * names cannot express, use the native call for.
 *
 * Error codes. A native -errno becomes a WSAE* value through one table,
 * WSPErrorFromErrno(); every function below reports errors that way:
 *
 *   -errno            WSA error                 meaning in libsan
 *   EFAULT            WSAEFAULT          10014  range not mapped / not covered by a registration
 *   ERANGE            WSAEFAULT          10014  RDMA outside the descriptor's buffer (see below)
 *   EINVAL            WSAEINVAL          10022  bad argument, flags, handle or descriptor
 *   EBUSY             WSAEINVAL          10022  deregistering memory an operation still uses
 *                                               (the seeds fold "in use" into WSAEINVAL)
 *   ENOMEM, ENOBUFS,  WSAENOBUFS         10055  out of (pinnable) memory: the seeds' "no
 *   ENOSPC                                      memory resources available"
 *   EACCES, EPERM     WSAEACCES          10013  registration or descriptor lacks the right
 *   EMSGSIZE          WSAEMSGSIZE        10040  message larger than the receive buffers
 *   EAGAIN            WSAEWOULDBLOCK     10035  too many overlapped operations outstanding
 *   ECANCELED         WSA_OPERATION_ABORTED 995 socket closed under the operation
 *   ECONNRESET, EPIPE WSAECONNRESET      10054  peer gone
 *   ENOTCONN          WSAENOTCONN        10057  socket closed or never connected
 *   ECONNABORTED,     WSAECONNABORTED    10053  connection aborted; EPROTO: the peer spoke
 *   EPROTO                                      something other than this protocol
 *   ESHUTDOWN         WSAESHUTDOWN       10058
 *   ETIMEDOUT         WSAETIMEDOUT       10060
 *   ECONNREFUSED      WSAECONNREFUSED    10061
 *   EOPNOTSUPP        WSAEOPNOTSUPP      10045  e.g. file-backed memory the kernel won't pin
 *   ENOSYS            WSASYSNOTREADY     10091  no io_uring
 *   EADDRINUSE        WSAEADDRINUSE      10048
 *   EADDRNOTAVAIL     WSAEADDRNOTAVAIL   10049
 *   EAFNOSUPPORT      WSAEAFNOSUPPORT    10047
 *   ENETDOWN          WSAENETDOWN        10050
 *   ENETUNREACH       WSAENETUNREACH     10051
 *   ENETRESET         WSAENETRESET       10052
 *   EHOSTDOWN         WSAEHOSTDOWN       10064
 *   EHOSTUNREACH      WSAEHOSTUNREACH    10065
 *   EISCONN           WSAEISCONN         10056
 *   EALREADY          WSAEALREADY        10037
 *   ENOTSOCK          WSAENOTSOCK        10038
 *   EBADF             WSAEBADF           10009
 *   EINTR             WSAEINTR           10004
 *   EMFILE, ENFILE    WSAEMFILE          10024
 *   ENAMETOOLONG      WSAENAMETOOLONG    10063
 *   0                 0
 *   anything else     WSASYSCALLFAILURE  10107  (no Windows counterpart; use the native API)
 *
 * ERANGE has no Winsock twin. An RDMA outside the peer's registered buffer is
 * reported as WSAEFAULT, the seeds' word for "not contained completely within
 * a valid part" of the memory the caller may reach.
 *
 * Errors produced by this layer itself, not by the table:
 *   WSAENOTSOCK       s is NULL
 *   WSAEFAULT         a required pointer is NULL; a descriptor block too small
 *   WSAEINVAL         dwBufferCount > SAN_MAX_SGE; descriptor length not
 *                     SAN_RDMA_DESC_SIZE; NULL provider
 *   WSAEOPNOTSUPP     a completion routine (no APCs here), or operation flags
 *   WSA_IO_PENDING    an overlapped operation was started (not a failure)
 *   WSA_IO_INCOMPLETE WSPGetOverlappedResult(fWait FALSE) on a pending operation
 *
 * Threads: as <san.h>; WSPGetOverlappedResult may be called for different
 * overlapped operations of one socket from several threads at once. A
 * waiting thread whose completion another thread reaped notices it within
 * about 10 ms (it waits in san_poll in slices; there is no event to signal).
 */
#ifndef SAN_WSP_H
#define SAN_WSP_H

#include <stddef.h>
#include <stdint.h>

#include <san.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Windows types, at their Windows widths ---- */

typedef uint32_t DWORD;
typedef DWORD *LPDWORD;
typedef uint32_t ULONG; /* Winsock's u_long is 32 bits (LLP64); Linux's is not */
typedef int INT;
typedef int *LPINT;
typedef int BOOL;
typedef char CHAR;
typedef void *PVOID;
typedef void *LPVOID;
typedef size_t SIZE_T;
typedef uintptr_t ULONG_PTR;

/* A local registration handle: the san_handle value, never NULL when valid. */
typedef void *HANDLE;

/* A connected SAN socket: the native socket itself. */
typedef san_socket *SOCKET;

#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif

#define SOCKET_ERROR (-1)

/* Registration flags (ws2san.h values); equal to SAN_MEM_* and mean the same:
 * READ = the NIC may read the memory (send / RDMA-write source, or the peer
 * may RDMA-read it), WRITE = the NIC may write it. */
#define MEM_READ 1
#define MEM_WRITE 2
#define MEM_READWRITE 3

/* WSABUF: a plain buffer (WSPSend / WSPRecv). The switch registered it with
 * WSPRegisterMemory beforehand; the provider finds that registration. */
typedef struct WSABUF {
	ULONG len;
	CHAR *buf;
} WSABUF, *LPWSABUF;

/* WSABUFEX: a buffer and the handle WSPRegisterMemory returned for it
 * (WSPRdmaWrite / WSPRdmaRead). A NULL handle means "find the registration
 * that covers the buffer", as for WSABUF. */
typedef struct WSABUFEX {
	ULONG len;
	CHAR *buf;
	HANDLE handle;
} WSABUFEX, *LPWSABUFEX;

/* WSAOVERLAPPED: the completion context of one overlapped operation. It must
 * stay valid (and unmoved) from the call that starts the operation until
 * WSPGetOverlappedResult reports it finished; its address is the native
 * completion's ctx.
 *
 *   Internal      status: WSA_IO_PENDING while in flight, then 0 or the
 *                 WSAE* error (Windows keeps an NTSTATUS here; read it only
 *                 through WSPGetOverlappedResult). A call that fails to
 *                 start stores its error here too, so nothing ever waits
 *                 for an operation that never started.
 *   InternalHigh  bytes transferred, once finished.
 *   Offset, OffsetHigh, hEvent
 *                 never read or written by libsan: the caller's (Windows
 *                 signals hEvent on completion; there is no event here).
 *
 * Do not post native operations (san_send ...) with your own ctx on a socket
 * whose completions WSPGetOverlappedResult collects: every completion it
 * reaps is taken to belong to a WSAOVERLAPPED (a NULL ctx is skipped). */
typedef struct WSAOVERLAPPED {
	ULONG_PTR Internal;
	ULONG_PTR InternalHigh;
	DWORD Offset;
	DWORD OffsetHigh;
	HANDLE hEvent;
} WSAOVERLAPPED, *LPWSAOVERLAPPED;

/* Completion routines (APCs) do not exist here: pass NULL, as the switch
 * does; anything else fails with WSAEOPNOTSUPP. */
typedef void (*LPWSAOVERLAPPED_COMPLETION_ROUTINE)(DWORD dwError, DWORD cbTransferred,
						   LPWSAOVERLAPPED lpOverlapped, DWORD dwFlags);

/* Thread of an APC: opaque and ignored (the switch passes NULL). */
typedef struct WSATHREADID WSATHREADID, *LPWSATHREADID;

/* ---- Error values (winerror.h numbers) ---- */

#define WSA_INVALID_HANDLE 6
#define WSA_OPERATION_ABORTED 995
#define WSA_IO_INCOMPLETE 996
#define WSA_IO_PENDING 997
#define WSAEINTR 10004
#define WSAEBADF 10009
#define WSAEACCES 10013
#define WSAEFAULT 10014
#define WSAEINVAL 10022
#define WSAEMFILE 10024
#define WSAEWOULDBLOCK 10035
#define WSAEINPROGRESS 10036
#define WSAEALREADY 10037
#define WSAENOTSOCK 10038
#define WSAEMSGSIZE 10040
#define WSAEOPNOTSUPP 10045
#define WSAEAFNOSUPPORT 10047
#define WSAEADDRINUSE 10048
#define WSAEADDRNOTAVAIL 10049
#define WSAENETDOWN 10050
#define WSAENETUNREACH 10051
#define WSAENETRESET 10052
#define WSAECONNABORTED 10053
#define WSAECONNRESET 10054
#define WSAENOBUFS 10055
#define WSAEISCONN 10056
#define WSAENOTCONN 10057
#define WSAESHUTDOWN 10058
#define WSAETIMEDOUT 10060
#define WSAECONNREFUSED 10061
#define WSAENAMETOOLONG 10063
#define WSAEHOSTDOWN 10064
#define WSAEHOSTUNREACH 10065
#define WSASYSNOTREADY 10091
#define WSASYSCALLFAILURE 10107

/* Maps a libsan error (-errno; +errno is accepted too) to its WSA value by
 * the table at the top of this header. Returns 0 for 0. Never fails: an errno
 * the table lacks gives WSASYSCALLFAILURE. */
int WSPErrorFromErrno(int err);

/* The macro name of a WSA value ("WSAEFAULT"), "0" for 0, or "WSA?" for a
 * value this header does not define. Never NULL. */
const char *WSPErrorName(int wsa_error);

/* ---- Registration (R1.1 - R1.4) ---- */

/* R1.1. Registers [lpBuffer, lpBuffer+dwBufferLength) for local use on s.
 * dwFlags: MEM_READ, MEM_WRITE or MEM_READWRITE. Returns the handle, valid
 * only on s in this process; or NULL and *lpErrno = WSAENOBUFS (out of
 * pinnable memory), WSAEFAULT (not wholly mapped), WSAEINVAL (flags, length
 * 0, NULL buffer), WSAENOTCONN (socket closed or reset), WSAEOPNOTSUPP
 * (memory the kernel will not pin), WSAENOTSOCK (s NULL). */
HANDLE WSPRegisterMemory(SOCKET s, PVOID lpBuffer, DWORD dwBufferLength, DWORD dwFlags,
			 LPINT lpErrno);

/* R1.2. Returns 0, or SOCKET_ERROR and *lpErrno = WSAEINVAL (not a live
 * handle of s, or an outstanding operation still uses it), WSAENOTSOCK. */
int WSPDeregisterMemory(SOCKET s, HANDLE Handle, LPINT lpErrno);

/* R1.3. Registers the buffer for the peer of s and stores its descriptor
 * (opaque bytes to hand to the peer) at lpRdmaBufferDescriptor.
 *
 * *lpdwDescriptorLength is in/out: on entry the size of the block at
 * lpRdmaBufferDescriptor, on return the size of the descriptor stored
 * (SAN_RDMA_DESC_SIZE). If the block is too small (or lpRdmaBufferDescriptor
 * is NULL), nothing is registered, *lpdwDescriptorLength is set to the size
 * needed and the call fails with WSAEFAULT, as the seeds require; so a call
 * with a NULL block and a length of 0 asks for the size. A larger block is
 * fine: only the first SAN_RDMA_DESC_SIZE bytes are written.
 *
 * Returns 0, or SOCKET_ERROR and *lpErrno = WSAEFAULT (block too small, NULL
 * lpdwDescriptorLength, buffer not wholly mapped), WSAENOBUFS, WSAEINVAL
 * (flags, length 0, NULL buffer), WSAENOTCONN, WSAEOPNOTSUPP, WSAENOTSOCK. */
int WSPRegisterRdmaMemory(SOCKET s, PVOID lpBuffer, DWORD dwBufferLength, DWORD dwFlags,
			  LPVOID lpRdmaBufferDescriptor, LPDWORD lpdwDescriptorLength,
			  LPINT lpErrno);

/* R1.4. The descriptor stops working for the peer at once. dwDescriptorLength
 * must be SAN_RDMA_DESC_SIZE (what WSPRegisterRdmaMemory stored). Returns 0,
 * or SOCKET_ERROR and *lpErrno = WSAEINVAL (not a live descriptor of s, wrong
 * length, or a local outstanding operation uses it), WSAEFAULT (NULL
 * descriptor), WSAENOTSOCK. */
int WSPDeregisterRdmaMemory(SOCKET s, LPVOID lpRdmaBufferDescriptor, DWORD dwDescriptorLength,
			    LPINT lpErrno);

/* ---- Transfers ----
 *
 * All four start an operation the same way:
 * - lpOverlapped non-NULL: the operation starts and the call returns
 *   SOCKET_ERROR with *lpErrno = WSA_IO_PENDING (the SPI's "started, will
 *   complete later"); the byte count output is not written. Collect the
 *   result with WSPGetOverlappedResult. Operations never complete
 *   immediately here, so an overlapped call never returns 0.
 * - lpOverlapped NULL: the call waits for the result (a blocking socket's
 *   behaviour) and returns 0 with the byte count written, or SOCKET_ERROR
 *   with the operation's error (for WSAEMSGSIZE the byte count is what
 *   fitted and is written too).
 * - lpCompletionRoutine must be NULL (WSAEOPNOTSUPP otherwise); lpThreadId is
 *   ignored; flags must be 0 (WSAEOPNOTSUPP otherwise).
 * Errors when starting: WSAENOTSOCK (s NULL), WSAEFAULT (NULL buffer array
 * with a count, NULL descriptor, or a buffer no live registration covers),
 * WSAEINVAL (dwBufferCount > SAN_MAX_SGE, bad descriptor, a WSABUFEX handle
 * not live on s), WSAEACCES (the registration lacks the right), WSAEMSGSIZE
 * (larger than the peer accepts, SAN_MAX_MSG_MB), WSAEWOULDBLOCK (too many
 * operations outstanding), WSAENOTCONN / WSAECONNRESET (socket closed / peer
 * gone), WSAENOBUFS (no memory for a blocking call's bookkeeping).
 * Errors on completion: WSAEMSGSIZE (receive too small), WSAEACCES / WSAEFAULT
 * (peer refused an RDMA: rights / bounds), WSAECONNRESET,
 * WSA_OPERATION_ABORTED (socket closed). */

/* Sends one message, the concatenation of the buffers (each covered by a
 * WSPRegisterMemory registration of s with MEM_READ). Completes when the
 * data has left this process. */
int WSPSend(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesSent,
	    DWORD dwFlags, LPWSAOVERLAPPED lpOverlapped,
	    LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine, LPWSATHREADID lpThreadId,
	    LPINT lpErrno);

/* Receives one message into the buffers (registered with MEM_WRITE).
 * lpFlags is in/out and must not be NULL (WSAEFAULT): *lpFlags must be 0 on
 * entry and is set to 0 when the call completes without overlapping. */
int WSPRecv(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesRecvd,
	    LPDWORD lpFlags, LPWSAOVERLAPPED lpOverlapped,
	    LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine, LPWSATHREADID lpThreadId,
	    LPINT lpErrno);

/* Writes the local buffers (MEM_READ registrations) into the peer's RDMA
 * buffer described by lpTargetBufferDescriptor, at dwTargetBufferOffset.
 * Completes when the peer has placed the data or refused it. */
int WSPRdmaWrite(SOCKET s, LPWSABUFEX lpBuffers, DWORD dwBufferCount,
		 LPVOID lpTargetBufferDescriptor, DWORD dwTargetDescriptorLength,
		 DWORD dwTargetBufferOffset, LPDWORD lpdwNumberOfBytesWritten, DWORD dwFlags,
		 LPWSAOVERLAPPED lpOverlapped,
		 LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine,
		 LPWSATHREADID lpThreadId, LPINT lpErrno);

/* Reads the peer's RDMA buffer described by lpTargetBufferDescriptor, from
 * dwTargetBufferOffset, into the local buffers (MEM_WRITE registrations). */
int WSPRdmaRead(SOCKET s, LPWSABUFEX lpBuffers, DWORD dwBufferCount,
		LPVOID lpTargetBufferDescriptor, DWORD dwTargetDescriptorLength,
		DWORD dwTargetBufferOffset, LPDWORD lpdwNumberOfBytesRead, DWORD dwFlags,
		LPWSAOVERLAPPED lpOverlapped,
		LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine,
		LPWSATHREADID lpThreadId, LPINT lpErrno);

/* The result of an overlapped operation started on s (it must be the socket
 * the operation was started on). Completions are collected with san_poll(s):
 * each one reaped finishes its own WSAOVERLAPPED, whichever the caller asked
 * about. fWait TRUE waits until lpOverlapped's operation finishes; FALSE only
 * looks (and reaps what is ready).
 *
 * Returns TRUE when the operation succeeded, with *lpcbTransfer = bytes moved
 * and *lpdwFlags = 0 (either pointer may be NULL). Otherwise FALSE and
 * *lpErrno = WSA_IO_INCOMPLETE (still pending, fWait FALSE), the operation's
 * own error (then *lpcbTransfer is written too: for WSAEMSGSIZE it is what
 * fitted), WSAEFAULT (lpOverlapped NULL), WSAENOTSOCK (s NULL), or the
 * mapped error of san_poll if collecting failed (WSAECONNRESET when the
 * socket has nothing outstanding left and the operation never finished on
 * it). */
BOOL WSPGetOverlappedResult(SOCKET s, LPWSAOVERLAPPED lpOverlapped, LPDWORD lpcbTransfer,
			    BOOL fWait, LPDWORD lpdwFlags, LPINT lpErrno);

/* ---- Registration cache (R2.4) ---- */

/* R2.4. Called before the mapping of [lpvAddress, lpvAddress+Size) changes:
 * drops every cached registration of Provider overlapping the range
 * (san_invalidate); registrations still in use are unpinned when released.
 *
 * Signature: Windows has no first argument, because a Windows process loads
 * each SAN provider DLL once and the switch calls every provider in turn. In
 * libsan a process may open several providers, each with its own cache, so the
 * caller names the provider (call it once per provider, as the switch does).
 * A provider rather than a SOCKET: the cache belongs to the provider and the
 * mapping change may come when no socket is at hand.
 *
 * Returns 0, also when nothing was cached in the range (a switch calls every
 * provider, cached or not); or SOCKET_ERROR and *lpErrno = WSAEINVAL
 * (Provider NULL, or the range is invalid: san_invalidate's -EINVAL). */
int WSPMemoryRegistrationCacheCallback(san_provider *Provider, LPVOID lpvAddress, SIZE_T Size,
				       LPINT lpErrno);

#ifdef __cplusplus
}
#endif
#endif /* SAN_WSP_H */
