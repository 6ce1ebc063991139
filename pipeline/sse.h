/*
 * sse.h - Server-Sent Events parser for streamed LLM responses.
 *
 * Feed it the response body as it arrives, split anywhere; it calls back
 * once per complete event with the event's data (the "data:" lines joined
 * with "\n"). Lines may end in LF, CRLF or CR; comment lines (":") and
 * the event, id and retry fields are ignored; one space after the colon
 * is stripped. "[DONE]" is ordinary data, for the caller to recognise.
 * An event still open when the stream ends is never dispatched, as the
 * SSE standard says.
 *
 * The parser is embedded in its owner (init/close) and is used from one
 * thread at a time: the loop thread, from curl's write callback.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_SSE_H
#define SV_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/* The default limit on one event's data, in bytes. */
#define SV_SSE_MAX_EVENT_BYTES (1024 * 1024)

/*
 * Called once per event. data is NUL-terminated (len excludes the NUL)
 * and valid only during the call. Return 0 to go on, nonzero to stop:
 * sv_sse_feed() then returns -ECANCELED without looking at the rest of
 * its input. Must not call sv_sse_feed(), _reset() or _close() on the
 * same parser.
 */
typedef int sv_sse_event_cb(void *arg, const char *data, size_t len);

struct sv_sse {
    sv_sse_event_cb *cb; /* borrowed */
    void *arg;           /* borrowed, passed to cb */
    size_t max_event_bytes;
    struct sv_buf data; /* owned: the event being built */
    int error;          /* sticky: 0, -EMSGSIZE or -ECANCELED */
    int state;          /* where in a line the last byte left us */
    unsigned field_len; /* bytes of the field name seen so far */
    bool field_is_data; /* ... and they still spell a prefix of "data" */
    bool has_data;      /* the event has had a data line */
    bool after_cr;      /* the last byte was CR: a next LF is no new line */
};

/*
 * Prepares an embedded parser. max_event_bytes limits one event's data
 * (0 picks SV_SSE_MAX_EVENT_BYTES). cb and arg are borrowed.
 */
void sv_sse_init(struct sv_sse *p, size_t max_event_bytes, sv_sse_event_cb *cb,
                 void *arg);

/*
 * Parses len bytes of the stream, dispatching each event completed by
 * them. Returns 0; -EMSGSIZE when an event's data exceeds the limit;
 * -ECANCELED when the callback asked to stop. Errors are sticky: every
 * later call returns the same error until sv_sse_reset().
 */
int sv_sse_feed(struct sv_sse *p, const char *data, size_t len);

/* Forgets any partial event and error, to parse a new stream. Keeps the
 * buffer's memory, so reuse does not allocate. */
void sv_sse_reset(struct sv_sse *p);

/* Frees the buffer. The struct may be initialised again afterwards. */
void sv_sse_close(struct sv_sse *p);

#endif
