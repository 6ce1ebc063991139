/*
 * turn.h - turn-taking helpers: the barge-in word filter.
 *
 * While the assistant speaks, interim transcripts of the caller arrive.
 * Short acknowledgements ("mm-hmm", "yeah", "oké") must not interrupt
 * it; real words must. Pure functions, any thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_TURN_H
#define SV_TURN_H

#include <stdbool.h>

/*
 * True when interim_text (UTF-8, NUL-terminated, borrowed) has at least
 * min_words words and at least one of them is not a backchannel word
 * (uh-huh, mm, mhm, mm-hmm, hmm, hm, ok, okay, oké, yeah, yes, yep, right,
 * sure, ja, jaja, ah, oh, uh, um, ...). Words are separated by white
 * space; case and punctuation are ignored, and a letter repeated for
 * emphasis counts once ("mmmm" is "mm", "yeahhh" is "yeah"). Text with
 * no words is never a barge-in, so min_words 0 acts as 1. NULL is false.
 */
bool sv_turn_is_barge_in(const char *interim_text, unsigned min_words);

#endif
