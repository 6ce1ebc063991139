/*
 * session.c - voice sessions over websocket (see session.h and
 * docs/session-protocol.md).
 *
 * Life of a session: the upgrade is accepted on /api/v1/sessions only;
 * the first text message must be "start"; then binary frames carry the
 * caller's audio (PCM, mu-law bytes or one Opus packet each) and the
 * daemon answers
 * with JSON events and binary reply audio in the client's format. Any
 * protocol error gets an "error" event and a clean close. When the
 * client vanishes, the call ends as "customer-disconnected".
 *
 * Loop thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#include "daemon/session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <sodium.h>

#include "config/config.h"
#include "daemon/assistant.h"
#include "daemon/daemon.h"
#include "daemon/legs.h"
#include "daemon/server.h"
#include "pipeline/call.h"
#include "pipeline/g711.h"
#include "pipeline/opus_codec.h"
#include "pipeline/opus_worker.h"
#include "providers/registry.h"
#include "store/store.h"
#include "store/vault.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/secret.h"

#define SESSION_PATH      "/api/v1/sessions"
#define MAX_MESSAGE_BYTES (64 * 1024)
#define START_TIMEOUT_MS  10000
#define MAX_QUEUED_AUDIO  50 /* frames; one second */

enum encoding {
    ENC_PCM,
    ENC_OPUS,
    ENC_ULAW, /* G.711 mu-law, 8 kHz; the pipeline sees PCM */
};

/* One message waiting to go out; data has LWS_PRE bytes of head room. */
struct outmsg {
    struct outmsg *next;
    bool is_binary;
    bool is_pending; /* an Opus frame the worker is still encoding */
    size_t len;
    unsigned char data[];
};

struct sv_session {
    struct sv_session *next; /* in d->sessions */
    struct sv_daemon *d;     /* borrowed */
    struct lws *wsi;         /* NULL once closed */
    bool is_authed;
    char org_id[SV_ID_LEN];
    char call_id[SV_ID_LEN];

    struct sv_buf rx; /* a message being reassembled */
    bool rx_is_binary;
    bool rx_too_big;

    enum encoding enc;
    unsigned rate_hz;
    struct sv_opus_dec *dec;
    struct sv_opus_stream *opus_out; /* owned; reply audio, on the worker */
    struct sv_call *call;            /* owned */

    struct outmsg *out_head, *out_tail;
    size_t out_audio; /* binary messages queued */
    bool want_close;
    bool is_closing; /* the close is under way; nothing more goes out */
    int close_status;
    uv_timer_t timer; /* the start time-out, then the close */
    bool has_timer;
};


static void on_close_timer(uv_timer_t *t);


/* ---- outgoing messages ---- */

/*
 * Queues a message of len bytes, copied from data, or with room for len
 * bytes when data is NULL. Returns it, or NULL when nothing more may go
 * out.
 */
static struct outmsg *queue_msg(struct sv_session *s, const void *data,
                                size_t len, bool is_binary)
{
    struct outmsg *m;

    if (s->wsi == NULL || s->want_close)
        return NULL;
    m = sv_xmalloc(sizeof(*m) + LWS_PRE + len);
    m->next = NULL;
    m->is_binary = is_binary;
    m->is_pending = false;
    m->len = len;
    if (data != NULL)
        memcpy(m->data + LWS_PRE, data, len);
    if (s->out_tail != NULL)
        s->out_tail->next = m;
    else
        s->out_head = m;
    s->out_tail = m;
    if (is_binary)
        s->out_audio++;
    lws_callback_on_writable(s->wsi);
    return m;
}


/*
 * The worker encoded the oldest frame still pending: it takes its place
 * in the queue, so that audio and events go out in the order they came.
 */
static void on_opus_packet(void *arg, const uint8_t *packet, size_t len)
{
    struct sv_session *s = arg;
    struct outmsg **pp = &s->out_head;
    struct outmsg *prev = NULL;

    while (*pp != NULL && !(*pp)->is_pending) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp == NULL)
        return; /* dropped since (a barge-in or the close) */
    if (len == 0) {
        /* The encoder failed (logged): the frame is skipped. */
        struct outmsg *m = *pp;

        *pp = m->next;
        if (s->out_tail == m)
            s->out_tail = prev;
        s->out_audio--;
        free(m);
    } else {
        memcpy((*pp)->data + LWS_PRE, packet, len);
        (*pp)->len = len;
        (*pp)->is_pending = false;
    }
    if (s->wsi != NULL)
        lws_callback_on_writable(s->wsi);
}


