/*
 * test_sse.c - the SSE parser against the OpenAI stream of protocols.md
 * B.2, fed whole, byte by byte and split at every point, plus line
 * endings, comments, multi-line data, limits and stopping.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "pipeline/sse.h"
#include "util/buf.h"

/* The chunk stream from protocols.md B.2, one event per line here. */
static const char *const doc_events[] = {
    "{\"id\":\"chatcmpl-9x\",\"object\":\"chat.completion.chunk\",\"created\":"
    "1730000000,\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":"
    "\"fp_1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
    "\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":"
    "null}",
    "{\"id\":\"chatcmpl-9x\",\"object\":\"chat.completion.chunk\",\"created\":"
    "1730000000,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":"
    "0,\"delta\":{\"content\":\"Sure\"},\"finish_reason\":null}],\"usage\":"
    "null}",
    "{\"id\":\"chatcmpl-9x\",\"object\":\"chat.completion.chunk\",\"created\":"
    "1730000000,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":"
    "0,\"delta\":{\"content\":\", we open at nine.\"},\"finish_reason\":null}"
    "],\"usage\":null}",
    "{\"id\":\"chatcmpl-9x\",\"object\":\"chat.completion.chunk\",\"created\":"
    "1730000000,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":"
    "0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}",
    "{\"id\":\"chatcmpl-9x\",\"object\":\"chat.completion.chunk\",\"created\":"
    "1730000000,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[],\"usage\":"
    "{\"prompt_tokens\":42,\"completion_tokens\":7,\"total_tokens\":49,"
    "\"prompt_tokens_details\":{\"cached_tokens\":0},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":0}}}",
    "[DONE]",
};

#define DOC_COUNT (sizeof(doc_events) / sizeof(doc_events[0]))

/* Collects events as "data" strings separated by '|'. */
struct sink {
    struct sv_buf out;
    int count;
    int stop_after; /* stop when count reaches this; 0 = never */
};


static int on_event(void *arg, const char *data, size_t len)
{
    struct sink *s = arg;

    CHECK_EQ(strlen(data), len);
    if (s->count > 0)
        sv_buf_append(&s->out, "|", 1);
    sv_buf_append(&s->out, data, len);
    s->count++;
    return s->stop_after != 0 && s->count >= s->stop_after;
}


/* Builds the doc stream with the given line ending. */
static void build_doc(struct sv_buf *b, const char *eol)
{
    for (size_t i = 0; i < DOC_COUNT; i++)
        sv_buf_printf(b, "data: %s%s%s", doc_events[i], eol, eol);
}


static void build_expected(struct sv_buf *b)
{
    for (size_t i = 0; i < DOC_COUNT; i++)
        sv_buf_printf(b, "%s%s", i > 0 ? "|" : "", doc_events[i]);
}


/* Parses text split at the given points (cuts[] ascending, n_cuts of
 * them) into the sink, expecting the last feed to return want_rc. */
static void parse_split(const char *text, size_t len, const size_t *cuts,
                        size_t n_cuts, struct sink *s, int want_rc)
{
    struct sv_sse p;
    size_t from = 0;
    int rc = 0;

    sv_sse_init(&p, 0, on_event, s);
    for (size_t i = 0; i <= n_cuts && rc == 0; i++) {
        size_t to = i < n_cuts ? cuts[i] : len;

        rc = sv_sse_feed(&p, text + from, to - from);
        from = to;
    }
    CHECK_EQ(rc, want_rc);
    sv_sse_close(&p);
}


static void expect_whole(const char *text, const char *want)
{
    struct sink s = {0};

    parse_split(text, strlen(text), NULL, 0, &s, 0);
    CHECK_STR(s.out.data != NULL ? s.out.data : "", want);
    sv_buf_free(&s.out);
}


/* Every split into two pieces, and byte by byte, give the same events. */
static void expect_all_splits(const char *text, const char *want)
{
    size_t len = strlen(text);
    struct sink s = {0};
    size_t *cuts = calloc(len + 1, sizeof(*cuts));

    CHECK(cuts != NULL);
    expect_whole(text, want);
    for (size_t cut = 0; cut <= len; cut++) {
        parse_split(text, len, &cut, 1, &s, 0);
        CHECK_STR(s.out.data != NULL ? s.out.data : "", want);
        sv_buf_free(&s.out);
        s.count = 0;
    }
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    parse_split(text, len, cuts, len, &s, 0);
    CHECK_STR(s.out.data != NULL ? s.out.data : "", want);
    sv_buf_free(&s.out);
    free(cuts);
}


SV_TEST(doc_stream)
{
    struct sv_buf text = {0};
    struct sv_buf want = {0};

    build_doc(&text, "\n");
    build_expected(&want);
    expect_all_splits(text.data, want.data);
    sv_buf_free(&text);
    sv_buf_free(&want);
}


SV_TEST(crlf)
{
    struct sv_buf text = {0};
    struct sv_buf want = {0};

    build_doc(&text, "\r\n");
    build_expected(&want);
    expect_all_splits(text.data, want.data);
    sv_buf_reset(&text);
    build_doc(&text, "\r");
    expect_all_splits(text.data, want.data);
    sv_buf_free(&text);
    sv_buf_free(&want);

    /* Mixed endings in one stream; CR LF is one line end, LF CR is two. */
    expect_all_splits("data: a\r\n\r\ndata: b\n\rdata: c\r\rdata: d\n\n",
                      "a|b|c|d");
}


