/*
 * call.c - the call state machine (see call.h).
 *
 * A call listens (caller audio streams to STT), and when the caller's
 * turn ends it replies: the LLM streams text, the sentence splitter cuts
 * it, each sentence goes to TTS as soon as it is complete, and TTS audio
 * is queued and paced out in 20 ms frames. When the caller talks over
 * the reply (enough words, not just "uh-huh"), everything in flight is
 * cancelled at once and the history keeps only what was heard.
 *
 * Loop thread only. Provider callbacks arrive from the loop, never from
 * inside a call into a provider, so any of them may cancel or free legs.
 *
 * SPDX-License-Identifier: MIT
 */
#include "pipeline/call.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/sentence.h"
#include "pipeline/turn.h"
#include "providers/registry.h"
#include "store/store.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/secret.h"

#define FRAME_MS           20
#define LEAD_FRAMES        2 /* frames sent ahead to prime the client */
#define BARGE_IN_WORDS     2
#define MAX_TOOL_ROUNDS    3
#define FIRST_CLAUSE_CHARS 60  /* long first sentences split at a comma */
#define VOICE_RMS          500 /* caller energy that counts as speech */

/* One sentence of the reply in progress, as sent to TTS. */
struct spoken {
    char *text;     /* owned */
    size_t samples; /* audio received for it so far */
    bool is_done;
};

struct sv_call {
    uv_loop_t *loop;
    struct sv_store *store; /* borrowed */
    char id[SV_ID_LEN];
    char org_id[SV_ID_LEN];
    json_t *assistant; /* owned reference */
    unsigned rate_hz;
    enum sv_audio_encoding encoding; /* the owner's edge, for TTS */
    size_t frame_samples;
    struct sv_call_handlers h;

    struct sv_call_leg leg_stt, leg_llm, leg_tts; /* keys owned */
    const struct sv_stt_provider *stt_p;
    const struct sv_llm_provider *llm_p;
    const struct sv_tts_provider *tts_p;
    struct sv_stt *stt;
    struct sv_llm_req *llm;
    struct sv_tts *tts;

    json_t *history;         /* owned: OpenAI-style messages */
    json_t *tools;           /* owned: tools offered to the model */
    struct sv_buf user_text; /* final transcripts of this user turn */

    /* The reply in progress. */
    bool is_replying;
    bool is_llm_done;
    bool want_end_after; /* end the call once the reply is heard */
    const char *end_after_reason;
    int tool_rounds;
    struct sv_sentence splitter;
    struct sv_buf reply_text;
    struct spoken *spoken;
    size_t n_spoken, cap_spoken;
    struct sv_buf out;      /* queued reply PCM (int16) */
    size_t played_samples;  /* of this reply, sent to the owner */
    uint64_t next_frame_ms; /* pacer schedule */

    /* Turn metrics, monotonic ms; 0 = not yet. */
    int turn;
    uint64_t t_last_voice;
    uint64_t t_user_end;
    uint64_t t_llm_start;
    uint64_t t_first_token;
    uint64_t t_tts_start;
    uint64_t t_tts_first_byte;
    bool has_metrics;

    /* Usage. */
    uint64_t stt_samples;
    unsigned tokens_in, tokens_out;
    size_t tts_chars;

    uv_timer_t pacer;
    uv_timer_t max_timer;
    uv_timer_t silence_timer;
    uv_timer_t end_timer;
    int open_handles;
    bool is_ended;
    bool is_ended_reported;
    bool is_freed;
    const char *end_reason;
    char last_error[600]; /* the last error event (code: message) */
};

static void reply_start(struct sv_call *c);
static void reply_check_done(struct sv_call *c);
static void on_silence(uv_timer_t *t);


/* ---- small helpers ---- */

static void emit(struct sv_call *c, json_t *ev)
{
    if (!c->is_freed && c->h.event != NULL)
        c->h.event(c->h.arg, ev);
    json_decref(ev);
}


