/*
 * sessions.c - the load benchmark: N concurrent voice sessions through
 * the real sovereignd, each streaming real-time 16 kHz PCM, against fake
 * Deepgram, OpenAI and ElevenLabs servers with fixed delays.
 *
 * Everything but the daemon lives in this one process, on one libuv
 * loop: the session clients (lws websocket clients of
 * /api/v1/sessions), a fake Deepgram (an lws websocket server speaking
 * the live-transcription protocol, with an energy VAD and endpointing)
 * and fake OpenAI and ElevenLabs servers (plain HTTP/1.1 on libuv:
 * streamed chat completions over SSE, streamed PCM). The daemon runs as
 * its own process, started here from the build tree, with a private
 * state directory.
 *
 * Every hop of a turn is timed where it crosses this process, so the
 * daemon's own share of the latency is measured, not inferred:
 *
 *   hop 1  client writes the audio frame that completes the endpoint
 *          -> fake Deepgram reads it (the daemon forwards audio)
 *   hop 2  fake Deepgram sends speech_final -> fake OpenAI has the request
 *   hop 3  fake OpenAI sends the reply -> fake ElevenLabs has the request
 *          for its first sentence
 *   hop 4  fake ElevenLabs sends the first audio -> client reads the
 *          first reply frame
 *
 * The provider delays themselves (endpointing, first token, first byte)
 * fall between the hops and are not counted. The session, the turn and
 * the fake connection are tied together through the wire: each session
 * asks for a Deepgram keyterm "bench-N", the fake Deepgram transcribes
 * the Nth session's kth utterance as "caller N turn k", and the fake
 * OpenAI answers "Caller N turn k, got it. Anything else?".
 *
 * The fakes are in sessions_fakes.c. ctest runs it only as a smoke test
 * (a few sessions for a few seconds, also under the sanitizers), which
 * checks that every turn goes through, not the figures; see
 * bench/README.md.
 *
 *   bench_sessions [--sessions 100] [--seconds 30] [--stt-ms 300]
 *                  [--llm-ms 200] [--tts-ms 150] [--daemon PATH]
 *                  [--opus] [--strict]
 *
 * SPDX-License-Identifier: MIT
 */
#include "bench/sessions.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <uv.h>

#include "pipeline/opus_codec.h"
#include "util/alloc.h"
#include "util/buf.h"

/* ---- small helpers ---- */

/* The daemon, once started, so that dying does not leave it running. */
static pid_t daemon_pid;


void bench_die(const char *fmt, ...)
{
    va_list ap;

    fputs("bench_sessions: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n", stderr);
    if (daemon_pid > 0)
        kill(daemon_pid, SIGTERM);
    exit(1);
}


static uint32_t next_rand(struct bench *b)
{
    b->rand = b->rand * 1103515245u + 12345u;
    return b->rand >> 8;
}


bool bench_parse_ids(const char *s, int *sess, int *turn)
{
    int v[2];
    int n = 0;

    while (*s != '\0' && n < 2) {
        if (*s >= '0' && *s <= '9') {
            v[n++] = (int)strtol(s, (char **)&s, 10);
            continue;
        }
        s++;
    }
    if (n < 2)
        return false;
    *sess = v[0];
    *turn = v[1];
    return true;
}


struct turn *bench_turn(struct bench *b, int sess, int turn)
{
    if (sess < 0 || sess >= b->n_sessions || turn < 1 || turn > MAX_TURNS)
        return NULL;
    return &b->sess[sess].turns[turn - 1];
}


/* The caller's audio: a buzz while speaking, near silence otherwise. */
static void make_frame(bool voiced, uint64_t idx, int16_t *pcm)
{
    for (int i = 0; i < FRAME_SAMPLES; i++) {
        double t = (double)(idx * FRAME_SAMPLES + (uint64_t)i) / RATE_HZ;
        double v = 0;

        if (voiced) {
            double env = 0.7 + 0.3 * sin(2 * M_PI * 4 * t);

            v = env * (5000 * sin(2 * M_PI * 140 * t) +
                       2000 * sin(2 * M_PI * 280 * t));
        } else {
            v = ((i * 7919 + (int)idx) % 41) - 20;
        }
        pcm[i] = (int16_t)v;
    }
}


static bool is_voiced(const struct sess *s, uint64_t idx)
{
    return s->speech_from > 0 && idx >= s->speech_from &&
           idx < s->speech_from + SPEECH_FRAMES;
}


/*
 * With --opus the clients send packets encoded once, here: a second of
 * speech and a second of silence to loop, so that the benchmark does not
 * spend a core encoding what the fake Deepgram only measures the energy
 * of. The daemon decodes every packet as it would a live caller's.
 */
