/*
 * sessions_fakes.c - the load benchmark's fake providers (see sessions.c
 * for what they time and why they live in the benchmark's process).
 *
 * Deepgram: the live-transcription websocket (protocols.md A). An energy
 * VAD over 20 ms frames; SpeechStarted at the onset, one interim Results
 * after half a second of speech, a final Results with speech_final once
 * the query's endpointing has passed in silence (stream time), then
 * UtteranceEnd; CloseStream gets Metadata and a normal close. The key
 * must come as "Authorization: Token <key>".
 *
 * OpenAI: POST /v1/chat/completions (protocols.md B), a Bearer key, the
 * whole streamed reply (role chunk, content, finish, usage, [DONE]) in
 * one write after the first-token delay.
 *
 * ElevenLabs: POST /v1/text-to-speech/{voice}/stream (protocols.md C.2),
 * the xi-api-key header, raw PCM at the output_format's rate in chunked
 * 100 ms pieces, the first after the first-byte delay and then one every
 * 20 ms (five times real time), MS_PER_CHAR of audio per character.
 *
 * Loop thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#include "bench/sessions.h"

#include <math.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <libwebsockets.h>
#include <uv.h>

#include "util/alloc.h"
#include "util/buf.h"

/* One fake Deepgram connection (lws per-session data). */
struct dg_conn {
    struct bench *b;
    int sess;
    unsigned endpointing_ms, utterance_end_ms;
    uint64_t pos;   /* samples received */
    double acc_sq;  /* energy of the VAD frame being filled */
    unsigned acc_n; /* its samples so far */
    int odd;        /* a byte left from an odd-sized frame, or -1 */
    bool in_speech;
    uint64_t speech_at; /* sample where the utterance began */
    uint64_t voice_end; /* sample where voice was last heard */
    bool has_interim;
    bool want_utt_end;
    int utterances;
    struct sv_buf text; /* a text message being reassembled */
    struct sv_buf *out; /* queued text messages, each with LWS_PRE room */
    size_t n_out, cap_out;
    bool want_close;
};

enum http_kind {
    HTTP_OPENAI,
    HTTP_ELEVENLABS,
};

/* One connection to a fake HTTP provider. */
struct http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    struct bench *b;
    enum http_kind kind;
    struct sv_buf in;
    bool sent_continue;
    bool is_busy; /* a response is being produced */
    int open_handles;
    char reply[256]; /* the OpenAI reply waiting for its delay */
    /* The ElevenLabs stream in progress. */
    bool want_head;
    size_t tts_left;   /* samples still to send */
    unsigned tts_rate; /* samples per second */
    struct turn *tts_turn;
};

struct http_server {
    uv_tcp_t tcp;
    struct bench *b;
    enum http_kind kind;
};


/* ---- the fake Deepgram ---- */

static void dg_queue(struct dg_conn *c, struct lws *wsi, const char *text)
{
    struct sv_buf m = {0};
    char pad[LWS_PRE] = {0};

    sv_buf_append(&m, pad, LWS_PRE);
    sv_buf_append(&m, text, strlen(text));
    if (c->n_out == c->cap_out) {
        c->cap_out = c->cap_out ? c->cap_out * 2 : 8;
        c->out = sv_xrealloc(c->out, c->cap_out * sizeof(*c->out));
    }
    c->out[c->n_out++] = m;
    lws_callback_on_writable(wsi);
}


static void dg_results(struct dg_conn *c, struct lws *wsi, const char *text,
                       bool is_final)
{
    double start = (double)c->speech_at / RATE_HZ;
    double end = (double)c->voice_end / RATE_HZ;
    char msg[1024];

    snprintf(msg, sizeof(msg),
             "{\"type\":\"Results\",\"channel_index\":[0,1],"
             "\"start\":%.3f,\"duration\":%.3f,\"is_final\":%s,"
             "\"speech_final\":%s,\"from_finalize\":false,"
             "\"channel\":{\"alternatives\":[{\"transcript\":\"%s\","
             "\"confidence\":0.98,\"words\":[{\"word\":\"caller\","
             "\"start\":%.3f,\"end\":%.3f,\"confidence\":0.98,"
             "\"punctuated_word\":\"caller\"}]}]},"
             "\"metadata\":{\"request_id\":"
             "\"00000000-0000-4000-8000-00000000b001\","
             "\"model_info\":{\"name\":\"general-nova-3\","
             "\"version\":\"2025-01-01.0\",\"arch\":\"nova-3\"},"
             "\"model_uuid\":\"00000000-0000-4000-8000-00000000abcd\"}}",
             start, end - start, is_final ? "true" : "false",
             is_final ? "true" : "false", text, start, end);
    dg_queue(c, wsi, msg);
}