static void emit_error(struct sv_call *c, const char *code,
                       const struct sv_call_leg *leg, int err, const char *why)
{
    char msg[512];

    /* Adapters say whose key a refusal concerns; never the key itself. */
    snprintf(msg, sizeof(msg), "%s: %s", leg->info->name,
             why != NULL ? why : strerror(-err));
    sv_log(SV_LOG_WARN, "call: [%s] %s: %s", c->id, code, msg);
    snprintf(c->last_error, sizeof(c->last_error), "%s: %s", code, msg);
    emit(c, json_pack("{s:s, s:s, s:s}", "type", "error", "error", code,
                      "message", msg));
}


/*
 * Records a turn: in the history the model sees and in the call's
 * transcript. A user turn right after another one (no reply to the first
 * was heard: the model failed or timed out, or the caller spoke on
 * before its first word) joins that one in the history, so the model
 * sees what the caller said since its last answer as one turn instead
 * of two user messages in a row. The transcript keeps both as said.
 */
static void store_message(struct sv_call *c, const char *role, const char *text)
{
    size_t n = json_array_size(c->history);
    json_t *last = n > 0 ? json_array_get(c->history, n - 1) : NULL;
    const char *last_role = json_string_value(json_object_get(last, "role"));
    const char *last_text = json_string_value(json_object_get(last, "content"));
    char *joined;

    if (text[0] == '\0')
        return;
    if (strcmp(role, "user") == 0 && last_role != NULL &&
        strcmp(last_role, "user") == 0 && last_text != NULL) {
        joined = sv_xasprintf("%s %s", last_text, text);
        json_object_set_new(last, "content", json_string(joined));
        free(joined);
    } else {
        json_array_append_new(
            c->history, json_pack("{s:s, s:s}", "role", role, "content", text));
    }
    sv_store_call_add_message(c->store, c->id, role, text);
}


static const char *config_str(struct sv_call *c, const char *cfg,
                              const char *key)
{
    json_t *o = json_object_get(c->assistant, cfg);

    return json_string_value(json_object_get(o, key));
}


static double config_num(struct sv_call *c, const char *cfg, const char *key)
{
    json_t *v = json_object_get(json_object_get(c->assistant, cfg), key);

    return json_is_number(v) ? json_number_value(v) : -1.0;
}


static void silence_restart(struct sv_call *c)
{
    json_int_t s = json_integer_value(
        json_object_get(c->assistant, "silence_timeout_seconds"));

    if (c->is_ended || c->is_replying || s <= 0)
        return;
    uv_timer_start(&c->silence_timer, on_silence, (uint64_t)s * 1000, 0);
}


/* ---- reply audio: queue and pacer ---- */

static size_t queued_samples(const struct sv_call *c)
{
    return c->out.len / sizeof(int16_t);
}


static void send_metrics(struct sv_call *c, uint64_t now)
{
    json_t *ev;

    c->has_metrics = true;
    ev = json_pack("{s:s, s:i}", "type", "turn_metrics", "turn", c->turn);
#define METRIC(name, from, to)                                                 \
    json_object_set_new(ev, name,                                              \
                        (from) && (to) && (to) >= (from)                       \
                            ? json_integer((json_int_t)((to) - (from)))        \
                            : json_null())
    METRIC("stt_final_ms", c->t_last_voice, c->t_user_end);
    METRIC("llm_first_token_ms", c->t_llm_start, c->t_first_token);
    METRIC("tts_first_byte_ms", c->t_tts_start, c->t_tts_first_byte);
    METRIC("end_to_first_audio_ms",
           c->t_last_voice ? c->t_last_voice : c->t_user_end, now);
#undef METRIC
    emit(c, ev);
}


/* Sends every frame that is due (plus the lead) to the owner. */
static void pace(struct sv_call *c)
{
    uint64_t now = uv_now(c->loop);
    int16_t *pcm;
    size_t n = c->frame_samples;

    while (queued_samples(c) > 0 && !c->is_ended &&
           now + LEAD_FRAMES * FRAME_MS >= c->next_frame_ms) {
        bool tail = queued_samples(c) < n;

        if (tail) {
            /* A partial frame goes out only once the reply is complete. */
            bool all_done = c->is_llm_done;

            for (size_t i = 0; i < c->n_spoken; i++)
                all_done = all_done && c->spoken[i].is_done;
            if (!all_done)
                break;
            while (queued_samples(c) < n) {
                int16_t zero = 0;

                sv_buf_append(&c->out, &zero, sizeof(zero));
            }
        }
        if (c->played_samples == 0 && !c->has_metrics)
            send_metrics(c, now);
        pcm = (int16_t *)c->out.data;
        c->h.audio(c->h.arg, pcm, n);
        if (c->is_freed)
            return;
        sv_buf_consume(&c->out, n * sizeof(int16_t));
        c->played_samples += tail ? 0 : n;
        c->next_frame_ms += FRAME_MS;
    }
    if (queued_samples(c) == 0) {
        uv_timer_stop(&c->pacer);
        reply_check_done(c);
    }
}