static void opus_prepare(struct bench *b)
{
    struct sv_opus_enc *enc;
    int16_t pcm[FRAME_SAMPLES];

    if (sv_opus_enc_new(&enc, RATE_HZ, 0) < 0)
        bench_die("cannot make an Opus encoder");
    for (int k = 0; k < 2 * SPEECH_FRAMES; k++) {
        bool voiced = k >= SPEECH_FRAMES;
        struct packet *p =
            voiced ? &b->opus_speech[k - SPEECH_FRAMES] : &b->opus_silence[k];

        make_frame(voiced, (uint64_t)k, pcm);
        if (sv_opus_encode(enc, pcm, FRAME_SAMPLES, p->data, sizeof(p->data),
                           &p->len) < 0)
            bench_die("cannot encode Opus");
    }
    sv_opus_enc_free(enc);
}


/* ---- reading the daemon's figures from /proc ---- */

static long proc_rss_kib(int pid)
{
    char path[64];
    char line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    }
    fclose(f);
    return kib;
}


/* User plus system CPU seconds the process has used. */
static double proc_cpu_s(int pid)
{
    char path[64];
    char buf[1024];
    unsigned long ut = 0, st = 0;
    char *p;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields 14 and 15, counted after the command name's parenthesis. */
    p = strrchr(buf, ')');
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
               &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}


/* ---- the session clients ---- */

static void sess_send_text(struct sess *s, const char *text)
{
    size_t len = strlen(text);
    unsigned char *buf = sv_xmalloc(LWS_PRE + len);

    memcpy(buf + LWS_PRE, text, len);
    lws_write(s->wsi, buf + LWS_PRE, len, LWS_WRITE_TEXT);
    free(buf);
}


static int sess_writeable(struct sess *s)
{
    unsigned char buf[LWS_PRE + SV_OPUS_MAX_PACKET_BYTES];
    char start[512];

    if (s->want_start) {
        s->want_start = false;
        snprintf(start, sizeof(start),
                 "{\"type\":\"start\",\"assistant_id\":\"%s\","
                 "\"audio\":{\"encoding\":\"%s\",\"sample_rate\":%d},"
                 "\"assistant_override\":{\"stt_config\":{\"keyterms\":"
                 "[\"bench-%d\"]}},\"metadata\":{\"bench\":true}}",
                 s->b->assistant_id, s->b->is_opus ? "opus" : "pcm_s16le",
                 RATE_HZ, s->idx);
        sess_send_text(s, start);
    } else if (s->want_stop) {
        s->want_stop = false;
        sess_send_text(s, "{\"type\":\"stop\"}");
        return 0;
    } else if (s->frames_sent < s->frames_due &&
               s->frames_sent < s->max_frames) {
        uint64_t idx = s->frames_sent;

        bool voiced = is_voiced(s, idx);
        size_t len = FRAME_BYTES;

        if (s->b->is_opus) {
            const struct packet *p =
                voiced ? &s->b->opus_speech[idx - s->speech_from]
                       : &s->b->opus_silence[idx % SPEECH_FRAMES];

            len = p->len;
            memcpy(buf + LWS_PRE, p->data, len);
        } else {
            make_frame(voiced, idx, (int16_t *)(buf + LWS_PRE));
        }
        if (lws_write(s->wsi, buf + LWS_PRE, len, LWS_WRITE_BINARY) < 0)
            return -1;
        s->frame_ns[idx] = uv_hrtime();
        s->frames_sent++;
        if (s->speech_from > 0 && idx == s->speech_from + SPEECH_FRAMES - 1 &&
            s->turn >= 1 && s->turn <= MAX_TURNS)
            s->turns[s->turn - 1].voice_end = s->frame_ns[idx];
    }
    if (s->want_stop || s->frames_sent < s->frames_due)
        lws_callback_on_writable(s->wsi);
    return 0;
}


/* Plans the next utterance, GAP_FRAMES or a little more from now. */
static void sess_next_turn(struct sess *s)
{
    if (s->is_done_talking || s->turn >= MAX_TURNS) {
        s->is_done_talking = true;
        return;
    }
    s->turn++;
    s->turns[s->turn - 1].daemon_e2e_ms = -1;
    s->speech_from =
        s->frames_due + GAP_FRAMES + next_rand(s->b) % (GAP_FRAMES + 1);
    s->is_awaiting_reply = true;
}


static void on_sess_tick(uv_timer_t *t)
{
    struct sess *s = t->data;
    uint64_t now = uv_hrtime();
    uint64_t due;

    /*
     * The stream starts at the first tick. Ticks come every 5 ms and send
     * what the clock says is due, with a millisecond's grace for the
     * loop's clock. (Ticks every 20 ms measured the same daemon about
     * 0.4 ms slower on the audio hop: an idle benchmark process wakes up
     * late on this virtual machine.)
     */
    if (s->t0_ns == 0)
        s->t0_ns = now;
    due = (now - s->t0_ns + NS_PER_MS) / (FRAME_MS * NS_PER_MS) + 1;

    if (due > s->max_frames)
        due = s->max_frames;
    if (due > s->frames_due && s->wsi != NULL) {
        s->frames_due = due;
        lws_callback_on_writable(s->wsi);
    }
}