/* One 20 ms VAD frame has been filled; voiced or not. */
static void dg_vad_frame(struct dg_conn *c, struct lws *wsi, bool voiced)
{
    uint64_t endpoint = (uint64_t)c->endpointing_ms * RATE_HZ / 1000;
    uint64_t utt_end = (uint64_t)c->utterance_end_ms * RATE_HZ / 1000;
    char msg[256];

    if (voiced) {
        if (!c->in_speech) {
            c->in_speech = true;
            c->has_interim = false;
            c->want_utt_end = false;
            c->speech_at = c->pos - FRAME_SAMPLES;
            snprintf(msg, sizeof(msg),
                     "{\"type\":\"SpeechStarted\",\"channel\":[0,1],"
                     "\"timestamp\":%.3f}",
                     (double)c->speech_at / RATE_HZ);
            dg_queue(c, wsi, msg);
        }
        c->voice_end = c->pos;
        if (!c->has_interim && c->pos - c->speech_at >= RATE_HZ / 2) {
            c->has_interim = true;
            dg_results(c, wsi, "caller", false);
        }
        return;
    }
    if (c->in_speech && c->pos - c->voice_end >= endpoint) {
        struct sess *s = c->sess >= 0 ? &c->b->sess[c->sess] : NULL;
        struct turn *t;
        char text[64];

        c->in_speech = false;
        c->want_utt_end = true;
        c->utterances++;
        snprintf(text, sizeof(text), "caller %d turn %d", c->sess,
                 c->utterances);
        dg_results(c, wsi, text, true);
        t = bench_turn(c->b, c->sess, c->utterances);
        if (s != NULL && t != NULL) {
            uint64_t delay = c->b->is_opus ? OPUS_DELAY_SAMPLES : 0;
            uint64_t frame = (c->pos - 1 - delay) / FRAME_SAMPLES;

            t->final_out = uv_hrtime();
            if (frame < s->frames_sent)
                t->endpoint_in = s->frame_ns[frame];
        }
        return;
    }
    if (c->want_utt_end && c->pos - c->voice_end >= utt_end) {
        c->want_utt_end = false;
        snprintf(msg, sizeof(msg),
                 "{\"type\":\"UtteranceEnd\",\"channel\":[0,1],"
                 "\"last_word_end\":%.3f}",
                 (double)c->voice_end / RATE_HZ);
        dg_queue(c, wsi, msg);
    }
}


static void dg_audio(struct dg_conn *c, struct lws *wsi, const uint8_t *p,
                     size_t len)
{
    for (size_t i = 0; i < len; i++) {
        int16_t v;

        if (c->odd < 0) {
            c->odd = p[i];
            continue;
        }
        v = (int16_t)(uint16_t)(c->odd | (p[i] << 8));
        c->odd = -1;
        c->acc_sq += (double)v * v;
        c->pos++;
        if (++c->acc_n == FRAME_SAMPLES) {
            bool voiced = sqrt(c->acc_sq / FRAME_SAMPLES) > VAD_RMS;

            c->acc_sq = 0;
            c->acc_n = 0;
            dg_vad_frame(c, wsi, voiced);
        }
    }
}


static void dg_control(struct dg_conn *c, struct lws *wsi)
{
    json_t *m = json_loadb(c->text.data, c->text.len, 0, NULL);
    const char *type = json_string_value(json_object_get(m, "type"));
    char msg[512];

    if (type != NULL && strcmp(type, "CloseStream") == 0) {
        snprintf(msg, sizeof(msg),
                 "{\"type\":\"Metadata\",\"transaction_key\":\"deprecated\","
                 "\"request_id\":\"00000000-0000-4000-8000-00000000b001\","
                 "\"sha256\":\"\",\"created\":\"2026-01-01T00:00:00.000Z\","
                 "\"duration\":%.3f,\"channels\":1}",
                 (double)c->pos / RATE_HZ);
        dg_queue(c, wsi, msg);
        c->want_close = true;
    }
    /* KeepAlive and Finalize need no answer here. */
    json_decref(m);
}


