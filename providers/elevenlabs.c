/*
 * elevenlabs.c - ElevenLabs text-to-speech: one streamed HTTP request
 * per sentence (protocols.md C.2) over the loop's shared sv_httpc.
 *
 * Each sentence becomes POST {base}/v1/text-to-speech/{voice}/stream
 * with output_format=pcm_<call rate>, so the answer is raw mono s16le
 * PCM at the call's rate and needs no resampling. A call whose client
 * speaks mu-law (8 kHz only) asks for ulaw_8000 instead, and the bytes
 * are decoded here with pipeline/g711: mu-law comes back unchanged
 * through decode and encode, so the client gets ElevenLabs' own
 * encoding rather than a second one of ours. All
 * requests of all calls on a loop share one curl multi handle, so a
 * sentence usually goes out on a kept-alive connection: no TCP or TLS
 * handshake in the path (bench/README-tts.md has the figures behind
 * choosing this over the stream-input websocket).
 *
 * Ordering: sentences form a list in the order say() gave them. Audio
 * is handed on only for the head of the list; the next
 * SV_ELEVENLABS_PREFETCH sentences may already be requested, and their
 * audio waits in memory until they become the head. done() for the head
 * comes after its last audio, then the next sentence's buffered audio
 * follows at once. So audio is in order and never interleaved, while
 * the next sentence's first byte is usually there before it is needed.
 *
 * Retries: 429, 5xx and connection failures are retried (bounded, with
 * backoff) as long as none of the sentence's audio was handed on; audio
 * that was only buffered is thrown away first. A stream that breaks
 * after audio went out ends that sentence with the error.
 *
 * Re-entrancy: callbacks run only from the loop (httpc callbacks and our
 * timer), never inside alloc() or say(). The caller may cancel(), say()
 * or free() from inside any callback. cancel() and free() bump an epoch
 * that every delivery loop checks right after each callback, before it
 * touches a sentence again; free() only closes the timer, and the
 * memory goes in the close callback, so the adapter itself stays valid
 * while a callback unwinds.
 *
 * The key goes only into the "xi-api-key" header line, built once in
 * sodium guarded memory and wiped when the adapter is freed (httpc wipes
 * its own copy of each request's headers). Error reasons never carry it.
 *
 * Loop thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#include "providers/elevenlabs.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>
#include <jansson.h>
#include <sodium.h>

#include "pipeline/g711.h"
#include "providers/adapters.h"
#include "providers/httpc.h"
#include "providers/provider.h"
#include "providers/registry.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/misc.h"

/* A premade voice every account can use, for a configuration without
 * voice_id ("Rachel"). */
#define DEFAULT_VOICE_ID "21m00Tcm4TlvDq8ikWAM"

/*
 * optimize_streaming_latency: 3 is ElevenLabs' strongest setting that
 * keeps the text normalizer (4 turns it off, and numbers, dates and
 * abbreviations are then read out badly). A phone call values the first
 * byte more than the last bit of prosody.
 */
#define STREAMING_LATENCY 3

#define DEFAULT_TIMEOUT_MS 10000 /* when env->timeout_ms is 0 */
#define MAX_ATTEMPTS       3     /* first try plus two retries */
#define BACKOFF_MS         200   /* doubled per retry */
#define MAX_BACKOFF_MS     2000
#define MAX_RETRY_AFTER_MS 5000 /* a longer Retry-After fails at once */
#define MAX_ERROR_BODY     4096 /* kept of a non-200 body */
#define MAX_MESSAGE_LEN    200  /* of a provider message in a why */
#define MAX_PREVIOUS_TEXT  500  /* bytes of previous_text sent */
#define SLICE_SAMPLES      2048 /* most samples per audio() call */

enum sentence_state {
    S_QUEUED,  /* not requested yet (or again) */
    S_RUNNING, /* its request is in flight */
    S_WAITING, /* a retry is due at retry_at_ms */
    S_DONE,    /* finished (err says how); waits to become the head */
};

