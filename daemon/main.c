/*
 * main.c - sovereignd: process entry, start-up, signals, systemd
 * notification, periodic store checkpoints, and orderly shutdown.
 *
 * One libuv loop runs everything: lws serves HTTP and websockets on it,
 * curl's multi interface runs on it, and blocking work (WAL checkpoints
 * that fsync) goes to libuv's thread pool.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>
#include <systemd/sd-daemon.h>
#include <uv.h>

#include "config/config.h"
#include "daemon/api.h"
#include "daemon/daemon.h"
#include "daemon/local_audio.h"
#include "daemon/server.h"
#include "daemon/session.h"
#include "pipeline/opus_worker.h"
#include "providers/httpc.h"
#include "store/store.h"
#include "store/vault.h"
#include "util/alloc.h"
#include "util/log.h"

#define CHECKPOINT_INTERVAL_MS 10000

struct app {
    struct sv_daemon d;
    struct sv_config *cfg;  /* owned */
    struct sv_vault *vault; /* owned */
    uv_signal_t sigint;
    uv_signal_t sigterm;
    uv_timer_t watchdog;
    uv_timer_t checkpoint;
    uv_work_t checkpoint_work;
    bool is_checkpointing;
    bool is_stopping;
    bool has_handles;
};


/*
 * jansson may hold request bodies with keys in them: wipe every block it
 * frees, so no key outlives its request in the heap.
 */
static void *json_alloc(size_t size)
{
    return sv_xmalloc(size);
}


static void json_wipe_free(void *p)
{
    if (p != NULL) {
        sodium_memzero(p, malloc_usable_size(p));
        free(p);
    }
}


static void on_checkpoint_work(uv_work_t *w)
{
    struct app *app = w->data;

    sv_store_checkpoint(app->cfg->store_path);
}


static void on_checkpoint_done(uv_work_t *w, int status)
{
    struct app *app = w->data;

    app->is_checkpointing = false;
}


/* WAL checkpoints sync the disk: they run on the thread pool. */
static void on_checkpoint_timer(uv_timer_t *t)
{
    struct app *app = t->data;

    if (app->is_checkpointing || app->is_stopping)
        return;
    app->is_checkpointing = true;
    app->checkpoint_work.data = app;
    uv_queue_work(app->d.loop, &app->checkpoint_work, on_checkpoint_work,
                  on_checkpoint_done);
}


static void on_watchdog(uv_timer_t *t)
{
    sd_notify(0, "WATCHDOG=1");
}


static void stop(struct app *app)
{
    if (app->is_stopping)
        return;
    app->is_stopping = true;
    sv_log(SV_LOG_NOTICE, "sovereignd: stopping");
    sd_notify(0, "STOPPING=1");

    /* Live calls end with their own reason before their sockets close. */
    sv_session_end_all(&app->d, "daemon-shutdown");
    /* Its call uses curl and lws too; the streams close on the pool. */
    sv_local_audio_stop(app->d.local_audio);
    app->d.local_audio = NULL;

    /* curl first (its cleanup may still call into the loop), then lws. */
    if (app->d.httpc != NULL) {
        sv_httpc_free(app->d.httpc);
        app->d.httpc = NULL;
    }
    if (app->d.server != NULL)
        sv_server_stop(app->d.server);
    if (app->has_handles) {
        uv_close((uv_handle_t *)&app->sigint, NULL);
        uv_close((uv_handle_t *)&app->sigterm, NULL);
        uv_close((uv_handle_t *)&app->watchdog, NULL);
        uv_close((uv_handle_t *)&app->checkpoint, NULL);
    }
}


static void on_signal(uv_signal_t *h, int signum)
{
    struct app *app = h->data;

    sv_log(SV_LOG_NOTICE, "sovereignd: got %s", strsignal(signum));
    stop(app);
}


static void usage(FILE *f)
{
    fprintf(f,
            "usage: sovereignd [--config FILE] [--version]\n"
            "  --config FILE  settings (default " SV_CONFIG_DEFAULT_PATH ")\n");
}