/* Reads the session number from the keyterm and the endpointing. */
static void dg_established(struct dg_conn *c, struct lws *wsi)
{
    char frag[256];

    c->sess = -1;
    c->odd = -1;
    c->endpointing_ms = 10;
    c->utterance_end_ms = 1000;
    for (int i = 0; lws_hdr_copy_fragment(wsi, frag, sizeof(frag),
                                          WSI_TOKEN_HTTP_URI_ARGS, i) > 0;
         i++) {
        if (strncmp(frag, "keyterm=bench-", 14) == 0)
            c->sess = atoi(frag + 14);
        else if (strncmp(frag, "endpointing=", 12) == 0)
            c->endpointing_ms = (unsigned)atoi(frag + 12);
        else if (strncmp(frag, "utterance_end_ms=", 17) == 0)
            c->utterance_end_ms = (unsigned)atoi(frag + 17);
    }
    if (c->sess >= c->b->n_sessions)
        c->sess = -1;
}


static int dg_writeable(struct dg_conn *c, struct lws *wsi)
{
    struct sv_buf m;

    if (c->n_out == 0) {
        if (c->want_close) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
            return -1;
        }
        return 0;
    }
    m = c->out[0];
    memmove(c->out, c->out + 1, (c->n_out - 1) * sizeof(*c->out));
    c->n_out--;
    if (lws_write(wsi, (unsigned char *)m.data + LWS_PRE, m.len - LWS_PRE,
                  LWS_WRITE_TEXT) < 0) {
        sv_buf_free(&m);
        return -1;
    }
    sv_buf_free(&m);
    if (c->n_out > 0 || c->want_close)
        lws_callback_on_writable(wsi);
    return 0;
}


static int dg_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                 void *in, size_t len)
{
    struct dg_conn *c = user;
    struct bench *b = lws_context_user(lws_get_context(wsi));
    char auth[128];

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        /* Deepgram's header form: "Token <key>". */
        if (lws_hdr_copy(wsi, auth, sizeof(auth),
                         WSI_TOKEN_HTTP_AUTHORIZATION) <= 0 ||
            strncasecmp(auth, "token ", 6) != 0 ||
            strcmp(auth + 6, BENCH_DG_KEY) != 0)
            return 1;
        return 0;

    case LWS_CALLBACK_ESTABLISHED:
        memset(c, 0, sizeof(*c));
        c->b = b;
        dg_established(c, wsi);
        return 0;

    case LWS_CALLBACK_RECEIVE:
        if (lws_frame_is_binary(wsi)) {
            dg_audio(c, wsi, in, len);
            return 0;
        }
        sv_buf_append(&c->text, in, len);
        if (lws_is_final_fragment(wsi)) {
            dg_control(c, wsi);
            sv_buf_reset(&c->text);
        }
        return 0;

    case LWS_CALLBACK_SERVER_WRITEABLE:
        return dg_writeable(c, wsi);

    case LWS_CALLBACK_CLOSED:
        for (size_t i = 0; i < c->n_out; i++)
            sv_buf_free(&c->out[i]);
        free(c->out);
        sv_buf_free(&c->text);
        return 0;

    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}


