/*
 * local_audio.h - a call on the machine's own microphone and speaker,
 * through PortAudio, when the configuration has a [local_audio] section.
 *
 * At start-up PortAudio is initialised and the two devices are opened on
 * libuv's thread pool (some host APIs block for seconds there); the
 * streams then start on the loop and a call with the configured
 * assistant begins. When a call ends, the next one starts after a short
 * pause; when a call cannot start (unknown assistant, missing key,
 * provider without adapter), the start is retried with a growing pause.
 * A device that is missing, refuses the rate, or fails mid-call is
 * logged once (ERR), the call ends cleanly, and local audio stays off
 * until the daemon restarts; the rest of the daemon keeps serving.
 *
 * Loop thread only (the PortAudio callbacks stay inside local_audio.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_LOCAL_AUDIO_H
#define SV_LOCAL_AUDIO_H

#include <stdbool.h>

struct sv_call;
struct sv_daemon;
struct sv_local_audio;

/*
 * Starts local audio when d->cfg->local_audio.is_enabled: queues the
 * device opening and returns at once with *out set; sets *out to NULL
 * when local audio is off. Device trouble is never an error here; it is
 * logged when found. Returns 0. d is borrowed and must outlive
 * sv_local_audio_stop().
 */
int sv_local_audio_start(struct sv_local_audio **out, struct sv_daemon *d);

/*
 * The live local call with this id in org_id, or NULL; lets the REST
 * control endpoint reach it. la may be NULL.
 */
struct sv_call *sv_local_audio_find_call(struct sv_local_audio *la,
                                         const char *org_id,
                                         const char *call_id);

/*
 * Ends the call ("daemon-shutdown"), stops and closes the streams on the
 * thread pool, then closes the loop handles; la is freed once the last
 * one has closed, so the caller forgets it now. NULL is a no-op.
 */
void sv_local_audio_stop(struct sv_local_audio *la);

#endif