static void on_pacer(uv_timer_t *t)
{
    pace(t->data);
}


static void queue_audio(struct sv_call *c, const int16_t *pcm, size_t n)
{
    uint64_t now = uv_now(c->loop);

    if (!uv_is_active((uv_handle_t *)&c->pacer)) {
        /* Playback (re)starts: anchor the schedule to now. */
        if (c->next_frame_ms < now)
            c->next_frame_ms = now;
        uv_timer_start(&c->pacer, on_pacer, FRAME_MS, FRAME_MS);
    }
    sv_buf_append(&c->out, pcm, n * sizeof(int16_t));
    pace(c);
}


/* ---- the reply ---- */

static void spoken_clear(struct sv_call *c)
{
    for (size_t i = 0; i < c->n_spoken; i++)
        free(c->spoken[i].text);
    c->n_spoken = 0;
}


static int on_sentence(void *arg, const char *text, size_t len)
{
    struct sv_call *c = arg;
    struct spoken *s;
    int err;

    while (len > 0 && (text[0] == ' ' || text[0] == '\n')) {
        text++;
        len--;
    }
    if (len == 0 || c->tts == NULL)
        return 0;
    if (c->n_spoken == c->cap_spoken) {
        c->cap_spoken = c->cap_spoken ? c->cap_spoken * 2 : 8;
        c->spoken = sv_xrealloc(c->spoken, c->cap_spoken * sizeof(*s));
    }
    s = &c->spoken[c->n_spoken];
    s->text = sv_xstrndup(text, len);
    s->samples = 0;
    s->is_done = false;
    if (c->t_tts_start == 0)
        c->t_tts_start = sv_now_ms();
    err = c->tts_p->say(c->tts, (uint32_t)c->n_spoken, s->text);
    c->n_spoken++;
    if (err < 0) {
        c->spoken[c->n_spoken - 1].is_done = true;
        emit_error(c, "tts_failed", &c->leg_tts, err, NULL);
    }
    return 0;
}


/* The part of the reply the caller actually heard. */
static char *heard_text(struct sv_call *c)
{
    struct sv_buf b = {0};
    size_t played = c->played_samples;

    for (size_t i = 0; i < c->n_spoken && played > 0; i++) {
        struct spoken *s = &c->spoken[i];
        size_t len = strlen(s->text);

        if (b.len > 0)
            sv_buf_append(&b, " ", 1);
        if (played >= s->samples && s->is_done) {
            sv_buf_append(&b, s->text, len);
            played -= s->samples;
            continue;
        }
        /* Cut inside this sentence, at the last word heard. */
        if (s->samples > 0) {
            size_t cut = (size_t)((double)len * played / s->samples);

            while (cut > 0 && s->text[cut] != ' ' && s->text[cut] != '\0')
                cut--;
            sv_buf_append(&b, s->text, cut);
            if (cut > 0)
                sv_buf_append(&b, "...", 3);
        }
        break;
    }
    if (b.data == NULL)
        return sv_xstrdup("");
    return b.data;
}


/* The reply is over (complete or cut): record it and go back to listening. */
static void reply_finish(struct sv_call *c, bool is_cut)
{
    char *text = is_cut
                     ? heard_text(c)
                     : sv_xstrndup(c->reply_text.data ? c->reply_text.data : "",
                                   c->reply_text.len);

    c->is_replying = false;
    uv_timer_stop(&c->pacer);
    sv_buf_reset(&c->out);
    if (text[0] != '\0') {
        store_message(c, "assistant", text);
        emit(c, json_pack("{s:s, s:s, s:s, s:b}", "type", "transcript", "role",
                          "assistant", "text", text, "final", 1));
    }
    free(text);
    spoken_clear(c);
    sv_buf_reset(&c->reply_text);
    silence_restart(c);
}