/* Queues an event; ev is borrowed. */
static void send_event(struct sv_session *s, json_t *ev)
{
    char *text = json_dumps(ev, JSON_COMPACT | JSON_REAL_PRECISION(12));

    queue_msg(s, text, strlen(text), false);
    free(text);
}


/* Queues an event and drops the reference to it. */
static void send_new(struct sv_session *s, json_t *ev)
{
    send_event(s, ev);
    json_decref(ev);
}


/* Drops reply audio that has not gone out yet (barge-in). */
static void drop_audio(struct sv_session *s)
{
    struct outmsg **pp = &s->out_head;

    s->out_tail = NULL;
    while (*pp != NULL) {
        struct outmsg *m = *pp;

        if (m->is_binary) {
            *pp = m->next;
            free(m);
        } else {
            s->out_tail = m;
            pp = &m->next;
        }
    }
    s->out_audio = 0;
    if (s->opus_out != NULL)
        sv_opus_stream_flush(s->opus_out);
}


/* Sends an error event, then closes once it is out. */
static void fail(struct sv_session *s, const char *code, const char *msg)
{
    json_t *ev;

    sv_log(SV_LOG_INFO, "session: [%s] %s: %s",
           s->call_id[0] ? s->call_id : "-", code, msg);
    ev = json_pack("{s:s, s:s, s:s}", "type", "error", "error", code, "message",
                   msg);
    if (s->call_id[0] != '\0')
        json_object_set_new(ev, "call_id", json_string(s->call_id));
    send_new(s, ev);
    if (s->call != NULL && !sv_call_is_ended(s->call)) {
        sv_call_end(s->call, "error");
        return; /* the ended event closes */
    }
    s->want_close = true;
    s->close_status = LWS_CLOSE_STATUS_POLICY_VIOLATION;
    if (s->wsi != NULL)
        lws_callback_on_writable(s->wsi);
}


/* ---- call handlers ---- */

static void on_call_event(void *arg, json_t *ev)
{
    send_event(arg, ev);
}


static void on_call_audio(void *arg, const int16_t *pcm, size_t samples)
{
    struct sv_session *s = arg;
    uint8_t ulaw[8000 / 50]; /* one 20 ms frame at 8 kHz */
    struct outmsg *m;

    if (s->out_audio >= MAX_QUEUED_AUDIO) {
        /* The client reads slower than real time: drop, never buffer. */
        sv_log(SV_LOG_DEBUG, "session: [%s] client slow, frame dropped",
               s->call_id);
        return;
    }
    if (s->enc == ENC_PCM) {
        queue_msg(s, pcm, samples * sizeof(int16_t), true);
        return;
    }
    if (s->enc == ENC_ULAW) {
        SV_ASSERT(samples <= sizeof(ulaw));
        sv_g711_ulaw_encode_buf(pcm, samples, ulaw);
        queue_msg(s, ulaw, samples, true);
        return;
    }
    /* Its place in the queue now; the worker fills it in. */
    m = queue_msg(s, NULL, SV_OPUS_MAX_PACKET_BYTES, true);
    if (m == NULL)
        return;
    m->is_pending = true;
    sv_opus_stream_encode(s->opus_out, pcm, samples);
}


static void on_call_flush(void *arg)
{
    drop_audio(arg);
}


static void on_call_ended(void *arg, const char *reason)
{
    struct sv_session *s = arg;

    send_new(s, json_pack("{s:s, s:s, s:s}", "type", "ended", "reason", reason,
                          "call_id", s->call_id));
    s->want_close = true;
    s->close_status = LWS_CLOSE_STATUS_NORMAL;
    if (s->wsi != NULL)
        lws_callback_on_writable(s->wsi);
}


/* ---- start ---- */

