/* SPDX-License-Identifier: MIT */
/* The provider and its sockets and listeners: lifetimes and lists. */
#include "core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Progress thread, every ~100 ms: pages of memory the application freed
 * are unpinned even if it only ever hits the fast path since. */
static void idle_hook(void *arg)
{
	san_provider *p = arg;

	san__mem_reap(p);
	san__reg_unpark(p, UNPARK_STALE, 0, 0);
}

int san_provider_open(const struct san_config *c, san_provider **p_out)
{
	san_provider *p;
	int rc;

	if (!p_out)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	if (c)
		p->cfg = *c;
	else
		san_config_init(&p->cfg);
	rc = san__config_check(&p->cfg);
	if (rc)
		goto out_free;
	pthread_mutex_init(&p->ctl_lock, NULL);
	p->nic_ops = &san__nic_uring_ops;
	rc = p->nic_ops->open(&p->cfg, &p->nic);
	if (rc)
		goto out_lock;
	rc = san__mem_open(p);
	if (rc)
		goto out_nic;
	p->nic_ops->set_idle_hook(p->nic, idle_hook, p);
	*p_out = p;
	return 0;

out_nic:
	p->nic_ops->close(p->nic);
out_lock:
	pthread_mutex_destroy(&p->ctl_lock);
out_free:
	free(p);
	return rc;
}

void san_provider_close(san_provider *p)
{
	if (!p)
		return;
	for (;;) {
		san_socket *s;
		san_listener *l;

		pthread_mutex_lock(&p->ctl_lock);
		s = p->sockets;
		l = p->listeners;
		pthread_mutex_unlock(&p->ctl_lock);
		if (s)
			san_close(s);
		else if (l)
			san_listener_close(l);
		else
			break;
	}
	p->nic_ops->set_idle_hook(p->nic, NULL, NULL);
	san__dma_close(p); /* issue 6: pool chunks, once no socket holds them */
	san__mem_close(p);
	p->nic_ops->close(p->nic);
	pthread_mutex_destroy(&p->ctl_lock);
	free(p);
}

int san_listen(san_provider *p, const char *addr, san_listener **l_out)
{
	san_listener *l;
	int rc;

	if (!p || !addr || !l_out)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	rc = p->nic_ops->listen(p->nic, addr, &l->nl);
	if (rc) {
		free(l);
		return rc;
	}
	l->p = p;
	pthread_mutex_lock(&p->ctl_lock);
	l->next = p->listeners;
	if (l->next)
		l->next->prev = l;
	p->listeners = l;
	pthread_mutex_unlock(&p->ctl_lock);
	*l_out = l;
	return 0;
}

int san_listener_addr(san_listener *l, char *buf, size_t len)
{
	if (!l || !buf)
		return -EINVAL;
	return l->p->nic_ops->listener_addr(l->nl, buf, len);
}

void san_listener_close(san_listener *l)
{
	san_provider *p;

	if (!l)
		return;
	p = l->p;
	pthread_mutex_lock(&p->ctl_lock);
	if (l->prev)
		l->prev->next = l->next;
	else
		p->listeners = l->next;
	if (l->next)
		l->next->prev = l->prev;
	pthread_mutex_unlock(&p->ctl_lock);
	p->nic_ops->listener_close(l->nl);
	free(l);
}

/* Engine lock held: the connection failed or the peer closed it. An
 * application waiting on the event fd must learn it even with nothing
 * outstanding (san_poll then returns -ECONNRESET). */
static void socket_down(void *arg)
{
	san_socket *s = arg;

	if (s->efd >= 0 && !s->closing)
		eventfd_write(s->efd, 1);
}

