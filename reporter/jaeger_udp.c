/* Jaeger agent: Agent.emitBatch, thrift compact, one UDP datagram per
 * packet (at most 65000 bytes; the agent's buffer). Fire and forget: a
 * missing agent costs nothing but the send. */
#define _GNU_SOURCE
#include "backend.h"

#include "../preload/config.h"
#include "../preload/log.h"
#include "../preload/stdfd.h"
#include "jaeger.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct jaeger_udp {
	struct at_backend b;
	struct at_jaeger_packer packer;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int fd;
	struct at_fd_id id;
	int warned;
	uint64_t reported_trimmed, reported_dropped;
};

/* The socket may have been closed by a daemon closing every fd, and its
 * number reused by the application: whether it is still ours. */
static int ours(const struct jaeger_udp *u)
{
	return at_fd_same(u->fd, &u->id);
}

/* The socket, checked before sending (ours) or made again. */
static int udp_socket(struct jaeger_udp *u)
{
	if (ours(u))
		return u->fd;
	u->fd = at_fd_not_std(socket(u->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
	if (u->fd < 0)
		return -1;
	int sz = 4 * AT_JAEGER_UDP_MAX;
	setsockopt(u->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	(void)at_fd_note(u->fd, &u->id);
	return u->fd;
}

static int udp_send(void *ctx, const void *pkt, size_t len)
{
	struct jaeger_udp *u = ctx;
	int fd = udp_socket(u);
	if (fd < 0)
		return -1;
	for (int tries = 0; tries < 3; tries++) {
		ssize_t w =
		    sendto(fd, pkt, len, MSG_NOSIGNAL, (struct sockaddr *)&u->addr, u->addrlen);
		if (w == (ssize_t)len)
			return 0;
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
			/* the send buffer is full of our own earlier packets: let it drain */
			struct timespec ts = {0, 2000000};
			nanosleep(&ts, NULL);
			continue;
		}
		break;
	}
	if (!u->warned++)
		at_info("jaeger: cannot send a %zu-byte packet to the agent: %s", len,
		        strerror(errno));
	return -1;
}

static size_t udp_export(struct at_backend *b, struct at_span *const *spans, size_t n,
                         uint64_t deadline_ms)
{
	struct jaeger_udp *u = (struct jaeger_udp *)b;
	size_t sent =
	    at_jaeger_pack(&u->packer, spans, n, (size_t)at_cfg.jaeger_max_packet, udp_send, u);
	if (u->packer.trimmed_spans != u->reported_trimmed ||
	    u->packer.dropped_spans != u->reported_dropped) {
		at_info("jaeger: %llu span(s) trimmed to fit a UDP packet, %llu not sent",
		        (unsigned long long)u->packer.trimmed_spans,
		        (unsigned long long)u->packer.dropped_spans);
		u->reported_trimmed = u->packer.trimmed_spans;
		u->reported_dropped = u->packer.dropped_spans;
	}
	return sent;
}

/* The socket closed if it is still ours. */
static void udp_drop(struct at_backend *b)
{
	struct jaeger_udp *u = (struct jaeger_udp *)b;
	if (ours(u))
		close(u->fd);
}

static void udp_close(struct at_backend *b)
{
	struct jaeger_udp *u = (struct jaeger_udp *)b;
	udp_drop(b);
	at_jaeger_packer_free(&u->packer);
	free(u);
}

struct at_backend *at_backend_jaeger_udp_new(void)
{
	struct jaeger_udp *u = calloc(1, sizeof *u);
	if (!u)
		return NULL;
	char port[8];
	snprintf(port, sizeof port, "%d", at_cfg.jaeger_agent_port);
	struct addrinfo hints = {0}, *res = NULL;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV;
	int rc = getaddrinfo(at_cfg.jaeger_agent_host, port, &hints, &res);
	if (rc || !res) {
		at_warn(
		    "jaeger: cannot resolve the agent host \"%.200s\": %s; spans will not be sent",
		    at_cfg.jaeger_agent_host, gai_strerror(rc));
		free(u);
		return NULL;
	}
	/* UDP gives no feedback: for "localhost" prefer 127.0.0.1, where agents
	 * (and docker's published ports) are sure to listen, over ::1 */
	struct addrinfo *ai = res;
	for (struct addrinfo *x = res; x; x = x->ai_next)
		if (x->ai_family == AF_INET) {
			ai = x;
			break;
		}
	memcpy(&u->addr, ai->ai_addr, ai->ai_addrlen);
	u->addrlen = ai->ai_addrlen;
	freeaddrinfo(res);
	u->fd = -1;
	u->b.name = "jaeger-agent";
	u->b.export_batch = udp_export;
	u->b.close = udp_close;
	u->b.drop = udp_drop;
	return &u->b;
}
