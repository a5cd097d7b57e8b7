/* SPDX-License-Identifier: MIT */
/* Address strings: "tcp:HOST:PORT", "tcp:[V6]:PORT", "unix:PATH",
 * "unix:@ABSTRACT". Input is untrusted (configuration, command lines):
 * every length is checked. */
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

static int parse_port(const char *s, uint16_t *out)
{
	unsigned v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > 65535)
			return -EINVAL;
	}
	*out = (uint16_t)v;
	return 0;
}

static int parse_unix(const char *path, struct san_addr *out)
{
	size_t n = strlen(path);
	struct sockaddr_un *un = &out->u.un;

	memset(out, 0, sizeof(*out));
	if (!n || n >= sizeof(un->sun_path))
		return -EINVAL;
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path, path, n);
	if (path[0] == '@') {
		if (n < 2)
			return -EINVAL;
		un->sun_path[0] = 0; /* abstract namespace: no NUL terminator */
		out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		out->len = (socklen_t)sizeof(*un);
	}
	out->family = AF_UNIX;
	return 0;
}

/* Splits "HOST:PORT" or "[V6]:PORT" into host (copied into hbuf) and port. */
static int split_host_port(const char *s, char *hbuf, size_t hcap, uint16_t *port)
{
	const char *colon;
	size_t hl;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end || end[1] != ':')
			return -EINVAL;
		hl = (size_t)(end - s - 1);
		s++;
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - s);
		if (memchr(s, ':', hl)) /* bare IPv6 needs brackets */
			return -EINVAL;
	}
	if (!hl || hl >= hcap)
		return -EINVAL;
	memcpy(hbuf, s, hl);
	hbuf[hl] = 0;
	return parse_port(colon + 1, port);
}

static int parse_common(const char *addr, struct san_addr *out, int resolve)
{
	char host[256];
	uint16_t port;
	int rc;

	if (!addr || !out)
		return -EINVAL;
	if (!strncmp(addr, "unix:", 5))
		return parse_unix(addr + 5, out);
	if (strncmp(addr, "tcp:", 4))
		return -EINVAL;
	rc = split_host_port(addr + 4, host, sizeof(host), &port);
	if (rc)
		return rc;
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, host, &out->u.in4.sin_addr) == 1) {
		out->family = AF_INET;
		out->u.in4.sin_family = AF_INET;
		out->u.in4.sin_port = htons(port);
		out->len = sizeof(out->u.in4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &out->u.in6.sin6_addr) == 1) {
		out->family = AF_INET6;
		out->u.in6.sin6_family = AF_INET6;
		out->u.in6.sin6_port = htons(port);
		out->len = sizeof(out->u.in6);
		return 0;
	}
	if (!resolve)
		return -EINVAL;
	{
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;

		if (getaddrinfo(host, NULL, &hints, &ai) || !ai)
			return -EHOSTUNREACH;
		if (ai->ai_addrlen > sizeof(out->u.ss)) {
			freeaddrinfo(ai);
			return -EINVAL;
		}
		memcpy(&out->u.ss, ai->ai_addr, ai->ai_addrlen);
		out->len = ai->ai_addrlen;
		out->family = ai->ai_family;
		freeaddrinfo(ai);
		if (out->family == AF_INET)
			out->u.in4.sin_port = htons(port);
		else if (out->family == AF_INET6)
			out->u.in6.sin6_port = htons(port);
		else
			return -EINVAL;
	}
	return 0;
}

/* *out is written only on success. */
static int parse_into(const char *addr, struct san_addr *out, int resolve)
{
	struct san_addr a;
	int rc;

	if (!out)
		return -EINVAL;
	rc = parse_common(addr, &a, resolve);
	if (!rc)
		*out = a;
	return rc;
}

int san__addr_parse(const char *addr, struct san_addr *out)
{
	return parse_into(addr, out, 1);
}

int san__addr_parse_numeric(const char *addr, struct san_addr *out)
{
	return parse_into(addr, out, 0);
}

int san__addr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN];
	int n;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		n = snprintf(buf, cap, "tcp:%s:%u", host, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		n = snprintf(buf, cap, "tcp:[%s]:%u", host, ntohs(in6->sin6_port));
	} else if (sa->sa_family == AF_UNIX) {
		const struct sockaddr_un *un = (const void *)sa;
		size_t pl = len > offsetof(struct sockaddr_un, sun_path)
				    ? len - offsetof(struct sockaddr_un, sun_path)
				    : 0;

		if (pl && un->sun_path[0] == 0) /* abstract */
			n = snprintf(buf, cap, "unix:@%.*s", (int)(pl - 1), un->sun_path + 1);
		else
			n = snprintf(buf, cap, "unix:%.*s", (int)strnlen(un->sun_path, pl), un->sun_path);
	} else {
		return -EINVAL;
	}
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}