static const struct lws_protocols dg_protocols[] = {
    {"deepgram", dg_cb, sizeof(struct dg_conn), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};


/* ---- the fake OpenAI and ElevenLabs (HTTP/1.1 on libuv) ---- */

static void on_write_done(uv_write_t *req, int status)
{
    free(req->data);
    free(req);
}


static void http_write(struct http_conn *c, const void *data, size_t len)
{
    uv_write_t *req = sv_xmalloc(sizeof(*req));
    uv_buf_t buf;

    req->data = sv_xmalloc(len);
    memcpy(req->data, data, len);
    buf = uv_buf_init(req->data, (unsigned)len);
    if (uv_write(req, (uv_stream_t *)&c->tcp, &buf, 1, on_write_done) < 0) {
        free(req->data);
        free(req);
    }
}


static void http_chunk(struct sv_buf *b, const void *data, size_t len)
{
    sv_buf_printf(b, "%zx\r\n", len);
    sv_buf_append(b, data, len);
    sv_buf_append(b, "\r\n", 2);
}


static void http_error(struct http_conn *c, int status, const char *body)
{
    struct sv_buf b = {0};

    sv_buf_printf(&b,
                  "HTTP/1.1 %d Error\r\nContent-Type: application/json\r\n"
                  "Content-Length: %zu\r\n\r\n%s",
                  status, strlen(body), body);
    http_write(c, b.data, b.len);
    sv_buf_free(&b);
}


/* The whole reply at once, after the first-token delay (see the top). */
static void oa_reply(struct http_conn *c, const char *reply)
{
    static const char head[] = "HTTP/1.1 200 OK\r\n"
                               "Content-Type: text/event-stream\r\n"
                               "Transfer-Encoding: chunked\r\n"
                               "x-request-id: req_bench\r\n\r\n";
    static const char *const pre =
        "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\","
        "\"created\":1730000000,\"model\":\"gpt-4o-mini-2024-07-18\",";
    struct sv_buf body = {0};
    struct sv_buf out = {0};
    json_t *content = json_string(reply);
    char *quoted = json_dumps(content, JSON_ENCODE_ANY);

    sv_buf_printf(&body,
                  "data: %s\"choices\":[{\"index\":0,\"delta\":{\"role\":"
                  "\"assistant\",\"content\":\"\"},\"logprobs\":null,"
                  "\"finish_reason\":null}],\"usage\":null}\n\n",
                  pre);
    sv_buf_printf(&body,
                  "data: %s\"choices\":[{\"index\":0,\"delta\":{\"content\":"
                  "%s},\"finish_reason\":null}],\"usage\":null}\n\n",
                  pre, quoted);
    sv_buf_printf(&body,
                  "data: %s\"choices\":[{\"index\":0,\"delta\":{},"
                  "\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
                  pre);
    sv_buf_printf(&body,
                  "data: %s\"choices\":[],\"usage\":{\"prompt_tokens\":42,"
                  "\"completion_tokens\":12,\"total_tokens\":54}}\n\n"
                  "data: [DONE]\n\n",
                  pre);
    sv_buf_append(&out, head, sizeof(head) - 1);
    http_chunk(&out, body.data, body.len);
    sv_buf_append(&out, "0\r\n\r\n", 5);
    http_write(c, out.data, out.len);
    sv_buf_free(&out);
    sv_buf_free(&body);
    free(quoted);
    json_decref(content);
}


static void tts_send_chunk(struct http_conn *c)
{
    size_t n = (size_t)c->tts_rate * TTS_CHUNK_MS / 1000;
    struct sv_buf out = {0};
    int16_t *pcm;

    if (n > c->tts_left)
        n = c->tts_left;
    pcm = sv_xmalloc(n * 2 + 2);
    for (size_t i = 0; i < n; i++)
        pcm[i] =
            (int16_t)(3000 * sin(2 * M_PI * 140 * (double)i / c->tts_rate));
    http_chunk(&out, pcm, n * 2);
    c->tts_left -= n;
    if (c->tts_left == 0)
        sv_buf_append(&out, "0\r\n\r\n", 5);
    http_write(c, out.data, out.len);
    sv_buf_free(&out);
    free(pcm);
}


static void http_request(struct http_conn *c);


static void on_http_timer(uv_timer_t *t)
{
    static const char head[] = "HTTP/1.1 200 OK\r\n"
                               "Content-Type: audio/pcm\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n";
    struct http_conn *c = t->data;
    struct turn *turn;
    int s, k;

    if (c->kind == HTTP_OPENAI) {
        oa_reply(c, c->reply);
        turn =
            bench_parse_ids(c->reply, &s, &k) ? bench_turn(c->b, s, k) : NULL;
        if (turn != NULL)
            turn->llm_out = uv_hrtime();
    } else {
        if (c->want_head) {
            c->want_head = false;
            http_write(c, head, sizeof(head) - 1);
        }
        if (c->tts_left > 0)
            tts_send_chunk(c);
        if (c->tts_turn != NULL) {
            c->tts_turn->tts_out = uv_hrtime();
            c->tts_turn = NULL;
        }
        if (c->tts_left > 0) {
            uv_timer_start(&c->timer, on_http_timer, FRAME_MS, 0);
            return;
        }
    }
    c->is_busy = false;
    http_request(c);
}


/* Headers of the request in c->in, up to hdr_len. */
static const char *header(struct http_conn *c, size_t hdr_len, const char *name,
                          char *val, size_t val_len)
{
    size_t nlen = strlen(name);
    const char *p = c->in.data;
    const char *end = c->in.data + hdr_len;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));

        if (eol == NULL)
            break;
        if ((size_t)(eol - p) > nlen + 1 && strncasecmp(p, name, nlen) == 0 &&
            p[nlen] == ':') {
            const char *v = p + nlen + 1;
            size_t n;

            while (*v == ' ')
                v++;
            n = (size_t)(eol - v);
            if (n > 0 && v[n - 1] == '\r')
                n--;
            if (n >= val_len)
                n = val_len - 1;
            memcpy(val, v, n);
            val[n] = '\0';
            return val;
        }
        p = eol + 1;
    }
    return NULL;
}


