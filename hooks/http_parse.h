/* Incremental HTTP/1.x message parser (requests and responses). It never
 * allocates and never reads past what it is given: bytes arrive in pieces of
 * any size (one at a time, a whole pipeline at once) and the parser stops at
 * the events its owner cares about. Header values are handed to a callback
 * with the name lowercased; oversized values are cut and flagged. Only the
 * headers the owner asks for are copied and reported: the others are
 * checked and skipped. */
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

/* The headers the parser knows by name. An owner asks for some of them
 * (a mask of AT_HTTP_H_BIT(id)); AT_HTTP_H_OTHER stands for every other
 * name. The framing headers (Content-Length, Transfer-Encoding,
 * Connection) are always read by the parser itself. */
enum at_http_hdr {
	AT_HTTP_H_OTHER = 0,
	AT_HTTP_H_HOST,
	AT_HTTP_H_USER_AGENT,
	AT_HTTP_H_CONTENT_LENGTH,
	AT_HTTP_H_TRANSFER_ENCODING,
	AT_HTTP_H_CONNECTION,
	AT_HTTP_H_TRACEPARENT,
	AT_HTTP_H_TRACESTATE,
	AT_HTTP_H_BAGGAGE,
	AT_HTTP_H_B3,
	AT_HTTP_H_X_B3_TRACEID,
	AT_HTTP_H_X_B3_SPANID,
	AT_HTTP_H_X_B3_SAMPLED,
	AT_HTTP_H_X_B3_FLAGS,
	AT_HTTP_H_UBER_TRACE_ID,
	AT_HTTP_H_UBERCTX, /* uberctx-{key} */
	AT_HTTP_H_UPGRADE, /* a request that may turn the connection into a tunnel */
	AT_HTTP_H_EXPECT,  /* 100-continue: the body may never be sent */
	AT_HTTP_H_SKIP,    /* internal: a name too long to report */
};
#define AT_HTTP_H_BIT(id) (1u << (id))
/* every header, unknown names included */
#define AT_HTTP_REPORT_ALL (AT_HTTP_H_BIT(AT_HTTP_H_SKIP) - 1)
/* what preload/propagation.c's at_carrier_add looks at */
#define AT_HTTP_REPORT_CARRIER                                                                     \
	(AT_HTTP_H_BIT(AT_HTTP_H_TRACEPARENT) | AT_HTTP_H_BIT(AT_HTTP_H_TRACESTATE) |              \
	 AT_HTTP_H_BIT(AT_HTTP_H_BAGGAGE) | AT_HTTP_H_BIT(AT_HTTP_H_B3) |                          \
	 AT_HTTP_H_BIT(AT_HTTP_H_X_B3_TRACEID) | AT_HTTP_H_BIT(AT_HTTP_H_X_B3_SPANID) |            \
	 AT_HTTP_H_BIT(AT_HTTP_H_X_B3_SAMPLED) | AT_HTTP_H_BIT(AT_HTTP_H_X_B3_FLAGS) |             \
	 AT_HTTP_H_BIT(AT_HTTP_H_UBER_TRACE_ID) | AT_HTTP_H_BIT(AT_HTTP_H_UBERCTX))

/* The id of a header name (token characters, any case). */
int at_http_header_id(const char *name, size_t len);

struct at_http_parser;
/* id is at_http_header_id(name); name is lowercase, value has surrounding
 * whitespace removed; complete is 0 when the value was longer than the
 * value buffer and was cut. */
typedef void (*at_http_header_fn)(struct at_http_parser *p, int id, const char *name, size_t nlen,
                                  const char *value, size_t vlen, int complete);

struct at_http_parser {
	/* cleared by at_http_parser_init */
	uint8_t type, state, sub, flags;
	uint8_t version_minor;
	uint8_t method_len, name_len, name_long;
	uint8_t hid, collect; /* the current header's id; its value is kept */
	uint16_t status;
	uint16_t target_len; /* stored (<= AT_HTTP_TARGET_MAX) */
	uint32_t target_total;
	uint32_t value_len, value_total;
	uint32_t ndigits;
	uint64_t body_left;
	uint64_t content_length;
	/* set by at_http_parser_init */
	uint32_t vcap;
	uint32_t report; /* AT_HTTP_H_BIT()s of the headers given to on_header */
	char *vbuf;      /* value buffer, owned by the caller (may be small, or none) */
	at_http_header_fn on_header;
	void *ctx;
	/* written before they are read */
	char tail[32]; /* the last bytes of the value: framing never depends on vbuf */
	char name[AT_HTTP_NAME_MAX];
	/* from here on only appended to while a message is parsed */
	char method[AT_HTTP_METHOD_MAX];
	char target[AT_HTTP_TARGET_MAX];
};

/* The part of the parser that at_http_parse rewrites (all but the method
 * and target, which only grow): a copy of it, with the first value_len bytes
 * of vbuf, is enough to go back to an earlier point of the same message. */
#define AT_HTTP_PARSER_STATE_SIZE offsetof(struct at_http_parser, method)

void at_http_parser_init(struct at_http_parser *p, int type, unsigned flags, char *vbuf,
                         size_t vcap, at_http_header_fn on_header, uint32_t report, void *ctx);
/* Start the next message on the same connection (keeps buffer, callback,
 * report mask, and the flags given in mask). */
void at_http_parser_reset(struct at_http_parser *p, unsigned keep_flags);
/* Consume up to n bytes; *used is how many were consumed. The parser stops
 * early at HEAD_END (when asked), HEADERS and DONE. Returns the events. */
int at_http_parse(struct at_http_parser *p, const char *buf, size_t n, size_t *used);
/* The peer closed: returns AT_HTTP_DONE when the message ends at close (a
 * response without length), else AT_HTTP_ERROR. */
int at_http_parse_eof(struct at_http_parser *p);
/* n bytes of the message went by unseen (sendfile, splice: hooks/unseen.c).
 * Only body bytes can be counted without being seen: returns AT_HTTP_DONE
 * when they end the message, 0 when more of the body is to come, and
 * AT_HTTP_ERROR (the parser stops) when the parser was not in a body or
 * they would go past its end (a chunk's, whose framing follows). */
int at_http_skip(struct at_http_parser *p, uint64_t n);
/* 1 once the header section has been parsed */
int at_http_headers_done(const struct at_http_parser *p);
int at_http_is_done(const struct at_http_parser *p);

#endif
