/*
 * test_openai.c - the OpenAI adapter on a libuv loop with sv_httpc,
 * against tests/fakes/fake_openai.py.
 *
 * Each case starts its own fake (found through $SV_SOURCE_DIR) with the
 * scripts it needs and runs one loop, which must close cleanly at the
 * end (uv_loop_close() == 0). The fake writes its request log to a file
 * when it stops (--record), which the cases then check: what the adapter
 * sent, and how many attempts it made.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sodium.h>
#include <uv.h>

#include "check.h"
#include "providers/adapters.h"
#include "providers/httpc.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/misc.h"

#define GOOD_KEY "good-key"
#define MAX_ARGS 16

/* The fake server process and, once it has stopped, its request log. */
struct fake {
    pid_t pid;
    int out_fd; /* its stdout, kept open so that it can always print */
    int port;
    char record[64]; /* where it writes its request log on exit */
    json_t *log;     /* owned: {"requests", "errors"}, after fake_stop() */
};

struct env {
    struct fake fake;
    uv_loop_t loop;
    struct sv_httpc *c;
    struct sv_provider_env penv;
    char base_url[64];
    json_t *messages; /* owned */
};

/* What one request delivered. */
struct result {
    struct sv_llm_req *req;
    struct sv_buf text;
    int text_calls;
    int tool_calls;
    char tool_id[64];
    char tool_name[64];
    struct sv_buf tool_args;
    int done_calls;
    int err;
    char why[256];
    bool has_why;
    bool has_usage;
    struct sv_llm_usage usage;
    uint64_t start_ms;
    uint64_t done_ms;
    bool cancel_in_text; /* cancel from inside the first text callback */
};


/* ---- The fake ---- */