static void reply_check_done(struct sv_call *c)
{
    if (!c->is_replying || !c->is_llm_done || queued_samples(c) > 0)
        return;
    for (size_t i = 0; i < c->n_spoken; i++) {
        if (!c->spoken[i].is_done)
            return;
    }
    reply_finish(c, false);
    if (c->want_end_after)
        sv_call_end(c, c->end_after_reason);
}


/* The caller spoke over the reply: stop everything at once. */
static void interrupt(struct sv_call *c)
{
    if (c->llm != NULL) {
        struct sv_llm_req *r = c->llm;

        c->llm = NULL;
        c->llm_p->cancel(r);
    }
    if (c->tts != NULL)
        c->tts_p->cancel(c->tts);
    sv_buf_reset(&c->out);
    uv_timer_stop(&c->pacer);
    if (c->h.flush != NULL)
        c->h.flush(c->h.arg);
    sv_log(SV_LOG_INFO, "call: [%s] barge-in after %zu ms of reply audio",
           c->id, c->played_samples * 1000 / c->rate_hz);
    emit(c, json_pack("{s:s}", "type", "interrupted"));
    c->want_end_after = false;
    reply_finish(c, true);
}


static void on_llm_text(void *arg, const char *text, size_t len)
{
    struct sv_call *c = arg;

    if (c->t_first_token == 0)
        c->t_first_token = sv_now_ms();
    sv_buf_append(&c->reply_text, text, len);
    emit(c,
         json_pack("{s:s, s:s%}", "type", "assistant_text", "text", text, len));
    sv_sentence_feed(&c->splitter, text, len);
}


static void on_llm_tool(void *arg, const char *id, const char *name,
                        const char *arguments)
{
    struct sv_call *c = arg;
    json_t *call;

    if (strcmp(name, "end_call") == 0) {
        sv_log(SV_LOG_INFO, "call: [%s] the assistant ends the call", c->id);
        c->want_end_after = true;
        c->end_after_reason = "assistant-ended-call";
        return;
    }
    /*
     * Tools other than the built-ins need the webhooks that are not
     * there yet: answer the model with an error result so that it can
     * tell the caller, instead of waiting for ever.
     */
    sv_log(SV_LOG_WARN, "call: [%s] tool %s is not available", c->id, name);
    call = json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", id, "type", "function",
                     "function", "name", name, "arguments", arguments);
    json_array_append_new(c->history,
                          json_pack("{s:s, s:n, s:[o]}", "role", "assistant",
                                    "content", "tool_calls", call));
    json_array_append_new(
        c->history,
        json_pack("{s:s, s:s, s:s}", "role", "tool", "tool_call_id", id,
                  "content",
                  "{\"error\": \"this tool is not available right now\"}"));
    c->tool_rounds++;
}


static void on_llm_done(void *arg, int err, const char *why,
                        const struct sv_llm_usage *usage)
{
    struct sv_call *c = arg;
    bool retry_tools;

    if (usage != NULL) {
        c->tokens_in += usage->prompt_tokens;
        c->tokens_out += usage->completion_tokens;
    }
    if (err == -ECANCELED)
        return;
    c->llm = NULL;
    if (err < 0) {
        emit_error(c, "llm_failed", &c->leg_llm, err, why);
        if (err == -EACCES) {
            sv_call_end(c, "error");
            return;
        }
    }
    sv_sentence_flush(&c->splitter);
    retry_tools = err == 0 && c->tool_rounds > 0 &&
                  c->tool_rounds <= MAX_TOOL_ROUNDS && c->n_spoken == 0 &&
                  c->reply_text.len == 0 && !c->want_end_after;
    if (retry_tools) {
        /* Let the model answer after the tool results. */
        c->is_replying = false;
        reply_start(c);
        return;
    }
    c->is_llm_done = true;
    reply_check_done(c);
}


static json_t *builtin_tools(void)
{
    return json_pack(
        "[{s:s, s:{s:s, s:s, s:{s:s, s:{}}}}]", "type", "function", "function",
        "name", "end_call", "description",
        "End the call. Say goodbye in the same reply before calling this.",
        "parameters", "type", "object", "properties");
}


