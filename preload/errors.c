/* Error semantics shared by the hooks (see errors.h). */
#define _GNU_SOURCE
#include "errors.h"

void at_span_fail(struct at_span *s, const char *type, size_t tlen, const char *msg, size_t mlen)
{
	if (!msg)
		mlen = 0;
	at_span_set_strn(s, "error.type", type, tlen);
	at_span_set_error(s, mlen ? msg : NULL, mlen);
	if (!mlen)
		return;
	int ev = at_span_add_event(s, "exception");
	at_event_set_strn(s, ev, "exception.type", type, tlen);
	at_event_set_strn(s, ev, "exception.message", msg, mlen);
}
