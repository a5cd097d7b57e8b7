/* SPDX-License-Identifier: MIT */
/*
 * The one table from libsan's -errno to the WSA error values of the seed
 * names (include/san/wsp.h documents it row by row; keep the two in step).
 *
 * A file of its own, apart from wsp.c, because it depends on nothing but
 * <errno.h>: a program that only maps errors links no socket code.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>

#include <san/wsp.h>

struct wsp_errno_map {
	int err; /* positive errno */
	int wsa;
};

static const struct wsp_errno_map wsp_errno_table[] = {
	{ EFAULT, WSAEFAULT },
	/* No Winsock twin: an RDMA outside the descriptor's buffer is an access
	 * outside the memory the caller may reach, the seeds' WSAEFAULT. */
	{ ERANGE, WSAEFAULT },
	{ EINVAL, WSAEINVAL },
	/* The seeds report "memory in use by a transfer" as WSAEINVAL
	 * (WSPDeregisterMemory, WSPDeregisterRdmaMemory). */
	{ EBUSY, WSAEINVAL },
	{ ENOMEM, WSAENOBUFS },
	{ ENOBUFS, WSAENOBUFS },
	{ ENOSPC, WSAENOBUFS },
	{ EACCES, WSAEACCES },
	{ EPERM, WSAEACCES },
	{ EMSGSIZE, WSAEMSGSIZE },
	/* Winsock's word for "too many overlapped operations outstanding". */
	{ EAGAIN, WSAEWOULDBLOCK },
	{ ECANCELED, WSA_OPERATION_ABORTED },
	{ ECONNRESET, WSAECONNRESET },
	{ EPIPE, WSAECONNRESET },
	{ ENOTCONN, WSAENOTCONN },
	{ ECONNABORTED, WSAECONNABORTED },
	/* The peer is not speaking this protocol: the connection is unusable. */
	{ EPROTO, WSAECONNABORTED },
	{ ESHUTDOWN, WSAESHUTDOWN },
	{ ETIMEDOUT, WSAETIMEDOUT },
	{ ECONNREFUSED, WSAECONNREFUSED },
	{ EOPNOTSUPP, WSAEOPNOTSUPP },
	{ ENOSYS, WSASYSNOTREADY },
	{ EADDRINUSE, WSAEADDRINUSE },
	{ EADDRNOTAVAIL, WSAEADDRNOTAVAIL },
	{ EAFNOSUPPORT, WSAEAFNOSUPPORT },
	{ ENETDOWN, WSAENETDOWN },
	{ ENETUNREACH, WSAENETUNREACH },
	{ ENETRESET, WSAENETRESET },
	{ EHOSTDOWN, WSAEHOSTDOWN },
	{ EHOSTUNREACH, WSAEHOSTUNREACH },
	{ EISCONN, WSAEISCONN },
	{ EALREADY, WSAEALREADY },
	{ ENOTSOCK, WSAENOTSOCK },
	{ EBADF, WSAEBADF },
	{ EINTR, WSAEINTR },
	{ EMFILE, WSAEMFILE },
	{ ENFILE, WSAEMFILE },
	{ ENAMETOOLONG, WSAENAMETOOLONG },
};

int WSPErrorFromErrno(int err)
{
	if (err == INT_MIN)
		return WSASYSCALLFAILURE; /* no errno, and -INT_MIN overflows */
	if (err < 0)
		err = -err;
	if (err == 0)
		return 0;
	for (size_t i = 0; i < sizeof(wsp_errno_table) / sizeof(wsp_errno_table[0]); i++)
		if (wsp_errno_table[i].err == err)
			return wsp_errno_table[i].wsa;
	return WSASYSCALLFAILURE;
}

#define WSP_NAME(x) { x, #x }

static const struct {
	int wsa;
	const char *name;
} wsp_names[] = {
	WSP_NAME(WSA_INVALID_HANDLE), WSP_NAME(WSA_OPERATION_ABORTED),
	WSP_NAME(WSA_IO_INCOMPLETE),  WSP_NAME(WSA_IO_PENDING),
	WSP_NAME(WSAEINTR),           WSP_NAME(WSAEBADF),
	WSP_NAME(WSAEACCES),          WSP_NAME(WSAEFAULT),
	WSP_NAME(WSAEINVAL),          WSP_NAME(WSAEMFILE),
	WSP_NAME(WSAEWOULDBLOCK),     WSP_NAME(WSAEINPROGRESS),
	WSP_NAME(WSAEALREADY),        WSP_NAME(WSAENOTSOCK),
	WSP_NAME(WSAEMSGSIZE),        WSP_NAME(WSAEOPNOTSUPP),
	WSP_NAME(WSAEAFNOSUPPORT),    WSP_NAME(WSAEADDRINUSE),
	WSP_NAME(WSAEADDRNOTAVAIL),   WSP_NAME(WSAENETDOWN),
	WSP_NAME(WSAENETUNREACH),     WSP_NAME(WSAENETRESET),
	WSP_NAME(WSAECONNABORTED),    WSP_NAME(WSAECONNRESET),
	WSP_NAME(WSAENOBUFS),         WSP_NAME(WSAEISCONN),
	WSP_NAME(WSAENOTCONN),        WSP_NAME(WSAESHUTDOWN),
	WSP_NAME(WSAETIMEDOUT),       WSP_NAME(WSAECONNREFUSED),
	WSP_NAME(WSAENAMETOOLONG),    WSP_NAME(WSAEHOSTDOWN),
	WSP_NAME(WSAEHOSTUNREACH),    WSP_NAME(WSASYSNOTREADY),
	WSP_NAME(WSASYSCALLFAILURE),
};

const char *WSPErrorName(int wsa_error)
{
	if (wsa_error == 0)
		return "0";
	for (size_t i = 0; i < sizeof(wsp_names) / sizeof(wsp_names[0]); i++)
		if (wsp_names[i].wsa == wsa_error)
			return wsp_names[i].name;
	return "WSA?";
}