/* Authenticates a presented API key; 0 or -ENOENT. */
static int auth_key(struct sv_session *s, const char *key)
{
    char key_id[SV_ID_LEN];
    int err = sv_store_apikey_verify(s->d->store, key, s->org_id, key_id);

    s->is_authed = err == 0;
    return err;
}


/*
 * The stored assistant the start names (new reference), or NULL with
 * code and msg filled when it names none of the organization's.
 */
static json_t *find_assistant(struct sv_session *s, json_t *start,
                              const char **code, char *msg, size_t msg_len)
{
    json_t *id = json_object_get(start, "assistant_id");
    json_t *stored = NULL;

    if (id == NULL)
        id = json_object_get(start, "agent_id");
    if (!json_is_string(id)) {
        *code = "missing_field";
        snprintf(msg, msg_len, "start needs assistant_id");
        return NULL;
    }
    if (sv_store_assistant_get(s->d->store, s->org_id, json_string_value(id),
                               &stored) < 0) {
        *code = "assistant_not_found";
        snprintf(msg, msg_len, "no assistant %s", json_string_value(id));
        return NULL;
    }
    return stored;
}


/*
 * The effective assistant (new reference): stored, with the start
 * message's overrides; NULL with code and msg filled when the assistant
 * is inactive or an override is invalid. stored stays the caller's.
 */
static json_t *effective_assistant(json_t *stored, json_t *start,
                                   const char **code, char *msg, size_t msg_len)
{
    json_t *override = json_object_get(start, "assistant_override");
    struct sv_assistant_err aerr;
    json_t *merged;

    if (!json_is_true(json_object_get(stored, "is_active"))) {
        *code = "assistant_inactive";
        snprintf(msg, msg_len, "assistant %s is not active",
                 json_string_value(json_object_get(stored, "id")));
        return NULL;
    }
    if (override == NULL || json_is_null(override))
        return json_incref(stored);
    if (sv_assistant_check(override, false, &aerr) < 0) {
        *code = "invalid_override";
        snprintf(msg, msg_len, "assistant_override.%s: %s", aerr.param,
                 aerr.message);
        return NULL;
    }
    merged = sv_assistant_merge(stored, override);
    json_object_set(merged, "id", json_object_get(stored, "id"));
    return merged;
}


static int parse_audio(struct sv_session *s, json_t *start, char *msg,
                       size_t msg_len)
{
    json_t *audio = json_object_get(start, "audio");
    const char *enc = json_string_value(json_object_get(audio, "encoding"));
    json_int_t rate = json_integer_value(json_object_get(audio, "sample_rate"));

    if (enc == NULL ||
        (strcmp(enc, "pcm_s16le") != 0 && strcmp(enc, "opus") != 0 &&
         strcmp(enc, "mulaw") != 0)) {
        snprintf(msg, msg_len,
                 "audio.encoding must be \"pcm_s16le\", \"opus\" or "
                 "\"mulaw\"");
        return -EINVAL;
    }
    if (rate != 8000 && rate != 16000 && rate != 24000 && rate != 48000) {
        snprintf(msg, msg_len,
                 "audio.sample_rate must be 8000, 16000, 24000 or 48000");
        return -EINVAL;
    }
    if (strcmp(enc, "mulaw") == 0 && rate != 8000) {
        snprintf(msg, msg_len, "audio.sample_rate must be 8000 for mulaw");
        return -EINVAL;
    }
    if (strcmp(enc, "opus") == 0)
        s->enc = ENC_OPUS;
    else if (strcmp(enc, "mulaw") == 0)
        s->enc = ENC_ULAW;
    else
        s->enc = ENC_PCM;
    s->rate_hz = (unsigned)rate;
    if (s->enc == ENC_OPUS &&
        (sv_opus_dec_new(&s->dec, s->rate_hz) < 0 ||
         sv_opus_stream_new(&s->opus_out, s->d->opus, s->rate_hz,
                            on_opus_packet, s) < 0)) {
        snprintf(msg, msg_len, "cannot set up the Opus codec");
        return -EIO;
    }
    return 0;
}


/* The encoding as the protocol names it. */
static const char *encoding_name(enum encoding enc)
{
    switch (enc) {
    case ENC_OPUS:
        return "opus";
    case ENC_ULAW:
        return "mulaw";
    default:
        return "pcm_s16le";
    }
}