static int socket_new(san_provider *p, struct san_nic_ep *ep, san_socket **s_out)
{
	san_socket *s = aligned_alloc(_Alignof(san_socket), sizeof(*s));

	if (s) {
		memset(s, 0, sizeof(*s));
		s->cq = calloc(p->cfg.max_outstanding, sizeof(*s->cq));
	}
	if (!s || !s->cq || san__reg_socket_init(s)) {
		if (s)
			free(s->cq);
		free(s);
		p->nic_ops->lock(p->nic);
		p->nic_ops->ep_close(ep);
		p->nic_ops->unlock(p->nic);
		return -ENOMEM;
	}
	s->p = p;
	s->efd = -1; /* issue 6: san_socket_event_fd */
	s->ep = ep;
	s->ep_state = p->nic_ops->ep_state_ptr(ep);
	if (p->nic_ops->ep_set_notify) {
		p->nic_ops->lock(p->nic);
		p->nic_ops->ep_set_notify(ep, socket_down, s);
		p->nic_ops->unlock(p->nic);
	}
	s->inv_busy = san__mem_inv_busy(p);
	s->tag = san__mem_socket_opened(p);
	pthread_mutex_lock(&p->ctl_lock);
	s->next = p->sockets;
	if (s->next)
		s->next->prev = s;
	p->sockets = s;
	pthread_mutex_unlock(&p->ctl_lock);
	*s_out = s;
	return 0;
}

int san_accept(san_listener *l, int timeout_ms, san_socket **s_out)
{
	struct san_nic_ep *ep;
	int rc;

	if (!l || !s_out)
		return -EINVAL;
	rc = l->p->nic_ops->accept(l->nl, timeout_ms, &ep);
	if (rc)
		return rc;
	return socket_new(l->p, ep, s_out);
}

int san_connect(san_provider *p, const char *addr, san_socket **s_out)
{
	struct san_nic_ep *ep;
	int rc;

	if (!p || !addr || !s_out)
		return -EINVAL;
	rc = p->nic_ops->connect(p->nic, addr, &ep);
	if (rc)
		return rc;
	return socket_new(p, ep, s_out);
}

int san_close(san_socket *s)
{
	san_provider *p;
	struct san_reg *regs, *next;

	if (!s)
		return -EINVAL;
	p = s->p;
	p->nic_ops->lock(p->nic);
	s->closing = true;
	/* Threads blocked in san_poll on this socket return -ENOTCONN; the
	 * socket is freed only once they are out. */
	while (s->pollers) {
		p->nic_ops->wake(p->nic);
		p->nic_ops->wait(p->nic, 10);
	}
	/* Completes every outstanding op (discarded below: closing) and
	 * revokes every key before the socket's registrations go. */
	p->nic_ops->ep_close(s->ep);
	san__reg_release_all(s, &regs);
	p->nic_ops->unlock(p->nic);
	for (; regs; regs = next) {
		next = regs->next;
		san__mem_put(p, regs->mem);
		free(regs);
	}
	pthread_mutex_lock(&p->ctl_lock);
	if (s->prev)
		s->prev->next = s->next;
	else
		p->sockets = s->next;
	if (s->next)
		s->next->prev = s->prev;
	pthread_mutex_unlock(&p->ctl_lock);
	san__mem_socket_closed(p, s->tag);
	san__reg_socket_fini(s);
	if (s->efd >= 0)
		close(s->efd); /* issue 6 */
	free(s->cq);
	free(s);
	return 0;
}

san_provider *san_socket_provider(san_socket *s)
{
	return s ? s->p : NULL;
}

int san_invalidate(san_provider *p, void *addr, size_t len)
{
	uintptr_t end;

	int n;

	if (!p || __builtin_add_overflow((uintptr_t)addr, len, &end))
		return -EINVAL;
	n = san__mem_invalidate(p, addr, len);
	/* Sockets' parked registrations hold their regions: let go of the
	 * ones in the range now, so their pages are unpinned before the
	 * caller changes the mapping. */
	if (n >= 0 && len)
		san__reg_unpark(p, UNPARK_RANGE, (uintptr_t)addr, len);
	return n;
}

int san_get_stats(san_provider *p, struct san_stats *st_out)
{
	struct san_nic_stats ns;
	struct san_stats st = { 0 };

	if (!p || !st_out)
		return -EINVAL;
	san__reg_unpark(p, UNPARK_STALE, 0, 0); /* current figures */
	san__mem_stats(p, &st);
	st.reg_hits += san__reg_park_hits(p);
	p->nic_ops->stats(p->nic, &ns);
	/* The NIC's own count is the truth: it includes pins that the cache
	 * let go of but that a transfer or key still holds. */
	st.pins = ns.pins;
	st.unpins = ns.unpins;
	st.pinned_bytes = ns.pinned_bytes;
	st.keys_active = ns.keys_active;
	st.tx_direct = ns.tx_direct;
	st.rx_direct = ns.rx_direct;
	*st_out = st;
	return 0;
}
