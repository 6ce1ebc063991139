/*
 * deepgram.c - Deepgram live speech-to-text (protocols.md section A).
 *
 * One websocket to /v1/listen per call leg, on the daemon's lws client
 * vhost (providers/wsclient.h). Caller audio is s16le PCM already, so it
 * is queued as it comes and sent in binary frames of at most 100 ms; a
 * KeepAlive text frame goes out after 4 s without any frame, and finish()
 * sends CloseStream once the queue is empty. Results, SpeechStarted and
 * UtteranceEnd messages become the call's callbacks.
 *
 * A connection that drops, or a handshake that fails with 429, 5xx or no
 * answer, is retried with exponential backoff (100 ms doubling to 2 s, six
 * attempts in a row) while the caller's audio keeps queueing, bounded to
 * the last 10 s; the queue is sent on the new connection, so the call sees
 * no gap but a late transcript. A refused key (401/403/402), a refused
 * request (400) or a close for undecodable audio (DATA-*) ends the leg at
 * once through the error callback.
 *
 * Empty transcripts are dropped, except an empty final with speech_final
 * after final text that no speech_final closed yet: the call gets
 * transcript("", true, true) then, because it ends a turn.
 *
 * Loop thread only. Callbacks come from lws or our timers, never from
 * inside alloc/send/finish, and the call may free the adapter in any of
 * them: free() hands the socket to sv_wsc_abandon() and the memory lives
 * on until both timers have closed.
 *
 * SPDX-License-Identifier: MIT
 */
#include "providers/adapters.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libwebsockets.h>
#include <sodium.h>
#include <uv.h>

#include "providers/registry.h"
#include "providers/wsclient.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/misc.h"

#define FRAME_MS               100   /* most audio in one binary frame */
#define BACKLOG_MS             10000 /* audio kept while the socket is down */
#define KEEPALIVE_MS           4000 /* the server closes after 10 s of silence */
#define RETRY_FIRST_MS         100 /* first reconnect delay, doubled each time */
#define RETRY_MAX_MS           2000 /* longest reconnect delay */
#define RETRY_ATTEMPTS         6 /* failed attempts in a row before giving up */
#define STABLE_MS              2000   /* a connection this old was a good one */
#define CLOSE_WAIT_MS          10000  /* wait for the close after CloseStream */
#define CONNECT_MS             10000  /* handshake limit when env gives none */
#define RX_MAX_BYTES           262144 /* larger server messages are dropped */
#define MAX_KEY_BYTES          512    /* longer keys are refused by alloc */
#define DEFAULT_ENDPOINTING_MS 300
#define UTTERANCE_END_MIN_MS   1000 /* Deepgram's accepted range */
#define UTTERANCE_END_MAX_MS   5000

enum dg_state {
    DG_WAIT,       /* no socket; the timer starts the next attempt */
    DG_CONNECTING, /* handshake running; the timer is its watchdog */
    DG_OPEN,       /* streaming */
    DG_CLOSING,    /* CloseStream sent; the timer bounds the wait */
    DG_DONE,       /* closed after finish, or failed: no more callbacks */
};

struct sv_stt {
    struct sv_wsc wsc; /* first: the lws user data of our connections */
    enum dg_state state;
    struct lws_vhost *vhost; /* borrowed */
    struct lws *wsi;         /* the current connection, or NULL */
    const char *key;         /* borrowed; valid until free */
    bool is_byok;
    char *tag;         /* owned; the call id for log lines */
    char *address;     /* owned: host name or address */
    char *host_header; /* owned: "host" or "host:port" */
    char *path;        /* owned: /v1/listen and the query */
    int port;
    bool is_tls;
    unsigned timeout_ms; /* handshake limit */
    struct sv_stt_handlers h;

    struct sv_buf pending; /* caller audio not yet sent (s16le) */
    size_t backlog_bytes;  /* bound of pending */
    size_t frame_bytes;    /* most audio in one frame */
    unsigned char *tx;     /* owned: LWS_PRE + frame_bytes */
    bool is_dropping;      /* pending overflowed; warned once */
    struct sv_buf rx;      /* a text message being reassembled */
    bool is_rx_oversized;  /* rx overflowed: drop this message */

