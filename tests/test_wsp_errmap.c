/* SPDX-License-Identifier: MIT */
/*
 * WSPErrorFromErrno: every row of the table documented in san/wsp.h, for
 * -errno and +errno; 0 stays 0; an errno outside the table (and INT_MIN)
 * gives WSASYSCALLFAILURE. WSPErrorName names what the header defines.
 */
#include "harness.h"

#include <limits.h>
#include <san/wsp.h>

#define CHECK_WSA(got, want)                                                              \
	do {                                                                              \
		int g_ = (got), w_ = (want);                                              \
		if (g_ != w_) {                                                           \
			fprintf(stderr, "%s:%d: %s = %s (%d), want %s (%d)\n", __FILE__,  \
				__LINE__, #got, WSPErrorName(g_), g_, WSPErrorName(w_), w_); \
			exit(1);                                                          \
		}                                                                         \
	} while (0)

/* The table of the header, restated independently. */
static const struct {
	int err, wsa;
} rows[] = {
	{ EFAULT, WSAEFAULT },
	{ ERANGE, WSAEFAULT },
	{ EINVAL, WSAEINVAL },
	{ EBUSY, WSAEINVAL },
	{ ENOMEM, WSAENOBUFS },
	{ ENOBUFS, WSAENOBUFS },
	{ ENOSPC, WSAENOBUFS },
	{ EACCES, WSAEACCES },
	{ EPERM, WSAEACCES },
	{ EMSGSIZE, WSAEMSGSIZE },
	{ EAGAIN, WSAEWOULDBLOCK },
	{ ECANCELED, WSA_OPERATION_ABORTED },
	{ ECONNRESET, WSAECONNRESET },
	{ EPIPE, WSAECONNRESET },
	{ ENOTCONN, WSAENOTCONN },
	{ ECONNABORTED, WSAECONNABORTED },
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

int main(void)
{
	san_test_start(10);

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (WSPErrorFromErrno(-rows[i].err) != rows[i].wsa ||
		    WSPErrorFromErrno(rows[i].err) != rows[i].wsa) {
			fprintf(stderr, "errno %d (%s): got %s / %s, want %s\n", rows[i].err,
				strerror(rows[i].err), WSPErrorName(WSPErrorFromErrno(-rows[i].err)),
				WSPErrorName(WSPErrorFromErrno(rows[i].err)),
				WSPErrorName(rows[i].wsa));
			return 1;
		}
		/* Every value the table produces has a name. */
		CHECK(strcmp(WSPErrorName(rows[i].wsa), "WSA?") != 0);
	}

	CHECK_WSA(WSPErrorFromErrno(0), 0);
	CHECK_WSA(WSPErrorFromErrno(-ENOENT), WSASYSCALLFAILURE);
	CHECK_WSA(WSPErrorFromErrno(-EDOM), WSASYSCALLFAILURE);
	CHECK_WSA(WSPErrorFromErrno(-100000), WSASYSCALLFAILURE);
	CHECK_WSA(WSPErrorFromErrno(INT_MIN), WSASYSCALLFAILURE);
	CHECK_WSA(WSPErrorFromErrno(INT_MAX), WSASYSCALLFAILURE);

	CHECK(!strcmp(WSPErrorName(WSAEFAULT), "WSAEFAULT"));
	CHECK(!strcmp(WSPErrorName(WSA_IO_PENDING), "WSA_IO_PENDING"));
	CHECK(!strcmp(WSPErrorName(WSA_IO_INCOMPLETE), "WSA_IO_INCOMPLETE"));
	CHECK(!strcmp(WSPErrorName(WSA_OPERATION_ABORTED), "WSA_OPERATION_ABORTED"));
	CHECK(!strcmp(WSPErrorName(WSASYSCALLFAILURE), "WSASYSCALLFAILURE"));
	CHECK(!strcmp(WSPErrorName(0), "0"));
	CHECK(!strcmp(WSPErrorName(12345), "WSA?"));
	CHECK(!strcmp(WSPErrorName(-1), "WSA?"));

	san_test_check_leaks();
	return 0;
}