static void sess_event(struct sess *s, json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *role = json_string_value(json_object_get(ev, "role"));
    const char *text = json_string_value(json_object_get(ev, "text"));
    struct bench *b = s->b;
    int sess, turn;

    if (type == NULL)
        return;
    if (strcmp(type, "started") == 0) {
        b->n_started++;
        /*
         * A random phase in the 20 ms frame, as independent callers have;
         * without it sessions started on a regular ramp send in bursts.
         */
        s->t0_ns = 0;
        uv_timer_start(&s->tick, on_sess_tick, next_rand(b) % FRAME_MS,
                       FRAME_MS / 4);
        sess_next_turn(s);
    } else if (strcmp(type, "transcript") == 0 && role != NULL &&
               json_is_true(json_object_get(ev, "final"))) {
        if (strcmp(role, "user") == 0) {
            if (!bench_parse_ids(text, &sess, &turn) || sess != s->idx ||
                turn != s->turn)
                s->mismatches++;
        } else if (strcmp(role, "assistant") == 0 && s->is_awaiting_reply) {
            s->is_awaiting_reply = false;
            if (b->is_stopping)
                s->is_done_talking = true;
            sess_next_turn(s);
        }
    } else if (strcmp(type, "turn_metrics") == 0 && s->turn >= 1) {
        json_t *v = json_object_get(ev, "end_to_first_audio_ms");

        if (json_is_integer(v))
            s->turns[s->turn - 1].daemon_e2e_ms = (int)json_integer_value(v);
    } else if (strcmp(type, "interrupted") == 0) {
        s->interrupts++;
    } else if (strcmp(type, "error") == 0) {
        if (s->errors++ == 0)
            fprintf(stderr, "bench_sessions: session %d: error %s: %s\n",
                    s->idx, json_string_value(json_object_get(ev, "error")),
                    json_string_value(json_object_get(ev, "message")));
    } else if (strcmp(type, "ended") == 0) {
        s->is_ended = true;
    }
}


static void sess_receive(struct sess *s, struct lws *wsi, void *in, size_t len)
{
    json_t *ev;

    if (lws_frame_is_binary(wsi)) {
        struct turn *t = s->turn >= 1 ? &s->turns[s->turn - 1] : NULL;

        if (t != NULL && s->is_awaiting_reply && t->audio_in == 0 &&
            t->voice_end != 0)
            t->audio_in = uv_hrtime();
        return;
    }
    sv_buf_append(&s->rx, in, len);
    if (!lws_is_final_fragment(wsi))
        return;
    ev = json_loadb(s->rx.data, s->rx.len, 0, NULL);
    sv_buf_reset(&s->rx);
    if (ev != NULL)
        sess_event(s, ev);
    json_decref(ev);
}


static void sess_gone(struct sess *s)
{
    s->wsi = NULL;
    uv_timer_stop(&s->tick);
    if (!s->is_ended)
        s->is_failed = true;
    s->b->n_ended++;
}


static int client_cb(struct lws *wsi, enum lws_callback_reasons reason,
                     void *user, void *in, size_t len)
{
    struct sess *s = user;
    struct bench *b = lws_context_user(lws_get_context(wsi));
    unsigned char **p = in;
    char auth[160];

    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        snprintf(auth, sizeof(auth), "Bearer %s", b->api_key);
        if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
                                         (unsigned char *)auth,
                                         (int)strlen(auth), p, *p + len))
            return -1;
        return 0;

    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        s->want_start = true;
        lws_callback_on_writable(wsi);
        return 0;

    case LWS_CALLBACK_CLIENT_RECEIVE:
        sess_receive(s, wsi, in, len);
        return 0;

    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return sess_writeable(s);

    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        fprintf(stderr, "bench_sessions: session %d: cannot connect: %s\n",
                s->idx, in != NULL ? (const char *)in : "?");
        sess_gone(s);
        return 0;

    case LWS_CALLBACK_CLIENT_CLOSED:
        sess_gone(s);
        return 0;

    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}


