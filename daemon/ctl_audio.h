/*
 * ctl_audio.h - where sovereignctl's calls get and put their audio: WAV
 * files (libsndfile) and sound devices (PortAudio), always as 16-bit
 * mono PCM at the call's rate, converting channels and rates here.
 *
 * Everything here runs on the loop thread, except the PortAudio stream
 * callbacks inside ctl_audio.c, which only move samples through a
 * lock-free ring and wake the loop.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_CTL_AUDIO_H
#define SV_CTL_AUDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <uv.h>

struct sv_ctl_wav_in;
struct sv_ctl_wav_out;
struct sv_ctl_mic;
struct sv_ctl_speaker;

/* Receives captured samples at the call's rate, on the loop thread. */
typedef void sv_ctl_pcm_cb(void *arg, const int16_t *pcm, size_t samples);

/*
 * Opens a sound file of any rate and channel count that libsndfile reads
 * and prepares to deliver it as mono at rate_hz. Returns 0 and sets *out,
 * or a negative errno with a message for a person in err.
 */
int sv_ctl_wav_in_open(struct sv_ctl_wav_in **out, const char *path,
                       unsigned rate_hz, char *err, size_t errlen);

/*
 * Fills pcm[] with the next n samples and returns how many there were:
 * fewer than n only at the end of the file, 0 after it.
 */
size_t sv_ctl_wav_in_read(struct sv_ctl_wav_in *w, int16_t *pcm, size_t n);

/* The file's length in milliseconds. */
uint64_t sv_ctl_wav_in_duration_ms(const struct sv_ctl_wav_in *w);

/* Closes the file; NULL is a no-op. */
void sv_ctl_wav_in_free(struct sv_ctl_wav_in *w);

/*
 * Creates (or truncates) a 16-bit mono WAV file at rate_hz. The header is
 * kept current after every write, so the file stays readable even if the
 * program is killed. Returns 0 and sets *out, or a negative errno with a
 * message in err.
 */
int sv_ctl_wav_out_open(struct sv_ctl_wav_out **out, const char *path,
                        unsigned rate_hz, char *err, size_t errlen);

/* Appends samples; returns 0 or -EIO (the message is logged once). */
int sv_ctl_wav_out_write(struct sv_ctl_wav_out *w, const int16_t *pcm,
                         size_t samples);

/* Samples written so far. */
uint64_t sv_ctl_wav_out_samples(const struct sv_ctl_wav_out *w);

/* Finishes and closes the file; NULL is a no-op. */
void sv_ctl_wav_out_free(struct sv_ctl_wav_out *w);

/*
 * Opens the capture device (index from Pa_GetDeviceCount()'s range, or
 * -1 for the default) for mono at rate_hz, or at the device's own rate
 * and channel count converted here. Nothing is captured before
 * sv_ctl_mic_start(). cb gets the samples on the loop thread. Returns 0
 * and sets *out, or a negative errno with a message in err. quiet hides
 * the chatter the sound libraries print while they probe.
 */
int sv_ctl_mic_open(struct sv_ctl_mic **out, uv_loop_t *loop, int device,
                    unsigned rate_hz, bool quiet, sv_ctl_pcm_cb *cb, void *arg,
                    char *err, size_t errlen);

/* Starts capturing; returns 0 or -EIO with a message in err. */
int sv_ctl_mic_start(struct sv_ctl_mic *m, char *err, size_t errlen);

/*
 * Stops capturing and frees the capture once its loop handle has closed
 * (so the loop must run on); cb is not called any more. NULL is a no-op.
 */
void sv_ctl_mic_close(struct sv_ctl_mic *m);

/*
 * Opens the playback device (index, or -1 for the default) for samples
 * at rate_hz, converting to what the device takes. It plays silence
 * whenever nothing is queued. Returns 0 and sets *out, or a negative
 * errno with a message in err.
 */
int sv_ctl_speaker_open(struct sv_ctl_speaker **out, int device,
                        unsigned rate_hz, bool quiet, char *err, size_t errlen);

/* Starts playing; returns 0 or -EIO with a message in err. */
int sv_ctl_speaker_start(struct sv_ctl_speaker *s, char *err, size_t errlen);

/*
 * Queues samples for playback. Samples that do not fit in the queue
 * (about a second) are dropped and counted.
 */
void sv_ctl_speaker_write(struct sv_ctl_speaker *s, const int16_t *pcm,
                          size_t samples);

/* Drops everything queued and not yet played (a barge-in). */
void sv_ctl_speaker_flush(struct sv_ctl_speaker *s);

/* Roughly how long the queued audio takes to play out, in ms. */
unsigned sv_ctl_speaker_queued_ms(const struct sv_ctl_speaker *s);

/* Stops playback at once and frees everything; NULL is a no-op. */
void sv_ctl_speaker_free(struct sv_ctl_speaker *s);

/*
 * The "devices" command: lists the sound devices to f, marking the
 * defaults, or says that there are none. quiet as above. Returns the
 * process exit status (0, also when there is no sound card; 1 when
 * PortAudio itself fails).
 */
int sv_ctl_devices(FILE *f, bool quiet);

#endif