    bool want_finish;    /* finish() was called */
    bool want_keepalive; /* a KeepAlive is due */
    bool has_open_turn;  /* final text since the last speech_final */
    bool is_freed;       /* free() ran; memory waits for the timers */
    bool has_connected;  /* some connection opened before */

    unsigned failures; /* failed attempts in a row */
    uint64_t open_ms;  /* when the current connection opened */
    int close_code;    /* close status the server sent, or 0 */
    char close_reason[64];
    char why[256]; /* reason text handed to the error callback */

    uv_timer_t timer;     /* reconnect, handshake watchdog, close wait */
    uv_timer_t keepalive; /* re-armed by every frame sent */
    int open_handles;     /* timers not yet closed */
};

/* The timer callback and connect() call each other through lost(). */
static void on_timer(uv_timer_t *t);


static const char *tag_of(const struct sv_stt *st)
{
    return st->tag;
}


/* Percent-encodes s for a query value (RFC 3986 unreserved kept). */
static void append_encoded(struct sv_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        char enc[3];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~') {
            sv_buf_append(b, s, 1);
            continue;
        }
        enc[0] = '%';
        enc[1] = hex[c >> 4];
        enc[2] = hex[c & 15];
        sv_buf_append(b, enc, 3);
    }
}


static void append_param(struct sv_buf *b, const char *name, const char *value)
{
    sv_buf_printf(b, "%s%s=", b->data[b->len - 1] == '?' ? "" : "&", name);
    append_encoded(b, value);
}


/* The request path: base path, /v1/listen and the query from opts. */
static char *build_path(const char *prefix, const struct sv_stt_opts *opts)
{
    const struct sv_provider_info *info = sv_provider_find("deepgram");
    const char *model = opts->model;
    unsigned ue_ms = opts->utterance_end_ms;
    struct sv_buf b = {0};
    char num[16];
    size_t i;
    json_t *term;

    if (model == NULL || model[0] == '\0')
        model = info != NULL ? sv_provider_default_model(info) : "nova-3";
    /*
     * utterance_end_ms 0 asks for the default, since the call relies on
     * UtteranceEnd as the fallback end of a turn; Deepgram refuses values
     * outside 1000..5000.
     */
    if (ue_ms == 0)
        ue_ms = UTTERANCE_END_MIN_MS;
    if (ue_ms < UTTERANCE_END_MIN_MS)
        ue_ms = UTTERANCE_END_MIN_MS;
    if (ue_ms > UTTERANCE_END_MAX_MS)
        ue_ms = UTTERANCE_END_MAX_MS;

    sv_buf_printf(&b, "%s/v1/listen?", prefix);
    append_param(&b, "model", model);
    if (opts->language != NULL && opts->language[0] != '\0')
        append_param(&b, "language", opts->language);
    append_param(&b, "encoding", "linear16");
    snprintf(num, sizeof(num), "%u", opts->sample_rate_hz);
    append_param(&b, "sample_rate", num);
    append_param(&b, "channels", "1");
    append_param(&b, "interim_results", "true");
    append_param(&b, "punctuate", "true");
    append_param(&b, "smart_format", opts->smart_format ? "true" : "false");
    snprintf(num, sizeof(num), "%u",
             opts->endpointing_ms > 0 ? opts->endpointing_ms
                                      : DEFAULT_ENDPOINTING_MS);
    append_param(&b, "endpointing", num);
    snprintf(num, sizeof(num), "%u", ue_ms);
    append_param(&b, "utterance_end_ms", num);
    append_param(&b, "vad_events", "true");
    json_array_foreach(opts->keyterms, i, term)
    {
        const char *s = json_string_value(term);

        if (s != NULL && s[0] != '\0')
            append_param(&b, "keyterm", s);
    }
    return b.data;
}


static const char *key_owner(const struct sv_stt *st)
{
    return st->is_byok ? "the organization's" : "the platform's";
}