static const struct lws_protocols client_protocols[] = {
    {"bench-session", client_cb, 0, 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};


static void sess_connect(struct sess *s)
{
    struct bench *b = s->b;
    struct lws_client_connect_info ci;
    char host[32];

    snprintf(host, sizeof(host), "127.0.0.1:%d", b->daemon_port);
    memset(&ci, 0, sizeof(ci));
    ci.context = b->lws;
    ci.vhost = b->client_vh;
    ci.address = "127.0.0.1";
    ci.port = b->daemon_port;
    ci.path = "/api/v1/sessions";
    ci.host = host;
    ci.origin = host;
    ci.local_protocol_name = "bench-session";
    ci.userdata = s;
    ci.pwsi = &s->wsi;
    if (lws_client_connect_via_info(&ci) == NULL && !s->is_failed)
        sess_gone(s);
}


/* ---- the daemon ---- */

static void on_daemon_exit(uv_process_t *p, int64_t status, int sig)
{
    struct bench *b = p->data;

    b->has_exited = true;
    b->exit_status = sig != 0 ? 128 + sig : status;
    daemon_pid = 0;
    uv_close((uv_handle_t *)p, NULL);
}


static void on_err_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char mem[16384];

    buf->base = mem;
    buf->len = sizeof(mem);
}


static void on_err_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct bench *b = st->data;
    char *nl;

    if (n < 0) {
        uv_read_stop(st);
        b->is_log_done = true;
        return;
    }
    fwrite(buf->base, 1, (size_t)n, b->log);
    sv_buf_append(&b->err_line, buf->base, (size_t)n);
    while (b->err_line.len > 0 &&
           (nl = memchr(b->err_line.data, '\n', b->err_line.len)) != NULL) {
        const char *at;

        *nl = '\0';
        at = strstr(b->err_line.data, "listening on 127.0.0.1:");
        if (at != NULL)
            b->daemon_port = atoi(at + 23);
        if (strstr(b->err_line.data, "sovereignd: ready") != NULL)
            b->is_ready = true;
        /* ASan, UBSan and LeakSanitizer, when the daemon is built so. */
        if (strstr(b->err_line.data, "Sanitizer") != NULL ||
            strstr(b->err_line.data, "runtime error:") != NULL)
            b->n_sanitizer++;
        sv_buf_consume(&b->err_line, (size_t)(nl - b->err_line.data) + 1);
    }
}


static void write_config(struct bench *b, const char *path)
{
    FILE *f = fopen(path, "w");

    if (f == NULL)
        bench_die("cannot write %s: %s", path, strerror(errno));
    fprintf(f,
            "[server]\nlisten = 127.0.0.1:0\nunix_socket = off\n"
            "log_level = notice\n\n"
            "[store]\npath = %s/sovereign.db\n\n"
            "[vault]\nmaster_key_file = %s/master.key\n\n"
            "[provider.deepgram]\nurl = ws://127.0.0.1:%d\n\n"
            "[provider.openai]\nurl = http://127.0.0.1:%d/v1\n\n"
            "[provider.elevenlabs]\nurl = http://127.0.0.1:%d\n",
            b->dir, b->dir, b->dg_port, b->oa_port, b->el_port);
    fclose(f);
}


/* Runs sovereignctl with args and returns its output (owned). */
static char *run_ctl(struct bench *b, const char *args)
{
    char cmd[PATH_MAX * 2];
    struct sv_buf out = {0};
    char buf[512];
    size_t n;
    FILE *p;

    snprintf(cmd, sizeof(cmd), "'%s' --config '%s/sovereignd.conf' %s",
             b->ctl_path, b->dir, args);
    p = popen(cmd, "r");
    if (p == NULL)
        bench_die("cannot run sovereignctl");
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
        sv_buf_append(&out, buf, n);
    if (pclose(p) != 0)
        bench_die("sovereignctl %s failed", args);
    return out.data != NULL ? out.data : sv_xstrdup("");
}


static size_t on_curl_write(char *data, size_t size, size_t n, void *arg)
{
    sv_buf_append(arg, data, size * n);
    return size * n;
}


/* Creates the benchmark's assistant over the REST API (before the run). */
static void create_assistant(struct bench *b)
{
    static const char body[] =
        "{\"name\":\"Bench\",\"silence_timeout_seconds\":120,"
        "\"max_duration_seconds\":3600,"
        "\"stt_config\":{\"provider\":\"deepgram\",\"model\":\"nova-3\"},"
        "\"llm_config\":{\"provider\":\"openai\",\"model\":\"gpt-4o-mini\","
        "\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"}]},"
        "\"tts_config\":{\"provider\":\"elevenlabs\"}}";
    struct curl_slist *hdrs = NULL;
    struct sv_buf resp = {0};
    char url[128], auth[160];
    json_t *root;
    const char *id;
    CURL *e = curl_easy_init();
    long status = 0;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/assistants",
             b->daemon_port);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", b->api_key);
    hdrs = curl_slist_append(hdrs, auth);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_curl_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
    if (curl_easy_perform(e) != CURLE_OK)
        bench_die("cannot reach the daemon's REST API");
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    root = json_loadb(resp.data, resp.len, 0, NULL);
    id = json_string_value(
        json_object_get(json_object_get(root, "assistant"), "id"));
    if (status != 201 || id == NULL)
        bench_die("creating the assistant answered %ld", status);
    snprintf(b->assistant_id, sizeof(b->assistant_id), "%s", id);
    json_decref(root);
    sv_buf_free(&resp);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(e);
}


