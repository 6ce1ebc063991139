/*
 * sentence.c - streaming sentence splitter (see sentence.h for the rules).
 *
 * The text not yet emitted lives in one buffer. scan walks it once; at a
 * possible sentence end judge() decides from the text around it, or says
 * it needs more text (the next non-space character has not arrived yet).
 * Then scanning stops there and resumes at the same place on the next
 * feed. Because a decision is only taken when everything it looks at is
 * present, the result does not depend on how the text was cut into
 * fragments. flush() scans with "end of text" as the final answer.
 *
 * Loop thread (one thread at a time per splitter). No allocation once the
 * buffer has grown to the longest pending sentence.
 *
 * SPDX-License-Identifier: MIT
 */
#include "pipeline/sentence.h"

#include <errno.h>
#include <string.h>

enum verdict {
    V_MORE,  /* cannot tell yet: wait for more text */
    V_SPLIT, /* a sentence ends here */
    V_NO,    /* not a sentence end */
};

/* What the word before a single period is. */
enum token {
    TOK_WORD,       /* anything else: the period ends the sentence */
    TOK_NEVER_END,  /* title or abbreviation that a sentence never ends on */
    TOK_MAYBE_END,  /* abbreviation that ends a sentence before a capital */
    TOK_NUMBER_ABR, /* "No." and "nr.": not an end before a number */
    TOK_INITIAL,    /* a single capital letter */
    TOK_LIST,       /* "1." or "a." opening a line */
};

/* Lower-case abbreviations without their final period. */
static const char *const never_end[] = {
    "mr",     "mrs",  "ms", "dr",  "prof",  "st",   "vs",  "e.g", "i.e",
    "approx", "bijv", "bv", "o.a", "d.w.z", "mevr", "dhr", "ca",  "cf",
};
static const char *const maybe_end[] = {
    "etc", "inc", "ltd", "a.m", "p.m", "jr", "sr", "co", "corp",
};
static const char *const number_abr[] = {"no", "nr"};

/* Closing and opening quotes and brackets; the multi-byte ones are
 * ’ ” » › and ‘ “ « ‹ ¿ ¡ in UTF-8. */
static const char *const closers[] = {
    ")",        "]",           "}", "\"", "'", "\xe2\x80\x99", "\xe2\x80\x9d",
    "\xc2\xbb", "\xe2\x80\xba"};
static const char *const openers[] = {"(",
                                      "[",
                                      "{",
                                      "\"",
                                      "'",
                                      "\xe2\x80\x98",
                                      "\xe2\x80\x9c",
                                      "\xc2\xab",
                                      "\xe2\x80\xb9",
                                      "\xc2\xbf",
                                      "\xc2\xa1"};
#define ELLIPSIS "\xe2\x80\xa6"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))


static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
}


static bool is_newline(unsigned char c)
{
    return c == '\n' || c == '\r';
}


static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}


static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}


/*
 * Whether seq starts at b[i]: its length if so, 0 if not, -1 if the text
 * ends while still matching (a later fragment decides).
 */
static int match(const char *b, size_t len, size_t i, const char *seq)
{
    size_t n = strlen(seq);

    for (size_t k = 0; k < n; k++) {
        if (i + k >= len)
            return -1;
        if (b[i + k] != seq[k])
            return 0;
    }
    return (int)n;
}


/* match() against each of a set; the first full or partial match wins. */
static int match_any(const char *b, size_t len, size_t i,
                     const char *const *set, size_t n_set)
{
    for (size_t k = 0; k < n_set; k++) {
        int n = match(b, len, i, set[k]);

        if (n != 0)
            return n;
    }
    return 0;
}


/* A terminator (. ! ? or the ellipsis character) at b[i], as match(). */
static int term_len(const char *b, size_t len, size_t i)
{
    if (i >= len)
        return -1;
    if (b[i] == '.' || b[i] == '!' || b[i] == '?')
        return 1;
    return match(b, len, i, ELLIPSIS);
}


static bool in_list(const char *word, const char *const *list, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (strcmp(word, list[k]) == 0)
            return true;
    }
    return false;
}


/* "u.s", "b.v": single letters joined by single periods. */
static bool is_dotted(const char *w)
{
    size_t n = strlen(w);

    if (n < 3 || n % 2 == 0)
        return false;
    for (size_t k = 0; k < n; k++) {
        if (k % 2 == 0 ? !is_alpha((unsigned char)w[k]) : w[k] != '.')
            return false;
    }
    return true;
}


/* Classifies the word that ends just before the period at b[i]. */
static enum token classify(const struct sv_sentence *s, size_t i)
{
    const char *b = s->buf.data;
    size_t first = s->start;
    size_t t = i;
    size_t word_start;
    char w[8];
    size_t n;