/* One say(): its request, its undelivered audio, its result. */
struct sentence {
    struct sentence *next;
    struct sv_tts *t; /* borrowed owner */
    uint32_t seq;
    char *text;          /* owned */
    char *previous_text; /* owned, or NULL at the start of a turn */
    size_t characters;   /* Unicode characters of text */
    enum sentence_state state;
    struct sv_httpc_req *req; /* borrowed; NULL unless S_RUNNING */
    unsigned attempts;        /* requests started so far */
    uint64_t retry_at_ms;     /* sv_now_ms() time of the retry */
    struct sv_buf audio;      /* owned; received, not yet delivered */
    size_t audio_off;         /* bytes of audio already delivered */
    size_t delivered_samples; /* handed to audio() in total */
    struct sv_buf err_body;   /* owned; start of a non-200 body */
    bool is_accepted;         /* a 200 answer began: billed */
    int err;                  /* result, valid in S_DONE */
    char *why;                /* owned reason for err, or NULL */
};

struct sv_tts {
    uv_timer_t timer;      /* embedded: retries and deferred runs */
    struct sv_httpc *http; /* borrowed */
    char *key_header;      /* owned, guarded: "xi-api-key: ..." */
    const char *key;       /* borrowed, only to keep it out of whys */
    bool is_byok;
    unsigned timeout_ms;
    char *tag;      /* owned; the call id for log lines */
    char *url;      /* owned; the whole request URL */
    bool is_ulaw;   /* answers are mu-law bytes, not s16le */
    char *voice_id; /* owned; for error reasons */
    char *model;    /* owned; for error reasons */
    json_t *body;   /* owned: the request body without the text */
    struct sv_tts_handlers h;
    struct sentence *head; /* owned list, in say() order */
    struct sentence *tail;
    char *last_text;   /* owned; the last sentence said this turn */
    unsigned prefetch; /* sentences requested ahead of the head */
    unsigned epoch;    /* bumped by cancel() and free() */
    bool is_closing;   /* free() was called */
    int fatal_err;     /* key or voice refused: later sentences fail */
    char *fatal_why;   /* owned */
    int16_t pcm[SLICE_SAMPLES];
};

static void on_timer(uv_timer_t *h);


static const char *tag_of(const struct sv_tts *t)
{
    return t->tag != NULL ? t->tag : "-";
}


static void sentence_free(struct sentence *s)
{
    if (s == NULL)
        return;
    free(s->text);
    free(s->previous_text);
    sv_buf_free(&s->audio);
    sv_buf_free(&s->err_body);
    free(s->why);
    free(s);
}


/* Unicode characters in UTF-8 text: what ElevenLabs bills. */
static size_t utf8_chars(const char *text)
{
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if ((*p & 0xc0) != 0x80)
            n++;
    }
    return n;
}


static bool is_blank(const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            return false;
    }
    return true;
}


/* The last at most max bytes of text, cut at a character boundary. */
static char *utf8_tail(const char *text, size_t max)
{
    size_t len = strlen(text);
    const char *p = text;

    if (len > max)
        p = text + len - max;
    while ((*p & 0xc0) == 0x80)
        p++;
    return sv_xstrdup(p);
}


/* Appends s to b with every byte outside [A-Za-z0-9-._~] %-escaped. */
static void append_escaped(struct sv_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
            (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL) {
            sv_buf_append(b, p, 1);
        } else {
            sv_buf_printf(b, "%%%02X", *p);
        }
    }
}


/*
 * The stream URL below base (ws schemes mapped to http ones), asking for
 * ulaw_8000 or pcm_<rate_hz>.
 */
static char *stream_url(const char *base, const char *voice_id,
                        unsigned rate_hz, bool is_ulaw)
{
    struct sv_buf b = {0};
    const char *rest = base;
    size_t len;

    if (strncmp(base, "wss://", 6) == 0) {
        sv_buf_append(&b, "https://", 8);
        rest = base + 6;
    } else if (strncmp(base, "ws://", 5) == 0) {
        sv_buf_append(&b, "http://", 7);
        rest = base + 5;
    }
    len = strlen(rest);
    while (len > 0 && rest[len - 1] == '/')
        len--;
    sv_buf_append(&b, rest, len);
    sv_buf_append(&b, "/v1/text-to-speech/", 19);
    append_escaped(&b, voice_id);
    if (is_ulaw)
        sv_buf_printf(&b, "/stream?output_format=ulaw_8000");
    else
        sv_buf_printf(&b, "/stream?output_format=pcm_%u", rate_hz);
    sv_buf_printf(&b, "&optimize_streaming_latency=%d", STREAMING_LATENCY);
    return b.data;
}


