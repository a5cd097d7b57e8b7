/* SPDX-License-Identifier: MIT */
/* Configuration: defaults, SAN_* environment overrides, printing. Values
 * come from outside (environment, command lines): parsed strictly. */
#include "core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum ckind { C_BOOL, C_U64, C_UINT, C_SIZE, C_MONITOR };

struct copt {
	const char *env, *field;
	enum ckind kind;
	size_t off;
	uint64_t min, max;
};

#define OPT(env, field, kind, min, max) { env, #field, kind, offsetof(struct san_config, field), min, max }
static const struct copt opts[] = {
	OPT("SAN_RCACHE", rcache_enabled, C_BOOL, 0, 1),
	OPT("SAN_RCACHE_MAX_REGIONS", rcache_max_regions, C_U64, 1, 1u << 24),
	OPT("SAN_RCACHE_MAX_BYTES", rcache_max_bytes, C_SIZE, 4096, 1ull << 50),
	OPT("SAN_MONITOR", monitor, C_MONITOR, 0, 1),
	OPT("SAN_RING_ENTRIES", ring_entries, C_UINT, 32, 4096),
	OPT("SAN_MAX_OUTSTANDING", max_outstanding, C_UINT, 1, 1u << 20),
	OPT("SAN_POLL_SPIN_US", poll_spin_us, C_UINT, 0, 10000000),
	OPT("SAN_PROGRESS_THREAD", progress_thread, C_BOOL, 0, 1),
	OPT("SAN_MAX_MSG_MB", max_msg_mb, C_UINT, 1, 1u << 20),
	OPT("SAN_TCP_TIMEOUT_MS", tcp_timeout_ms, C_UINT, 0, 86400000),
	OPT("SAN_INLINE_MAX", inline_max, C_UINT, 0, 4096),
};

static int parse_value(const struct copt *o, const char *v, uint64_t *out)
{
	uint64_t x;
	int rc;

	if (!v)
		return -EINVAL;
	switch (o->kind) {
	case C_BOOL:
		if (!strcmp(v, "1") || !strcasecmp(v, "on") || !strcasecmp(v, "yes") || !strcasecmp(v, "true"))
			x = 1;
		else if (!strcmp(v, "0") || !strcasecmp(v, "off") || !strcasecmp(v, "no") || !strcasecmp(v, "false"))
			x = 0;
		else
			return -EINVAL;
		break;
	case C_MONITOR:
		if (!strcasecmp(v, "uffd") || !strcasecmp(v, "userfaultfd"))
			x = SAN_MONITOR_UFFD;
		else if (!strcasecmp(v, "none"))
			x = SAN_MONITOR_NONE;
		else
			return -EINVAL;
		break;
	case C_SIZE:
		rc = san__parse_size(v, &x);
		if (rc)
			return rc;
		break;
	default:
		rc = san__parse_size(v, &x);
		if (rc)
			return rc;
		/* plain numbers only: a suffix means bytes, not counts */
		for (const char *p = v; *p; p++)
			if (*p < '0' || *p > '9')
				return -EINVAL;
		break;
	}
	if (x < o->min || x > o->max)
		return -EINVAL;
	*out = x;
	return 0;
}

static void store(struct san_config *c, const struct copt *o, uint64_t x)
{
	char *f = (char *)c + o->off;

	switch (o->kind) {
	case C_BOOL: case C_MONITOR: *(int *)f = (int)x; break;
	case C_UINT: *(unsigned *)f = (unsigned)x; break;
	default: *(uint64_t *)f = x; break;
	}
}

static uint64_t load(const struct san_config *c, const struct copt *o)
{
	const char *f = (const char *)c + o->off;

	switch (o->kind) {
	case C_BOOL: case C_MONITOR: return (uint64_t)*(const int *)f;
	case C_UINT: return *(const unsigned *)f;
	default: return *(const uint64_t *)f;
	}
}

int san_config_set(struct san_config *c, const char *key, const char *value)
{
	uint64_t x;
	int rc;

	if (!c || !key)
		return -EINVAL;
	for (size_t i = 0; i < SAN_ARRAY_SIZE(opts); i++) {
		if (strcmp(key, opts[i].env) && strcmp(key, opts[i].field))
			continue;
		rc = parse_value(&opts[i], value, &x);
		if (rc)
			return rc;
		store(c, &opts[i], x);
		return 0;
	}
	return -ENOENT;
}

void san_config_init(struct san_config *c)
{
	memset(c, 0, sizeof(*c));
	c->rcache_enabled = 1;
	c->rcache_max_regions = 4096;
	c->rcache_max_bytes = 1ull << 30;
	c->monitor = SAN_MONITOR_UFFD;
	c->ring_entries = 256;
	c->max_outstanding = 1024;
	c->poll_spin_us = 50;
	c->progress_thread = 1;
	c->max_msg_mb = 1024;
	c->tcp_timeout_ms = 30000;
	c->inline_max = 256;
	for (size_t i = 0; i < SAN_ARRAY_SIZE(opts); i++) {
		const char *v = getenv(opts[i].env);

		if (v && san_config_set(c, opts[i].env, v))
			san__log("ignoring %s=%s: not a valid value", opts[i].env, v);
	}
}

int san__config_check(const struct san_config *c)
{
	for (size_t i = 0; i < SAN_ARRAY_SIZE(opts); i++) {
		uint64_t x = load(c, &opts[i]);

		if (x < opts[i].min || x > opts[i].max)
			return -EINVAL;
	}
	return 0;
}

int san_config_format(const struct san_config *c, char *buf, size_t len)
{
	size_t used = 0;

	if (len)
		buf[0] = 0;
	for (size_t i = 0; i < SAN_ARRAY_SIZE(opts); i++) {
		uint64_t x = load(c, &opts[i]);
		char val[32];
		int n;

		if (opts[i].kind == C_MONITOR)
			snprintf(val, sizeof(val), "%s", x == SAN_MONITOR_UFFD ? "uffd" : "none");
		else
			snprintf(val, sizeof(val), "%llu", (unsigned long long)x);
		n = snprintf(used < len ? buf + used : NULL, used < len ? len - used : 0,
			     "%-20s = %-12s (%s)\n", opts[i].field, val, opts[i].env);
		if (n < 0)
			return -EINVAL;
		used += (size_t)n;
	}
	return (int)used;
}
