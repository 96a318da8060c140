/* TLS over the exporter's connections (tls.h), with OpenSSL 3 found at run
 * time. Only the exporter thread (or the exporter process) comes here. */
#define _GNU_SOURCE
#include "tls.h"

#include "../preload/autotrace.h"
#include "../preload/config.h"
#include "../preload/log.h"
#include "conn.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The functions used, by name (libcrypto's found through libssl's handle,
 * which searches its dependencies). Their types are OpenSSL's own, from
 * its headers: a build needs libssl-dev, the shim links nothing of it. */
#define FUNCS(X)                                                                                   \
	X(OpenSSL_version_num)                                                                     \
	X(OPENSSL_init_ssl)                                                                        \
	X(TLS_client_method)                                                                       \
	X(SSL_CTX_new)                                                                             \
	X(SSL_CTX_free)                                                                            \
	X(SSL_CTX_ctrl)                                                                            \
	X(SSL_CTX_set_options)                                                                     \
	X(SSL_CTX_set_verify)                                                                      \
	X(SSL_CTX_set_default_verify_paths)                                                        \
	X(SSL_CTX_load_verify_locations)                                                           \
	X(SSL_CTX_use_certificate_chain_file)                                                      \
	X(SSL_CTX_use_PrivateKey_file)                                                             \
	X(SSL_CTX_check_private_key)                                                               \
	X(SSL_CTX_set_alpn_protos)                                                                 \
	X(SSL_new)                                                                                 \
	X(SSL_free)                                                                                \
	X(SSL_ctrl)                                                                                \
	X(SSL_set_bio)                                                                             \
	X(SSL_set_connect_state)                                                                   \
	X(SSL_get0_param)                                                                          \
	X(SSL_do_handshake)                                                                        \
	X(SSL_read)                                                                                \
	X(SSL_write)                                                                               \
	X(SSL_shutdown)                                                                            \
	X(SSL_get_error)                                                                           \
	X(SSL_get_verify_result)                                                                   \
	X(SSL_get0_alpn_selected)                                                                  \
	X(BIO_new_bio_pair)                                                                        \
	X(BIO_free)                                                                                \
	X(BIO_nread0)                                                                              \
	X(BIO_nread)                                                                               \
	X(BIO_nwrite0)                                                                             \
	X(BIO_nwrite)                                                                              \
	X(ERR_get_error)                                                                           \
	X(ERR_error_string_n)                                                                      \
	X(ERR_clear_error)                                                                         \
	X(X509_verify_cert_error_string)                                                           \
	X(X509_get_default_cert_dir)                                                               \
	X(X509_get_default_cert_file)                                                              \
	X(X509_VERIFY_PARAM_set1_host)                                                             \
	X(X509_VERIFY_PARAM_set1_ip_asc)

#define FIELD(f) __typeof__(f) *f;
static struct {
	FUNCS(FIELD)
} o;
#undef FIELD
#define NAME(f) #f,
static const char *const names[] = {FUNCS(NAME)};
#undef NAME

/* A session: OpenSSL's state on one half of a BIO pair, whose two rings
 * (ciphertext out, ciphertext in) the other half (net) gives us in place:
 * the socket's bytes are sent from and received into them, no copy and no
 * allocation per record (a memory BIO grew and copied: 640 instructions a
 * span more). Plaintext is gathered into records of up to 16 KiB. */