/*
 * A recorded call could not start: it is "failed" in the store, with
 * the code and message the client gets in its error event.
 */
static void start_failed(struct sv_session *s, const char *code,
                         const char *msg)
{
    char error[600];

    snprintf(error, sizeof(error), "%s: %s", code, msg);
    sv_store_call_update_status(s->d->store, s->org_id, s->call_id, "failed",
                                "error", error);
    fail(s, code, msg);
}


static void on_start(struct sv_session *s, json_t *start)
{
    struct sv_call_params p;
    struct sv_call_leg legs[SV_LEG_COUNT];
    const char *token = json_string_value(json_object_get(start, "token"));
    const char *code = "invalid_start";
    json_t *stored;
    json_t *assistant;
    char msg[512];
    int err;

    if (!s->is_authed && (token == NULL || auth_key(s, token) < 0)) {
        fail(s, "unauthorized",
             "missing or unknown API key (Authorization header, or "
             "\"token\" in start)");
        return;
    }
    stored = find_assistant(s, start, &code, msg, sizeof(msg));
    if (stored == NULL) {
        fail(s, code, msg);
        return;
    }
    /*
     * From here on the start names one of the organization's assistants:
     * it is a call, and if it cannot run, GET /calls shows it failed
     * with the reason the client got.
     */
    err = sv_store_call_create(s->d->store, s->org_id,
                               json_string_value(json_object_get(stored, "id")),
                               "web", s->call_id);
    if (err < 0) {
        s->call_id[0] = '\0';
        json_decref(stored);
        fail(s, "internal_error", "cannot record the call");
        return;
    }
    if (parse_audio(s, start, msg, sizeof(msg)) < 0) {
        json_decref(stored);
        start_failed(s, "invalid_audio_format", msg);
        return;
    }
    assistant = effective_assistant(stored, start, &code, msg, sizeof(msg));
    json_decref(stored);
    if (assistant == NULL) {
        start_failed(s, code, msg);
        return;
    }

    memset(&p, 0, sizeof(p));
    err = sv_legs_resolve(s->d, s->org_id, assistant, legs, msg, sizeof(msg));
    if (err < 0) {
        json_decref(assistant);
        start_failed(
            s, err == -ENOKEY ? "missing_provider_key" : "invalid_start", msg);
        return;
    }
    for (size_t i = 0; i < SV_LEG_COUNT; i++)
        legs[i].env.tag = s->call_id;
    p.loop = s->d->loop;
    p.store = s->d->store;
    memcpy(p.call_id, s->call_id, SV_ID_LEN);
    memcpy(p.org_id, s->org_id, SV_ID_LEN);
    p.assistant = assistant;
    p.sample_rate_hz = s->rate_hz;
    p.encoding = s->enc == ENC_ULAW ? SV_AUDIO_ULAW : SV_AUDIO_PCM;
    p.stt = legs[SV_LEG_STT];
    p.llm = legs[SV_LEG_LLM];
    p.tts = legs[SV_LEG_TTS];
    p.h.event = on_call_event;
    p.h.audio = on_call_audio;
    p.h.flush = on_call_flush;
    p.h.ended = on_call_ended;
    p.h.arg = s;

    /* started goes first: the call may speak its first message at once. */
    send_new(s,
             json_pack("{s:s, s:s, s:{s:s, s:i}}", "type", "started", "call_id",
                       s->call_id, "audio", "encoding", encoding_name(s->enc),
                       "sample_rate", (json_int_t)s->rate_hz));
    err = sv_call_start(&s->call, &p, msg, sizeof(msg));
    json_decref(assistant);
    if (err < 0) {
        s->call = NULL;
        start_failed(s, "call_failed", msg);
    }
}


/* ---- incoming messages ---- */