SV_TEST(comments)
{
    expect_all_splits(": keep-alive\n\n"
                      "data: one\n"
                      ": a comment inside an event\n"
                      "\n"
                      ":\n"
                      ": keep-alive\r\n\r\n"
                      "data: two\n\n",
                      "one|two");
}


SV_TEST(fields)
{
    expect_all_splits("event: message\n"
                      "id: 7\n"
                      "retry: 1000\n"
                      "data: x\n"
                      "dat: no\n"
                      "datas: no\n"
                      "Data: no\n"
                      "\n"
                      "id: 8\n\n"
                      "event: ping\n\n",
                      "x");
    /* One space is stripped, not two; no space is fine; a bare "data"
     * line is an empty data line; colons in the value stay. */
    expect_all_splits("data:  two spaces\n\n"
                      "data:none\n\n"
                      "data\n\n"
                      "data:\n\n"
                      "data: a: b\n\n",
                      " two spaces|none|||a: b");
}


SV_TEST(multi_line)
{
    expect_all_splits("data: first\ndata: second\r\ndata:\ndata: fourth\n\n"
                      "data\ndata\n\n",
                      "first\nsecond\n\nfourth|\n");
}


SV_TEST(unterminated)
{
    /* An event never closed by a blank line is not dispatched. */
    expect_whole("data: one\n\ndata: two\n", "one");
    expect_whole("data: one\n\ndata: two", "one");
}


SV_TEST(oversized)
{
    struct sv_sse p;
    struct sink s = {0};
    char big[100];

    memset(big, 'x', sizeof(big));

    /* Exactly at the limit passes, including the "\n" joining lines. */
    sv_sse_init(&p, 10, on_event, &s);
    CHECK_EQ(sv_sse_feed(&p, "data: 0123456789\n\n", 18), 0);
    CHECK_EQ(sv_sse_feed(&p, "data: 01234\ndata: 5678\n\n", 24), 0);
    CHECK_EQ(s.count, 2);

    /* One byte more fails, and keeps failing. */
    CHECK_EQ(sv_sse_feed(&p, "data: 01234\ndata: 56789\n\n", 25), -EMSGSIZE);
    CHECK_EQ(sv_sse_feed(&p, "data: a\n\n", 9), -EMSGSIZE);
    CHECK_EQ(s.count, 2);

    /* Reset clears the error; the limit holds byte by byte too. */
    sv_sse_reset(&p);
    CHECK_EQ(sv_sse_feed(&p, "data: ", 6), 0);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(sv_sse_feed(&p, big, 1), 0);
    CHECK_EQ(sv_sse_feed(&p, big, 1), -EMSGSIZE);
    sv_sse_close(&p);

    /* Long comments and ignored fields are never buffered or limited. */
    sv_sse_init(&p, 10, on_event, &s);
    CHECK_EQ(sv_sse_feed(&p, ":", 1), 0);
    for (int i = 0; i < 100; i++)
        CHECK_EQ(sv_sse_feed(&p, big, sizeof(big)), 0);
    CHECK_EQ(sv_sse_feed(&p, "\nid: ", 5), 0);
    CHECK_EQ(sv_sse_feed(&p, big, sizeof(big)), 0);
    CHECK_EQ(sv_sse_feed(&p, "\ndata: ok\n\n", 11), 0);
    CHECK_EQ(s.count, 3);
    sv_sse_close(&p);

    /* The default limit is 1 MiB. */
    sv_sse_init(&p, 0, on_event, &s);
    CHECK_EQ(sv_sse_feed(&p, "data: ", 6), 0);
    for (int i = 0; i < SV_SSE_MAX_EVENT_BYTES / 100; i++)
        CHECK_EQ(sv_sse_feed(&p, big, sizeof(big)), 0);
    CHECK_EQ(sv_sse_feed(&p, big, sizeof(big)), -EMSGSIZE);
    sv_sse_close(&p);
    sv_buf_free(&s.out);
}


SV_TEST(stop)
{
    struct sv_sse p;
    struct sink s = {.stop_after = 2};
    const char *text = "data: a\n\ndata: b\n\ndata: c\n\n";

    sv_sse_init(&p, 0, on_event, &s);
    CHECK_EQ(sv_sse_feed(&p, text, strlen(text)), -ECANCELED);
    CHECK_EQ(s.count, 2);
    CHECK_EQ(sv_sse_feed(&p, text, strlen(text)), -ECANCELED);
    CHECK_EQ(s.count, 2);
    CHECK_STR(s.out.data, "a|b");

    /* After a reset the same parser reads a new stream. */
    sv_sse_reset(&p);
    s.stop_after = 0;
    CHECK_EQ(sv_sse_feed(&p, "data: [DONE]\n\n", 14), 0);
    CHECK_STR(s.out.data, "a|b|[DONE]");
    sv_sse_close(&p);
    sv_buf_free(&s.out);
}


SV_TEST_MAIN(SV_CASE(doc_stream), SV_CASE(crlf), SV_CASE(comments),
             SV_CASE(fields), SV_CASE(multi_line), SV_CASE(unterminated),
             SV_CASE(oversized), SV_CASE(stop))