static void reply_start(struct sv_call *c)
{
    struct sv_llm_opts o;
    struct sv_llm_handlers h = {
        .text = on_llm_text,
        .tool_call = on_llm_tool,
        .done = on_llm_done,
        .arg = c,
    };
    int err;

    if (c->is_ended)
        return;
    c->is_replying = true;
    c->is_llm_done = false;
    c->played_samples = 0;
    c->has_metrics = false;
    c->t_first_token = 0;
    c->t_tts_start = 0;
    c->t_tts_first_byte = 0;
    uv_timer_stop(&c->silence_timer);
    sv_sentence_reset(&c->splitter);

    memset(&o, 0, sizeof(o));
    o.model = config_str(c, "llm_config", "model");
    o.temperature = config_num(c, "llm_config", "temperature");
    o.max_tokens = (unsigned)json_integer_value(json_object_get(
        json_object_get(c->assistant, "llm_config"), "max_tokens"));
    o.messages = c->history;
    o.tools = c->tools;
    c->t_llm_start = sv_now_ms();
    err = c->llm_p->start(&c->llm, &c->leg_llm.env, &o, &h);
    if (err < 0) {
        c->llm = NULL;
        emit_error(c, "llm_failed", &c->leg_llm, err, NULL);
        c->is_llm_done = true;
        reply_check_done(c);
    }
}


/* Speaks text as a whole reply of its own (first message, say). */
static void speak(struct sv_call *c, const char *text)
{
    if (c->is_replying)
        interrupt(c);
    c->is_replying = true;
    c->is_llm_done = true;
    c->played_samples = 0;
    c->has_metrics = true;
    uv_timer_stop(&c->silence_timer);
    sv_sentence_reset(&c->splitter);
    sv_buf_append(&c->reply_text, text, strlen(text));
    sv_sentence_feed(&c->splitter, text, strlen(text));
    sv_sentence_flush(&c->splitter);
    reply_check_done(c);
}


/* ---- TTS ---- */

static void on_tts_audio(void *arg, uint32_t seq, const int16_t *pcm,
                         size_t samples)
{
    struct sv_call *c = arg;

    if (seq >= c->n_spoken || !c->is_replying)
        return;
    if (c->t_tts_first_byte == 0)
        c->t_tts_first_byte = sv_now_ms();
    c->spoken[seq].samples += samples;
    queue_audio(c, pcm, samples);
}


static void on_tts_done(void *arg, uint32_t seq, int err, const char *why,
                        size_t characters)
{
    struct sv_call *c = arg;

    c->tts_chars += characters;
    if (seq < c->n_spoken)
        c->spoken[seq].is_done = true;
    if (err < 0 && err != -ECANCELED) {
        emit_error(c, "tts_failed", &c->leg_tts, err, why);
        if (err == -EACCES || err == -EINVAL) {
            sv_call_end(c, "error");
            return;
        }
    }
    if (queued_samples(c) == 0)
        reply_check_done(c);
}


/* ---- STT and turn taking ---- */

static void user_turn_end(struct sv_call *c)
{
    if (c->user_text.len == 0 || c->is_ended)
        return;
    c->turn++;
    c->t_user_end = sv_now_ms();
    store_message(c, "user", c->user_text.data);
    sv_buf_reset(&c->user_text);
    c->tool_rounds = 0;
    reply_start(c);
}


static void on_transcript(void *arg, const char *text, bool is_final,
                          bool speech_final)
{
    struct sv_call *c = arg;

    if (c->is_ended)
        return;
    silence_restart(c);
    if (text[0] != '\0') {
        emit(c, json_pack("{s:s, s:s, s:s, s:b}", "type", "transcript", "role",
                          "user", "text", text, "final", is_final));
    }
    if (c->is_replying && text[0] != '\0') {
        /* Backchannel while the assistant talks is not a turn. */
        if (!sv_turn_is_barge_in(text, is_final ? 1 : BARGE_IN_WORDS))
            return;
        interrupt(c);
    }
    if (is_final && text[0] != '\0') {
        if (c->user_text.len > 0)
            sv_buf_append(&c->user_text, " ", 1);
        sv_buf_append(&c->user_text, text, strlen(text));
    }
    if (speech_final && !c->is_replying)
        user_turn_end(c);
}


