/* SPDX-License-Identifier: MIT */
#include <san.h>

#include <errno.h>
#include <string.h>

const char *san_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0: return "success";
	case EFAULT: return "no live registration covers the buffer, or memory not mapped";
	case EACCES: return "access denied: key unknown or revoked, or right missing";
	case ERANGE: return "outside the registered range";
	case EBUSY: return "registration in use by an outstanding operation";
	case ECANCELED: return "operation cancelled: socket closed";
	case ECONNRESET: return "connection reset: the peer is gone";
	case EMSGSIZE: return "message larger than the receive buffer or the peer's limit";
	case ENOMEM: return "out of memory or pinnable memory";
	case EPROTO: return "protocol error: not a libsan peer of this version";
	case ENOTCONN: return "socket closed";
	case EAGAIN: return "too many outstanding operations";
	default: return strerror(err);
	}
}