static void oa_request(struct http_conn *c, const char *target, json_t *body,
                       const char *auth)
{
    json_t *msgs = json_object_get(body, "messages");
    const char *last_user = NULL;
    struct turn *t;
    int s = -1, k = -1;
    json_t *m;
    size_t i;

    if (strstr(target, "/chat/completions") == NULL) {
        http_error(c, 404, "{\"error\":{\"message\":\"not found\"}}");
        return;
    }
    if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0 ||
        strcmp(auth + 7, BENCH_OA_KEY) != 0) {
        http_error(c, 401,
                   "{\"error\":{\"message\":\"Incorrect API key provided.\","
                   "\"type\":\"invalid_request_error\",\"param\":null,"
                   "\"code\":\"invalid_api_key\"}}");
        return;
    }
    json_array_foreach(msgs, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));

        if (role != NULL && strcmp(role, "user") == 0)
            last_user = json_string_value(json_object_get(m, "content"));
    }
    if (last_user != NULL && bench_parse_ids(last_user, &s, &k))
        snprintf(c->reply, sizeof(c->reply),
                 "Caller %d turn %d, got it. Anything else?", s, k);
    else
        snprintf(c->reply, sizeof(c->reply),
                 "Sorry, who is this? Anything else?");
    t = bench_turn(c->b, s, k);
    if (t != NULL)
        t->llm_in = uv_hrtime();
    c->is_busy = true;
    uv_timer_start(&c->timer, on_http_timer, c->b->llm_ms, 0);
}


static void el_request(struct http_conn *c, const char *target, json_t *body,
                       const char *key)
{
    const char *text = json_string_value(json_object_get(body, "text"));
    const char *fmt = strstr(target, "output_format=pcm_");
    int s, k;

    if (strncmp(target, "/v1/text-to-speech/", 19) != 0 ||
        strstr(target, "/stream") == NULL) {
        http_error(c, 404, "{\"detail\":{\"status\":\"not_found\"}}");
        return;
    }
    if (key == NULL || strcmp(key, BENCH_EL_KEY) != 0) {
        http_error(c, 401,
                   "{\"detail\":{\"status\":\"invalid_api_key\","
                   "\"message\":\"Invalid API key\"}}");
        return;
    }
    if (text == NULL || text[0] == '\0' || fmt == NULL) {
        http_error(c, 400,
                   "{\"detail\":{\"status\":\"invalid_request\","
                   "\"message\":\"text and a pcm output_format, please\"}}");
        return;
    }
    c->tts_rate = (unsigned)atoi(fmt + 18);
    if (c->tts_rate < 8000 || c->tts_rate > 48000)
        c->tts_rate = RATE_HZ;
    c->tts_left = (size_t)c->tts_rate * strlen(text) * MS_PER_CHAR / 1000;
    c->tts_turn = NULL;
    if (bench_parse_ids(text, &s, &k) && bench_turn(c->b, s, k) != NULL) {
        c->tts_turn = bench_turn(c->b, s, k);
        c->tts_turn->tts_in = uv_hrtime();
    }
    /* The head goes out with the first chunk, after the first-byte delay. */
    c->want_head = true;
    c->is_busy = true;
    uv_timer_start(&c->timer, on_http_timer, c->b->tts_ms, 0);
}


