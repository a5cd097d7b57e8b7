/* SPDX-License-Identifier: MIT */
/*
 * Memory keys exposed to the peer of one connection (docs/protocol.md §4),
 * under the engine lock (nic_ep.h): a hash table per ep, checked on every RDMA WRITE
 * and READ_REQ the peer sends.
 */
#include "nic_ep.h"

#include <errno.h>
#include <stdlib.h>

static unsigned bucket_of(uint64_t key, unsigned nbuckets)
{
	return (unsigned)(key ^ (key >> 32)) & (nbuckets - 1);
}

static unsigned key_bucket(const struct uring_ep *ep, uint64_t key)
{
	return bucket_of(key, ep->nbuckets);
}

static struct uring_key *key_find(struct uring_ep *ep, uint64_t key)
{
	struct uring_key *k;

	for (k = ep->keys[key_bucket(ep, key)]; k; k = k->next)
		if (k->key == key)
			return k;
	return NULL;
}

void san__uring_key_put(struct uring_key *k)
{
	if (--k->refs)
		return;
	san__uring_mr_put(k->mr);
	free(k);
}

static int keys_grow(struct uring_ep *ep)
{
	unsigned nb = ep->nbuckets * 2;
	struct uring_key **t = calloc(nb, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (unsigned i = 0; i < ep->nbuckets; i++) {
		struct uring_key *k = ep->keys[i], *next;

		for (; k; k = next) {
			next = k->next;
			k->next = t[bucket_of(k->key, nb)];
			t[bucket_of(k->key, nb)] = k;
		}
	}
	free(ep->keys);
	ep->keys = t;
	ep->nbuckets = nb;
	return 0;
}

int san__uring_key_add(struct san_nic_ep *e, struct san_nic_mr *m, uintptr_t addr, size_t len,
		       int rights, uint64_t *key_out)
{
	struct uring_ep *ep = EP(e);
	struct uring_mr *mr = (struct uring_mr *)m;
	struct uring_key *k;
	uint64_t key;
	int rc;

	if (ep->state != SAN_NIC_EP_OPEN)
		return ep->state == SAN_NIC_EP_CLOSED ? -ENOTCONN : -ECONNRESET;
	if (ep->nkeys >= ep->nbuckets && (rc = keys_grow(ep)))
		return rc;
	do {
		rc = san__random64(&key);
		if (rc)
			return rc;
	} while (!key || key_find(ep, key));
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->key = key;
	k->mr = mr;
	k->addr = addr;
	k->len = len;
	k->rights = rights;
	k->refs = 1;
	san__uring_mr_get(mr);
	k->next = ep->keys[key_bucket(ep, key)];
	ep->keys[key_bucket(ep, key)] = k;
	ep->nkeys++;
	atomic_fetch_add(&ep->nic->keys_active, 1);
	*key_out = key;
	return 0;
}

void san__uring_key_unlink(struct uring_ep *ep, struct uring_key *k)
{
	struct uring_key **pp = &ep->keys[key_bucket(ep, k->key)];

	while (*pp != k)
		pp = &(*pp)->next;
	*pp = k->next;
	ep->nkeys--;
	k->revoked = true;
	atomic_fetch_sub(&ep->nic->keys_active, 1);
	san__uring_key_put(k);
}

int san__uring_key_revoke(struct san_nic_ep *e, uint64_t key)
{
	struct uring_ep *ep = EP(e);
	struct uring_key *k = key_find(ep, key);

	if (!k)
		return -EINVAL;
	san__uring_key_unlink(ep, k);
	return 0;
}

/* R2.4, ordered after any invalidation in progress (the monitor never
 * takes the engine lock, so waiting here cannot deadlock). */
static int mr_stale(const struct san_nic_mr *mr)
{
	return san__seq_read_flag(mr->inv_busy, &mr->stale);
}

/* The checks of protocol.md §4, in order. Returns a SAN_WIRE_* status. */
int san__uring_key_check(struct uring_ep *ep, const struct san_wire_hdr *h, int right,
			 struct uring_key **k_out)
{
	struct uring_key *k = key_find(ep, h->key);

	if (!k || !(k->rights & right) || mr_stale(&k->mr->pub))
		return SAN_WIRE_EACCES;
	if (h->offset > k->len || h->len > k->len - h->offset)
		return SAN_WIRE_ERANGE;
	*k_out = k;
	return SAN_WIRE_OK;
}