#define RING (2 * (16384 + 512)) /* two whole records each way */
struct at_tls_sess {
	SSL *ssl;
	BIO *net; /* ours; its peer is owned by ssl */
	size_t stage_len;
	unsigned char stage[16384];
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded;

/* A program that started OpenSSL before us cleans it up at its exit
 * (OPENSSL_cleanup, an atexit handler of OpenSSL's, or the program's own
 * call) while the exporter may still have spans to send. Our handler,
 * registered after OpenSSL's, runs before it: it flushes, then closes
 * OpenSSL to the exporter (stopped), and waits for a call in progress
 * (inside) to return. */
static atomic_int stopped, inside;

static void at_exit_stop(void)
{
	at_flush_at_exit();
	atomic_store(&stopped, 1);
	/* a call in OpenSSL is short (no I/O happens in it): a handshake's
	 * step, a record; 100 ms at most */
	struct timespec ms = {0, 1000000};
	for (int i = 0; atomic_load(&inside) && i < 100; i++)
		nanosleep(&ms, NULL);
}

/* AUTOTRACE_LIBSSL (config_tls.c), which a process that loaded no
 * configuration (a bench linking libatcore.a) leaves empty. */
static const char *libssl(void)
{
	return at_cfg.libssl[0] ? at_cfg.libssl : "libssl.so.3";
}

static void load(void)
{
	const char *lib = libssl();
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		at_warn("https endpoints need OpenSSL 3's libssl: %.200s cannot be loaded (%.200s); "
		        "spans for them will not be sent",
		        lib, dlerror());
		return;
	}
	void **fns = (void **)&o;
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (!(fns[i] = dlsym(h, names[i]))) {
			at_warn("https endpoints need OpenSSL 3's libssl: %.200s has no %s; spans for "
			        "them will not be sent",
			        lib, names[i]);
			return;
		}
	if (o.OpenSSL_version_num() < 0x30000000UL) {
		at_warn("https endpoints need OpenSSL 3's libssl: %.200s is version %lx; spans for "
		        "them will not be sent",
		        lib, o.OpenSSL_version_num());
		return;
	}
	/* No exit handler of OpenSSL's (when we are the first to start it): one
	 * registered while the program exits (an exporter started by a span
	 * made at exit) is run by the exiting thread at once, under our
	 * thread's initialization (measured: 6 of 40 runs of a plain-socket
	 * client crashed). */
	if (!o.OPENSSL_init_ssl(OPENSSL_INIT_NO_ATEXIT | OPENSSL_INIT_LOAD_SSL_STRINGS |
	                            OPENSSL_INIT_LOAD_CRYPTO_STRINGS,
	                        NULL)) {
		/* not its error strings: they may be gone with it */
		at_warn("https endpoints: OpenSSL cannot be initialized (the program has cleaned it "
		        "up at exit?); spans for them will not be sent");
		return;
	}
	atexit(at_exit_stop); /* after OpenSSL's own: runs before it */
	loaded = 1;
}

static int https(const char *url)
{
	return !strncmp(url, "https://", 8);
}

void at_tls_prepare(void)
{
	if (!((at_cfg.exporters & AT_EXP_OTLP && https(at_cfg.otlp_endpoint)) ||
	      (at_cfg.exporters & AT_EXP_JAEGER && https(at_cfg.jaeger_endpoint)) ||
	      (at_cfg.exporters & AT_EXP_ZIPKIN && https(at_cfg.zipkin_endpoint))))
		return;
	void *h = dlopen(libssl(), RTLD_NOW | RTLD_NOLOAD);
	if (!h)
		return; /* the program has none: the exporter thread loads it */
	dlclose(h);
	pthread_once(&once, load);
}

int at_tls_load(void)
{
	pthread_once(&once, load);
	return loaded ? 0 : -1;
}

/* Enters OpenSSL: 0, or -1 once the program has cleaned it up. */
static int enter(void)
{
	atomic_fetch_add(&inside, 1);
	if (!atomic_load(&stopped))
		return 0;
	atomic_fetch_sub(&inside, 1);
	return -1;
}
static void leave(void)
{
	atomic_fetch_sub(&inside, 1);
}

/* enter for the I/O of a session: a refusal is a TLS failure (EPROTO, its
 * text in c->tls_err), as at_tls_sendv and at_tls_recv report them. */
static int enter_io(struct at_conn *c)
{
	if (!enter())
		return 0;
	snprintf(c->tls_err, sizeof c->tls_err, "OpenSSL was cleaned up at exit");
	errno = EPROTO;
	return -1;
}