static void start_daemon(struct bench *b)
{
    char conf[128], logpath[128];
    char *argv[4];
    char *env[8];
    char envbuf[4][160];
    uv_process_options_t o;
    uv_stdio_container_t stdio[3];
    char *out;
    const char *k;

    snprintf(conf, sizeof(conf), "%s/sovereignd.conf", b->dir);
    snprintf(logpath, sizeof(logpath), "%s/daemon.log", b->dir);
    write_config(b, conf);
    free(run_ctl(b, "vault init"));
    out = run_ctl(b, "org create Bench");
    k = strstr(out, "\"api_key\"");
    if (k == NULL || sscanf(k, "\"api_key\": \"%127[^\"]\"", b->api_key) != 1)
        bench_die("sovereignctl org create printed no key");
    free(out);

    b->log = fopen(logpath, "w");
    if (b->log == NULL)
        bench_die("cannot write %s", logpath);
    snprintf(envbuf[0], sizeof(envbuf[0]), "DEEPGRAM_API_KEY=%s", BENCH_DG_KEY);
    snprintf(envbuf[1], sizeof(envbuf[1]), "OPENAI_API_KEY=%s", BENCH_OA_KEY);
    snprintf(envbuf[2], sizeof(envbuf[2]), "ELEVENLABS_API_KEY=%s",
             BENCH_EL_KEY);
    snprintf(envbuf[3], sizeof(envbuf[3]), "PATH=%s",
             getenv("PATH") != NULL ? getenv("PATH") : "/usr/bin:/bin");
    for (int i = 0; i < 4; i++)
        env[i] = envbuf[i];
    env[4] = NULL;
    argv[0] = (char *)b->daemon_path;
    argv[1] = "--config";
    argv[2] = conf;
    argv[3] = NULL;

    uv_pipe_init(&b->loop, &b->err_pipe, 0);
    b->err_pipe.data = b;
    memset(stdio, 0, sizeof(stdio));
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_IGNORE;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&b->err_pipe;
    memset(&o, 0, sizeof(o));
    o.file = b->daemon_path;
    o.args = argv;
    o.env = env;
    o.exit_cb = on_daemon_exit;
    o.stdio = stdio;
    o.stdio_count = 3;
    b->proc.data = b;
    if (uv_spawn(&b->loop, &b->proc, &o) < 0)
        bench_die("cannot start %s", b->daemon_path);
    daemon_pid = b->proc.pid;
    uv_read_start((uv_stream_t *)&b->err_pipe, on_err_alloc, on_err_read);
    while (!b->is_ready && !b->has_exited)
        uv_run(&b->loop, UV_RUN_ONCE);
    if (!b->is_ready || b->daemon_port <= 0)
        bench_die("the daemon did not start; see %s", logpath);
    create_assistant(b);
}


/* ---- the run ---- */

static void on_deadline(uv_timer_t *t)
{
    struct bench *b = t->data;

    b->is_late = true;
}


/* Runs the loop for ms, or until done(b); a timer bounds each wait. */
static void run_for_ms(struct bench *b, uint64_t ms,
                       bool (*done)(struct bench *))
{
    b->is_late = false;
    uv_timer_start(&b->deadline, on_deadline, ms, 0);
    while (!b->is_late && (done == NULL || !done(b)))
        uv_run(&b->loop, UV_RUN_ONCE);
    uv_timer_stop(&b->deadline);
}


static bool all_gone(struct bench *b)
{
    return b->n_ended >= b->n_sessions;
}


static bool all_replied(struct bench *b)
{
    for (int i = 0; i < b->n_sessions; i++) {
        if (b->sess[i].wsi != NULL && b->sess[i].is_awaiting_reply)
            return false;
    }
    return true;
}


static void sample(struct bench *b)
{
    long rss = proc_rss_kib(b->proc.pid);

    if (b->in_window && rss > b->rss_peak_kib)
        b->rss_peak_kib = rss;
}


static void on_clock(uv_timer_t *t)
{
    sample(t->data);
}


static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}


static double pct_ms(uint64_t *v, size_t n, double p)
{
    size_t i;

    if (n == 0)
        return NAN;
    i = (size_t)ceil(p / 100.0 * (double)n);
    if (i > 0)
        i--;
    if (i >= n)
        i = n - 1;
    return (double)v[i] / NS_PER_MS;
}


static void print_row(const char *name, uint64_t *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_u64);
    printf("  %-34s %8.3f %8.3f %8.3f %8.3f\n", name, pct_ms(v, n, 50),
           pct_ms(v, n, 90), pct_ms(v, n, 99), pct_ms(v, n, 100));
}