static int start(struct app *app, uv_loop_t *loop)
{
    uint64_t watchdog_usec = 0;
    char err[512];
    int rc;

    rc =
        sv_vault_load(&app->vault, app->cfg->master_key_file, err, sizeof(err));
    if (rc < 0) {
        sv_log(SV_LOG_ERR, "sovereignd: %s", err);
        return rc;
    }
    app->d.loop = loop;
    app->d.cfg = app->cfg;
    app->d.vault = app->vault;
    rc = sv_store_open(&app->d.store, app->cfg->store_path);
    if (rc < 0) {
        sv_log(SV_LOG_ERR, "sovereignd: cannot open the store %s: %s",
               app->cfg->store_path, strerror(-rc));
        return rc;
    }
    sv_store_calls_fail_unfinished(app->d.store);
    app->d.api = sv_api_new();
    rc = sv_httpc_new(&app->d.httpc, loop);
    if (rc < 0)
        return rc;
    rc = sv_opus_worker_new(&app->d.opus, loop);
    if (rc < 0)
        return rc;
    rc = sv_server_start(&app->d.server, &app->d);
    if (rc < 0)
        return rc;

    app->has_handles = true;
    uv_signal_init(loop, &app->sigint);
    uv_signal_init(loop, &app->sigterm);
    app->sigint.data = app;
    app->sigterm.data = app;
    uv_signal_start(&app->sigint, on_signal, SIGINT);
    uv_signal_start(&app->sigterm, on_signal, SIGTERM);

    uv_timer_init(loop, &app->checkpoint);
    app->checkpoint.data = app;
    uv_timer_start(&app->checkpoint, on_checkpoint_timer,
                   CHECKPOINT_INTERVAL_MS, CHECKPOINT_INTERVAL_MS);
    uv_unref((uv_handle_t *)&app->checkpoint);

    uv_timer_init(loop, &app->watchdog);
    if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0) {
        uint64_t every_ms = watchdog_usec / 2000;

        uv_timer_start(&app->watchdog, on_watchdog, every_ms, every_ms);
    }

    for (size_t i = 0; i < SV_PROVIDER_KEYED_COUNT; i++) {
        const struct sv_provider_conf *pc = &app->cfg->provider[i];

        sv_log(SV_LOG_NOTICE, "sovereignd: %s at %s, platform key %s%s%s",
               sv_providers[i].id, pc->url, pc->api_key ? "from " : "none",
               pc->api_key ? pc->key_source : "",
               pc->validate_keys ? ", BYOK keys checked" : "");
    }
    /* Opens the sound devices on the thread pool; never fatal. */
    sv_local_audio_start(&app->d.local_audio, &app->d);
    sd_notify(0, "READY=1\nSTATUS=serving");
    sv_log(SV_LOG_NOTICE, "sovereignd: ready (version %s)", SV_VERSION);
    return 0;
}


int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = SV_CONFIG_DEFAULT_PATH;
    struct app app;
    uv_loop_t loop;
    char err[512];
    int status = 0;
    int c;

    while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'V':
            printf("sovereignd %s\n", SV_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }

    sv_log_init(SV_LOG_NOTICE);
    if (sodium_init() < 0) {
        sv_log(SV_LOG_ERR, "sovereignd: libsodium failed to start");
        return 1;
    }
    json_set_alloc_funcs(json_alloc, json_wipe_free);
    signal(SIGPIPE, SIG_IGN);

    memset(&app, 0, sizeof(app));
    if (sv_config_load(&app.cfg, path, err, sizeof(err)) < 0) {
        sv_log(SV_LOG_ERR, "sovereignd: %s", err);
        return 1;
    }
    sv_log_init(app.cfg->log_level);

    uv_loop_init(&loop);
    if (start(&app, &loop) < 0) {
        status = 1;
        stop(&app);
    }
    uv_run(&loop, UV_RUN_DEFAULT);

    /* The loop ran out of handles; lws finishes its destroy now. */
    if (app.d.server != NULL) {
        for (int i = 0; i < 3 && !sv_server_is_closed(app.d.server); i++) {
            sv_server_stop(app.d.server);
            uv_run(&loop, UV_RUN_DEFAULT);
        }
        SV_ASSERT(sv_server_is_closed(app.d.server));
        sv_server_free(app.d.server);
    }
    /* Every session is gone with the server, and so are their streams. */
    if (app.d.opus != NULL) {
        sv_opus_worker_free(app.d.opus);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    if (uv_loop_close(&loop) != 0) {
        sv_log(SV_LOG_ERR, "sovereignd: a loop handle leaked at exit");
        status = 1;
    }
    sv_api_free(app.d.api);
    sv_store_free(app.d.store);
    sv_vault_free(app.vault);
    sv_config_free(app.cfg);
    sv_log(SV_LOG_NOTICE, "sovereignd: stopped");
    return status;
}