static void on_speech_started(void *arg)
{
    struct sv_call *c = arg;

    silence_restart(c);
    emit(c, json_pack("{s:s}", "type", "speech_started"));
}


static void on_utterance_end(void *arg)
{
    struct sv_call *c = arg;

    if (!c->is_replying)
        user_turn_end(c);
}


static void on_stt_error(void *arg, int err, const char *why)
{
    struct sv_call *c = arg;

    emit_error(c, "stt_failed", &c->leg_stt, err, why);
    sv_call_end(c, "error");
}


/* ---- timers and the end ---- */

static void on_max_duration(uv_timer_t *t)
{
    sv_call_end(t->data, "exceeded-max-duration");
}


static void on_silence(uv_timer_t *t)
{
    sv_call_end(t->data, "silence-timed-out");
}


static void on_end_timer(uv_timer_t *t)
{
    struct sv_call *c = t->data;

    if (!c->is_ended_reported && c->h.ended != NULL) {
        c->is_ended_reported = true;
        c->h.ended(c->h.arg, c->end_reason);
    }
}


/*
 * Stops the legs. At the end of a call the STT stream is finished
 * (Deepgram's CloseStream) rather than cut, and freed with the call.
 */
static void legs_close(struct sv_call *c, bool is_graceful)
{
    if (c->llm != NULL) {
        struct sv_llm_req *r = c->llm;

        c->llm = NULL;
        c->llm_p->cancel(r);
    }
    if (c->tts != NULL) {
        c->tts_p->free(c->tts);
        c->tts = NULL;
    }
    if (c->stt != NULL && is_graceful) {
        c->stt_p->finish(c->stt);
    } else if (c->stt != NULL) {
        c->stt_p->free(c->stt);
        c->stt = NULL;
    }
}


static void record_usage(struct sv_call *c)
{
    struct {
        const struct sv_call_leg *leg;
        const char *metric;
        double amount;
    } rows[] = {
        {&c->leg_stt, "stt_seconds", (double)c->stt_samples / c->rate_hz},
        {&c->leg_llm, "llm_tokens_in", c->tokens_in},
        {&c->leg_llm, "llm_tokens_out", c->tokens_out},
        {&c->leg_tts, "tts_characters", (double)c->tts_chars},
    };

    for (size_t i = 0; i < SV_ARRAY_SIZE(rows); i++) {
        const struct sv_call_leg *leg = rows[i].leg;

        sv_store_usage_add(c->store, c->id, c->org_id, leg->info->id,
                           rows[i].metric, rows[i].amount,
                           leg->env.is_byok ? "byok" : "platform");
    }
}


void sv_call_end(struct sv_call *c, const char *reason)
{
    if (c->is_ended)
        return;
    c->is_ended = true;
    c->end_reason = reason;
    sv_log(SV_LOG_NOTICE, "call: [%s] ended: %s", c->id, reason);
    legs_close(c, true);
    uv_timer_stop(&c->pacer);
    uv_timer_stop(&c->max_timer);
    uv_timer_stop(&c->silence_timer);
    if (c->is_replying)
        reply_finish(c, true);
    record_usage(c);
    /* A call ended by an error keeps what the client was told. */
    sv_store_call_update_status(c->store, c->org_id, c->id, "ended", reason,
                                strcmp(reason, "error") != 0 ? NULL
                                : c->last_error[0] != '\0'
                                    ? c->last_error
                                    : "a provider failed");
    /* Tell the owner from the loop, not from inside its own call. */
    uv_timer_start(&c->end_timer, on_end_timer, 0, 0);
}


/* ---- life cycle ---- */

static void leg_take(struct sv_call_leg *dst, struct sv_call_leg *src)
{
    *dst = *src;
    src->env.key = NULL;
}


static void leg_release(struct sv_call_leg *leg)
{
    sv_secret_free((char *)leg->env.key);
    leg->env.key = NULL;
}


static void timer_init(struct sv_call *c, uv_timer_t *t)
{
    uv_timer_init(c->loop, t);
    t->data = c;
    c->open_handles++;
}


