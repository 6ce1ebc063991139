/*
 * opus_worker.c - Opus encoding off the loop thread (see opus_worker.h).
 *
 * The loop queues jobs (one frame each) under the worker's mutex and
 * signals its condition; the thread encodes them in order and moves
 * them to the done list, then wakes the loop with uv_async_send(). The
 * loop hands each packet to its stream's callback unless the stream was
 * flushed or freed since.
 *
 * A stream is counted: one reference for its owner and one per job in
 * flight, all taken and dropped on the loop thread. So a stream outlives
 * every job that names it, and its encoder is freed only when the thread
 * can no longer touch it.
 *
 * SPDX-License-Identifier: MIT
 */
#include "pipeline/opus_worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/opus_codec.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/thread.h"

/* One 20 ms frame at the highest rate. */
#define MAX_FRAME_SAMPLES SV_OPUS_FRAME_SAMPLES(48000)

struct job {
    struct job *next;
    struct sv_opus_stream *s; /* a reference, dropped on the loop */
    unsigned gen;             /* the stream's generation when queued */
    size_t samples;
    size_t len; /* the packet's, once encoded */
    int err;
    int16_t pcm[MAX_FRAME_SAMPLES];
    uint8_t packet[SV_OPUS_MAX_PACKET_BYTES];
};

struct sv_opus_stream {
    struct sv_opus_worker *w; /* borrowed */
    struct sv_opus_enc *enc;  /* owned; the worker thread's after new */
    sv_opus_packet_cb *cb;
    void *arg;
    unsigned gen; /* bumped by flush */
    int refs;     /* the owner's, plus one per job in flight */
    bool is_freed;
};

struct sv_opus_worker {
    uv_loop_t *loop; /* borrowed */
    pthread_t thread;
    uv_async_t done_async; /* the thread finished jobs */
    pthread_mutex_t mu;    /* guards the lists and want_stop */
    pthread_cond_t cond;   /* a job came, or the thread should stop */
    struct job *todo, **todo_tail;
    struct job *done, **done_tail;
    bool want_stop;
    int n_streams; /* not yet freed by their owners; loop thread only */
};


static void stream_unref(struct sv_opus_stream *s)
{
    if (--s->refs > 0)
        return;
    sv_opus_enc_free(s->enc);
    free(s);
}


static void *worker_main(void *arg)
{
    struct sv_opus_worker *w = arg;
    struct job *j;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->todo == NULL && !w->want_stop)
            pthread_cond_wait(&w->cond, &w->mu);
        if (w->want_stop)
            break;
        j = w->todo;
        w->todo = j->next;
        if (w->todo == NULL)
            w->todo_tail = &w->todo;
        pthread_mutex_unlock(&w->mu);

        j->err = sv_opus_encode(j->s->enc, j->pcm, j->samples, j->packet,
                                sizeof(j->packet), &j->len);

        pthread_mutex_lock(&w->mu);
        j->next = NULL;
        *w->done_tail = j;
        w->done_tail = &j->next;
        /* Sends coalesce: the loop drains the whole list each time. */
        uv_async_send(&w->done_async);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}


/* Hands finished packets to their streams; on the loop thread. */
static void on_done(uv_async_t *a)
{
    struct sv_opus_worker *w = a->data;
    struct job *list;
    struct job *j;

    pthread_mutex_lock(&w->mu);
    list = w->done;
    w->done = NULL;
    w->done_tail = &w->done;
    pthread_mutex_unlock(&w->mu);

    while ((j = list) != NULL) {
        struct sv_opus_stream *s = j->s;

        list = j->next;
        if (!s->is_freed && j->gen == s->gen) {
            if (j->err < 0)
                sv_log(SV_LOG_WARN, "opus: encoding a frame failed: %s",
                       strerror(-j->err));
            s->cb(s->arg, j->packet, j->err < 0 ? 0 : j->len);
        }
        /* After the callback, which may free the stream's owner. */
        stream_unref(s);
        free(j);
    }
}


int sv_opus_worker_new(struct sv_opus_worker **out, uv_loop_t *loop)
{
    struct sv_opus_worker *w = sv_xcalloc(1, sizeof(*w));
    int err;

    w->loop = loop;
    w->todo_tail = &w->todo;
    w->done_tail = &w->done;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cond, NULL);
    uv_async_init(loop, &w->done_async, on_done);
    w->done_async.data = w;
    /* Streams keep their owners' handles alive, not this one. */
    uv_unref((uv_handle_t *)&w->done_async);
    err = sv_thread_spawn(&w->thread, "sv-opus", worker_main, w);
    if (err < 0) {
        sv_log(SV_LOG_ERR, "opus: cannot start the encoding thread: %s",
               strerror(-err));
        w->want_stop = true;
        sv_opus_worker_free(w);
        return err;
    }
    *out = w;
    return 0;
}


static void on_worker_closed(uv_handle_t *h)
{
    struct sv_opus_worker *w = h->data;

    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mu);
    free(w);
}


/* Drops the jobs of a list without encoding or reporting them. */
static void drop_jobs(struct job *list)
{
    struct job *j;

    while ((j = list) != NULL) {
        list = j->next;
        stream_unref(j->s);
        free(j);
    }
}


void sv_opus_worker_free(struct sv_opus_worker *w)
{
    bool was_running;

    if (w == NULL)
        return;
    SV_ASSERT(w->n_streams == 0);
    pthread_mutex_lock(&w->mu);
    was_running = !w->want_stop;
    w->want_stop = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
    /* The thread stops after the frame in hand, well under a millisecond. */
    if (was_running)
        pthread_join(w->thread, NULL);
    drop_jobs(w->todo);
    drop_jobs(w->done);
    uv_close((uv_handle_t *)&w->done_async, on_worker_closed);
}


int sv_opus_stream_new(struct sv_opus_stream **out, struct sv_opus_worker *w,
                       unsigned rate_hz, sv_opus_packet_cb *cb, void *arg)
{
    struct sv_opus_stream *s = sv_xcalloc(1, sizeof(*s));
    int err;

    err = sv_opus_enc_new(&s->enc, rate_hz, 0);
    if (err < 0) {
        free(s);
        return err;
    }
    s->w = w;
    s->cb = cb;
    s->arg = arg;
    s->refs = 1;
    w->n_streams++;
    *out = s;
    return 0;
}


void sv_opus_stream_encode(struct sv_opus_stream *s, const int16_t *pcm,
                           size_t samples)
{
    struct sv_opus_worker *w = s->w;
    struct job *j;

    SV_ASSERT(!s->is_freed && samples <= MAX_FRAME_SAMPLES);
    j = sv_xmalloc(sizeof(*j));
    j->next = NULL;
    j->s = s;
    j->gen = s->gen;
    j->samples = samples;
    j->len = 0;
    j->err = 0;
    memcpy(j->pcm, pcm, samples * sizeof(*pcm));
    s->refs++;

    pthread_mutex_lock(&w->mu);
    *w->todo_tail = j;
    w->todo_tail = &j->next;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
}


void sv_opus_stream_flush(struct sv_opus_stream *s)
{
    s->gen++;
}


void sv_opus_stream_free(struct sv_opus_stream *s)
{
    if (s == NULL)
        return;
    SV_ASSERT(!s->is_freed);
    s->is_freed = true;
    s->w->n_streams--;
    stream_unref(s);
}