/* "xi-api-key: <key>" in guarded memory; sodium_free() wipes it. */
static char *key_line(const char *key)
{
    static const char prefix[] = "xi-api-key: ";
    size_t plen = sizeof(prefix) - 1;
    size_t klen = strlen(key);
    char *line = sodium_malloc(plen + klen + 1);

    if (line == NULL)
        abort(); /* out of guarded memory, as in sv_secret_dup() */
    memcpy(line, prefix, plen);
    memcpy(line + plen, key, klen);
    line[plen + klen] = '\0';
    return line;
}


/* True for an output rate ElevenLabs offers as pcm_<rate>. */
static bool rate_ok(unsigned hz)
{
    static const unsigned rates[] = {8000,  16000, 22050, 24000,
                                     32000, 44100, 48000};

    for (size_t i = 0; i < SV_ARRAY_SIZE(rates); i++) {
        if (rates[i] == hz)
            return true;
    }
    return false;
}


/* ---- Error answers ---- */

/* What an error body says, all parts optional (protocols.md C.6). */
struct error_info {
    char code[64];                 /* detail.status, or the list's type */
    char message[MAX_MESSAGE_LEN]; /* detail.message, msg or the string */
};


/* Copies src into dst[cap], control characters blanked (the text ends up
 * in logs), cut at a character boundary when too long. */