static int open_legs(struct sv_call *c, char *why, size_t why_len)
{
    struct sv_stt_opts so;
    struct sv_tts_opts to;
    struct sv_stt_handlers sh = {
        .transcript = on_transcript,
        .speech_started = on_speech_started,
        .utterance_end = on_utterance_end,
        .error = on_stt_error,
        .arg = c,
    };
    struct sv_tts_handlers th = {
        .audio = on_tts_audio,
        .done = on_tts_done,
        .arg = c,
    };
    json_t *stt_cfg = json_object_get(c->assistant, "stt_config");
    json_int_t endpointing;
    json_int_t utt_end;
    int err;

    c->stt_p = sv_stt_find(c->leg_stt.info->id);
    c->llm_p = sv_llm_find(c->leg_llm.info->id);
    c->tts_p = sv_tts_find(c->leg_tts.info->id);
    if (c->stt_p == NULL || c->llm_p == NULL || c->tts_p == NULL) {
        snprintf(why, why_len,
                 "a provider of this assistant has no "
                 "adapter in this daemon");
        return -ENOTSUP;
    }

    memset(&so, 0, sizeof(so));
    so.model = config_str(c, "stt_config", "model");
    so.language = config_str(c, "stt_config", "language");
    so.keyterms = json_object_get(stt_cfg, "keyterms");
    so.sample_rate_hz = c->rate_hz;
    endpointing =
        json_integer_value(json_object_get(stt_cfg, "endpointing_ms"));
    utt_end = json_integer_value(json_object_get(stt_cfg, "utterance_end_ms"));
    so.endpointing_ms = endpointing > 0 ? (unsigned)endpointing : 300;
    so.utterance_end_ms = utt_end > 0 ? (unsigned)utt_end : 1000;
    so.smart_format = json_is_true(json_object_get(stt_cfg, "smart_format"));
    err = c->stt_p->alloc(&c->stt, &c->leg_stt.env, &so, &sh);
    if (err < 0) {
        c->stt = NULL;
        snprintf(why, why_len, "%s: cannot start speech-to-text",
                 c->leg_stt.info->name);
        return err;
    }

    memset(&to, 0, sizeof(to));
    to.voice_id = config_str(c, "tts_config", "voice_id");
    to.model = config_str(c, "tts_config", "model");
    to.language = config_str(c, "tts_config", "language");
    to.stability = config_num(c, "tts_config", "stability");
    to.similarity_boost = config_num(c, "tts_config", "similarity_boost");
    to.style = config_num(c, "tts_config", "style");
    to.speed = config_num(c, "tts_config", "speed");
    to.sample_rate_hz = c->rate_hz;
    to.encoding = c->encoding;
    err = c->tts_p->alloc(&c->tts, &c->leg_tts.env, &to, &th);
    if (err < 0) {
        c->tts = NULL;
        snprintf(why, why_len, "%s: cannot start text-to-speech",
                 c->leg_tts.info->name);
        return err;
    }
    return 0;
}


static void history_init(struct sv_call *c)
{
    json_t *llm = json_object_get(c->assistant, "llm_config");
    json_t *msgs = json_object_get(llm, "messages");
    json_t *tools = json_object_get(llm, "tools");
    json_t *m;
    size_t i;

    c->history = json_array();
    json_array_foreach(msgs, i, m)
    {
        json_array_append_new(c->history, json_deep_copy(m));
    }
    c->tools = builtin_tools();
    json_array_foreach(tools, i, m)
    {
        json_t *fn = json_object_get(m, "function");

        json_array_append_new(c->tools, json_pack("{s:s, s:O}", "type",
                                                  "function", "function", fn));
    }
}


