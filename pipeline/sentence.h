/*
 * sentence.h - a streaming sentence splitter for LLM text.
 *
 * The LLM's reply arrives as small fragments; text-to-speech should start
 * on the first sentence as soon as it is complete. Feed fragments in
 * order and the splitter calls back with each sentence the moment its end
 * is certain; sv_sentence_flush() emits what remains when the reply ends.
 * Splitting the same text into different fragments gives the same
 * sentences. Emitted sentences are trimmed of surrounding white space;
 * empty ones are skipped. Text is UTF-8 and passes through unchanged.
 *
 * A sentence ends at:
 * - ".", "!", "?" or a run of them ("?!", "!!!"), plus any closing quotes
 *   or brackets right after, when white space follows. A "!" or "?" run
 *   followed by a closing quote and a lower-case word ("Why?" she asked)
 *   does not end it.
 * - an ellipsis ("..." or U+2026 "…") only when white space and an upper-case
 *   letter or an opening quote follow; the pronoun "I" does not count
 *   ("Well... I think" stays whole, "Wait... The answer" splits).
 * - a newline, always.
 * A period does not end a sentence when no white space follows (3.14,
 * v2.5, example.com, e.g.), nor after a title or abbreviation that never
 * ends one (Mr. Mrs. Ms. Dr. Prof. St. vs. e.g. i.e. approx. and Dutch
 * bijv. bv. o.a. d.w.z. mevr. dhr. ca.), after "No."/"nr." followed by a
 * number, after an initial (J. R. R. Tolkien), or after a list number at
 * the start of a line ("1. Eggs"). After abbreviations that may end a
 * sentence (etc. Inc. Ltd. a.m. p.m. and dotted ones like U.S.) it ends
 * only when an upper-case letter follows.
 *
 * Optionally the first clause of a reply goes out early: with
 * first_clause_chars N > 0, until the first sentence of the reply has
 * been emitted, a "," or ";" followed by white space ends a piece once it
 * holds more than N characters. A sentence that reaches
 * SV_SENTENCE_MAX_BYTES without ending is cut at its last space, so the
 * buffer stays bounded.
 *
 * Embedded in its owner (init/close); one thread at a time (the loop).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_SENTENCE_H
#define SV_SENTENCE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/* Longest piece emitted when no sentence end comes. */
#define SV_SENTENCE_MAX_BYTES 1000

/*
 * Called once per sentence with len bytes of text, which is NOT
 * NUL-terminated and valid only during the call. Return 0 to go on,
 * nonzero to stop: the feed or flush then returns -ECANCELED. Must not
 * call back into the same splitter.
 */
typedef int sv_sentence_cb(void *arg, const char *text, size_t len);

struct sv_sentence {
    sv_sentence_cb *cb; /* borrowed */
    void *arg;          /* borrowed, passed to cb */
    size_t first_clause_chars;
    struct sv_buf buf; /* owned: text not yet emitted */
    size_t start;      /* where the current sentence starts in buf */
    size_t scan;       /* first byte of buf not yet classified */
    bool emitted;      /* a piece of this reply has gone out */
    int error;         /* sticky: 0 or -ECANCELED */
};

/*
 * Prepares an embedded splitter. first_clause_chars is N above (0 = off).
 * cb and arg are borrowed.
 */
void sv_sentence_init(struct sv_sentence *s, size_t first_clause_chars,
                      sv_sentence_cb *cb, void *arg);

/*
 * Adds len bytes of text and emits every sentence now known to be
 * complete. Returns 0, or -ECANCELED when the callback asked to stop
 * (sticky until sv_sentence_reset()).
 */
int sv_sentence_feed(struct sv_sentence *s, const char *text, size_t len);

/*
 * Ends the reply: emits the remaining sentences including an unfinished
 * last one, and prepares for the next reply (the first-clause option
 * applies again). Returns 0 or -ECANCELED like sv_sentence_feed().
 */
int sv_sentence_flush(struct sv_sentence *s);

/* Drops pending text and any error without emitting (after a barge-in).
 * Keeps the buffer's memory. */
void sv_sentence_reset(struct sv_sentence *s);

/* Frees the buffer. The struct may be initialised again afterwards. */
void sv_sentence_close(struct sv_sentence *s);

#endif