/* Handles one complete request if c->in holds one. */
static void http_request(struct http_conn *c)
{
    char method[8], target[1024], val[256], key[256];
    const char *end;
    size_t hdr_len, body_len;
    json_t *body;

    if (c->is_busy || c->in.len == 0)
        return;
    end = memmem(c->in.data, c->in.len, "\r\n\r\n", 4);
    if (end == NULL)
        return;
    hdr_len = (size_t)(end - c->in.data) + 4;
    body_len = header(c, hdr_len, "Content-Length", val, sizeof(val)) != NULL
                   ? (size_t)strtoul(val, NULL, 10)
                   : 0;
    if (c->in.len < hdr_len + body_len) {
        if (!c->sent_continue &&
            header(c, hdr_len, "Expect", val, sizeof(val)) != NULL &&
            strcasecmp(val, "100-continue") == 0) {
            c->sent_continue = true;
            http_write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        }
        return;
    }
    c->sent_continue = false;
    if (sscanf(c->in.data, "%7s %1023s", method, target) != 2) {
        http_error(c, 400, "{\"error\":{\"message\":\"bad request\"}}");
        sv_buf_reset(&c->in);
        return;
    }
    body = json_loadb(c->in.data + hdr_len, body_len, 0, NULL);
    if (c->kind == HTTP_OPENAI) {
        const char *auth =
            header(c, hdr_len, "Authorization", key, sizeof(key));

        sv_buf_consume(&c->in, hdr_len + body_len);
        oa_request(c, target, body, auth);
    } else {
        const char *k = header(c, hdr_len, "xi-api-key", key, sizeof(key));

        sv_buf_consume(&c->in, hdr_len + body_len);
        el_request(c, target, body, k);
    }
    json_decref(body);
}


static void on_http_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char mem[65536];

    buf->base = mem;
    buf->len = sizeof(mem);
}


static void on_http_closed(uv_handle_t *h)
{
    struct http_conn *c = h->data;

    if (--c->open_handles > 0)
        return;
    sv_buf_free(&c->in);
    free(c);
}


static void http_close(struct http_conn *c)
{
    if (uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    uv_close((uv_handle_t *)&c->tcp, on_http_closed);
    uv_close((uv_handle_t *)&c->timer, on_http_closed);
}


static void on_http_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct http_conn *c = st->data;

    if (n < 0) {
        http_close(c);
        return;
    }
    if (c->in.len + (size_t)n > 4 * MAX_TEXT_BYTES) {
        http_close(c);
        return;
    }
    sv_buf_append(&c->in, buf->base, (size_t)n);
    http_request(c);
}


static void on_http_conn(uv_stream_t *server, int status)
{
    struct http_server *srv = server->data;
    struct http_conn *c;

    if (status < 0)
        return;
    c = sv_xcalloc(1, sizeof(*c));
    c->b = srv->b;
    c->kind = srv->kind;
    uv_tcp_init(&srv->b->loop, &c->tcp);
    uv_timer_init(&srv->b->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->open_handles = 2;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        http_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_http_alloc, on_http_read);
}


static int http_listen(struct bench *b, enum http_kind kind)
{
    struct http_server *srv = sv_xcalloc(1, sizeof(*srv));
    struct sockaddr_in sa;
    struct sockaddr_storage bound;
    int len = sizeof(bound);

    srv->b = b;
    srv->kind = kind;
    uv_tcp_init(&b->loop, &srv->tcp);
    srv->tcp.data = srv;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    if (uv_tcp_bind(&srv->tcp, (struct sockaddr *)&sa, 0) < 0 ||
        uv_listen((uv_stream_t *)&srv->tcp, 512, on_http_conn) < 0)
        bench_die("cannot listen for a fake provider on 127.0.0.1");
    uv_tcp_getsockname(&srv->tcp, (struct sockaddr *)&bound, &len);
    return ntohs(((struct sockaddr_in *)&bound)->sin_port);
}


void bench_fakes_start(struct bench *b, struct lws_context_creation_info *info)
{
    struct lws_vhost *vh;

    info->port = 0;
    info->iface = "127.0.0.1";
    info->protocols = dg_protocols;
    info->vhost_name = "deepgram";
    vh = lws_create_vhost(b->lws, info);
    if (vh == NULL)
        bench_die("cannot listen for the fake Deepgram");
    b->dg_port = lws_get_vhost_listen_port(vh);
    b->oa_port = http_listen(b, HTTP_OPENAI);
    b->el_port = http_listen(b, HTTP_ELEVENLABS);
}
