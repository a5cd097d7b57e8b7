/* SPDX-License-Identifier: MIT */
/*
 * Configuration values (core/config.c): san_config_set, which
 * san_config_init runs on every SAN_* environment variable and the tools on
 * their command-line options, and san_config_format which prints the result.
 *
 * Input: lines "KEY=VALUE" separated by '\n' (a line without '=' passes a
 * NULL value), applied in order to one configuration. Checks for each:
 *   - 0, -ENOENT (exactly when KEY is neither an environment name nor a
 *     field name of san.h) or -EINVAL;
 *   - a refusal changes nothing; a success changes at most the key's own
 *     field, leaves a configuration san_provider_open accepts
 *     (san__config_check), and the environment name and the field name give
 *     the same result;
 * and at the end san_config_format: the length it reports is what it writes
 * when the buffer is large enough, and a short buffer gets a NUL-terminated
 * prefix of the same text.
 */
#include "fuzz.h"
#include "core/core.h"

#include <errno.h>
#include <stddef.h>

/* The keys of san.h's struct san_config: environment name, field name. */
static const struct {
	const char *env, *field;
	size_t off, size;
} keys[] = {
#define K(env, f) { env, #f, offsetof(struct san_config, f), sizeof(((struct san_config *)0)->f) }
	K("SAN_RCACHE", rcache_enabled),
	K("SAN_RCACHE_MAX_REGIONS", rcache_max_regions),
	K("SAN_RCACHE_MAX_BYTES", rcache_max_bytes),
	K("SAN_MONITOR", monitor),
	K("SAN_RING_ENTRIES", ring_entries),
	K("SAN_MAX_OUTSTANDING", max_outstanding),
	K("SAN_POLL_SPIN_US", poll_spin_us),
	K("SAN_PROGRESS_THREAD", progress_thread),
	K("SAN_MAX_MSG_MB", max_msg_mb),
	K("SAN_TCP_TIMEOUT_MS", tcp_timeout_ms),
	K("SAN_INLINE_MAX", inline_max),
#undef K
};

static int find_key(const char *k)
{
	for (size_t i = 0; i < SAN_ARRAY_SIZE(keys); i++)
		if (!strcmp(k, keys[i].env) || !strcmp(k, keys[i].field))
			return (int)i;
	return -1;
}

/* Is everything outside [off, off+size) the same in a and b? */
static int same_outside(const struct san_config *a, const struct san_config *b, size_t off,
			size_t size)
{
	const uint8_t *x = (const void *)a, *y = (const void *)b;

	return !memcmp(x, y, off) &&
	       !memcmp(x + off + size, y + off + size, sizeof(*a) - off - size);
}

static void apply(struct san_config *c, const char *key, const char *value)
{
	struct san_config before, other;
	int k = find_key(key), rc, rc2;

	/* memcpy, not assignment: the padding must compare equal too */
	memcpy(&before, c, sizeof(*c));
	memcpy(&other, c, sizeof(*c));
	rc = san_config_set(c, key, value);
	FUZZ_CHECK(rc == 0 || rc == -ENOENT || rc == -EINVAL, "set(%s) = %d", key, rc);
	FUZZ_CHECK((rc == -ENOENT) == (k < 0), "set(\"%s\") = %d: known key? %d", key, rc, k >= 0);
	if (rc) {
		FUZZ_CHECK(!memcmp(c, &before, sizeof(*c)), "set(%s, %s) = %d changed the config",
			   key, value ? value : "NULL", rc);
		return;
	}
	FUZZ_CHECK(value, "set(%s, NULL) succeeded", key);
	FUZZ_CHECK(same_outside(c, &before, keys[k].off, keys[k].size),
		   "set(%s, %s) changed another field", key, value);
	FUZZ_CHECK(san__config_check(c) == 0, "set(%s, %s) left an out-of-range config", key, value);
	/* the other name of the same key */
	rc2 = san_config_set(&other, !strcmp(key, keys[k].env) ? keys[k].field : keys[k].env, value);
	FUZZ_CHECK(rc2 == 0 && !memcmp(&other, c, sizeof(*c)), "%s and %s disagree on \"%s\"",
		   keys[k].env, keys[k].field, value);
}

static void check_format(const struct san_config *c, size_t small)
{
	int n = san_config_format(c, NULL, 0), m;
	char *full, *part;

	FUZZ_CHECK(n > 0, "format(NULL, 0) = %d", n);
	full = malloc((size_t)n + 1);
	m = san_config_format(c, full, (size_t)n + 1);
	FUZZ_CHECK(m == n && strlen(full) == (size_t)n, "format = %d, wrote %zu, sized %d", m,
		   strlen(full), n);
	small %= (size_t)n + 1;
	part = malloc(small ? small : 1);
	m = san_config_format(c, part, small);
	FUZZ_CHECK(m == n, "format into %zu bytes = %d, want %d", small, m, n);
	if (small) {
		size_t got = strlen(part);

		FUZZ_CHECK(got == SAN_MIN((size_t)n, small - 1) && !memcmp(part, full, got),
			   "format into %zu bytes: not a prefix (%zu bytes)", small, got);
	}
	free(part);
	free(full);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct san_config defaults;
	static int inited;
	struct san_config c;
	char *text, *line, *next;

	if (!inited) {
		san_config_init(&defaults); /* SAN_* from the environment, if any */
		FUZZ_CHECK(san__config_check(&defaults) == 0, "defaults out of range");
		inited = 1;
	}
	memcpy(&c, &defaults, sizeof(c));
	text = fuzz_strndup(data, size);
	for (line = text; line; line = next) {
		char *eq;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		eq = strchr(line, '=');
		if (eq)
			*eq = 0;
		apply(&c, line, eq ? eq + 1 : NULL);
	}
	check_format(&c, size ? data[size - 1] * 7u : 0);
	free(text);
	return 0;
}