static void on_text(struct sv_session *s, const char *text, size_t len)
{
    json_error_t jerr;
    json_t *m = json_loadb(text, len, 0, &jerr);
    const char *type = json_string_value(json_object_get(m, "type"));
    char msg[256];

    if (m == NULL || type == NULL) {
        fail(s, "invalid_message",
             m == NULL ? "a text message must be JSON"
                       : "a text message needs a \"type\"");
        json_decref(m);
        return;
    }
    if (strcmp(type, "start") == 0) {
        if (s->call != NULL || s->call_id[0] != '\0')
            fail(s, "invalid_message", "the session has started already");
        else
            on_start(s, m);
    } else if (s->call == NULL) {
        fail(s, "missing_start", "the first message must be \"start\"");
    } else if (strcmp(type, "stop") == 0) {
        sv_call_end(s->call, "customer-ended-call");
    } else {
        snprintf(msg, sizeof(msg), "unknown message type \"%.64s\"", type);
        fail(s, "unknown_message_type", msg);
    }
    json_decref(m);
}


static void on_binary(struct sv_session *s, const uint8_t *data, size_t len)
{
    int16_t pcm[48000 * SV_OPUS_MAX_PACKET_MS / 1000];
    size_t samples = 0;

    if (s->call == NULL) {
        fail(s, "missing_start", "audio arrived before \"start\"");
        return;
    }
    if (s->enc == ENC_PCM) {
        if (len % 2 != 0) {
            fail(s, "invalid_audio", "PCM frames must hold whole samples");
            return;
        }
        sv_call_audio(s->call, (const int16_t *)(const void *)data, len / 2);
        return;
    }
    if (s->enc == ENC_ULAW) {
        /* Every byte is a sample: any length will do. */
        for (size_t off = 0; off < len;) {
            size_t n = len - off;

            if (n > SV_ARRAY_SIZE(pcm))
                n = SV_ARRAY_SIZE(pcm);

            sv_g711_ulaw_decode_buf(data + off, n, pcm);
            sv_call_audio(s->call, pcm, n);
            off += n;
        }
        return;
    }
    if (sv_opus_decode(s->dec, data, len, pcm, SV_ARRAY_SIZE(pcm), &samples) <
        0) {
        fail(s, "invalid_audio", "a binary frame is not one Opus packet");
        return;
    }
    sv_call_audio(s->call, pcm, samples);
}


static void on_receive(struct sv_session *s, struct lws *wsi, const void *in,
                       size_t len)
{
    if (lws_is_first_fragment(wsi)) {
        sv_buf_reset(&s->rx);
        s->rx_is_binary = lws_frame_is_binary(wsi);
        s->rx_too_big = false;
    }
    if (s->rx.len + len > MAX_MESSAGE_BYTES)
        s->rx_too_big = true;
    else
        sv_buf_append(&s->rx, in, len);
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
        return;
    if (s->rx_too_big) {
        fail(s, "message_too_large", "messages are limited to 64 KiB");
        return;
    }
    if (s->want_close)
        return;
    if (s->rx_is_binary)
        on_binary(s, (const uint8_t *)s->rx.data, s->rx.len);
    else
        on_text(s, s->rx.data, s->rx.len);
}


static int on_writeable(struct sv_session *s, struct lws *wsi)
{
    struct outmsg *m = s->out_head;

    /* The packet's callback asks for another turn once it is in. */
    if (m != NULL && m->is_pending)
        return 0;
    if (m != NULL) {
        s->out_head = m->next;
        if (s->out_head == NULL)
            s->out_tail = NULL;
        if (m->is_binary)
            s->out_audio--;
        if (lws_write(wsi, m->data + LWS_PRE, m->len,
                      m->is_binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) <
            (int)m->len) {
            free(m);
            return -1;
        }
        free(m);
    }
    if (s->out_head != NULL) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    if (s->want_close && !s->is_closing) {
        /*
         * lws takes a nonzero return from a WRITEABLE callback for a
         * failed write and drops the socket without a close frame, so
         * the close starts from the loop instead (on_close_timer).
         */
        s->is_closing = true;
        uv_timer_start(&s->timer, on_close_timer, 0, 0);
    }
    return 0;
}


/* ---- life cycle ---- */

static void on_start_timeout(uv_timer_t *t)
{
    struct sv_session *s = t->data;

    if (s->call == NULL && !s->want_close)
        fail(s, "start_timeout", "no \"start\" message within 10 seconds");
}


/*
 * Closes the websocket with a close frame carrying close_status. Called
 * from the loop, outside any lws callback, which a synchronous close
 * needs; lws sends the frame, waits for the client's answer (5 s at
 * most) and then reports LWS_CALLBACK_CLOSED.
 */