/* Gives up the current connection, if any; no callback of it follows. */
static void drop_wsi(struct sv_stt *st)
{
    if (st->wsi == NULL)
        return;
    sv_wsc_abandon(st->wsi);
    st->wsi = NULL;
}


/*
 * Ends the leg for good and tells the call, as the last thing the caller
 * of fail() does: the call may free the adapter inside the callback.
 */
static void fail(struct sv_stt *st, int err)
{
    st->state = DG_DONE;
    drop_wsi(st);
    uv_timer_stop(&st->timer);
    uv_timer_stop(&st->keepalive);
    sv_log(SV_LOG_ERR, "deepgram: [%s] %s", tag_of(st), st->why);
    if (st->h.error != NULL)
        st->h.error(st->h.arg, err, st->why);
}


/*
 * The connection is gone (or never came up). Retries when retryable and
 * attempts remain; otherwise fails with err and st->why. The caller has
 * already forgotten the wsi.
 */
static void lost(struct sv_stt *st, int err, bool is_retryable)
{
    unsigned delay_ms;

    uv_timer_stop(&st->keepalive);
    if (st->state == DG_DONE)
        return;
    if (st->state == DG_CLOSING) {
        /* Finals may be lost, but the audio is all sent: no retry. */
        sv_log(SV_LOG_WARN, "deepgram: [%s] closed after CloseStream: %s",
               tag_of(st), st->why);
        st->state = DG_DONE;
        uv_timer_stop(&st->timer);
        return;
    }
    if (st->want_finish && st->pending.len == 0) {
        st->state = DG_DONE;
        uv_timer_stop(&st->timer);
        return;
    }
    if (!is_retryable) {
        fail(st, err);
        return;
    }
    if (st->state == DG_OPEN && sv_now_ms() - st->open_ms >= STABLE_MS)
        st->failures = 0;
    st->failures++;
    if (st->failures > RETRY_ATTEMPTS) {
        size_t n = strlen(st->why);

        snprintf(st->why + n, sizeof(st->why) - n, " (gave up after %u tries)",
                 RETRY_ATTEMPTS);
        fail(st, err);
        return;
    }
    delay_ms = RETRY_FIRST_MS << (st->failures - 1);
    if (delay_ms > RETRY_MAX_MS)
        delay_ms = RETRY_MAX_MS;
    sv_log(SV_LOG_WARN,
           "deepgram: [%s] %s; reconnecting in %u ms (attempt %u of %u)",
           tag_of(st), st->why, delay_ms, st->failures, RETRY_ATTEMPTS);
    st->state = DG_WAIT;
    uv_timer_start(&st->timer, on_timer, delay_ms, 0);
}


/* The HTTP status of a refused upgrade, or 0 when none came. */
static unsigned refused_status(struct lws *wsi, const char *in, size_t len)
{
    char line[16];
    unsigned status = lws_http_client_http_response(wsi);

    if (status == 0 &&
        lws_hdr_copy(wsi, line, sizeof(line), WSI_TOKEN_HTTP) > 0)
        status = (unsigned)atoi(line);
    /* lws names a 401 in its reason text even when the status is gone. */
    if (status == 0 && in != NULL && memmem(in, len, "unauthorized", 12))
        status = 401;
    return status;
}


/* Deepgram's dg-error reason of a refused upgrade, or "". */
static void refused_reason(struct lws *wsi, char *out, size_t out_len)
{
    int n;

    out[0] = '\0';
    n = lws_hdr_custom_copy(wsi, out, (int)out_len, "dg-error:", 9);
    if (n <= 0)
        out[0] = '\0';
}


