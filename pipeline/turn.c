/*
 * turn.c - the barge-in word filter (see turn.h).
 *
 * Each word is normalised into a small stack buffer: ASCII letters are
 * lower-cased, upper-case Latin-1 letters in UTF-8 (C3 80..9E) too,
 * punctuation (ASCII, Latin-1 C2 xx, and General Punctuation E2 80/81 xx
 * such as curly quotes, dashes and the ellipsis) is dropped, and runs of
 * one letter collapse to one. The result is compared to a list of
 * backchannel words in that same normal form. Words too long for the
 * buffer cannot be backchannel words, so they count as real words.
 *
 * Any thread; no allocation.
 *
 * SPDX-License-Identifier: MIT
 */
#include "pipeline/turn.h"

#include <stddef.h>
#include <string.h>

#define WORD_MAX 16

/*
 * Backchannel words in normal form: lower case, no punctuation, repeated
 * letters collapsed, also across dropped punctuation ("mm-hmm" is "mhm",
 * "hmm" is "hm", "uh-huh" is "uhuh", "OKÉ" is "oké"). "uh huh" is two
 * words, "uh" and "huh".
 * "nee" (Dutch "no") is deliberately absent: it is an answer.
 */
static const char *const backchannel[] = {
    "uhuh", "uh",     "huh", "m",   "mhm", "hm",         "ok",   "okay",
    "oke",  "yeah",   "yes", "yep", "yup", "right",      "sure", "ja",
    "jaja", "jajaja", "ah",  "oh",  "um",  "ok\xc3\xa9", "aha",
};


static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
}


static bool is_ascii_punct(unsigned char c)
{
    return c < 0x80 && c > ' ' && !(c >= '0' && c <= '9') &&
           !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z');
}


/* Appends one character (1..4 bytes) unless it repeats the previous one. */
static void put(char *w, size_t *len, bool *overflow, const char *ch, size_t n)
{
    if (*len >= n && memcmp(w + *len - n, ch, n) == 0)
        return;
    if (*len + n >= WORD_MAX) {
        *overflow = true;
        return;
    }
    memcpy(w + *len, ch, n);
    *len += n;
}


/*
 * Normalises the word starting at s (not at white space) into w and
 * returns a pointer just past it. *len is 0 for a word of punctuation
 * only; *overflow is set when it did not fit.
 */
static const char *normalise(const char *s, char *w, size_t *len,
                             bool *overflow)
{
    const unsigned char *p = (const unsigned char *)s;

    *len = 0;
    *overflow = false;
    while (*p != '\0' && !is_space(*p)) {
        char ch[4];
        size_t n = 1;

        if (is_ascii_punct(*p)) {
            p++;
            continue;
        }
        if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0xbf) {
            p += 2; /* Latin-1 symbols: no-break space, ¡, ¿, «, », ... */
            continue;
        }
        if (*p == 0xe2 && (p[1] == 0x80 || p[1] == 0x81) && p[2] >= 0x80 &&
            p[2] <= 0xbf) {
            p += 3; /* General Punctuation: ‘ ’ “ ” – — … */
            continue;
        }
        ch[0] = (char)*p;
        if (*p >= 'A' && *p <= 'Z') {
            ch[0] = (char)(*p + 32);
        } else if (*p == 0xc3 && p[1] >= 0x80 && p[1] <= 0xbf) {
            unsigned char c2 = p[1];

            /* À..Þ lower-case by adding 0x20, except × (0x97). */
            if (c2 <= 0x9e && c2 != 0x97)
                c2 = (unsigned char)(c2 + 0x20);
            ch[1] = (char)c2;
            n = 2;
        }
        put(w, len, overflow, ch, n);
        p += n;
    }
    return (const char *)p;
}


static bool is_backchannel(const char *w, size_t len)
{
    for (size_t i = 0; i < sizeof(backchannel) / sizeof(backchannel[0]); i++) {
        if (strlen(backchannel[i]) == len &&
            memcmp(backchannel[i], w, len) == 0)
            return true;
    }
    return false;
}


bool sv_turn_is_barge_in(const char *interim_text, unsigned min_words)
{
    const char *p = interim_text;
    unsigned words = 0;
    bool has_real_word = false;

    if (p == NULL)
        return false;
    while (*p != '\0') {
        char w[WORD_MAX];
        size_t len;
        bool overflow;

        if (is_space((unsigned char)*p)) {
            p++;
            continue;
        }
        p = normalise(p, w, &len, &overflow);
        if (len == 0 && !overflow)
            continue;
        words++;
        if (overflow || !is_backchannel(w, len))
            has_real_word = true;
    }
    return has_real_word && words >= min_words;
}