static void on_close_timer(uv_timer_t *t)
{
    struct sv_session *s = t->data;

    if (s->wsi == NULL)
        return;
    lws_close_reason(s->wsi, (enum lws_close_status)s->close_status, NULL, 0);
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_SYNC);
}


static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}


static void session_free(struct sv_session *s)
{
    struct sv_session **pp = &s->d->sessions;
    struct outmsg *m;

    while (*pp != NULL && *pp != s)
        pp = &(*pp)->next;
    if (*pp == s)
        *pp = s->next;
    if (s->call != NULL) {
        if (!sv_call_is_ended(s->call))
            sv_call_end(s->call, "customer-disconnected");
        sv_call_free(s->call);
    }
    while ((m = s->out_head) != NULL) {
        s->out_head = m->next;
        free(m);
    }
    sv_buf_free(&s->rx);
    sv_opus_dec_free(s->dec);
    sv_opus_stream_free(s->opus_out);
    if (s->has_timer)
        uv_close((uv_handle_t *)&s->timer, on_timer_closed);
    else
        free(s);
}


static struct sv_session *session_new(struct lws *wsi)
{
    struct lws_context *ctx = lws_get_context(wsi);
    struct sv_server *srv = lws_context_user(ctx);
    struct sv_daemon *d = sv_server_daemon(srv);
    struct sv_session *s = sv_xcalloc(1, sizeof(*s));
    char hdr[256];
    const char *key;

    s->d = d;
    s->wsi = wsi;
    if (lws_hdr_copy(wsi, hdr, sizeof(hdr), WSI_TOKEN_HTTP_AUTHORIZATION) > 0 &&
        strncasecmp(hdr, "Bearer ", 7) == 0) {
        key = hdr + 7;
        while (*key == ' ')
            key++;
        auth_key(s, key);
    }
    sodium_memzero(hdr, sizeof(hdr));
    s->next = d->sessions;
    d->sessions = s;
    uv_timer_init(d->loop, &s->timer);
    s->timer.data = s;
    s->has_timer = true;
    uv_timer_start(&s->timer, on_start_timeout, START_TIMEOUT_MS, 0);
    return s;
}


static bool is_session_path(struct lws *wsi)
{
    char uri[128];

    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
        return false;
    return strcmp(uri, SESSION_PATH) == 0 || strcmp(uri, SESSION_PATH "/") == 0;
}


int sv_session_lws_cb(struct lws *wsi, enum lws_callback_reasons reason,
                      void *user, void *in, size_t len)
{
    struct sv_session *s = lws_get_opaque_user_data(wsi);

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        if (!is_session_path(wsi)) {
            sv_log(SV_LOG_INFO, "session: websocket refused on that path");
            return -1;
        }
        lws_set_opaque_user_data(wsi, session_new(wsi));
        return 0;

    case LWS_CALLBACK_ESTABLISHED:
        return 0;

    case LWS_CALLBACK_RECEIVE:
        if (s != NULL)
            on_receive(s, wsi, in, len);
        return 0;

    case LWS_CALLBACK_SERVER_WRITEABLE:
        return s != NULL ? on_writeable(s, wsi) : 0;

    case LWS_CALLBACK_CLOSED:
        if (s != NULL) {
            lws_set_opaque_user_data(wsi, NULL);
            s->wsi = NULL;
            session_free(s);
        }
        return 0;

    default:
        return 0;
    }
}


struct sv_call *sv_session_find_call(struct sv_daemon *d, const char *org_id,
                                     const char *call_id)
{
    for (struct sv_session *s = d->sessions; s != NULL; s = s->next) {
        if (s->call != NULL && strcmp(s->call_id, call_id) == 0 &&
            strcmp(s->org_id, org_id) == 0)
            return s->call;
    }
    return NULL;
}


void sv_session_end_all(struct sv_daemon *d, const char *reason)
{
    for (struct sv_session *s = d->sessions; s != NULL; s = s->next) {
        if (s->call != NULL)
            sv_call_end(s->call, reason);
        else
            fail(s, "shutting_down", "the daemon is stopping");
    }
}