static void on_connect_error(struct sv_stt *st, struct lws *wsi, const char *in,
                             size_t len)
{
    unsigned status = refused_status(wsi, in, len);
    char reason[96];
    int err;
    bool is_retryable = false;

    refused_reason(wsi, reason, sizeof(reason));
    lws_set_wsi_user(wsi, NULL);
    st->wsi = NULL;
    uv_timer_stop(&st->timer);
    if (in == NULL)
        len = 0;
    if (status == 401 || status == 403) {
        err = -EACCES;
        snprintf(st->why, sizeof(st->why), "Deepgram refused %s key (HTTP %u)",
                 key_owner(st), status);
    } else if (status == 402) {
        err = -EACCES;
        snprintf(st->why, sizeof(st->why),
                 "Deepgram refused %s key: payment required (HTTP 402)",
                 key_owner(st));
    } else if (status == 400) {
        err = -EINVAL;
        snprintf(st->why, sizeof(st->why),
                 "Deepgram refused the request, unknown model or bad "
                 "parameters (HTTP 400%s%s)",
                 reason[0] != '\0' ? ": " : "", reason);
    } else if (status == 429) {
        err = -EAGAIN;
        is_retryable = true;
        snprintf(st->why, sizeof(st->why), "Deepgram rate limit (HTTP 429)");
    } else if (status >= 500) {
        err = -ECONNREFUSED;
        is_retryable = true;
        snprintf(st->why, sizeof(st->why), "Deepgram unavailable (HTTP %u)",
                 status);
    } else if (status != 0) {
        err = -EPROTO;
        snprintf(st->why, sizeof(st->why),
                 "unexpected HTTP %u from Deepgram at %s:%d", status,
                 st->address, st->port);
    } else {
        err = -ECONNREFUSED;
        is_retryable = true;
        snprintf(st->why, sizeof(st->why), "cannot connect to %s:%d (%.*s)",
                 st->address, st->port, (int)len, in != NULL ? in : "");
    }
    lost(st, err, is_retryable);
}


static int add_auth(struct sv_stt *st, struct lws *wsi, unsigned char **p,
                    size_t len)
{
    char value[MAX_KEY_BYTES + 8];
    int n;
    int err;

    n = snprintf(value, sizeof(value), "Token %s", st->key);
    err = lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
                                       (unsigned char *)value, n, p, *p + len);
    sodium_memzero(value, sizeof(value));
    return err != 0 ? -1 : 0;
}


static void on_keepalive(uv_timer_t *t)
{
    struct sv_stt *st = t->data;

    if (st->state != DG_OPEN || st->wsi == NULL)
        return;
    st->want_keepalive = true;
    lws_callback_on_writable(st->wsi);
}


static void on_open(struct sv_stt *st, struct lws *wsi)
{
    uv_timer_stop(&st->timer);
    st->wsi = wsi;
    st->state = DG_OPEN;
    st->open_ms = sv_now_ms();
    st->want_keepalive = false;
    sv_buf_reset(&st->rx);
    st->is_rx_oversized = false;
    if (st->has_connected) {
        sv_log(SV_LOG_NOTICE,
               "deepgram: [%s] reconnected, replaying %zu ms of audio",
               tag_of(st), st->pending.len * FRAME_MS / st->frame_bytes);
    } else {
        sv_log(SV_LOG_INFO, "deepgram: [%s] connected to %s:%d", tag_of(st),
               st->address, st->port);
    }
    st->has_connected = true;
    uv_timer_start(&st->keepalive, on_keepalive, KEEPALIVE_MS, 0);
    if (st->pending.len > 0 || st->want_finish)
        lws_callback_on_writable(wsi);
}


/* Sends one frame from st->tx and re-arms the KeepAlive timer. */
static int write_frame(struct sv_stt *st, struct lws *wsi, const void *data,
                       size_t len, enum lws_write_protocol kind)
{
    SV_ASSERT(len > 0 && len <= st->frame_bytes);
    memcpy(st->tx + LWS_PRE, data, len);
    if (lws_write(wsi, st->tx + LWS_PRE, len, kind) < (int)len)
        return -1;
    uv_timer_start(&st->keepalive, on_keepalive, KEEPALIVE_MS, 0);
    return 0;
}