static void copy_text(char *dst, size_t cap, const char *src)
{
    size_t len;
    size_t n = 0;

    if (src == NULL || cap == 0)
        return;
    len = strlen(src);
    for (size_t i = 0; i < len && n + 1 < cap; i++) {
        unsigned char c = (unsigned char)src[i];

        dst[n++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    if (n < len) {
        /* Cut: drop what may be a partial multi-byte character. */
        while (n > 0 && ((unsigned char)dst[n - 1] & 0xc0) == 0x80)
            n--;
        if (n > 0 && ((unsigned char)dst[n - 1] & 0xc0) == 0xc0)
            n--;
    }
    dst[n] = '\0';
}


/*
 * Reads the detail of an error body leniently: an object with status
 * and message, a FastAPI list of {loc, msg, type}, or a plain string.
 */
static void parse_error(const struct sv_buf *body, struct error_info *e)
{
    json_error_t jerr;
    json_t *root;
    json_t *detail;
    json_t *item;
    json_t *loc;
    size_t n;

    memset(e, 0, sizeof(*e));
    if (body->data == NULL)
        return;
    root = json_loadb(body->data, body->len, 0, &jerr); /* new reference */
    if (root == NULL)
        return;
    detail = json_object_get(root, "detail"); /* borrowed */
    if (detail == NULL)
        detail = root;
    if (json_is_string(detail)) {
        copy_text(e->message, sizeof(e->message), json_string_value(detail));
    } else if (json_is_object(detail)) {
        item = json_object_get(detail, "status");
        if (!json_is_string(item))
            item = json_object_get(detail, "code");
        copy_text(e->code, sizeof(e->code), json_string_value(item));
        item = json_object_get(detail, "message");
        copy_text(e->message, sizeof(e->message), json_string_value(item));
    } else if (json_is_array(detail) && json_array_size(detail) > 0) {
        item = json_array_get(detail, 0);
        copy_text(e->code, sizeof(e->code),
                  json_string_value(json_object_get(item, "type")));
        loc = json_object_get(item, "loc");
        if (json_is_array(loc) && json_array_size(loc) > 0) {
            copy_text(e->message, sizeof(e->message) - 2,
                      json_string_value(
                          json_array_get(loc, json_array_size(loc) - 1)));
            if (e->message[0] != '\0')
                strcat(e->message, ": ");
        }
        n = strlen(e->message);
        copy_text(e->message + n, sizeof(e->message) - n,
                  json_string_value(json_object_get(item, "msg")));
    }
    json_decref(root);
}


static const char *key_owner(const struct sv_tts *t)
{
    return t->is_byok ? "the organization's own ElevenLabs API key (BYOK)"
                      : "the platform's ElevenLabs API key";
}


/* The provider's message, unless it might echo the key. */
static const char *safe_message(const struct sv_tts *t,
                                const struct error_info *e)
{
    if (e->message[0] == '\0')
        return NULL;
    if (t->key[0] != '\0' && strstr(e->message, t->key) != NULL)
        return NULL;
    return e->message;
}


/* The why of a refused key (401 or 403). */
static char *why_refused(const struct sv_tts *t, long status,
                         const struct error_info *e)
{
    if (strcmp(e->code, "quota_exceeded") == 0) {
        return sv_xasprintf("ElevenLabs refused %s: its character quota is "
                            "used up (quota_exceeded)",
                            key_owner(t));
    }
    if (strcmp(e->code, "missing_permissions") == 0) {
        return sv_xasprintf("ElevenLabs refused %s: the key lacks the "
                            "text-to-speech permission (missing_permissions)",
                            key_owner(t));
    }
    if (strcmp(e->code, "invalid_api_key") == 0) {
        return sv_xasprintf("ElevenLabs refused %s as invalid "
                            "(invalid_api_key)",
                            key_owner(t));
    }
    return sv_xasprintf("ElevenLabs refused %s (HTTP %ld%s%s)", key_owner(t),
                        status, e->code[0] != '\0' ? ", " : "", e->code);
}


static char *why_no_voice(const struct sv_tts *t)
{
    if (t->is_byok) {
        return sv_xasprintf(
            "ElevenLabs has no voice \"%s\" for the organization's own "
            "ElevenLabs API key (BYOK): a BYOK key sees only the voices in "
            "its owner's ElevenLabs voice library, not every public voice; "
            "add the voice to that library or set tts_config.voice_id to "
            "one of its voices (voice_not_found)",
            t->voice_id);
    }
    return sv_xasprintf("ElevenLabs has no voice \"%s\"; check "
                        "tts_config.voice_id (voice_not_found)",
                        t->voice_id);
}


/*
 * Maps a complete non-200 answer to an error and its why; sets *retry
 * when the status is worth another attempt (429 and 5xx) and *fatal
 * when no later sentence can succeed either.
 */
static int classify(const struct sv_tts *t, const struct sentence *s,
                    long status, char **why, bool *retry, bool *fatal)
{
    struct error_info e;
    const char *msg;

    parse_error(&s->err_body, &e);
    msg = safe_message(t, &e);
    *retry = false;
    *fatal = false;
    if (status == 401 || status == 403) {
        *why = why_refused(t, status, &e);
        *fatal = true;
        return -EACCES;
    }
    if ((status == 400 || status == 404) &&
        strcmp(e.code, "voice_not_found") == 0) {
        *why = why_no_voice(t);
        *fatal = true;
        return -EINVAL;
    }
    if (status == 400 && strcmp(e.code, "model_not_found") == 0) {
        *why = sv_xasprintf("ElevenLabs does not know the model \"%s\" "
                            "(model_not_found)",
                            t->model);
        *fatal = true;
        return -EINVAL;
    }
    if (status == 404) {
        /* No machine code: most likely a voice id that cannot even be
         * routed, or a base URL that is not ElevenLabs. */
        *why = sv_xasprintf("ElevenLabs answered 404 (not found) for voice "
                            "\"%s\"; check tts_config.voice_id and the "
                            "ElevenLabs base URL",
                            t->voice_id);
        *fatal = true;
        return -EINVAL;
    }
    if (status == 400 || status == 422) {
        *why = sv_xasprintf("ElevenLabs refused the request (HTTP %ld%s%s)%s%s",
                            status, e.code[0] != '\0' ? ", " : "", e.code,
                            msg != NULL ? ": " : "", msg != NULL ? msg : "");
        return -EINVAL;
    }
    if (status == 429) {
        *retry = true;
        *why = sv_xasprintf("ElevenLabs kept answering 429%s%s (rate or "
                            "concurrency limit) after %u attempts",
                            e.code[0] != '\0' ? " " : "", e.code, s->attempts);
        return -EAGAIN;
    }
    if (status >= 500 && status <= 599) {
        *retry = true;
        *why = sv_xasprintf("ElevenLabs server error (HTTP %ld%s%s) after %u "
                            "attempts",
                            status, e.code[0] != '\0' ? ", " : "", e.code,
                            s->attempts);
        return -EPROTO;
    }
    *why = sv_xasprintf("ElevenLabs answered an unexpected HTTP %ld", status);
    return -EPROTO;
}


/* Milliseconds a Retry-After header asks for, or 0. */
static unsigned retry_after_ms(const struct sv_httpc_req *r)
{
    const char *v = sv_httpc_header(r, "retry-after");
    char *end;
    double sec;

    if (v == NULL)
        return 0;
    sec = strtod(v, &end);
    if (end == v || sec < 0 || sec > 3600)
        return 0; /* an HTTP date: not worth parsing for a live call */
    return (unsigned)(sec * 1000.0);
}


/* ---- Requests ---- */

static int on_data(void *arg, const char *data, size_t len);
static void on_done(void *arg, int err, long status);


static int start_request(struct sv_tts *t, struct sentence *s)
{
    const char *headers[5];
    struct sv_httpc_opts o = {0};
    json_t *body;
    char *text;
    int rc;

    body = json_copy(t->body); /* new reference; shares the settings */
    json_object_set_new(body, "text", json_string(s->text));
    if (s->previous_text != NULL) {
        json_object_set_new(body, "previous_text",
                            json_string(s->previous_text));
    }
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    SV_ASSERT(text != NULL);

    headers[0] = t->key_header;
    headers[1] = "Content-Type: application/json";
    headers[2] = "Accept: */*";
    /* No "Expect: 100-continue" round trip for a larger body. */
    headers[3] = "Expect:";
    headers[4] = NULL;
    o.method = "POST";
    o.url = t->url;
    o.headers = headers;
    o.body = text;
    o.body_len = strlen(text);
    o.connect_timeout_ms = t->timeout_ms;
    o.idle_timeout_ms = t->timeout_ms;
    o.on_data = on_data;
    o.on_done = on_done;
    o.arg = s;
    sv_buf_reset(&s->audio);
    sv_buf_reset(&s->err_body);
    s->audio_off = 0;
    s->is_accepted = false;
    rc = sv_httpc_start(t->http, &o, &s->req);
    /* The body holds text, not the key; httpc has its own copy. */
    free(text);
    if (rc < 0) {
        s->req = NULL;
        return rc;
    }
    s->attempts++;
    s->state = S_RUNNING;
    sv_log(SV_LOG_DEBUG, "elevenlabs: [%s] sentence %u: request %u sent",
           tag_of(t), s->seq, s->attempts);
    return 0;
}


static void finish(struct sentence *s, int err, char *why)
{
    s->state = S_DONE;
    s->err = err;
    free(s->why);
    s->why = why;
}


/*
 * Starts the queued sentences within the window: the head and the next
 * t->prefetch. Makes no callback. Returns true when a sentence finished
 * here (failed to start), so that run() must look again.
 */
static bool start_due(struct sv_tts *t)
{
    struct sentence *s;
    unsigned pos = 0;
    bool is_changed = false;
    int rc;

    for (s = t->head; s != NULL && pos <= t->prefetch; s = s->next, pos++) {
        if (s->state != S_QUEUED)
            continue;
        if (t->fatal_err != 0) {
            finish(s, t->fatal_err, sv_xstrdup(t->fatal_why));
            is_changed = true;
            continue;
        }
        rc = start_request(t, s);
        if (rc < 0) {
            sv_log(SV_LOG_INFO, "elevenlabs: [%s] cannot start a request: %s",
                   tag_of(t), strerror(-rc));
            finish(s, rc,
                   sv_xasprintf("ElevenLabs request could not start: %s",
                                strerror(-rc)));
            is_changed = true;
        }
    }
    return is_changed;
}


/*
 * Hands the head's received audio on as PCM, SLICE_SAMPLES at a time,
 * keeping an odd trailing byte of s16le for the next chunk. Returns
 * false when a callback cancelled or freed: s may be gone then.
 */
static bool deliver(struct sv_tts *t, struct sentence *s)
{
    unsigned epoch = t->epoch;
    size_t width = t->is_ulaw ? 1 : 2; /* bytes per sample on the wire */
    const unsigned char *p;
    size_t n;

    while (s->audio.len - s->audio_off >= width) {
        n = (s->audio.len - s->audio_off) / width;
        if (n > SLICE_SAMPLES)
            n = SLICE_SAMPLES;
        p = (const unsigned char *)s->audio.data + s->audio_off;
        if (t->is_ulaw) {
            sv_g711_ulaw_decode_buf(p, n, t->pcm);
        } else {
            /* Little-endian on the wire, whatever this host is. */
            for (size_t i = 0; i < n; i++)
                t->pcm[i] = (int16_t)(uint16_t)(p[2 * i] | (p[2 * i + 1] << 8));
        }
        s->audio_off += width * n;
        s->delivered_samples += n;
        t->h.audio(t->h.arg, s->seq, t->pcm, n);
        if (t->epoch != epoch)
            return false;
    }
    if (s->audio_off > 0) {
        sv_buf_consume(&s->audio, s->audio_off);
        s->audio_off = 0;
    }
    return true;
}


/*
 * Moves everything that can move: starts due requests, delivers the
 * head's audio, reports finished heads in order. Called from loop
 * callbacks only; returns early when a callback cancelled or freed.
 */
static void run(struct sv_tts *t)
{
    unsigned epoch = t->epoch;
    struct sentence *s;
    uint64_t now;
    uint64_t next_ms = UINT64_MAX;

    for (;;) {
        start_due(t);
        s = t->head;
        if (s == NULL)
            break;
        if (!deliver(t, s))
            return;
        if (s->state != S_DONE)
            break;
        t->head = s->next;
        if (t->head == NULL)
            t->tail = NULL;
        if (s->audio.len > 0) {
            sv_log(SV_LOG_DEBUG,
                   "elevenlabs: [%s] sentence %u: dropping "
                   "an odd trailing byte",
                   tag_of(t), s->seq);
        }
        t->h.done(t->h.arg, s->seq, s->err, s->why,
                  s->is_accepted ? s->characters : 0);
        sentence_free(s);
        if (t->epoch != epoch)
            return;
    }
    /* Arm the timer for the earliest retry. */
    for (s = t->head; s != NULL; s = s->next) {
        if (s->state == S_WAITING && s->retry_at_ms < next_ms)
            next_ms = s->retry_at_ms;
    }
    if (next_ms == UINT64_MAX) {
        uv_timer_stop(&t->timer);
    } else {
        now = sv_now_ms();
        uv_timer_start(&t->timer, on_timer, next_ms > now ? next_ms - now : 0,
                       0);
    }
}


static void on_timer(uv_timer_t *h)
{
    struct sv_tts *t = h->data;
    uint64_t now = sv_now_ms();

    for (struct sentence *s = t->head; s != NULL; s = s->next) {
        if (s->state == S_WAITING && s->retry_at_ms <= now)
            s->state = S_QUEUED;
    }
    run(t);
}


/* Runs run() from the loop soon: for work found inside say(). */
static void kick(struct sv_tts *t)
{
    uv_timer_start(&t->timer, on_timer, 0, 0);
}


static int on_data(void *arg, const char *data, size_t len)
{
    struct sentence *s = arg;
    struct sv_tts *t = s->t;
    size_t room;

    if (s->req == NULL)
        return 1; /* detached by cancel(); cannot happen, but be safe */
    if (sv_httpc_status(s->req) != 200) {
        room = MAX_ERROR_BODY - s->err_body.len;
        sv_buf_append(&s->err_body, data, len < room ? len : room);
        return 0;
    }
    s->is_accepted = true;
    sv_buf_append(&s->audio, data, len);
    if (s == t->head)
        deliver(t, s); /* s may be gone afterwards */
    return 0;
}


/* Decides about a request that ended without a complete 200 answer. */
static void failed(struct sv_tts *t, struct sentence *s,
                   const struct sv_httpc_req *r, int err, long status)
{
    bool is_retryable = false;
    bool is_fatal = false;
    unsigned delay_ms;
    unsigned after_ms = 0;
    char *why = NULL;
    int result;

    if (err == 0) {
        result = classify(t, s, status, &why, &is_retryable, &is_fatal);
        after_ms = retry_after_ms(r);
    } else {
        result = err;
        is_retryable = err == -ECONNREFUSED || err == -ECONNRESET ||
                       err == -ETIMEDOUT || err == -EHOSTUNREACH;
        why = sv_xasprintf("ElevenLabs %s: %s",
                           s->delivered_samples > 0
                               ? "stream broke off mid-sentence"
                               : "request failed",
                           strerror(-err));
    }
    if (is_retryable && s->delivered_samples == 0 &&
        s->attempts < MAX_ATTEMPTS && after_ms <= MAX_RETRY_AFTER_MS) {
        delay_ms = BACKOFF_MS << (s->attempts - 1);
        if (delay_ms > MAX_BACKOFF_MS)
            delay_ms = MAX_BACKOFF_MS;
        /* Some jitter, so that calls refused together do not retry
         * together. */
        delay_ms += (unsigned)(sv_now_ms() % (BACKOFF_MS / 2));
        if (after_ms > delay_ms)
            delay_ms = after_ms;
        sv_log(SV_LOG_WARN,
               "elevenlabs: [%s] sentence %u: %s (status %ld); retry %u in "
               "%u ms",
               tag_of(t), s->seq, err != 0 ? strerror(-err) : "refused", status,
               s->attempts, delay_ms);
        free(why);
        sv_buf_reset(&s->audio);
        s->audio_off = 0;
        s->is_accepted = false;
        s->state = S_WAITING;
        s->retry_at_ms = sv_now_ms() + delay_ms;
        return;
    }
    sv_log(SV_LOG_INFO, "elevenlabs: [%s] sentence %u: %s", tag_of(t), s->seq,
           why);
    if (is_fatal && t->fatal_err == 0) {
        t->fatal_err = result;
        t->fatal_why = sv_xstrdup(why);
    }
    finish(s, result, why);
}


static void on_done(void *arg, int err, long status)
{
    struct sentence *s = arg;
    struct sv_tts *t = s->t;
    struct sv_httpc_req *r = s->req;

    if (r == NULL)
        return; /* cancel() detached it first: drop -ECANCELED quietly */
    s->req = NULL;
    if (err == 0 && status == 200) {
        sv_log(SV_LOG_DEBUG, "elevenlabs: [%s] sentence %u: complete",
               tag_of(t), s->seq);
        finish(s, 0, NULL);
    } else {
        failed(t, s, r, err, status);
    }
    run(t);
}


/* ---- The interface ---- */

static int el_alloc(struct sv_tts **out, const struct sv_provider_env *env,
                    const struct sv_tts_opts *opts,
                    const struct sv_tts_handlers *h)
{
    const struct sv_provider_info *info = sv_provider_find("elevenlabs");
    const char *base;
    const char *voice;
    const char *model;
    json_t *settings;
    struct sv_tts *t;
    static const struct {
        const char *name;
        size_t offset;
    } knobs[] = {
        {"stability", offsetof(struct sv_tts_opts, stability)},
        {"similarity_boost", offsetof(struct sv_tts_opts, similarity_boost)},
        {"style", offsetof(struct sv_tts_opts, style)},
        {"speed", offsetof(struct sv_tts_opts, speed)},
    };

    if (env == NULL || env->loop == NULL || env->httpc == NULL ||
        env->key == NULL || env->key[0] == '\0' || opts == NULL || h == NULL ||
        h->audio == NULL || h->done == NULL)
        return -EINVAL;
    if (!rate_ok(opts->sample_rate_hz))
        return -EINVAL; /* no pcm_<rate> to ask for, and we do not resample */
    if (opts->encoding == SV_AUDIO_ULAW && opts->sample_rate_hz != 8000)
        return -EINVAL; /* ElevenLabs has mu-law at 8 kHz only */
    base = env->base_url != NULL ? env->base_url : info->default_url;
    voice = opts->voice_id != NULL && opts->voice_id[0] != '\0'
                ? opts->voice_id
                : DEFAULT_VOICE_ID;
    model = opts->model != NULL && opts->model[0] != '\0'
                ? opts->model
                : sv_provider_default_model(info);

    t = sv_xcalloc(1, sizeof(*t));
    t->body = json_object();
    if (json_object_set_new(t->body, "model_id", json_string(model)) < 0 ||
        (opts->language != NULL && opts->language[0] != '\0' &&
         json_object_set_new(t->body, "language_code",
                             json_string(opts->language)) < 0)) {
        json_decref(t->body);
        free(t);
        return -EINVAL; /* not UTF-8 */
    }
    settings = json_object();
    for (size_t i = 0; i < SV_ARRAY_SIZE(knobs); i++) {
        double v = *(const double *)((const char *)opts + knobs[i].offset);

        if (v >= 0)
            json_object_set_new(settings, knobs[i].name, json_real(v));
    }
    if (json_object_size(settings) > 0)
        json_object_set_new(t->body, "voice_settings", settings);
    else
        json_decref(settings);

    t->http = env->httpc;
    t->key_header = key_line(env->key);
    t->key = env->key;
    t->is_byok = env->is_byok;
    t->timeout_ms = env->timeout_ms > 0 ? env->timeout_ms : DEFAULT_TIMEOUT_MS;
    t->tag = env->tag != NULL ? sv_xstrdup(env->tag) : NULL;
    t->is_ulaw = opts->encoding == SV_AUDIO_ULAW;
    t->url = stream_url(base, voice, opts->sample_rate_hz, t->is_ulaw);
    t->voice_id = sv_xstrdup(voice);
    t->model = sv_xstrdup(model);
    t->h = *h;
    t->prefetch = SV_ELEVENLABS_PREFETCH;
    uv_timer_init(env->loop, &t->timer);
    t->timer.data = t;
    sv_log(SV_LOG_DEBUG, "elevenlabs: [%s] voice %s, model %s, %s_%u, %s key",
           tag_of(t), voice, model, t->is_ulaw ? "ulaw" : "pcm",
           opts->sample_rate_hz, t->is_byok ? "BYOK" : "platform");
    *out = t;
    return 0;
}


static int el_say(struct sv_tts *t, uint32_t seq, const char *text)
{
    struct sentence *s;
    json_t *probe;

    if (t == NULL || text == NULL)
        return -EINVAL;
    if (t->is_closing)
        return -ECANCELED;
    probe = json_string(text); /* NULL when text is not UTF-8 */
    if (probe == NULL)
        return -EINVAL;
    json_decref(probe);

    s = sv_xcalloc(1, sizeof(*s));
    s->t = t;
    s->seq = seq;
    s->text = sv_xstrdup(text);
    s->characters = utf8_chars(text);
    if (seq == 0) {
        /* A new turn: its first sentence follows nothing that was said
         * in it (provider.h), so it gets no previous_text. */
        free(t->last_text);
        t->last_text = NULL;
    }
    if (is_blank(text)) {
        /* Nothing to speak and nothing billed; report it from the loop. */
        s->state = S_DONE;
        s->is_accepted = false;
    } else {
        s->state = S_QUEUED;
        /* The sentence before, for ElevenLabs' prosody across requests;
         * next_text is not sent, as waiting for it would cost latency. */
        if (t->last_text != NULL)
            s->previous_text = utf8_tail(t->last_text, MAX_PREVIOUS_TEXT);
        free(t->last_text);
        t->last_text = sv_xstrdup(text);
    }
    if (t->tail != NULL)
        t->tail->next = s;
    else
        t->head = s;
    t->tail = s;
    if (start_due(t) || t->head->state == S_DONE)
        kick(t);
    return 0;
}


static void el_cancel(struct sv_tts *t)
{
    struct sentence *s;
    struct sentence *next;
    struct sv_httpc_req *r;

    if (t == NULL)
        return;
    t->epoch++;
    s = t->head;
    t->head = NULL;
    t->tail = NULL;
    for (; s != NULL; s = next) {
        next = s->next;
        r = s->req;
        s->req = NULL; /* so on_done ignores the -ECANCELED */
        if (r != NULL)
            sv_httpc_cancel(r);
        sentence_free(s);
    }
    free(t->last_text);
    t->last_text = NULL;
    if (!t->is_closing)
        uv_timer_stop(&t->timer);
}


static void on_close(uv_handle_t *h)
{
    struct sv_tts *t = h->data;

    sodium_free(t->key_header);
    free(t->tag);
    free(t->url);
    free(t->voice_id);
    free(t->model);
    free(t->fatal_why);
    json_decref(t->body);
    free(t);
}


static void el_free(struct sv_tts *t)
{
    if (t == NULL || t->is_closing)
        return;
    el_cancel(t);
    t->is_closing = true;
    /* The memory goes in on_close: a callback that called us may still
     * be unwinding through run() and checks t->epoch there. */
    uv_close((uv_handle_t *)&t->timer, on_close);
}


int sv_elevenlabs_set_prefetch(struct sv_tts *t, unsigned n)
{
    if (n > SV_ELEVENLABS_MAX_PREFETCH)
        return -EINVAL;
    t->prefetch = n;
    return 0;
}


const struct sv_tts_provider sv_tts_elevenlabs = {
    .name = "elevenlabs",
    .alloc = el_alloc,
    .say = el_say,
    .cancel = el_cancel,
    .free = el_free,
};