    while (first < i && is_space((unsigned char)b[first]))
        first++;
    while (t > first && !is_space((unsigned char)b[t - 1]))
        t--;
    word_start = t;
    for (;;) {
        int k = match_any(b, i, t, openers, COUNT(openers));

        if (k <= 0)
            break;
        t += (size_t)k;
    }
    n = i - t;
    if (n == 0)
        return TOK_WORD;

    if (word_start == first) {
        bool digits = true;

        for (size_t k = t; k < i; k++)
            digits = digits && is_digit((unsigned char)b[k]);
        if (digits || (n == 1 && is_alpha((unsigned char)b[t])))
            return TOK_LIST;
    }
    if (n == 1 && b[t] >= 'A' && b[t] <= 'Z' && b[t] != 'I')
        return TOK_INITIAL;
    if (n >= sizeof(w))
        return TOK_WORD;

    for (size_t k = 0; k < n; k++) {
        char c = b[t + k];

        w[k] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    w[n] = '\0';
    if (in_list(w, never_end, COUNT(never_end)))
        return TOK_NEVER_END;
    if (in_list(w, number_abr, COUNT(number_abr)))
        return TOK_NUMBER_ABR;
    if (in_list(w, maybe_end, COUNT(maybe_end)) || is_dotted(w))
        return TOK_MAYBE_END;
    return TOK_WORD;
}


/*
 * Whether the text at b[k] (the first non-space after a candidate end)
 * starts a new sentence: an upper-case letter (ASCII or Latin-1) or an
 * opening quote or bracket. With skip_i, the pronoun "I" (alone or as in
 * "I'm") does not count.
 */
static enum verdict starts_sentence(const char *b, size_t len, size_t k,
                                    bool eof, bool skip_i)
{
    unsigned char c;
    int n;

    if (k >= len)
        return eof ? V_SPLIT : V_MORE;
    c = (unsigned char)b[k];
    if (c >= 'A' && c <= 'Z') {
        if (!skip_i || c != 'I')
            return V_SPLIT;
        if (k + 1 >= len)
            return eof ? V_NO : V_MORE;
        c = (unsigned char)b[k + 1];
        if (is_space(c) || c == '\'' || c == ',')
            return V_NO;
        n = match(b, len, k + 1, "\xe2\x80\x99");
        if (n < 0)
            return eof ? V_SPLIT : V_MORE;
        return n > 0 ? V_NO : V_SPLIT;
    }
    if (c == 0xc3) {
        if (k + 1 >= len)
            return eof ? V_NO : V_MORE;
        c = (unsigned char)b[k + 1];
        return (c >= 0x80 && c <= 0x9e && c != 0x97) ? V_SPLIT : V_NO;
    }
    n = match_any(b, len, k, openers, COUNT(openers));
    if (n < 0)
        return eof ? V_NO : V_MORE;
    return n > 0 ? V_SPLIT : V_NO;
}


/*
 * Judges the terminator at b[i]. On V_SPLIT, *end is where the sentence
 * ends (after the terminators and closers); on V_NO, *next is where
 * scanning goes on (after the terminators).
 */
static enum verdict judge(const struct sv_sentence *s, size_t i, bool eof,
                          size_t *end, size_t *next)
{
    const char *b = s->buf.data;
    size_t len = s->buf.len;
    size_t j = i;
    size_t k;
    unsigned dots = 0;
    bool bang = false;
    bool ellipsis = false;
    bool closed = false;

    for (;;) {
        int n = term_len(b, len, j);

        if (n < 0 && !eof)
            return V_MORE;
        if (n <= 0)
            break;
        if (b[j] == '.')
            dots++;
        else if (n > 1)
            ellipsis = true;
        else
            bang = true;
        j += (size_t)n;
    }
    *next = j;
    for (;;) {
        int n = match_any(b, len, j, closers, COUNT(closers));

        if (n < 0 && !eof)
            return V_MORE;
        if (n <= 0)
            break;
        closed = true;
        j += (size_t)n;
    }
    *end = j;
    if (j >= len)
        return V_SPLIT; /* only at the end of the text */
    if (!is_space((unsigned char)b[j]))
        return V_NO;

    for (k = j; k < len && is_space((unsigned char)b[k]); k++) {
        if (is_newline((unsigned char)b[k]))
            return V_SPLIT;
    }

    if (bang) {
        /* "Why?" she asked: a quote closes, the sentence goes on. */
        if (!closed)
            return V_SPLIT;
        if (k >= len)
            return eof ? V_SPLIT : V_MORE;
        return (b[k] >= 'a' && b[k] <= 'z') ? V_NO : V_SPLIT;
    }
    if (dots > 1 || ellipsis)
        return starts_sentence(b, len, k, eof, true);

    switch (classify(s, i)) {
    case TOK_NEVER_END:
    case TOK_INITIAL:
    case TOK_LIST:
        return V_NO;
    case TOK_NUMBER_ABR:
        if (k >= len)
            return eof ? V_SPLIT : V_MORE;
        return (is_digit((unsigned char)b[k]) || b[k] == '#') ? V_NO : V_SPLIT;
    case TOK_MAYBE_END:
        return starts_sentence(b, len, k, eof, false);
    default:
        return V_SPLIT;
    }
}


/* Emits b[from..to) trimmed, unless that is empty. */
static int emit(struct sv_sentence *s, size_t from, size_t to)
{
    const char *b = s->buf.data;

    while (from < to && is_space((unsigned char)b[from]))
        from++;
    while (to > from && is_space((unsigned char)b[to - 1]))
        to--;
    if (from == to)
        return 0;
    s->emitted = true;
    return s->cb(s->arg, b + from, to - from) != 0 ? -ECANCELED : 0;
}


/* Ends the current sentence at 'to' and starts the next one there. */
static int cut(struct sv_sentence *s, size_t to)
{
    int rc = emit(s, s->start, to);

    s->start = to;
    s->scan = to;
    return rc;
}


/* Characters (not bytes) of the trimmed text b[from..to). */
static size_t chars(const char *b, size_t from, size_t to)
{
    size_t n = 0;

    while (from < to && is_space((unsigned char)b[from]))
        from++;
    for (size_t k = from; k < to; k++) {
        if (((unsigned char)b[k] & 0xc0) != 0x80)
            n++;
    }
    return n;
}


/* Where to cut a sentence that grew too long: after its last space, or
 * else at i, moved back to the start of a UTF-8 character. */
static size_t overlong_cut(const struct sv_sentence *s, size_t i)
{
    const char *b = s->buf.data;

    for (size_t k = i; k > s->start + 1; k--) {
        if (is_space((unsigned char)b[k - 1]))
            return k;
    }
    while (i > s->start + 1 && ((unsigned char)b[i] & 0xc0) == 0x80)
        i--;
    return i;
}


static int scan(struct sv_sentence *s, bool eof)
{
    const char *b = s->buf.data;
    size_t len = s->buf.len;
    int rc = 0;

    while (s->scan < len && rc == 0) {
        size_t i = s->scan;
        unsigned char c = (unsigned char)b[i];
        size_t end;
        size_t next;
        int n;

        if (i - s->start >= SV_SENTENCE_MAX_BYTES) {
            rc = cut(s, overlong_cut(s, i));
            continue;
        }
        if (is_newline(c)) {
            rc = cut(s, i + 1);
            continue;
        }
        n = term_len(b, len, i);
        if (n < 0 && !eof)
            return 0;
        if (n > 0) {
            enum verdict v = judge(s, i, eof, &end, &next);

            if (v == V_MORE)
                return 0;
            if (v == V_SPLIT)
                rc = cut(s, end);
            else
                s->scan = next;
            continue;
        }
        if ((c == ',' || c == ';') && s->first_clause_chars > 0 &&
            !s->emitted) {
            if (i + 1 >= len && !eof)
                return 0;
            if (i + 1 < len && is_space((unsigned char)b[i + 1]) &&
                chars(b, s->start, i + 1) > s->first_clause_chars) {
                rc = cut(s, i + 1);
                continue;
            }
        }
        s->scan = i + 1;
    }
    return rc;
}


/* Drops the emitted text from the front of the buffer. */
static void compact(struct sv_sentence *s)
{
    if (s->start == 0)
        return;
    sv_buf_consume(&s->buf, s->start);
    s->scan -= s->start;
    s->start = 0;
}


void sv_sentence_init(struct sv_sentence *s, size_t first_clause_chars,
                      sv_sentence_cb *cb, void *arg)
{
    memset(s, 0, sizeof(*s));
    s->cb = cb;
    s->arg = arg;
    s->first_clause_chars = first_clause_chars;
}


int sv_sentence_feed(struct sv_sentence *s, const char *text, size_t len)
{
    if (s->error != 0)
        return s->error;
    if (len == 0)
        return 0;
    sv_buf_append(&s->buf, text, len);
    s->error = scan(s, false);
    compact(s);
    return s->error;
}


int sv_sentence_flush(struct sv_sentence *s)
{
    if (s->error != 0)
        return s->error;
    s->error = scan(s, true);
    if (s->error == 0)
        s->error = emit(s, s->start, s->buf.len);
    sv_buf_reset(&s->buf);
    s->start = 0;
    s->scan = 0;
    s->emitted = false;
    return s->error;
}


void sv_sentence_reset(struct sv_sentence *s)
{
    sv_buf_reset(&s->buf);
    s->start = 0;
    s->scan = 0;
    s->emitted = false;
    s->error = 0;
}


void sv_sentence_close(struct sv_sentence *s)
{
    sv_buf_free(&s->buf);
    sv_sentence_reset(s);
}