void at_tls_atfork_child(void)
{
	atomic_store(&inside, 0); /* the parent's exporter thread is not here */
}

/* The last OpenSSL error, or what else went wrong, into c->tls_err. */
static void say(struct at_conn *c, const char *what)
{
	unsigned long e = o.ERR_get_error(), next;
	while ((next = o.ERR_get_error()))
		e = next; /* the last is the nearest to the cause's text */
	char s[120] = "";
	if (e) {
		o.ERR_error_string_n(e, s, sizeof s);
		/* "error:0A000086:SSL routines::certificate verify failed": the reason */
		char *r = strrchr(s, ':');
		if (r && r[1])
			memmove(s, r + 1, strlen(r + 1) + 1);
	}
	snprintf(c->tls_err, sizeof c->tls_err, "%s%s%s", what, e ? ": " : "", s);
	o.ERR_clear_error();
}

/* Where the CAs trusted for c come from, for what is said of them. */
static const char *trust(const struct at_conn *c)
{
	return c->ca && *c->ca                         ? "OTEL_EXPORTER_OTLP_CERTIFICATE"
	       : at_cfg.ca_file[0] || at_cfg.ca_dir[0] ? "SSL_CERT_FILE or SSL_CERT_DIR"
	                                               : "the system's CA certificates";
}

/* Whether dir holds certificates under their subject hashes ("9d8f4a2b.0",
 * what c_rehash and update-ca-certificates make), so that OpenSSL can look
 * up an issuer there by name. */
