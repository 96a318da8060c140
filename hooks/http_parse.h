/* Incremental HTTP/1.x message parser (requests and responses). It never
 * allocates and never reads past what it is given: bytes arrive in pieces of
 * any size (one at a time, a whole pipeline at once) and the parser stops at
 * the events its owner cares about. Header values are handed to a callback
 * with the name lowercased; oversized values are cut and flagged. */
#ifndef AT_HTTP_PARSE_H
#define AT_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define AT_HTTP_METHOD_MAX 16
#define AT_HTTP_TARGET_MAX 1024 /* kept for attributes; longer targets are cut */
#define AT_HTTP_NAME_MAX 64     /* longer names are not reported */

enum at_http_type { AT_HTTP_REQUEST = 1, AT_HTTP_RESPONSE = 2 };

/* Events returned by at_http_parse (a bit set). */
#define AT_HTTP_HEAD_END 0x01 /* stopped before the empty line ending the header section */
#define AT_HTTP_HEADERS 0x02  /* the header section is complete */
#define AT_HTTP_DONE 0x04     /* the whole message is complete */
#define AT_HTTP_ERROR 0x08    /* not HTTP/1.x, or malformed: stop looking */

/* Flags */
#define AT_HTTP_F_CHUNKED 0x01
#define AT_HTTP_F_LENGTH 0x02
#define AT_HTTP_F_CLOSE 0x04      /* Connection: close */
#define AT_HTTP_F_HEAD 0x08       /* response to a HEAD request: no body */
#define AT_HTTP_F_UPGRADED 0x10   /* 101, or a CONNECT tunnel: no longer HTTP */
#define AT_HTTP_F_STOP_BLANK 0x20 /* report AT_HTTP_HEAD_END */
#define AT_HTTP_F_STRICT 0x40     /* requests: method must be A-Z (client-side detection) */
#define AT_HTTP_F_CONNECT 0x80    /* the request is CONNECT */

struct at_http_parser;
/* name is lowercase, value has surrounding whitespace removed; complete is
 * 0 when the value was longer than the value buffer and was cut. */
typedef void (*at_http_header_fn)(struct at_http_parser *p, const char *name, size_t nlen,
                                  const char *value, size_t vlen, int complete);

struct at_http_parser {
	uint8_t type, state, sub, flags;
	uint8_t version_minor;
	uint8_t method_len, name_len, name_long;
	uint16_t status;
	uint16_t target_len; /* stored (<= AT_HTTP_TARGET_MAX) */
	uint32_t target_total;
	uint32_t value_len, value_total;
	uint32_t vcap;
	uint32_t ndigits;
	uint64_t body_left;
	uint64_t content_length;
	char *vbuf;    /* value buffer, owned by the caller (may be small, or none) */
	char tail[32]; /* the last bytes of the value: framing never depends on vbuf */
	at_http_header_fn on_header;
	void *ctx;
	char method[AT_HTTP_METHOD_MAX];
	char name[AT_HTTP_NAME_MAX];
	char target[AT_HTTP_TARGET_MAX];
};

void at_http_parser_init(struct at_http_parser *p, int type, unsigned flags, char *vbuf,
                         size_t vcap, at_http_header_fn on_header, void *ctx);
/* Start the next message on the same connection (keeps buffer, callback,
 * and the flags given in mask). */
void at_http_parser_reset(struct at_http_parser *p, unsigned keep_flags);
/* Consume up to n bytes; *used is how many were consumed. The parser stops
 * early at HEAD_END (when asked), HEADERS and DONE. Returns the events. */
int at_http_parse(struct at_http_parser *p, const char *buf, size_t n, size_t *used);
/* The peer closed: returns AT_HTTP_DONE when the message ends at close (a
 * response without length), else AT_HTTP_ERROR. */
int at_http_parse_eof(struct at_http_parser *p);
/* 1 once the header section has been parsed */
int at_http_headers_done(const struct at_http_parser *p);
int at_http_is_done(const struct at_http_parser *p);

#endif