static int on_writeable(struct sv_stt *st, struct lws *wsi)
{
    static const char keepalive[] = "{\"type\":\"KeepAlive\"}";
    static const char close_stream[] = "{\"type\":\"CloseStream\"}";

    if (st->state != DG_OPEN)
        return 0;
    if (st->pending.len > 0) {
        size_t n = st->pending.len;

        if (n > st->frame_bytes)
            n = st->frame_bytes;
        if (write_frame(st, wsi, st->pending.data, n, LWS_WRITE_BINARY) < 0)
            return -1;
        sv_buf_consume(&st->pending, n);
        st->want_keepalive = false;
        if (st->is_dropping && st->pending.len < st->backlog_bytes / 2)
            st->is_dropping = false;
    } else if (st->want_finish) {
        if (write_frame(st, wsi, close_stream, sizeof(close_stream) - 1,
                        LWS_WRITE_TEXT) < 0)
            return -1;
        uv_timer_stop(&st->keepalive);
        st->state = DG_CLOSING;
        uv_timer_start(&st->timer, on_timer, CLOSE_WAIT_MS, 0);
        sv_log(SV_LOG_DEBUG, "deepgram: [%s] CloseStream sent", tag_of(st));
        return 0;
    } else if (st->want_keepalive) {
        if (write_frame(st, wsi, keepalive, sizeof(keepalive) - 1,
                        LWS_WRITE_TEXT) < 0)
            return -1;
        st->want_keepalive = false;
        sv_log(SV_LOG_DEBUG, "deepgram: [%s] KeepAlive sent", tag_of(st));
    }
    if (st->pending.len > 0 || st->want_finish || st->want_keepalive)
        lws_callback_on_writable(wsi);
    return 0;
}


/* Returns -1 when the call freed the adapter in its callback. */
static int on_results(struct sv_stt *st, json_t *root)
{
    json_t *alts =
        json_object_get(json_object_get(root, "channel"), "alternatives");
    json_t *alt = json_array_get(alts, 0);
    const char *text = json_string_value(json_object_get(alt, "transcript"));
    bool is_final = json_is_true(json_object_get(root, "is_final"));
    bool is_speech_final = json_is_true(json_object_get(root, "speech_final"));

    /* Results prove the stream works: later drops start a fresh count. */
    st->failures = 0;
    if (text == NULL)
        text = "";
    if (text[0] == '\0' && !(is_final && is_speech_final && st->has_open_turn))
        return 0;
    if (is_final)
        st->has_open_turn = !is_speech_final;
    sv_log(SV_LOG_DEBUG, "deepgram: [%s] %s: %.40s", tag_of(st),
           is_speech_final ? "speech final"
           : is_final      ? "final"
                           : "interim",
           text);
    if (st->h.transcript != NULL)
        st->h.transcript(st->h.arg, text, is_final, is_speech_final);
    return st->is_freed ? -1 : 0;
}


/* Dispatches one server message on its type; -1 when we were freed. */
static int on_message(struct sv_stt *st, json_t *root)
{
    const char *type = json_string_value(json_object_get(root, "type"));

    if (type == NULL) {
        sv_log(SV_LOG_DEBUG, "deepgram: [%s] message without a type",
               tag_of(st));
    } else if (strcmp(type, "Results") == 0) {
        return on_results(st, root);
    } else if (strcmp(type, "SpeechStarted") == 0) {
        if (st->h.speech_started != NULL)
            st->h.speech_started(st->h.arg);
    } else if (strcmp(type, "UtteranceEnd") == 0) {
        if (st->h.utterance_end != NULL)
            st->h.utterance_end(st->h.arg);
    } else if (strcmp(type, "Metadata") == 0) {
        sv_log(SV_LOG_DEBUG, "deepgram: [%s] Metadata", tag_of(st));
    } else if (strcmp(type, "Error") == 0) {
        /* Older servers; the close code that follows decides. */
        const char *d = json_string_value(json_object_get(root, "description"));

        sv_log(SV_LOG_WARN, "deepgram: [%s] error message: %.120s", tag_of(st),
               d != NULL ? d : "(none)");
    } else {
        sv_log(SV_LOG_DEBUG, "deepgram: [%s] unknown message type %.40s",
               tag_of(st), type);
    }
    return st->is_freed ? -1 : 0;
}


