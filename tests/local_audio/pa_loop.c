/*
 * pa_loop.c - proves that the real PortAudio library moves audio through
 * ALSA devices a test defines: opens a capture and a playback device by
 * name in one full-duplex stream of mono 16-bit samples in 20 ms frames,
 * copies what it captures to the playback side, and stops after the
 * given number of samples.
 *
 *   pa_loop CAPTURE PLAYBACK RATE SAMPLES
 *
 * Exit 0 when every sample went through, 77 when PortAudio does not
 * start or lists no such device (an environment limit), 1 otherwise.
 * The PortAudio callback only copies and counts; main() polls the
 * stream.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <portaudio.h>

struct loop {
    unsigned long want_samples;
    atomic_ulong done_samples;
};


static int on_audio(const void *input, void *output, unsigned long frames,
                    const PaStreamCallbackTimeInfo *ti,
                    PaStreamCallbackFlags flags, void *arg)
{
    struct loop *l = arg;
    unsigned long done = atomic_load(&l->done_samples);

    if (input != NULL)
        memcpy(output, input, frames * sizeof(int16_t));
    else
        memset(output, 0, frames * sizeof(int16_t));
    atomic_store(&l->done_samples, done + frames);
    return done + frames >= l->want_samples ? paComplete : paContinue;
}


/* The device called exactly name, or paNoDevice. */
static PaDeviceIndex find(const char *name)
{
    for (PaDeviceIndex i = 0; i < Pa_GetDeviceCount(); i++) {
        if (strcmp(Pa_GetDeviceInfo(i)->name, name) == 0)
            return i;
    }
    return paNoDevice;
}


int main(int argc, char **argv)
{
    struct loop l = {0};
    PaStreamParameters in;
    PaStreamParameters out;
    PaStream *s = NULL;
    unsigned rate;
    PaError pe;
    int status = 1;

    if (argc != 5) {
        fprintf(stderr, "usage: pa_loop CAPTURE PLAYBACK RATE SAMPLES\n");
        return 2;
    }
    rate = (unsigned)strtoul(argv[3], NULL, 10);
    l.want_samples = strtoul(argv[4], NULL, 10);
    pe = Pa_Initialize();
    if (pe != paNoError) {
        fprintf(stderr, "pa_loop: Pa_Initialize: %s\n", Pa_GetErrorText(pe));
        return 77;
    }
    memset(&in, 0, sizeof(in));
    memset(&out, 0, sizeof(out));
    in.device = find(argv[1]);
    out.device = find(argv[2]);
    if (in.device == paNoDevice || out.device == paNoDevice) {
        fprintf(stderr, "pa_loop: PortAudio lists no %s\n",
                in.device == paNoDevice ? argv[1] : argv[2]);
        status = 77;
        goto out;
    }
    in.channelCount = 1;
    in.sampleFormat = paInt16;
    in.suggestedLatency = Pa_GetDeviceInfo(in.device)->defaultLowInputLatency;
    out.channelCount = 1;
    out.sampleFormat = paInt16;
    out.suggestedLatency =
        Pa_GetDeviceInfo(out.device)->defaultLowOutputLatency;
    pe = Pa_OpenStream(&s, &in, &out, rate, rate / 50, paClipOff, on_audio, &l);
    if (pe == paNoError)
        pe = Pa_StartStream(s);
    if (pe != paNoError) {
        fprintf(stderr, "pa_loop: open/start: %s\n", Pa_GetErrorText(pe));
        goto out;
    }
    while ((pe = Pa_IsStreamActive(s)) == 1)
        Pa_Sleep(5);
    if (pe < 0) {
        fprintf(stderr, "pa_loop: stream: %s\n", Pa_GetErrorText(pe));
        goto out;
    }
    printf("pa_loop: %lu samples\n", atomic_load(&l.done_samples));
    status = atomic_load(&l.done_samples) >= l.want_samples ? 0 : 1;

out:
    if (s != NULL)
        Pa_CloseStream(s);
    Pa_Terminate();
    return status;
}