static int hashed(const char *dir)
{
	DIR *d = dir ? opendir(dir) : NULL;
	if (!d)
		return 0;
	int found = 0;
	for (struct dirent *e; !found && (e = readdir(d));) {
		const char *n = e->d_name;
		size_t i = 0;
		while (i < 8 && ((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f')))
			i++;
		found = i == 8 && n[8] == '.' && n[9] >= '0' && n[9] <= '9';
	}
	closedir(d);
	return found;
}

/* The CAs trusted: OTEL_EXPORTER_OTLP_CERTIFICATE's file, else
 * SSL_CERT_FILE and SSL_CERT_DIR, else OpenSSL's default file and
 * directory. A file is parsed whole as it is loaded (Debian 12's bundle of
 * 140-odd CAs: 22 to 34 ms, in every process that exports over https); a
 * hashed directory is read one CA at a time, as a verification needs it.
 * So where there are both, the directory is loaded alone (c->ca_lazy) and
 * the file only if that finds no issuer (widen): the CAs trusted are the
 * same. */
static int load_trust(struct at_conn *c, SSL_CTX *ctx)
{
	if (c->ca && *c->ca)
		return o.SSL_CTX_load_verify_locations(ctx, c->ca, NULL);
	const char *file = at_cfg.ca_file, *dir = at_cfg.ca_dir;
	int env = file[0] || dir[0];
	if (!env) {
		file = o.X509_get_default_cert_file();
		dir = o.X509_get_default_cert_dir();
	}
	if (file && file[0] && dir && dir[0] && hashed(dir)) {
		c->ca_lazy = file;
		return o.SSL_CTX_load_verify_locations(ctx, NULL, dir);
	}
	if (!env) /* (a default file or directory that is missing is no error) */
		return o.SSL_CTX_set_default_verify_paths(ctx);
	return o.SSL_CTX_load_verify_locations(ctx, file[0] ? file : NULL, dir[0] ? dir : NULL);
}

/* A verification that failed for want of an issuer while the trust was
 * a directory only (c->ca_lazy): the file, which may hold CAs the
 * directory does not (one appended by hand), is loaded too, and the
 * connection is made again (c->ca_widened). 1 when so. */
static int widen(struct at_conn *c, long v)
{
	const char *file = c->ca_lazy;
	if (!file || (v != X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY &&
	              v != X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT &&
	              v != X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN &&
	              v != X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT))
		return 0;
	c->ca_lazy = NULL;
	if (!o.SSL_CTX_load_verify_locations(c->ctx, file, NULL)) {
		o.ERR_clear_error(); /* (refused all the same: said by the caller) */
		return 0;
	}
	at_debug("exporter endpoint https://%s:%s: no issuer in the CA directory; %s loaded",
	         c->host, c->port, file);
	c->ca_widened = 1;
	return 1;
}

/* The context: the CAs trusted, the client certificate, ALPN. Made once
 * per connection object; NULL (c->why said, with a warning) for good. */
static SSL_CTX *context(struct at_conn *c)
{
	if (c->ctx)
		return c->ctx;
	if (c->ctx_failed)
		return NULL;
	c->ctx_failed = 1;
	if (at_tls_load()) {
		snprintf(c->why, sizeof c->why, "TLS: OpenSSL 3's libssl is not loaded");
		return NULL;
	}
	if (enter())
		return NULL;
	SSL_CTX *ctx = o.SSL_CTX_new(o.TLS_client_method());
	const char *step = "a TLS context cannot be made";
	if (!ctx)
		goto fail;
	o.SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, NULL);
	/* a collector that closes without close_notify ends its reply all the
	 * same; no renegotiation: nothing to read while we write */
	o.SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
	o.SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	char trust_step[80];
	snprintf(trust_step, sizeof trust_step, "%s cannot be loaded", trust(c));
	step = trust_step;
	if (!load_trust(c, ctx))
		goto fail;
	if (c->cert && *c->cert) {
		step = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE cannot be loaded";
		if (!o.SSL_CTX_use_certificate_chain_file(ctx, c->cert))
			goto fail;
		step = "OTEL_EXPORTER_OTLP_CLIENT_KEY cannot be loaded";
		if (!o.SSL_CTX_use_PrivateKey_file(ctx, c->key, SSL_FILETYPE_PEM))
			goto fail;
		step = "OTEL_EXPORTER_OTLP_CLIENT_KEY does not match the client certificate";
		if (!o.SSL_CTX_check_private_key(ctx))
			goto fail;
	}
	static const unsigned char h2[] = "\x02h2", h1[] = "\x08http/1.1";
	if (o.SSL_CTX_set_alpn_protos(ctx, c->alpn_h2 ? h2 : h1,
	                              c->alpn_h2 ? sizeof h2 - 1 : sizeof h1 - 1))
		goto fail;
	leave();
	c->ctx = ctx;
	c->ctx_failed = 0;
	return ctx;
fail:
	say(c, step);
	leave();
	if (ctx)
		o.SSL_CTX_free(ctx);
	at_warn("exporter endpoint https://%s:%s: %s; spans will not be sent to it", c->host, c->port,
	        c->tls_err);
	snprintf(c->why, sizeof c->why, "TLS: %s", c->tls_err);
	return NULL;
}

void at_tls_conn_free(struct at_conn *c)
{
	if (c->ctx && !enter()) {
		o.SSL_CTX_free(c->ctx);
		leave();
	}
	c->ctx = NULL;
	c->ca_lazy = NULL;
}

/* The ciphertext OpenSSL has made, sent. */
static int flush_out(struct at_conn *c, uint64_t deadline_ms)
{
	struct at_tls_sess *t = c->sess;
	for (;;) {
		char *p;
		if (enter())
			return -1;
		int n = o.BIO_nread0(t->net, &p); /* what is there, in one piece */
		leave();
		if (n <= 0)
			return 0;
		/* the ring is the session's, not OpenSSL's global state: it
		 * stays while the bytes go out */
		if (at_conn_raw_send(c, p, (size_t)n, deadline_ms) || enter())
			return -1;
		o.BIO_nread(t->net, &p, n);
		leave();
	}
}

/* One read from the socket, given to OpenSSL: its size, 0 at the peer's
 * end, -1 (errno). */
static ssize_t feed_in(struct at_conn *c, uint64_t deadline_ms)
{
	struct at_tls_sess *t = c->sess;
	char *p;
	if (enter())
		return -1;
	int room = o.BIO_nwrite0(t->net, &p);
	leave();
	if (room <= 0) { /* OpenSSL asked for more with its ring full: cannot be */
		errno = ENOBUFS;
		return -1;
	}
	ssize_t n = at_conn_raw_recv(c, p, (size_t)room, deadline_ms);
	if (n <= 0 || enter())
		return n <= 0 ? n : -1;
	o.BIO_nwrite(t->net, &p, (int)n);
	leave();
	return n;
}

static int is_ip(const char *host)
{
	unsigned char a[16];
	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* The session, with the name (or address) the certificate must carry and
 * the name sent as SNI. */
static int session(struct at_conn *c, SSL_CTX *ctx)
{
	struct at_tls_sess *t = calloc(1, sizeof *t);
	if (!t)
		return -1;
	c->sess = t;
	if (enter())
		return -1;
	t->ssl = o.SSL_new(ctx);
	BIO *inner = NULL;
	int ok = t->ssl && o.BIO_new_bio_pair(&inner, RING, &t->net, RING);
	if (ok) {
		o.SSL_set_bio(t->ssl, inner, inner);
		X509_VERIFY_PARAM *vp = o.SSL_get0_param(t->ssl);
		if (is_ip(c->host))
			ok = o.X509_VERIFY_PARAM_set1_ip_asc(vp, c->host);
		else
			ok = o.X509_VERIFY_PARAM_set1_host(vp, c->host, 0) &&
			     o.SSL_ctrl(t->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
			                c->host);
		o.SSL_set_connect_state(t->ssl);
	}
	o.ERR_clear_error();
	leave();
	return ok ? 0 : -1;
}

int at_tls_conn_start(struct at_conn *c, uint64_t deadline_ms)
{
	SSL_CTX *ctx = context(c);
	if (!ctx)
		return -1;
	c->tls_err[0] = 0;
	if (session(c, ctx)) {
		snprintf(c->why, sizeof c->why, "TLS: a session cannot be made");
		goto fail;
	}
	struct at_tls_sess *t = c->sess;
	for (;;) {
		if (enter()) {
			snprintf(c->why, sizeof c->why, "TLS: OpenSSL was cleaned up at exit");
			goto fail;
		}
		o.ERR_clear_error();
		int r = o.SSL_do_handshake(t->ssl);
		int e = r == 1 ? SSL_ERROR_NONE : o.SSL_get_error(t->ssl, r);
		int fatal = e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE;
		if (fatal) {
			long v = o.SSL_get_verify_result(t->ssl);
			if (v != X509_V_OK) {
				snprintf(c->tls_err, sizeof c->tls_err, "certificate verify failed: %s",
				         o.X509_verify_cert_error_string(v));
				o.ERR_clear_error();
				/* the trust or the name configured: said whatever the log level */
				if (!widen(c, v) && !c->verify_warned++)
					at_warn("exporter endpoint https://%s:%s: %s (CAs trusted: %s); spans "
					        "will not be sent to it",
					        c->host, c->port, c->tls_err, trust(c));
			} else
				say(c, "handshake failed");
		}
		leave();
		/* what it made, an alert included, goes out */
		int sent = flush_out(c, deadline_ms);
		if (fatal) {
			snprintf(c->why, sizeof c->why, "TLS handshake: %s", c->tls_err);
			goto fail;
		}
		if (sent) {
			at_conn_failed(c, "TLS handshake: send", errno, deadline_ms);
			goto fail;
		}
		if (e == SSL_ERROR_NONE)
			return 0;
		if (e == SSL_ERROR_WANT_READ) {
			ssize_t n = feed_in(c, deadline_ms);
			if (n > 0)
				continue;
			if (n == 0)
				snprintf(c->why, sizeof c->why,
				         "TLS handshake: the server closed the connection");
			else
				at_conn_failed(c, "TLS handshake", errno, deadline_ms);
			goto fail;
		}
	}
fail:
	at_tls_conn_end(c, 0);
	return -1;
}

void at_tls_conn_end(struct at_conn *c, int send)
{
	struct at_tls_sess *t = c->sess;
	if (!t)
		return;
	c->sess = NULL;
	if (!enter()) {
		if (send && t->ssl && t->net) {
			o.SSL_shutdown(t->ssl); /* close_notify, into the ring */
			char *p;
			int n = o.BIO_nread0(t->net, &p);
			if (n > 0) /* once, without waiting */
				(void)at_conn_raw_send(c, p, (size_t)n, 0);
		}
		if (t->ssl)
			o.SSL_free(t->ssl); /* and its half of the pair */
		if (t->net)
			o.BIO_free(t->net);
		o.ERR_clear_error();
		leave();
	}
	free(t);
}

/* k bytes of plaintext as records, sent. */
static int write_rec(struct at_conn *c, const void *p, size_t k, uint64_t deadline_ms)
{
	struct at_tls_sess *t = c->sess;
	if (enter_io(c))
		return -1;
	for (;;) {
		o.ERR_clear_error();
		int r = o.SSL_write(t->ssl, p, (int)k);
		int e = r > 0 ? SSL_ERROR_NONE : o.SSL_get_error(t->ssl, r);
		if (r != (int)k && e != SSL_ERROR_WANT_WRITE)
			say(c, "write");
		leave();
		if (r == (int)k)
			return flush_out(c, deadline_ms);
		if (e != SSL_ERROR_WANT_WRITE) {
			errno = EPROTO;
			return -1;
		}
		/* its ring is full: out with it, then the same call again */
		if (flush_out(c, deadline_ms) || enter_io(c))
			return -1;
	}
}

int at_tls_sendv(struct at_conn *c, struct iovec *iov, int n, uint64_t deadline_ms)
{
	struct at_tls_sess *t = c->sess;
	t->stage_len = 0;
	for (int i = 0; i < n; i++) {
		const unsigned char *p = iov[i].iov_base;
		size_t left = iov[i].iov_len;
		while (left) {
			size_t k;
			if (!t->stage_len && left >= sizeof t->stage) {
				k = sizeof t->stage; /* a whole record from where it is */
				if (write_rec(c, p, k, deadline_ms))
					return -1;
			} else {
				k = sizeof t->stage - t->stage_len;
				k = k < left ? k : left;
				memcpy(t->stage + t->stage_len, p, k);
				t->stage_len += k;
				if (t->stage_len == sizeof t->stage) {
					t->stage_len = 0;
					if (write_rec(c, t->stage, sizeof t->stage, deadline_ms))
						return -1;
				}
			}
			p += k;
			left -= k;
		}
	}
	size_t k = t->stage_len;
	t->stage_len = 0;
	return k ? write_rec(c, t->stage, k, deadline_ms) : 0;
}

ssize_t at_tls_recv(struct at_conn *c, void *p, size_t n, uint64_t deadline_ms)
{
	struct at_tls_sess *t = c->sess;
	for (;;) {
		if (enter_io(c))
			return -1;
		o.ERR_clear_error();
		int r = o.SSL_read(t->ssl, p, n > 1 << 30 ? 1 << 30 : (int)n);
		int e = r > 0 ? SSL_ERROR_NONE : o.SSL_get_error(t->ssl, r);
		int fatal = e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ &&
		            e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_ZERO_RETURN;
		if (fatal)
			say(c, "read");
		leave();
		if (r > 0)
			return r;
		if (e == SSL_ERROR_ZERO_RETURN)
			return 0;
		if (flush_out(c, deadline_ms)) /* an alert, a key update's answer */
			return -1;
		if (fatal) {
			errno = EPROTO;
			return -1;
		}
		if (e == SSL_ERROR_WANT_READ) {
			ssize_t k = feed_in(c, deadline_ms);
			if (k <= 0)
				return k;
		}
	}
}