static int on_receive(struct sv_stt *st, struct lws *wsi, const void *in,
                      size_t len)
{
    json_error_t jerr;
    json_t *root;
    int ret;

    /* The server sends JSON text only; binary would be a new feature. */
    if (lws_frame_is_binary(wsi))
        return 0;
    if (!st->is_rx_oversized) {
        if (st->rx.len + len > RX_MAX_BYTES) {
            st->is_rx_oversized = true;
            sv_buf_reset(&st->rx);
        } else if (len > 0) {
            sv_buf_append(&st->rx, in, len);
        }
    }
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
        return 0;
    if (st->is_rx_oversized) {
        sv_log(SV_LOG_WARN, "deepgram: [%s] dropped a message over %d bytes",
               tag_of(st), RX_MAX_BYTES);
        st->is_rx_oversized = false;
        return 0;
    }
    root = json_loadb(st->rx.data != NULL ? st->rx.data : "", st->rx.len, 0,
                      &jerr);
    sv_buf_reset(&st->rx);
    if (!json_is_object(root)) {
        sv_log(SV_LOG_WARN, "deepgram: [%s] unreadable message: %s", tag_of(st),
               root == NULL ? jerr.text : "not an object");
        json_decref(root);
        return 0;
    }
    ret = on_message(st, root);
    json_decref(root);
    return ret;
}


static void on_peer_close(struct sv_stt *st, const unsigned char *in,
                          size_t len)
{
    size_t n;

    if (in == NULL || len < 2)
        return;
    st->close_code = (in[0] << 8) | in[1];
    n = len - 2;
    if (n >= sizeof(st->close_reason))
        n = sizeof(st->close_reason) - 1;
    memcpy(st->close_reason, in + 2, n);
    st->close_reason[n] = '\0';
}


static void on_closed(struct sv_stt *st, struct lws *wsi)
{
    int code = st->close_code;
    const char *reason = st->close_reason;

    lws_set_wsi_user(wsi, NULL);
    st->wsi = NULL;
    uv_timer_stop(&st->timer);
    if (st->state == DG_CLOSING && code == 1000) {
        sv_log(SV_LOG_INFO, "deepgram: [%s] stream finished", tag_of(st));
        st->state = DG_DONE;
        uv_timer_stop(&st->keepalive);
        return;
    }
    if (code == 0) {
        snprintf(st->why, sizeof(st->why), "connection to Deepgram dropped");
        lost(st, -ECONNRESET, true);
    } else if (strncmp(reason, "DATA-", 5) == 0 || code == 1008) {
        snprintf(st->why, sizeof(st->why),
                 "Deepgram could not decode the audio (close %d %s)", code,
                 reason);
        lost(st, -EPROTO, false);
    } else {
        /* NET-* and anything else: the service's trouble, so try again. */
        snprintf(st->why, sizeof(st->why),
                 "Deepgram closed the stream (%d%s%s)", code,
                 reason[0] != '\0' ? " " : "", reason);
        lost(st, -ECONNRESET, true);
    }
}


static int dg_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                 void *in, size_t len)
{
    struct sv_stt *st = sv_container_of(user, struct sv_stt, wsc);

    /* Callbacks can come from inside lws_client_connect_via_info(). */
    if (st->wsi == NULL && st->state == DG_CONNECTING)
        st->wsi = wsi;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        return add_auth(st, wsi, in, len);
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        on_connect_error(st, wsi, in, len);
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        on_open(st, wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return on_receive(st, wsi, in, len);
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return on_writeable(st, wsi);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        on_peer_close(st, in, len);
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        on_closed(st, wsi);
        return 0;
    default:
        return 0;
    }
}