static int report(struct bench *b)
{
    size_t cap = (size_t)b->n_sessions * MAX_TURNS;
    uint64_t *share = sv_xcalloc(cap, sizeof(uint64_t));
    uint64_t *hop[4];
    uint64_t *e2e = sv_xcalloc(cap, sizeof(uint64_t));
    uint64_t *self = sv_xcalloc(cap, sizeof(uint64_t));
    size_t n = 0, n_self = 0, spoken = 0;
    int failed = 0, errors = 0, interrupts = 0, mismatches = 0;
    uint64_t cfg_ns = (uint64_t)(b->stt_ms + b->llm_ms + b->tts_ms) * NS_PER_MS;
    double window_s = (double)(b->window_end_ns - b->window_begin_ns) / 1e9;
    double cpu_pct =
        100.0 * (b->cpu_end_s - b->cpu_begin_s) / window_s / b->n_sessions;
    double mib =
        (double)(b->rss_peak_kib - b->rss_idle_kib) / 1024.0 / b->n_sessions;
    double p50, p99;
    struct rusage ru;
    bool complete, met;

    for (int i = 0; i < 4; i++)
        hop[i] = sv_xcalloc(cap, sizeof(uint64_t));
    for (int i = 0; i < b->n_sessions; i++) {
        struct sess *s = &b->sess[i];

        failed += s->is_failed;
        errors += s->errors;
        interrupts += s->interrupts;
        mismatches += s->mismatches;
        for (int k = 0; k < s->turn && k < MAX_TURNS; k++) {
            struct turn *t = &s->turns[k];

            if (t->voice_end == 0)
                continue;
            spoken++;
            if (t->endpoint_in == 0 || t->final_out == 0 || t->llm_in == 0 ||
                t->llm_out == 0 || t->tts_in == 0 || t->tts_out == 0 ||
                t->audio_in == 0)
                continue;
            hop[0][n] = t->final_out - t->endpoint_in;
            hop[1][n] = t->llm_in - t->final_out;
            hop[2][n] = t->tts_in - t->llm_out;
            hop[3][n] = t->audio_in - t->tts_out;
            share[n] = hop[0][n] + hop[1][n] + hop[2][n] + hop[3][n];
            e2e[n] = t->audio_in - t->voice_end;
            n++;
            if (t->daemon_e2e_ms >= 0)
                self[n_self++] = (uint64_t)t->daemon_e2e_ms * NS_PER_MS;
        }
    }

    printf("\nsovereignd load benchmark: %d sessions, 16 kHz %s in real "
           "time, %u s\n",
           b->n_sessions, b->is_opus ? "Opus" : "PCM", b->seconds);
    printf("provider delays: endpointing %u ms, LLM first token %u ms, TTS "
           "first byte %u ms (sum %u ms)\n",
           b->stt_ms, b->llm_ms, b->tts_ms, b->stt_ms + b->llm_ms + b->tts_ms);
    printf("turns: %zu spoken, %zu timed end to end; sessions failed %d, "
           "error events %d, barge-ins %d, mismatched transcripts %d\n\n",
           spoken, n, failed, errors, interrupts, mismatches);
    printf("  %-34s %8s %8s %8s %8s   (ms)\n", "", "p50", "p90", "p99", "max");
    print_row("1 audio in -> Deepgram", hop[0], n);
    print_row("2 speech_final -> LLM request", hop[1], n);
    print_row("3 first sentence -> TTS request", hop[2], n);
    print_row("4 TTS first byte -> client frame", hop[3], n);
    print_row("daemon's share (1+2+3+4)", share, n);
    p50 = pct_ms(share, n, 50);
    p99 = pct_ms(share, n, 99);
    print_row("end of speech -> first audio", e2e, n);
    for (size_t i = 0; i < n; i++)
        e2e[i] = e2e[i] > cfg_ns ? e2e[i] - cfg_ns : 0;
    print_row("  the same minus the delays", e2e, n);
    print_row("  the daemon's turn_metrics", self, n_self);

    printf("\ndaemon CPU: %.2f s in %.1f s = %.3f%% of a core per session\n",
           b->cpu_end_s - b->cpu_begin_s, window_s, cpu_pct);
    printf("daemon RSS: %.1f MiB idle, %.1f MiB peak with %d sessions, "
           "%.1f MiB after; growth %.3f MiB per session\n",
           b->rss_idle_kib / 1024.0, b->rss_peak_kib / 1024.0, b->n_sessions,
           b->rss_after_kib / 1024.0, mib);
    getrusage(RUSAGE_SELF, &ru);
    printf("this load generator: %.2f s CPU (clients and fakes)\n",
           (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
    printf("against a Python pipeline at 20%% of a core and 50 MB per call: "
           "%.0fx less CPU, %.0fx less memory\n\n",
           20.0 / cpu_pct, 50.0 / (mib * 1.048576));

    /* Every turn spoken must have gone through, timed at every hop. */
    complete = n > 0 && n == spoken && failed == 0 && errors == 0 &&
               mismatches == 0 && b->exit_status == 0 && b->n_sanitizer == 0;
    printf("target  added latency p50 <= 2 ms: %.3f ms  %s\n", p50,
           p50 <= 2.0 ? "ok" : "MISSED");
    printf("target  added latency p99 <= 10 ms: %.3f ms  %s\n", p99,
           p99 <= 10.0 ? "ok" : "MISSED");
    printf("target  memory <= 1 MiB per session: %.3f MiB  %s\n", mib,
           mib <= 1.0 ? "ok" : "MISSED");
    printf("target  CPU <= 1%% of a core per session: %.3f%%  %s\n", cpu_pct,
           cpu_pct <= 1.0 ? "ok" : "MISSED");
    met = p50 <= 2.0 && p99 <= 10.0 && mib <= 1.0 && cpu_pct <= 1.0;
    if (!complete)
        printf("\nINCOMPLETE: some turns did not go through (see above)\n");

    for (int i = 0; i < 4; i++)
        free(hop[i]);
    free(share);
    free(e2e);
    free(self);
    if (!complete)
        return 1;
    return met || !b->is_strict ? 0 : 3;
}


static void setup(struct bench *b)
{
    struct lws_context_creation_info info;
    void *loops[1] = {&b->loop};

    if (uv_loop_init(&b->loop) != 0)
        bench_die("cannot make a loop");
    lws_set_log_level(LLL_ERR, NULL);
    memset(&info, 0, sizeof(info));
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    info.foreign_loops = loops;
    info.pcontext = &b->lws;
    info.user = b;
    info.max_http_header_data = 4096;
    info.timeout_secs = 10;
    b->lws = lws_create_context(&info);
    if (b->lws == NULL)
        bench_die("cannot create the lws context");

    info.port = CONTEXT_PORT_NO_LISTEN;
    info.iface = NULL;
    info.protocols = client_protocols;
    info.vhost_name = "clients";
    b->client_vh = lws_create_vhost(b->lws, &info);
    if (b->client_vh == NULL)
        bench_die("cannot create the client vhost");

    bench_fakes_start(b, &info);
    uv_timer_init(&b->loop, &b->clock);
    b->clock.data = b;
    uv_timer_init(&b->loop, &b->deadline);
    b->deadline.data = b;
}


static void run(struct bench *b)
{
    uint64_t ramp_ms = b->n_sessions * 30 < 3000 ? b->n_sessions * 30 : 3000;
    uint64_t max_frames = ((uint64_t)b->seconds + 30) * 1000 / FRAME_MS;

    b->sess = sv_xcalloc((size_t)b->n_sessions, sizeof(*b->sess));
    for (int i = 0; i < b->n_sessions; i++) {
        struct sess *s = &b->sess[i];

        s->b = b;
        s->idx = i;
        s->max_frames = max_frames;
        s->frame_ns = sv_xcalloc(max_frames, sizeof(uint64_t));
        uv_timer_init(&b->loop, &s->tick);
        s->tick.data = s;
    }

    /* Idle figures first, after the daemon has settled. */
    run_for_ms(b, 1000, NULL);
    b->rss_idle_kib = proc_rss_kib(b->proc.pid);
    uv_timer_start(&b->clock, on_clock, 250, 250);

    /* Sessions start spread over the ramp, so they do not beat together. */
    for (int i = 0; i < b->n_sessions; i++) {
        sess_connect(&b->sess[i]);
        run_for_ms(b, ramp_ms / (uint64_t)b->n_sessions, NULL);
    }
    run_for_ms(b, 2000, NULL);
    if (b->n_started < b->n_sessions)
        fprintf(stderr, "bench_sessions: only %d of %d sessions started\n",
                b->n_started, b->n_sessions);

    b->in_window = true;
    b->window_begin_ns = uv_hrtime();
    b->cpu_begin_s = proc_cpu_s(b->proc.pid);
    run_for_ms(b, (uint64_t)b->seconds * 1000, NULL);
    b->cpu_end_s = proc_cpu_s(b->proc.pid);
    b->window_end_ns = uv_hrtime();
    sample(b);
    b->in_window = false;

    /* Let the replies in flight finish, then hang up. */
    b->is_stopping = true;
    for (int i = 0; i < b->n_sessions; i++) {
        struct sess *s = &b->sess[i];

        /* An utterance planned but not begun is called off. */
        if (s->is_awaiting_reply && s->speech_from > s->frames_due) {
            s->speech_from = 0;
            s->turn--;
            s->is_awaiting_reply = false;
        }
        if (!s->is_awaiting_reply)
            s->is_done_talking = true;
    }
    run_for_ms(b, 8000, all_replied);
    for (int i = 0; i < b->n_sessions; i++) {
        struct sess *s = &b->sess[i];

        if (s->wsi != NULL) {
            s->want_stop = true;
            lws_callback_on_writable(s->wsi);
        }
    }
    run_for_ms(b, 10000, all_gone);
    run_for_ms(b, 1000, NULL);
    b->rss_after_kib = proc_rss_kib(b->proc.pid);
    uv_timer_stop(&b->clock);
}


static void stop_daemon(struct bench *b)
{
    if (!b->has_exited)
        uv_process_kill(&b->proc, SIGTERM);
    while (!b->has_exited || !b->is_log_done)
        uv_run(&b->loop, UV_RUN_ONCE);
    fclose(b->log);
    if (b->exit_status != 0)
        fprintf(stderr, "bench_sessions: the daemon exited with %lld\n",
                (long long)b->exit_status);
    if (b->n_sanitizer > 0)
        fprintf(stderr,
                "bench_sessions: the daemon's log has %d sanitizer "
                "reports\n",
                b->n_sanitizer);
}


/* Removes the state directory (flat: config, store, key, log). */
static void remove_state(struct bench *b)
{
    DIR *d = opendir(b->dir);
    struct dirent *e;
    char path[PATH_MAX];

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", b->dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(b->dir);
}


static void usage(void)
{
    fputs("usage: bench_sessions [--sessions N] [--seconds S] [--stt-ms MS]\n"
          "                      [--llm-ms MS] [--tts-ms MS] [--daemon PATH]\n"
          "                      [--opus] [--strict]\n"
          "Exit status: 0 when every turn went through (and, with --strict,\n"
          "every target was met), 1 when some did not, 3 when --strict and\n"
          "a target was missed.\n",
          stderr);
    exit(2);
}


int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"sessions", required_argument, NULL, 'n'},
        {"seconds", required_argument, NULL, 's'},
        {"stt-ms", required_argument, NULL, 'e'},
        {"llm-ms", required_argument, NULL, 'l'},
        {"tts-ms", required_argument, NULL, 't'},
        {"daemon", required_argument, NULL, 'd'},
        {"strict", no_argument, NULL, 'S'},
        {"opus", no_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    static struct bench bench;
    struct bench *b = &bench;
    char self[PATH_MAX - 64];
    char daemon[PATH_MAX];
    ssize_t len;
    char *slash;
    int ch, rc;

    b->n_sessions = 100;
    b->seconds = 30;
    b->stt_ms = 300;
    b->llm_ms = 200;
    b->tts_ms = 150;
    b->rand = (uint32_t)getpid();
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'n':
            b->n_sessions = atoi(optarg);
            break;
        case 's':
            b->seconds = (unsigned)atoi(optarg);
            break;
        case 'e':
            b->stt_ms = (unsigned)atoi(optarg);
            break;
        case 'l':
            b->llm_ms = (unsigned)atoi(optarg);
            break;
        case 't':
            b->tts_ms = (unsigned)atoi(optarg);
            break;
        case 'd':
            b->daemon_path = optarg;
            break;
        case 'S':
            b->is_strict = true;
            break;
        case 'o':
            b->is_opus = true;
            break;
        default:
            usage();
        }
    }
    if (b->n_sessions < 1 || b->n_sessions > 2000 || b->seconds < 1)
        usage();
    if (b->stt_ms < 10)
        b->stt_ms = 10;

    /* sovereignd and sovereignctl live in ../daemon/ of the build tree. */
    len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (len <= 0)
        bench_die("cannot find myself");
    self[len] = '\0';
    slash = strrchr(self, '/');
    *slash = '\0';
    snprintf(daemon, sizeof(daemon), "%s/../daemon/sovereignd", self);
    snprintf(b->ctl_path, sizeof(b->ctl_path), "%s/../daemon/sovereignctl",
             self);
    if (b->daemon_path == NULL)
        b->daemon_path = daemon;

    snprintf(b->dir, sizeof(b->dir), "/tmp/sv-bench-XXXXXX");
    if (mkdtemp(b->dir) == NULL)
        bench_die("cannot make a state directory");
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    setup(b);
    if (b->is_opus)
        opus_prepare(b);
    start_daemon(b);
    printf("bench_sessions: daemon pid %d on 127.0.0.1:%d, state in %s\n",
           b->proc.pid, b->daemon_port, b->dir);
    fflush(stdout);
    run(b);
    stop_daemon(b);
    rc = report(b);
    if (rc == 1)
        fprintf(stderr, "bench_sessions: the daemon's log is %s/daemon.log\n",
                b->dir);
    else
        remove_state(b);
    return rc;
}
