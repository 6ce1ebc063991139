/*
 * sse.c - Server-Sent Events parser (see sse.h).
 *
 * A byte-at-a-time state machine over one line at a time, so input may be
 * split anywhere and nothing but the current event's data is buffered:
 * the field name is matched against "data" as it arrives, a data value is
 * appended straight to the event buffer (in runs, not byte by byte), and
 * comments and other fields are skipped without being stored. The buffer
 * keeps its memory between events, so a long stream stops allocating once
 * it has seen its largest event.
 *
 * Loop thread (or whichever one thread owns the parser).
 *
 * SPDX-License-Identifier: MIT
 */
#include "pipeline/sse.h"

#include <errno.h>
#include <string.h>

#include "util/log.h"

enum {
    ST_LINE_START,  /* nothing of this line seen yet */
    ST_FIELD,       /* inside the field name */
    ST_VALUE_START, /* just after the colon: one space may be skipped */
    ST_VALUE,       /* inside the value */
    ST_SKIP,        /* a comment, or a field we ignore, until the line end */
};


static bool is_eol(char c)
{
    return c == '\n' || c == '\r';
}


/* Starts a data line: lines after the first are joined with "\n". */
static int begin_data_line(struct sv_sse *p)
{
    if (p->has_data) {
        if (p->data.len + 1 > p->max_event_bytes)
            return -EMSGSIZE;
        sv_buf_append(&p->data, "\n", 1);
    }
    p->has_data = true;
    return 0;
}


static int append_value(struct sv_sse *p, const char *s, size_t n)
{
    if (n > p->max_event_bytes - p->data.len)
        return -EMSGSIZE;
    sv_buf_append(&p->data, s, n);
    return 0;
}


/* A blank line ends the event; one without any data line is dropped. */
static int dispatch(struct sv_sse *p)
{
    int stop;

    if (!p->has_data)
        return 0;
    p->has_data = false;
    stop = p->cb(p->arg, p->data.data != NULL ? p->data.data : "", p->data.len);
    sv_buf_reset(&p->data);
    return stop != 0 ? -ECANCELED : 0;
}


/* Handles the end of a line in whatever state it left us. */
static int end_line(struct sv_sse *p)
{
    int rc = 0;

    switch (p->state) {
    case ST_LINE_START:
        rc = dispatch(p);
        break;
    case ST_FIELD:
        /* A line without a colon is a field with an empty value. */
        if (p->field_is_data && p->field_len == 4)
            rc = begin_data_line(p);
        break;
    default:
        break;
    }
    p->state = ST_LINE_START;
    return rc;
}


void sv_sse_init(struct sv_sse *p, size_t max_event_bytes, sv_sse_event_cb *cb,
                 void *arg)
{
    memset(p, 0, sizeof(*p));
    p->cb = cb;
    p->arg = arg;
    p->max_event_bytes =
        max_event_bytes != 0 ? max_event_bytes : SV_SSE_MAX_EVENT_BYTES;
    p->state = ST_LINE_START;
}


int sv_sse_feed(struct sv_sse *p, const char *data, size_t len)
{
    size_t i = 0;
    int rc = 0;

    if (p->error != 0)
        return p->error;

    while (i < len && rc == 0) {
        char c = data[i];

        if (p->after_cr) {
            p->after_cr = false;
            if (c == '\n') {
                i++;
                continue;
            }
        }
        if (is_eol(c)) {
            p->after_cr = c == '\r';
            rc = end_line(p);
            i++;
            continue;
        }

        switch (p->state) {
        case ST_LINE_START:
            if (c == ':') {
                p->state = ST_SKIP;
                i++;
                break;
            }
            p->state = ST_FIELD;
            p->field_len = 0;
            p->field_is_data = true;
            /* fall through */
        case ST_FIELD:
            if (c == ':') {
                if (p->field_is_data && p->field_len == 4) {
                    rc = begin_data_line(p);
                    p->state = ST_VALUE_START;
                } else {
                    p->state = ST_SKIP;
                }
            } else {
                if (p->field_len >= 4 || "data"[p->field_len] != c)
                    p->field_is_data = false;
                if (p->field_len < 5)
                    p->field_len++;
            }
            i++;
            break;
        case ST_VALUE_START:
            p->state = ST_VALUE;
            if (c == ' ') {
                i++;
                break;
            }
            /* fall through */
        case ST_VALUE: {
            size_t run = i;

            while (run < len && !is_eol(data[run]))
                run++;
            rc = append_value(p, data + i, run - i);
            i = run;
            break;
        }
        default: /* ST_SKIP */
            while (i < len && !is_eol(data[i]))
                i++;
            break;
        }
    }

    if (rc != 0) {
        p->error = rc;
        sv_log(SV_LOG_DEBUG, "sse: stopped: %s",
               rc == -EMSGSIZE ? "event too large" : "by callback");
    }
    return rc;
}


void sv_sse_reset(struct sv_sse *p)
{
    sv_buf_reset(&p->data);
    p->error = 0;
    p->state = ST_LINE_START;
    p->field_len = 0;
    p->field_is_data = false;
    p->has_data = false;
    p->after_cr = false;
}


void sv_sse_close(struct sv_sse *p)
{
    sv_buf_free(&p->data);
    sv_sse_reset(p);
}