static void connect_now(struct sv_stt *st)
{
    struct lws_client_connect_info info;
    struct lws *wsi;

    memset(&info, 0, sizeof(info));
    /* Looked up here: lws records it once the loop has run. */
    info.context = sv_wsc_context(st->vhost);
    if (info.context == NULL) {
        snprintf(st->why, sizeof(st->why),
                 "the websocket vhost has no lws context");
        st->state = DG_CONNECTING;
        lost(st, -EINVAL, false);
        return;
    }
    info.vhost = st->vhost;
    info.address = st->address;
    info.port = st->port;
    info.path = st->path;
    info.host = st->host_header;
    info.origin = st->host_header;
    info.ssl_connection = st->is_tls ? LCCSCF_USE_SSL : 0;
    info.local_protocol_name = SV_WSC_PROTOCOL;
    info.userdata = &st->wsc;

    st->state = DG_CONNECTING;
    st->wsi = NULL;
    st->close_code = 0;
    st->close_reason[0] = '\0';
    uv_timer_start(&st->timer, on_timer, st->timeout_ms, 0);
    wsi = lws_client_connect_via_info(&info);
    if (st->is_freed || st->state != DG_CONNECTING)
        return; /* a callback inside settled this attempt already */
    if (wsi == NULL) {
        st->wsi = NULL; /* lws freed whatever it had made */
        uv_timer_stop(&st->timer);
        snprintf(st->why, sizeof(st->why), "cannot connect to %s:%d",
                 st->address, st->port);
        lost(st, -ECONNREFUSED, true);
        return;
    }
    st->wsi = wsi;
}


static void on_timer(uv_timer_t *t)
{
    struct sv_stt *st = t->data;

    switch (st->state) {
    case DG_WAIT:
        connect_now(st);
        break;
    case DG_CONNECTING:
        drop_wsi(st);
        snprintf(st->why, sizeof(st->why),
                 "no answer from Deepgram within %u ms", st->timeout_ms);
        lost(st, -ETIMEDOUT, true);
        break;
    case DG_CLOSING:
        drop_wsi(st);
        sv_log(SV_LOG_WARN,
               "deepgram: [%s] no close within %d ms of CloseStream",
               tag_of(st), CLOSE_WAIT_MS);
        st->state = DG_DONE;
        break;
    case DG_OPEN:
    case DG_DONE:
        break;
    }
}


static void on_handle_closed(uv_handle_t *handle)
{
    struct sv_stt *st = handle->data;

    if (--st->open_handles > 0)
        return;
    sv_buf_free(&st->pending);
    sv_buf_free(&st->rx);
    free(st->tx);
    free(st->path);
    free(st->host_header);
    free(st->address);
    free(st->tag);
    free(st);
}


static bool key_is_usable(const char *key)
{
    size_t n = key != NULL ? strlen(key) : 0;

    if (n == 0 || n > MAX_KEY_BYTES)
        return false;
    for (size_t i = 0; i < n; i++) {
        /* A control byte would split the header line. */
        if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f)
            return false;
    }
    return true;
}