int sv_call_start(struct sv_call **out, struct sv_call_params *p, char *why,
                  size_t why_len)
{
    struct sv_call *c = sv_xcalloc(1, sizeof(*c));
    const char *first;
    json_int_t max_s;
    int err;

    c->loop = p->loop;
    c->store = p->store;
    memcpy(c->id, p->call_id, SV_ID_LEN);
    memcpy(c->org_id, p->org_id, SV_ID_LEN);
    c->assistant = json_incref(p->assistant);
    c->rate_hz = p->sample_rate_hz;
    c->encoding = p->encoding;
    c->frame_samples = c->rate_hz * FRAME_MS / 1000;
    c->h = p->h;
    leg_take(&c->leg_stt, &p->stt);
    leg_take(&c->leg_llm, &p->llm);
    leg_take(&c->leg_tts, &p->tts);
    sv_sentence_init(&c->splitter, FIRST_CLAUSE_CHARS, on_sentence, c);
    history_init(c);
    timer_init(c, &c->pacer);
    timer_init(c, &c->max_timer);
    timer_init(c, &c->silence_timer);
    timer_init(c, &c->end_timer);

    err = open_legs(c, why, why_len);
    if (err < 0) {
        sv_call_free(c);
        return err;
    }

    max_s = json_integer_value(
        json_object_get(c->assistant, "max_duration_seconds"));
    if (max_s > 0)
        uv_timer_start(&c->max_timer, on_max_duration, (uint64_t)max_s * 1000,
                       0);
    sv_store_call_update_status(c->store, c->org_id, c->id, "in-progress", NULL,
                                NULL);
    sv_log(SV_LOG_NOTICE, "call: [%s] started at %u Hz (%s, %s, %s)", c->id,
           c->rate_hz, c->leg_stt.info->id, c->leg_llm.info->id,
           c->leg_tts.info->id);

    first = json_string_value(json_object_get(c->assistant, "first_message"));
    if (first != NULL && first[0] != '\0')
        speak(c, first);
    else
        silence_restart(c);
    *out = c;
    return 0;
}


/* Energy of a frame, to time the end of the caller's speech locally. */
static bool is_voiced(const int16_t *pcm, size_t n)
{
    double sum = 0;

    for (size_t i = 0; i < n; i++)
        sum += (double)pcm[i] * pcm[i];
    return n > 0 && sqrt(sum / (double)n) > VOICE_RMS;
}


void sv_call_audio(struct sv_call *c, const int16_t *pcm, size_t samples)
{
    if (c->is_ended || c->stt == NULL || samples == 0)
        return;
    if (is_voiced(pcm, samples))
        c->t_last_voice = sv_now_ms();
    c->stt_samples += samples;
    c->stt_p->send(c->stt, pcm, samples);
}


int sv_call_say(struct sv_call *c, const char *text, bool end_after)
{
    if (c->is_ended)
        return -ESHUTDOWN;
    speak(c, text);
    if (end_after) {
        c->want_end_after = true;
        c->end_after_reason = "assistant-ended-call";
        reply_check_done(c);
    }
    return 0;
}


int sv_call_inject(struct sv_call *c, const char *text, bool respond)
{
    if (c->is_ended)
        return -ESHUTDOWN;
    json_array_append_new(
        c->history, json_pack("{s:s, s:s}", "role", "system", "content", text));
    if (respond && !c->is_replying)
        reply_start(c);
    return 0;
}


const char *sv_call_id(const struct sv_call *c)
{
    return c->id;
}


bool sv_call_is_ended(const struct sv_call *c)
{
    return c->is_ended;
}


static void on_timer_closed(uv_handle_t *h)
{
    struct sv_call *c = h->data;

    if (--c->open_handles > 0)
        return;
    json_decref(c->history);
    json_decref(c->tools);
    json_decref(c->assistant);
    sv_buf_free(&c->user_text);
    sv_buf_free(&c->reply_text);
    sv_buf_free(&c->out);
    spoken_clear(c);
    free(c->spoken);
    free(c);
}


void sv_call_free(struct sv_call *c)
{
    if (c == NULL)
        return;
    c->is_freed = true;
    legs_close(c, false);
    leg_release(&c->leg_stt);
    leg_release(&c->leg_llm);
    leg_release(&c->leg_tts);
    sv_sentence_close(&c->splitter);
    uv_close((uv_handle_t *)&c->pacer, on_timer_closed);
    uv_close((uv_handle_t *)&c->max_timer, on_timer_closed);
    uv_close((uv_handle_t *)&c->silence_timer, on_timer_closed);
    uv_close((uv_handle_t *)&c->end_timer, on_timer_closed);
}
