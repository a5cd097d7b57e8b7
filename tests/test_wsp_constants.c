/* SPDX-License-Identifier: MIT */
/*
 * The seed names carry the Windows values: MEM_* equal SAN_MEM_* (and
 * ws2san.h's 1/2/3), WSA error numbers are winerror.h's, Windows types keep
 * their Windows widths, WSABUFEX keeps its field order, a SOCKET is a
 * san_socket *.
 */
#include "harness.h"

#include <san/wsp.h>
#include <stddef.h>

int main(void)
{
	san_socket *native = NULL;
	SOCKET s = native; /* a SOCKET is the native socket, no cast */

	san_test_start(10);
	CHECK(s == NULL);

	CHECK(MEM_READ == SAN_MEM_READ && MEM_READ == 1);
	CHECK(MEM_WRITE == SAN_MEM_WRITE && MEM_WRITE == 2);
	CHECK(MEM_READWRITE == SAN_MEM_READWRITE && MEM_READWRITE == 3);
	CHECK(MEM_READWRITE == (MEM_READ | MEM_WRITE));
	CHECK(SOCKET_ERROR == -1);

	/* winerror.h numbers. */
	CHECK(WSA_INVALID_HANDLE == 6);
	CHECK(WSA_OPERATION_ABORTED == 995);
	CHECK(WSA_IO_INCOMPLETE == 996);
	CHECK(WSA_IO_PENDING == 997);
	CHECK(WSAEINTR == 10004);
	CHECK(WSAEBADF == 10009);
	CHECK(WSAEACCES == 10013);
	CHECK(WSAEFAULT == 10014);
	CHECK(WSAEINVAL == 10022);
	CHECK(WSAEMFILE == 10024);
	CHECK(WSAEWOULDBLOCK == 10035);
	CHECK(WSAEINPROGRESS == 10036);
	CHECK(WSAEALREADY == 10037);
	CHECK(WSAENOTSOCK == 10038);
	CHECK(WSAEMSGSIZE == 10040);
	CHECK(WSAEOPNOTSUPP == 10045);
	CHECK(WSAEAFNOSUPPORT == 10047);
	CHECK(WSAEADDRINUSE == 10048);
	CHECK(WSAEADDRNOTAVAIL == 10049);
	CHECK(WSAENETDOWN == 10050);
	CHECK(WSAENETUNREACH == 10051);
	CHECK(WSAENETRESET == 10052);
	CHECK(WSAECONNABORTED == 10053);
	CHECK(WSAECONNRESET == 10054);
	CHECK(WSAENOBUFS == 10055);
	CHECK(WSAEISCONN == 10056);
	CHECK(WSAENOTCONN == 10057);
	CHECK(WSAESHUTDOWN == 10058);
	CHECK(WSAETIMEDOUT == 10060);
	CHECK(WSAECONNREFUSED == 10061);
	CHECK(WSAENAMETOOLONG == 10063);
	CHECK(WSAEHOSTDOWN == 10064);
	CHECK(WSAEHOSTUNREACH == 10065);
	CHECK(WSASYSNOTREADY == 10091);
	CHECK(WSASYSCALLFAILURE == 10107);

	/* Windows widths and layouts. */
	CHECK(sizeof(DWORD) == 4);
	CHECK(sizeof(ULONG) == 4);
	CHECK(sizeof(HANDLE) == sizeof(void *));
	CHECK(sizeof(ULONG_PTR) == sizeof(void *));
	CHECK(offsetof(WSABUF, len) < offsetof(WSABUF, buf));
	CHECK(offsetof(WSABUFEX, len) < offsetof(WSABUFEX, buf));
	CHECK(offsetof(WSABUFEX, buf) < offsetof(WSABUFEX, handle));
	CHECK(offsetof(WSAOVERLAPPED, Internal) == 0);
	CHECK(offsetof(WSAOVERLAPPED, InternalHigh) < offsetof(WSAOVERLAPPED, hEvent));

	san_test_check_leaks();
	return 0;
}