static int dg_alloc(struct sv_stt **out, const struct sv_provider_env *env,
                    const struct sv_stt_opts *opts,
                    const struct sv_stt_handlers *h)
{
    const char *tag = env->tag != NULL ? env->tag : "-";
    char host[256];
    char prefix[512];
    struct sv_stt *st;
    bool is_tls;
    int port;
    int err = 0;

    if (env->loop == NULL || env->ws_vhost == NULL || env->base_url == NULL ||
        opts->sample_rate_hz < 8000 || opts->sample_rate_hz > 48000) {
        sv_log(SV_LOG_ERR, "deepgram: [%s] missing loop, vhost or rate", tag);
        err = -EINVAL;
        goto out;
    }
    if (sv_wsc_parse_url(env->base_url, host, sizeof(host), &port, &is_tls,
                         prefix, sizeof(prefix)) < 0) {
        sv_log(SV_LOG_ERR, "deepgram: [%s] bad base URL %s", tag,
               env->base_url);
        err = -EINVAL;
        goto out;
    }
    if (!key_is_usable(env->key)) {
        sv_log(SV_LOG_ERR, "deepgram: [%s] no usable key", tag);
        err = -EACCES;
        goto out;
    }

    st = sv_xcalloc(1, sizeof(*st));
    st->wsc.cb = dg_cb;
    st->vhost = env->ws_vhost;
    st->key = env->key;
    st->is_byok = env->is_byok;
    st->tag = sv_xstrdup(tag);
    st->address = sv_xstrdup(host);
    st->port = port;
    st->is_tls = is_tls;
    if (port == (is_tls ? 443 : 80))
        st->host_header = sv_xstrdup(host);
    else
        st->host_header = sv_xasprintf("%s:%d", host, port);
    st->path = build_path(prefix, opts);
    st->timeout_ms = env->timeout_ms > 0 ? env->timeout_ms : CONNECT_MS;
    st->h = *h;
    st->frame_bytes = (size_t)opts->sample_rate_hz * 2 * FRAME_MS / 1000;
    st->backlog_bytes = (size_t)opts->sample_rate_hz * 2 * BACKLOG_MS / 1000;
    st->tx = sv_xmalloc(LWS_PRE + st->frame_bytes);
    uv_timer_init(env->loop, &st->timer);
    uv_timer_init(env->loop, &st->keepalive);
    st->timer.data = st;
    st->keepalive.data = st;
    st->open_handles = 2;
    st->state = DG_WAIT;
    sv_log(SV_LOG_DEBUG, "deepgram: [%s] %s:%d%s", tag, host, port, st->path);
    /* Connect from the loop, so no callback runs inside alloc. */
    uv_timer_start(&st->timer, on_timer, 0, 0);
    *out = st;

out:
    return err;
}


static int dg_send(struct sv_stt *st, const int16_t *pcm, size_t samples)
{
    size_t bytes;
    size_t over = 0;

    if (st->state == DG_DONE || st->want_finish)
        return -EPIPE;
    if (samples == 0)
        return 0;
    bytes = samples * 2;
    if (bytes > st->backlog_bytes) {
        over = bytes - st->backlog_bytes;
        pcm += over / 2;
        bytes = st->backlog_bytes;
    }
    if (st->pending.len + bytes > st->backlog_bytes) {
        size_t n = st->pending.len + bytes - st->backlog_bytes;

        sv_buf_consume(&st->pending, n);
        over += n;
    }
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (size_t i = 0; i < bytes / 2; i++) {
        uint16_t v = (uint16_t)pcm[i];
        unsigned char le[2] = {(unsigned char)v, (unsigned char)(v >> 8)};

        sv_buf_append(&st->pending, le, 2);
    }
#else
    sv_buf_append(&st->pending, pcm, bytes);
#endif
    if (over > 0 && !st->is_dropping) {
        st->is_dropping = true;
        sv_log(SV_LOG_WARN,
               "deepgram: [%s] audio backlog over %d ms, dropping the oldest",
               tag_of(st), BACKLOG_MS);
    }
    if (st->state == DG_OPEN && st->wsi != NULL)
        lws_callback_on_writable(st->wsi);
    return 0;
}


static void dg_finish(struct sv_stt *st)
{
    if (st->state == DG_DONE || st->want_finish)
        return;
    st->want_finish = true;
    if (st->state == DG_OPEN) {
        lws_callback_on_writable(st->wsi);
        return;
    }
    if (st->pending.len == 0) {
        /* Nothing left to transcribe: no need to reconnect first. */
        drop_wsi(st);
        uv_timer_stop(&st->timer);
        st->state = DG_DONE;
    }
}


static void dg_free(struct sv_stt *st)
{
    if (st == NULL)
        return;
    SV_ASSERT(!st->is_freed);
    st->is_freed = true;
    st->state = DG_DONE;
    drop_wsi(st);
    uv_close((uv_handle_t *)&st->timer, on_handle_closed);
    uv_close((uv_handle_t *)&st->keepalive, on_handle_closed);
}


const struct sv_stt_provider sv_stt_deepgram = {
    .name = "deepgram",
    .alloc = dg_alloc,
    .send = dg_send,
    .finish = dg_finish,
    .free = dg_free,
};