/* Starts fake_openai.py with args (NULL-terminated) after the defaults. */
static void fake_start(struct fake *f, const char *const *args)
{
    const char *src = getenv("SV_SOURCE_DIR");
    const char *argv[MAX_ARGS + 10];
    char script[4096];
    char line[64];
    int out_pipe[2];
    size_t len = 0;
    size_t n = 0;
    int fd;

    if (src == NULL)
        SV_SKIP("SV_SOURCE_DIR is not set");
    snprintf(script, sizeof(script), "%s/tests/fakes/fake_openai.py", src);
    snprintf(f->record, sizeof(f->record), "/tmp/sv_openai_log_XXXXXX");
    fd = mkstemp(f->record);
    CHECK(fd >= 0);
    close(fd);
    f->log = NULL;

    argv[n++] = "python3";
    argv[n++] = script;
    argv[n++] = "--key";
    argv[n++] = GOOD_KEY;
    argv[n++] = "--record";
    argv[n++] = f->record;
    for (size_t i = 0; args != NULL && args[i] != NULL; i++) {
        CHECK(i < MAX_ARGS);
        argv[n++] = args[i];
    }
    argv[n] = NULL;

    CHECK(pipe(out_pipe) == 0);
    f->pid = fork();
    CHECK(f->pid >= 0);
    if (f->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a killed test takes it along */
        dup2(out_pipe[1], 1);
        close(out_pipe[0]);
        close(out_pipe[1]);
        execvp("python3", (char *const *)argv);
        _exit(127);
    }
    close(out_pipe[1]);
    f->out_fd = out_pipe[0];
    /* The first line is "PORT <n>"; read it byte by byte. */
    while (len < sizeof(line) - 1) {
        ssize_t got = read(f->out_fd, line + len, 1);

        if (got <= 0 || line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    if (sscanf(line, "PORT %d", &f->port) != 1 || f->port <= 0)
        SV_FAIL("fake_openai.py did not start (read \"%s\")", line);
}


/* Stops the fake and loads the request log it wrote. */
static void fake_stop(struct fake *f)
{
    json_error_t jerr;
    int status;

    CHECK(kill(f->pid, SIGTERM) == 0);
    CHECK(waitpid(f->pid, &status, 0) == f->pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
    close(f->out_fd);
    f->log = json_load_file(f->record, 0, &jerr);
    unlink(f->record);
    if (f->log == NULL)
        SV_FAIL("no request log from the fake: %s", jerr.text);
    CHECK(json_is_array(json_object_get(f->log, "requests")));
    /* A traceback inside the fake means the test proves nothing. */
    CHECK_EQ(json_array_size(json_object_get(f->log, "errors")), 0);
}


/* The logged chat requests, in order (a new array). */
static json_t *chat_requests(const struct fake *f)
{
    json_t *out = json_array();
    json_t *entry;
    size_t i;

    json_array_foreach(json_object_get(f->log, "requests"), i, entry)
    {
        const char *route = json_string_value(json_object_get(entry, "route"));

        if (route != NULL && strcmp(route, "chat") == 0)
            json_array_append(out, entry);
    }
    return out;
}


static size_t chat_count(const struct fake *f)
{
    json_t *chats = chat_requests(f);
    size_t n = json_array_size(chats);

    json_decref(chats);
    return n;
}


/* A port on 127.0.0.1 that nothing listens on (bound, then closed). */
static int closed_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    CHECK(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}


/* ---- The loop and the adapter ---- */


static void env_init(struct env *e, const char *const *args)
{
    json_error_t jerr;

    CHECK(sodium_init() >= 0); /* the key header lives in guarded memory */
    memset(e, 0, sizeof(*e));
    fake_start(&e->fake, args);
    CHECK_EQ(uv_loop_init(&e->loop), 0);
    CHECK_EQ(sv_httpc_new(&e->c, &e->loop), 0);
    snprintf(e->base_url, sizeof(e->base_url), "http://127.0.0.1:%d/v1",
             e->fake.port);
    e->penv.loop = &e->loop;
    e->penv.httpc = e->c;
    e->penv.base_url = e->base_url;
    e->penv.key = GOOD_KEY;
    e->penv.is_byok = false;
    e->penv.timeout_ms = 5000;
    e->penv.tag = "test-call";
    e->messages = json_loads(
        "[{\"role\":\"system\",\"content\":\"You answer the phone.\"},"
        "{\"role\":\"user\",\"content\":\"When do you open on Monday?\"}]",
        0, &jerr);
    CHECK(e->messages != NULL);
}


/* Closes the client and the loop (which must close), stops the fake. */
static void env_close(struct env *e)
{
    sv_httpc_free(e->c);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&e->loop), 0);
    fake_stop(&e->fake);
}


/* Frees what env_close() leaves for the checks: the log, the history. */
static void env_free_log(struct env *e)
{
    json_decref(e->fake.log);
    json_decref(e->messages);
}


static void on_text(void *arg, const char *text, size_t len)
{
    struct result *res = arg;

    CHECK_EQ(res->done_calls, 0);
    CHECK_EQ(strlen(text), len);
    CHECK(len > 0);
    sv_buf_append(&res->text, text, len);
    res->text_calls++;
    if (res->cancel_in_text) {
        sv_llm_openai.cancel(res->req);
        /* done() ran inside cancel(), exactly once. */
        CHECK_EQ(res->done_calls, 1);
        CHECK_EQ(res->err, -ECANCELED);
        res->cancel_in_text = false;
    }
}


static void on_tool_call(void *arg, const char *id, const char *name,
                         const char *arguments)
{
    struct result *res = arg;

    CHECK_EQ(res->done_calls, 0);
    res->tool_calls++;
    snprintf(res->tool_id, sizeof(res->tool_id), "%s", id);
    snprintf(res->tool_name, sizeof(res->tool_name), "%s", name);
    sv_buf_reset(&res->tool_args);
    sv_buf_append(&res->tool_args, arguments, strlen(arguments));
}


static void on_done(void *arg, int err, const char *why,
                    const struct sv_llm_usage *usage)
{
    struct result *res = arg;

    CHECK_EQ(res->done_calls, 0);
    res->done_calls++;
    res->err = err;
    res->done_ms = sv_now_ms();
    res->has_why = why != NULL;
    snprintf(res->why, sizeof(res->why), "%s", why != NULL ? why : "");
    res->has_usage = usage != NULL;
    if (usage != NULL)
        res->usage = *usage;
}


static const struct sv_llm_handlers handlers = {
    .text = on_text,
    .tool_call = on_tool_call,
    .done = on_done,
};


/* Default options: the env's history, no temperature, no cap. */
static struct sv_llm_opts default_opts(struct env *e)
{
    struct sv_llm_opts o = {
        .model = "gpt-4o-mini",
        .temperature = -1,
        .messages = e->messages,
    };

    return o;
}


static void start(struct env *e, struct result *res,
                  const struct sv_llm_opts *o)
{
    struct sv_llm_handlers h = handlers;

    h.arg = res;
    res->start_ms = sv_now_ms();
    CHECK_EQ(sv_llm_openai.start(&res->req, &e->penv, o, &h), 0);
    CHECK_EQ(res->done_calls, 0); /* never from inside start() */
}


static void wait_done(struct env *e, struct result *res)
{
    while (res->done_calls == 0)
        uv_run(&e->loop, UV_RUN_ONCE);
}


/* Starts with the default options and waits for done(). */
static void run(struct env *e, struct result *res)
{
    struct sv_llm_opts o = default_opts(e);

    start(e, res, &o);
    wait_done(e, res);
}


static void result_free(struct result *res)
{
    sv_buf_free(&res->text);
    sv_buf_free(&res->tool_args);
}


/* The status member of chat request i of the log, as an integer. */
static long chat_status(const struct fake *f, size_t i)
{
    json_t *chats = chat_requests(f);
    long status = (long)json_integer_value(
        json_object_get(json_array_get(chats, i), "status"));

    json_decref(chats);
    return status;
}


/* ---- Cases ---- */


/* Text arrives in order and, joined, is what the fake replied. */
SV_TEST(text)
{
    struct env e;
    struct result res = {0};
    json_t *chats;
    json_t *sent;
    json_t *ev;
    size_t i;
    int content_chunks = 0;

    env_init(&e, NULL);
    run(&e, &res);
    CHECK_EQ(res.err, 0);
    CHECK(!res.has_why);
    CHECK_EQ(res.tool_calls, 0);
    env_close(&e);

    chats = chat_requests(&e.fake);
    CHECK_EQ(json_array_size(chats), 1);
    CHECK_STR(res.text.data, json_string_value(json_object_get(
                                 json_array_get(chats, 0), "reply")));
    CHECK_STR(res.text.data, "You said: When do you open on Monday. "
                             "Anything else?");
    /* One callback per content chunk: nothing was merged or lost. */
    sent = json_object_get(json_array_get(chats, 0), "sent");
    json_array_foreach(sent, i, ev)
    {
        json_t *choice = json_array_get(json_object_get(ev, "choices"), 0);
        const char *c = json_string_value(
            json_object_get(json_object_get(choice, "delta"), "content"));

        if (c != NULL && c[0] != '\0')
            content_chunks++;
    }
    CHECK_INT(content_chunks, >=, 5);
    CHECK_EQ(res.text_calls, content_chunks);
    json_decref(chats);
    env_free_log(&e);
    result_free(&res);
}


/* CRLF line ends, no keep-alives, no split writes: the same text. */
SV_TEST(crlf)
{
    static const char *const args[] = {
        "--opt", "crlf=true",          "--opt",    "keepalive_every=0",
        "--opt", "split_events=false", "--script", "reply:One. Two three!",
        NULL};
    struct env e;
    struct result res = {0};

    env_init(&e, args);
    run(&e, &res);
    CHECK_EQ(res.err, 0);
    CHECK_STR(res.text.data, "One. Two three!");
    CHECK_EQ(res.text_calls, 3);
    env_close(&e);
    CHECK_EQ(chat_count(&e.fake), 1);
    env_free_log(&e);
    result_free(&res);
}


/* The usage chunk reaches done(). */
SV_TEST(usage)
{
    struct env e;
    struct result res = {0};
    json_t *chats;
    json_t *sent;
    json_t *ev;
    json_t *usage = NULL;
    size_t i;

    env_init(&e, NULL);
    run(&e, &res);
    CHECK_EQ(res.err, 0);
    CHECK(res.has_usage);
    env_close(&e);

    chats = chat_requests(&e.fake);
    sent = json_object_get(json_array_get(chats, 0), "sent");
    json_array_foreach(sent, i, ev)
    {
        if (json_is_object(json_object_get(ev, "usage")))
            usage = json_object_get(ev, "usage");
    }
    CHECK(usage != NULL);
    CHECK_INT(res.usage.prompt_tokens, >, 0);
    CHECK_EQ(res.usage.prompt_tokens,
             json_integer_value(json_object_get(usage, "prompt_tokens")));
    CHECK_EQ(res.usage.completion_tokens,
             json_integer_value(json_object_get(usage, "completion_tokens")));
    CHECK_EQ(res.usage.completion_tokens, res.text_calls);
    json_decref(chats);
    env_free_log(&e);
    result_free(&res);
}


/* The request: URL, headers, and every body field the adapter sets. */
SV_TEST(request_body)
{
    struct env e;
    struct result res = {0};
    struct sv_llm_opts o;
    json_error_t jerr;
    json_t *tools;
    json_t *chats;
    json_t *req;
    json_t *body;
    json_t *headers;

    env_init(&e, NULL);
    tools = json_loads("[{\"type\":\"function\",\"function\":{\"name\":"
                       "\"end_call\",\"description\":\"End the call.\","
                       "\"parameters\":{\"type\":\"object\","
                       "\"properties\":{}}}}]",
                       0, &jerr);
    CHECK(tools != NULL);
    o = default_opts(&e);
    o.temperature = 0.5;
    o.max_tokens = 200;
    o.tools = tools;
    start(&e, &res, &o);
    wait_done(&e, &res);
    CHECK_EQ(res.err, 0);
    env_close(&e);

    chats = chat_requests(&e.fake);
    CHECK_EQ(json_array_size(chats), 1);
    req = json_array_get(chats, 0);
    CHECK_STR(json_string_value(json_object_get(req, "method")), "POST");
    CHECK_STR(json_string_value(json_object_get(req, "path")),
              "/v1/chat/completions");
    CHECK_STR(json_string_value(json_object_get(req, "key")), GOOD_KEY);
    headers = json_object_get(req, "headers");
    CHECK_STR(json_string_value(json_object_get(headers, "content-type")),
              "application/json");
    CHECK_STR(json_string_value(json_object_get(headers, "accept")),
              "text/event-stream");
    body = json_object_get(req, "json");
    CHECK_STR(json_string_value(json_object_get(body, "model")), "gpt-4o-mini");
    CHECK(json_equal(json_object_get(body, "messages"), e.messages));
    CHECK(json_number_value(json_object_get(body, "temperature")) == 0.5);
    CHECK_EQ(json_integer_value(json_object_get(body, "max_completion_tokens")),
             200);
    CHECK(json_is_true(json_object_get(body, "stream")));
    CHECK(json_is_true(json_object_get(json_object_get(body, "stream_options"),
                                       "include_usage")));
    CHECK(json_equal(json_object_get(body, "tools"), tools));
    CHECK_STR(json_string_value(json_object_get(body, "tool_choice")), "auto");
    json_decref(chats);
    json_decref(tools);
    env_free_log(&e);
    result_free(&res);
}


/* A tool call whose arguments come in fragments arrives once, whole. */
SV_TEST(tool_call)
{
    static const char *const args[] = {
        "--script", "tool:get_hours:{\"day\":\"monday\"}", NULL};
    struct env e;
    struct result res = {0};
    json_error_t jerr;
    json_t *parsed;
    json_t *chats;
    json_t *sent;
    json_t *ev;
    const char *first_id = NULL;
    int fragments = 0;
    size_t i;

    env_init(&e, args);
    run(&e, &res);
    CHECK_EQ(res.err, 0);
    CHECK_EQ(res.tool_calls, 1);
    CHECK_EQ(res.text_calls, 0);
    CHECK_STR(res.tool_name, "get_hours");
    CHECK(strncmp(res.tool_id, "call_", 5) == 0);
    parsed = json_loads(res.tool_args.data, 0, &jerr);
    CHECK(parsed != NULL);
    CHECK_STR(json_string_value(json_object_get(parsed, "day")), "monday");
    CHECK_EQ(json_object_size(parsed), 1);
    json_decref(parsed);
    env_close(&e);

    /* The id is the fake's, and the arguments really were fragmented. */
    chats = chat_requests(&e.fake);
    sent = json_object_get(json_array_get(chats, 0), "sent");
    json_array_foreach(sent, i, ev)
    {
        json_t *choice = json_array_get(json_object_get(ev, "choices"), 0);
        json_t *tc = json_array_get(
            json_object_get(json_object_get(choice, "delta"), "tool_calls"), 0);
        const char *id = json_string_value(json_object_get(tc, "id"));
        const char *a = json_string_value(
            json_object_get(json_object_get(tc, "function"), "arguments"));

        if (id != NULL && first_id == NULL)
            first_id = id;
        if (a != NULL && a[0] != '\0')
            fragments++;
    }
    CHECK_STR(res.tool_id, first_id);
    CHECK_INT(fragments, >=, 2);
    json_decref(chats);
    env_free_log(&e);
    result_free(&res);
}


/* Checks that why names OpenAI and whose key, and never the key. */
static void check_refusal_why(const struct result *res, const char *key,
                              const char *whose)
{
    CHECK_EQ(res->err, -EACCES);
    CHECK(res->has_why);
    CHECK(strstr(res->why, "OpenAI") != NULL);
    CHECK(strstr(res->why, whose) != NULL);
    CHECK(strstr(res->why, key) == NULL);
}


/* A wrong key: -EACCES at once, with a reason naming whose key it was. */
SV_TEST(unauthorized)
{
    static const char wrong[] = "sk-wrong-key-0123456789abcdef";
    struct env e;
    struct result platform = {0};
    struct result org = {0};

    env_init(&e, NULL);
    e.penv.key = wrong;
    run(&e, &platform);
    check_refusal_why(&platform, wrong, "platform");
    CHECK(strstr(platform.why, "organization") == NULL);

    e.penv.is_byok = true;
    run(&e, &org);
    check_refusal_why(&org, wrong, "organization");
    CHECK_EQ(org.text_calls + platform.text_calls, 0);
    env_close(&e);

    /* No retries: one request each. */
    CHECK_EQ(chat_count(&e.fake), 2);
    CHECK_EQ(chat_status(&e.fake, 0), 401);
    env_free_log(&e);
    result_free(&platform);
    result_free(&org);
}


/* A 429 with retry-after-ms is retried after that delay; text follows. */
SV_TEST(retry_429)
{
    static const char *const args[] = {"--script", "429:1200", NULL};
    struct env e;
    struct result res = {0};
    json_t *chats;
    double gap;

    env_init(&e, args);
    run(&e, &res);
    CHECK_EQ(res.err, 0);
    CHECK_STR(res.text.data, "You said: When do you open on Monday. "
                             "Anything else?");
    env_close(&e);

    chats = chat_requests(&e.fake);
    CHECK_EQ(json_array_size(chats), 2);
    CHECK_EQ(chat_status(&e.fake, 0), 429);
    CHECK_EQ(chat_status(&e.fake, 1), 200);
    /* The advised 1.2 s, not the 375-500 ms of the first backoff. */
    gap = json_number_value(json_object_get(json_array_get(chats, 1), "time")) -
          json_number_value(json_object_get(json_array_get(chats, 0), "time"));
    CHECK(gap >= 1.19);
    json_decref(chats);
    env_free_log(&e);
    result_free(&res);
}


/* x-should-retry: false overrides the status rule. */
SV_TEST(no_retry_header)
{
    static const char *const args[] = {"--script", "429_noretry", NULL};
    struct env e;
    struct result res = {0};

    env_init(&e, args);
    run(&e, &res);
    CHECK_EQ(res.err, -EAGAIN);
    CHECK(strstr(res.why, "rate_limit_exceeded") != NULL);
    env_close(&e);
    CHECK_EQ(chat_count(&e.fake), 1);
    env_free_log(&e);
    result_free(&res);
}


/* An empty credit balance is fatal: no retry, -EACCES, "credit". */
SV_TEST(quota)
{
    static const char *const args[] = {"--script", "429_quota", NULL};
    struct env e;
    struct result res = {0};

    env_init(&e, args);
    run(&e, &res);
    CHECK_EQ(res.err, -EACCES);
    CHECK(strstr(res.why, "credit") != NULL);
    CHECK(strstr(res.why, "platform") != NULL);
    env_close(&e);
    CHECK_EQ(chat_count(&e.fake), 1);
    env_free_log(&e);
    result_free(&res);
}


/* An unknown model is the caller's error: -EINVAL, no retry. */
SV_TEST(not_found)
{
    struct env e;
    struct result res = {0};
    struct sv_llm_opts o;

    env_init(&e, NULL);
    o = default_opts(&e);
    o.model = "gpt-9-ultra";
    start(&e, &res, &o);
    wait_done(&e, &res);
    CHECK_EQ(res.err, -EINVAL);
    CHECK(strstr(res.why, "model_not_found") != NULL);
    env_close(&e);
    CHECK_EQ(chat_count(&e.fake), 1);
    CHECK_EQ(chat_status(&e.fake, 0), 404);
    env_free_log(&e);
    result_free(&res);
}


/* 500 every time: three attempts with backoff, then -EAGAIN. */
SV_TEST(server_error)
{
    static const char *const args[] = {"--default", "500", NULL};
    struct env e;
    struct result res = {0};
    uint64_t took;

    env_init(&e, args);
    run(&e, &res);
    took = res.done_ms - res.start_ms;
    CHECK_EQ(res.err, -EAGAIN);
    CHECK(strstr(res.why, "500") != NULL);
    /* Backoffs of 375-500 and 750-1000 ms. */
    CHECK_INT(took, >=, 1125);
    CHECK_INT(took, <, 6000); /* generous: parallel tests load the host */
    env_close(&e);
    CHECK_EQ(chat_count(&e.fake), 1 + 2);
    CHECK_EQ(chat_status(&e.fake, 2), 500);
    env_free_log(&e);
    result_free(&res);
}


/* A server that never answers: -ETIMEDOUT after three short waits. */
SV_TEST(hang)
{
    static const char *const args[] = {"--default", "hang", NULL};
    struct env e;
    struct result res = {0};
    uint64_t took;

    env_init(&e, args);
    e.penv.timeout_ms = 500;
    run(&e, &res);
    took = res.done_ms - res.start_ms;
    CHECK_EQ(res.err, -ETIMEDOUT);
    CHECK(strstr(res.why, "500 ms") != NULL);
    /* 3 * 500 ms plus the backoffs: the documented worst case. */
    CHECK_INT(took, >=, 3 * 500 + 1125);
    CHECK_INT(took, <, 3 * 500 + 1500 + 3000);
    env_close(&e);
    CHECK_EQ(chat_count(&e.fake), 3);
    env_free_log(&e);
    result_free(&res);
}


/* Nobody listening: -ECONNREFUSED after the retries. */
SV_TEST(refused)
{
    struct env e;
    struct result res = {0};

    env_init(&e, NULL);
    snprintf(e.base_url, sizeof(e.base_url), "http://127.0.0.1:%d/v1/",
             closed_port());
    run(&e, &res);
    CHECK_EQ(res.err, -ECONNREFUSED);
    CHECK(strstr(res.why, "unreachable") != NULL);
    CHECK_INT(res.done_ms - res.start_ms, >=, 1125);
    env_close(&e);
    CHECK_EQ(chat_count(&e.fake), 0);
    env_free_log(&e);
    result_free(&res);
}


/* Dropped after some text: -ECONNRESET, and no second attempt. */
SV_TEST(drop)
{
    static const char *const args[] = {"--opt", "token_ms=20", "--script",
                                       "drop_after:2", NULL};
    struct env e;
    struct result res = {0};

    env_init(&e, args);
    run(&e, &res);
    CHECK_EQ(res.err, -ECONNRESET);
    CHECK_EQ(res.text_calls, 2);
    CHECK_STR(res.text.data, "You said:");
    CHECK(!res.has_usage);
    env_close(&e);
    CHECK_EQ(chat_count(&e.fake), 1);
    env_free_log(&e);
    result_free(&res);
}


/* Silent after some text: -ETIMEDOUT, and no second attempt. */
SV_TEST(stall)
{
    static const char *const args[] = {"--script", "stall:2", NULL};
    struct env e;
    struct result res = {0};
    uint64_t took;

    env_init(&e, args);
    e.penv.timeout_ms = 500;
    run(&e, &res);
    took = res.done_ms - res.start_ms;
    CHECK_EQ(res.err, -ETIMEDOUT);
    CHECK_EQ(res.text_calls, 2);
    CHECK_INT(took, >=, 500);
    CHECK_INT(took, <, 3000);
    env_close(&e);
    CHECK_EQ(chat_count(&e.fake), 1);
    env_free_log(&e);
    result_free(&res);
}


/* An error event mid-stream ends the request with -EPROTO. */
SV_TEST(error_mid)
{
    static const char *const args[] = {"--script", "error_mid:2", NULL};
    struct env e;
    struct result res = {0};

    env_init(&e, args);
    run(&e, &res);
    CHECK_EQ(res.err, -EPROTO);
    CHECK(strstr(res.why, "mid-stream") != NULL);
    CHECK(strstr(res.why, "server_error") != NULL);
    CHECK_EQ(res.text_calls, 2);
    CHECK_EQ(res.tool_calls, 0);
    env_close(&e);
    CHECK_EQ(chat_count(&e.fake), 1);
    env_free_log(&e);
    result_free(&res);
}


/* Cancelled from inside the first text callback: done() once, inside. */
SV_TEST(cancel)
{
    static const char *const args[] = {"--opt", "token_ms=50", NULL};
    struct env e;
    struct result res = {0};

    env_init(&e, args);
    res.cancel_in_text = true;
    run(&e, &res);
    CHECK_EQ(res.err, -ECANCELED);
    CHECK_EQ(res.done_calls, 1);
    CHECK_EQ(res.text_calls, 1);
    CHECK(!res.cancel_in_text); /* the cancel did happen in on_text */
    /* Nothing more arrives once the loop runs on. */
    uv_run(&e.loop, UV_RUN_NOWAIT);
    CHECK_EQ(res.text_calls, 1);
    env_close(&e);
    CHECK_EQ(chat_count(&e.fake), 1);
    env_free_log(&e);
    result_free(&res);
}


/* Cancelled right after start(): done() inside cancel(), nothing later. */
SV_TEST(cancel_now)
{
    struct env e;
    struct result res = {0};
    struct sv_llm_opts o;

    env_init(&e, NULL);
    o = default_opts(&e);
    start(&e, &res, &o);
    sv_llm_openai.cancel(res.req);
    CHECK_EQ(res.done_calls, 1);
    CHECK_EQ(res.err, -ECANCELED);
    CHECK(!res.has_usage);
    env_close(&e);
    CHECK_EQ(res.done_calls, 1);
    CHECK_EQ(res.text_calls, 0);
    env_free_log(&e);
    result_free(&res);
}


/* Timer callback: cancels the request of the result in its data. */
static void on_cancel_timer(uv_timer_t *t)
{
    struct result *res = t->data;

    sv_llm_openai.cancel(res->req);
    CHECK_EQ(res->done_calls, 1);
    uv_close((uv_handle_t *)t, NULL);
}


/* Cancelled while waiting out a 429's 3 s retry delay. */
SV_TEST(cancel_backoff)
{
    static const char *const args[] = {"--script", "429:3000", NULL};
    struct env e;
    struct result res = {0};
    struct sv_llm_opts o;
    uv_timer_t timer;

    env_init(&e, args);
    o = default_opts(&e);
    start(&e, &res, &o);
    CHECK_EQ(uv_timer_init(&e.loop, &timer), 0);
    timer.data = &res;
    CHECK_EQ(uv_timer_start(&timer, on_cancel_timer, 500, 0), 0);
    wait_done(&e, &res);
    CHECK_EQ(res.err, -ECANCELED);
    CHECK_INT(res.done_ms - res.start_ms, <, 2500); /* not the 3 s */
    env_close(&e);
    CHECK_EQ(chat_count(&e.fake), 1);
    CHECK_EQ(chat_status(&e.fake, 0), 429);
    env_free_log(&e);
    result_free(&res);
}


/* Bad arguments are refused at once, with no callback. */
SV_TEST(bad_args)
{
    struct env e;
    struct result res = {0};
    struct sv_llm_opts o;
    struct sv_llm_handlers h = handlers;
    struct sv_provider_env penv;

    env_init(&e, NULL);
    h.arg = &res;
    o = default_opts(&e);
    o.messages = NULL;
    CHECK_EQ(sv_llm_openai.start(&res.req, &e.penv, &o, &h), -EINVAL);
    o = default_opts(&e);
    o.model = NULL;
    CHECK_EQ(sv_llm_openai.start(&res.req, &e.penv, &o, &h), -EINVAL);
    o = default_opts(&e);
    penv = e.penv;
    penv.key = NULL;
    CHECK_EQ(sv_llm_openai.start(&res.req, &penv, &o, &h), -EINVAL);
    penv = e.penv;
    penv.base_url = "ftp://127.0.0.1/v1";
    CHECK_EQ(sv_llm_openai.start(&res.req, &penv, &o, &h), -EINVAL);
    h.done = NULL;
    CHECK_EQ(sv_llm_openai.start(&res.req, &e.penv, &o, &h), -EINVAL);
    sv_llm_openai.cancel(NULL);
    uv_run(&e.loop, UV_RUN_NOWAIT);
    CHECK_EQ(res.done_calls, 0);
    env_close(&e);
    CHECK_EQ(chat_count(&e.fake), 0);
    env_free_log(&e);
    result_free(&res);
}


SV_TEST_MAIN(SV_CASE(text), SV_CASE(crlf), SV_CASE(usage),
             SV_CASE(request_body), SV_CASE(tool_call), SV_CASE(unauthorized),
             SV_CASE(retry_429), SV_CASE(no_retry_header), SV_CASE(quota),
             SV_CASE(not_found), SV_CASE(server_error), SV_CASE(hang),
             SV_CASE(refused), SV_CASE(drop), SV_CASE(stall),
             SV_CASE(error_mid), SV_CASE(cancel), SV_CASE(cancel_now),
             SV_CASE(cancel_backoff), SV_CASE(bad_args))
