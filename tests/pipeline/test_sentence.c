/*
 * test_sentence.c - the streaming sentence splitter. Every table case is
 * fed whole, one byte at a time, and cut in two at every point; all must
 * give the same sentences.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "pipeline/sentence.h"
#include "util/buf.h"

struct split_case {
    const char *text;
    const char *want; /* sentences joined with '|' */
};

/* Collects sentences joined with '|'. */
struct sink {
    struct sv_buf out;
    int count;
    int stop_after; /* stop when count reaches this; 0 = never */
};


static int on_sentence(void *arg, const char *text, size_t len)
{
    struct sink *k = arg;

    CHECK_INT(len, >, 0);
    CHECK_INT(len, <=, SV_SENTENCE_MAX_BYTES);
    if (k->count > 0)
        sv_buf_append(&k->out, "|", 1);
    sv_buf_append(&k->out, text, len);
    k->count++;
    return k->stop_after != 0 && k->count >= k->stop_after;
}


/* Feeds text in pieces of 'step' bytes (0 = whole), or cut once at
 * 'at' when step is SIZE_MAX; flushes and checks the result. */
static void run_one(const char *text, size_t first_clause, size_t step,
                    size_t at, const char *want)
{
    struct sv_sentence s;
    struct sink k = {0};
    size_t len = strlen(text);
    const char *got;

    sv_sentence_init(&s, first_clause, on_sentence, &k);
    if (step == 0) {
        CHECK_EQ(sv_sentence_feed(&s, text, len), 0);
    } else if (step == SIZE_MAX) {
        CHECK_EQ(sv_sentence_feed(&s, text, at), 0);
        CHECK_EQ(sv_sentence_feed(&s, text + at, len - at), 0);
    } else {
        for (size_t i = 0; i < len; i += step)
            CHECK_EQ(
                sv_sentence_feed(&s, text + i, len - i < step ? len - i : step),
                0);
    }
    CHECK_EQ(sv_sentence_flush(&s), 0);
    got = k.out.data != NULL ? k.out.data : "";
    if (strcmp(got, want) != 0)
        SV_FAIL("\"%s\" (step %zu, cut %zu):\n  got  \"%s\"\n  want \"%s\"",
                text, step, at, got, want);
    sv_sentence_close(&s);
    sv_buf_free(&k.out);
}


static void run_table(const struct split_case *cases, size_t n,
                      size_t first_clause)
{
    for (size_t c = 0; c < n; c++) {
        size_t len = strlen(cases[c].text);

        run_one(cases[c].text, first_clause, 0, 0, cases[c].want);
        run_one(cases[c].text, first_clause, 1, 0, cases[c].want);
        run_one(cases[c].text, first_clause, 3, 0, cases[c].want);
        for (size_t at = 0; at <= len; at++)
            run_one(cases[c].text, first_clause, SIZE_MAX, at, cases[c].want);
    }
}

#define RUN(cases, first_clause)                                               \
    run_table(cases, sizeof(cases) / sizeof(cases[0]), first_clause)


SV_TEST(basic)
{
    static const struct split_case cases[] = {
        {"Hello there. How are you?", "Hello there.|How are you?"},
        {"Hi! What's up?! Nothing.", "Hi!|What's up?!|Nothing."},
        {"Wait!! Stop!!! Ok.", "Wait!!|Stop!!!|Ok."},
        {"No punctuation at the end", "No punctuation at the end"},
        {"  Leading and trailing.   Next.  ", "Leading and trailing.|Next."},
        {"   \n  \r\n ", ""},
        {"", ""},
        {"He got 3. Then 4.", "He got 3.|Then 4."},
        {"Yes. I agree.", "Yes.|I agree."},
        {"Done.Next is glued.", "Done.Next is glued."},
        {"Four dots.... Next", "Four dots....|Next"},
    };

    RUN(cases, 0);
}


SV_TEST(abbreviations)
{
    static const struct split_case cases[] = {
        {"Mr. Smith went to Washington. He stayed.",
         "Mr. Smith went to Washington.|He stayed."},
        {"Mrs. Jones and Dr. Who met Prof. X at St. Mary's.",
         "Mrs. Jones and Dr. Who met Prof. X at St. Mary's."},
        {"Ms. Lee vs. Mr. Kim, etc. and more.",
         "Ms. Lee vs. Mr. Kim, etc. and more."},
        {"We sell apples, pears, etc. Then we close.",
         "We sell apples, pears, etc.|Then we close."},
        {"Use e.g. a hammer, i.e. a tool. Done.",
         "Use e.g. a hammer, i.e. a tool.|Done."},
        {"Use e.g. Paris or i.e. Rome.", "Use e.g. Paris or i.e. Rome."},
        {"It starts at 9 a.m. and ends at 5 p.m. Come early.",
         "It starts at 9 a.m. and ends at 5 p.m.|Come early."},
        {"Call No. 5 now. No. I won't.", "Call No. 5 now.|No.|I won't."},
        {"Apple Inc. is big. We like Acme Ltd. They pay.",
         "Apple Inc. is big.|We like Acme Ltd.|They pay."},
        {"It costs approx. 20 euros. Fine.",
         "It costs approx. 20 euros.|Fine."},
        {"The U.S. government agreed. I live in the U.S. It is big.",
         "The U.S. government agreed.|I live in the U.S.|It is big."},
        {"J. R. R. Tolkien wrote it. Read it.",
         "J. R. R. Tolkien wrote it.|Read it."},
        {"The book by J. K. Rowling sold. Wow.",
         "The book by J. K. Rowling sold.|Wow."},
        {"See you at 5 p.m.", "See you at 5 p.m."},
        {"(Dr. House) is here.", "(Dr. House) is here."},
        {"The answer is no. Sorry.", "The answer is no.|Sorry."},
    };

    RUN(cases, 0);
}


SV_TEST(dutch)
{
    static const struct split_case cases[] = {
        {"Neem bijv. een appel. Mevr. Jansen en dhr. De Vries komen o.a. "
         "morgen, d.w.z. vrijdag.",
         "Neem bijv. een appel.|Mevr. Jansen en dhr. De Vries komen o.a. "
         "morgen, d.w.z. vrijdag."},
        {"Bel bv. Piet. Dat kost ca. 10 euro, zie nr. 5. Klaar.",
         "Bel bv. Piet.|Dat kost ca. 10 euro, zie nr. 5.|Klaar."},
        {"Het is 5 p.m. \xc3\x89\xc3\xa9n moment.",
         "Het is 5 p.m.|\xc3\x89\xc3\xa9n moment."},
        {"Dat is 5 p.m. \xc3\xa9\xc3\xa9n keer.",
         "Dat is 5 p.m. \xc3\xa9\xc3\xa9n keer."},
        {"Ja. Nee. Misschien wel.", "Ja.|Nee.|Misschien wel."},
    };

    RUN(cases, 0);
}


SV_TEST(numbers_urls)
{
    static const struct split_case cases[] = {
        {"Pi is 3.14159. Nice.", "Pi is 3.14159.|Nice."},
        {"Update to v2.5 today. Version 3.0.1 is next.",
         "Update to v2.5 today.|Version 3.0.1 is next."},
        {".5 is half. Yes.", ".5 is half.|Yes."},
        {"Visit example.com. Or mail bob@example.com. Thanks!",
         "Visit example.com.|Or mail bob@example.com.|Thanks!"},
        {"Go to https://example.com/a?b=1&c=2 now. Bye.",
         "Go to https://example.com/a?b=1&c=2 now.|Bye."},
        {"Open config.ini. Then save.", "Open config.ini.|Then save."},
        {"It costs $1,000.50 total. Ok.", "It costs $1,000.50 total.|Ok."},
    };

    RUN(cases, 0);
}


SV_TEST(ellipsis)
{
    static const struct split_case cases[] = {
        {"Well... I think so. Wait... The answer is no.",
         "Well... I think so.|Wait...|The answer is no."},
        {"And then... we left.", "And then... we left."},
        {"So... I'm not sure. Okay.", "So... I'm not sure.|Okay."},
        {"Hmm\xe2\x80\xa6 Let me check.", "Hmm\xe2\x80\xa6|Let me check."},
        {"Hmm\xe2\x80\xa6 let me check.", "Hmm\xe2\x80\xa6 let me check."},
        {"Well\xe2\x80\xa6 I guess.", "Well\xe2\x80\xa6 I guess."},
        {"Well...what now", "Well...what now"},
        {"Wait... 3 people came.", "Wait... 3 people came."},
        {"\"Well...\" He paused.", "\"Well...\"|He paused."},
        {"It is... \"odd\" maybe.", "It is...|\"odd\" maybe."},
        {"Wait... Is it?", "Wait...|Is it?"},
    };

    RUN(cases, 0);
}


SV_TEST(quotes_newlines)
{
    static const struct split_case cases[] = {
        {"He said \"Stop.\" Then he left.", "He said \"Stop.\"|Then he left."},
        {"(This is an aside.) Next one.", "(This is an aside.)|Next one."},
        {"Really?!\xe2\x80\x9d She laughed.",
         "Really?!\xe2\x80\x9d|She laughed."},
        {"\"Why?\" she asked. \"Because.\"",
         "\"Why?\" she asked.|\"Because.\""},
        {"'Go!' He ran.", "'Go!'|He ran."},
        {"First line\nSecond line\n\nThird.", "First line|Second line|Third."},
        {"Here is a list:\n1. Eggs\n2. Milk\n",
         "Here is a list:|1. Eggs|2. Milk"},
        {"Steps:\na. Open it.\nb. Close it.",
         "Steps:|a. Open it.|b. Close it."},
        {"One.\r\nTwo.\r\n", "One.|Two."},
        {"Dr.\nSmith", "Dr.|Smith"},
        {"Ends with p.m.\nNext", "Ends with p.m.|Next"},
        /* Literal UTF-8: "Ça va? Très bien. Ünïcödé 😀 works!" */
        {"Ça va? Très bien. Ünïcödé 😀 works!",
         "Ça va?|Très bien.|Ünïcödé 😀 works!"},
    };

    RUN(cases, 0);
}


SV_TEST(first_clause)
{
    static const struct split_case cases[] = {
        {"Well, if you want to book a table for tomorrow evening, we have "
         "space at seven, or at nine. Great.",
         "Well, if you want to book a table for tomorrow evening,|we have "
         "space at seven, or at nine.|Great."},
        {"Short, sentence. Then a much longer second sentence, with a comma.",
         "Short, sentence.|Then a much longer second sentence, with a "
         "comma."},
        {"It costs 1,000,000 dollars and more, really.",
         "It costs 1,000,000 dollars and more,|really."},
        {"First part is long enough; second part.",
         "First part is long enough;|second part."},
        {"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9, "
         "abcdefghijk, rest.",
         "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9, "
         "abcdefghijk,|rest."},
    };
    static const struct split_case off[] = {
        {"Well, if you want to book a table for tomorrow evening, we have "
         "space.",
         "Well, if you want to book a table for tomorrow evening, we have "
         "space."},
    };

    RUN(cases, 10);
    RUN(off, 0);
}


/* Sentences go out as soon as their end is certain, before the flush. */
SV_TEST(streaming)
{
    struct sv_sentence s;
    struct sink k = {0};

    sv_sentence_init(&s, 0, on_sentence, &k);
    CHECK_EQ(sv_sentence_feed(&s, "Hello there.", 12), 0);
    CHECK_EQ(k.count, 0);
    CHECK_EQ(sv_sentence_feed(&s, " ", 1), 0);
    CHECK_EQ(k.count, 1);
    CHECK_STR(k.out.data, "Hello there.");

    /* After "p.m. " the next letter decides. */
    CHECK_EQ(sv_sentence_feed(&s, "Come at 5 p.m. ", 15), 0);
    CHECK_EQ(k.count, 1);
    CHECK_EQ(sv_sentence_feed(&s, "T", 1), 0);
    CHECK_EQ(k.count, 2);
    CHECK_STR(k.out.data, "Hello there.|Come at 5 p.m.");

    /* A title never ends one, so nothing waits on it. */
    CHECK_EQ(sv_sentence_feed(&s, "hen Mr. ", 8), 0);
    CHECK_EQ(k.count, 2);
    CHECK_EQ(sv_sentence_feed(&s, "Li left.\n", 9), 0);
    CHECK_EQ(k.count, 3);
    CHECK_STR(k.out.data, "Hello there.|Come at 5 p.m.|Then Mr. Li left.");

    /* A flush ends the reply; the next reply starts clean. */
    CHECK_EQ(sv_sentence_feed(&s, "Bye", 3), 0);
    CHECK_EQ(sv_sentence_flush(&s), 0);
    CHECK_EQ(k.count, 4);
    CHECK_EQ(sv_sentence_flush(&s), 0);
    CHECK_EQ(k.count, 4);
    sv_sentence_close(&s);
    sv_buf_free(&k.out);
}


SV_TEST(stop_reset)
{
    struct sv_sentence s;
    struct sink k = {.stop_after = 1};
    const char *text = "One. Two. Three.";

    sv_sentence_init(&s, 0, on_sentence, &k);
    CHECK_EQ(sv_sentence_feed(&s, text, strlen(text)), -ECANCELED);
    CHECK_EQ(k.count, 1);
    CHECK_EQ(sv_sentence_feed(&s, text, strlen(text)), -ECANCELED);
    CHECK_EQ(sv_sentence_flush(&s), -ECANCELED);
    CHECK_EQ(k.count, 1);

    /* A barge-in drops the rest without emitting it. */
    sv_sentence_reset(&s);
    k.stop_after = 0;
    CHECK_EQ(sv_sentence_feed(&s, "Four. Fi", 8), 0);
    CHECK_EQ(k.count, 2);
    sv_sentence_reset(&s);
    CHECK_EQ(sv_sentence_feed(&s, "Six.", 4), 0);
    CHECK_EQ(sv_sentence_flush(&s), 0);
    CHECK_STR(k.out.data, "One.|Four.|Six.");
    sv_sentence_close(&s);
    sv_buf_free(&k.out);
}


/* Text that never ends a sentence is cut at spaces, or at character
 * boundaries when there are none, and loses nothing. */
SV_TEST(overlong)
{
    struct sv_buf text = {0};
    struct sv_buf want = {0};
    struct sv_sentence s;
    struct sink k = {0};

    for (int i = 0; i < 600; i++)
        sv_buf_append(&text, "word ", 5);
    sv_sentence_init(&s, 0, on_sentence, &k);
    for (size_t i = 0; i < text.len; i += 7)
        CHECK_EQ(sv_sentence_feed(&s, text.data + i,
                                  text.len - i < 7 ? text.len - i : 7),
                 0);
    CHECK_EQ(sv_sentence_flush(&s), 0);
    CHECK_INT(k.count, >=, 3);
    /* Every piece ends in a whole word. */
    for (size_t i = 0; i < k.out.len; i++) {
        if (k.out.data[i] == '|')
            CHECK(i >= 4 && memcmp(k.out.data + i - 4, "word", 4) == 0);
    }
    sv_buf_free(&k.out);
    k.count = 0;

    /* No spaces: 2-byte characters are never split. */
    sv_buf_reset(&text);
    for (int i = 0; i < 1500; i++)
        sv_buf_append(&text, "\xc3\xa9", 2);
    for (size_t i = 0; i < text.len; i++)
        CHECK_EQ(sv_sentence_feed(&s, text.data + i, 1), 0);
    CHECK_EQ(sv_sentence_flush(&s), 0);
    CHECK_INT(k.count, >=, 3);
    for (size_t i = 0; i < text.len; i += 2)
        sv_buf_append(&want, "\xc3\xa9", 2);
    /* Remove the separators and compare. */
    {
        size_t w = 0;

        for (size_t i = 0; i < k.out.len; i++) {
            if (k.out.data[i] != '|')
                k.out.data[w++] = k.out.data[i];
        }
        CHECK_EQ(w, want.len);
        CHECK(memcmp(k.out.data, want.data, w) == 0);
    }
    sv_sentence_close(&s);
    sv_buf_free(&k.out);
    sv_buf_free(&text);
    sv_buf_free(&want);
}


/* Random text from tricky pieces: however it is cut into fragments (even
 * inside UTF-8 characters), the sentences are the same. */
SV_TEST(random_splits)
{
    static const char *const pieces[] = {
        "Mr.",
        " ",
        " ",
        ".",
        "!",
        "?",
        "...",
        "\xe2\x80\xa6",
        "\"",
        "'",
        "\xe2\x80\x9d",
        ")",
        "(",
        "p.m.",
        "I",
        "I'm",
        "a",
        "B",
        "J.",
        "3",
        "3.5",
        ",",
        ";",
        "\n",
        "\r\n",
        "\xc3\xa9",
        "\xc3\x89",
        "No.",
        "e.g.",
        "U.S.",
        "word",
        "Word",
        "\xe2\x80\x9c",
    };
    uint32_t seed = 2024;

    for (int round = 0; round < 3000; round++) {
        struct sv_buf text = {0};
        struct sv_buf first = {0};
        size_t n_pieces;
        size_t clause = round % 2 ? 8 : 0;

        seed = seed * 1103515245u + 12345u;
        n_pieces = 1 + (seed >> 16) % 30;
        for (size_t i = 0; i < n_pieces; i++) {
            const char *p;

            seed = seed * 1103515245u + 12345u;
            p = pieces[(seed >> 16) % (sizeof(pieces) / sizeof(pieces[0]))];
            sv_buf_append(&text, p, strlen(p));
        }

        for (int mode = 0; mode < 3; mode++) {
            struct sv_sentence s;
            struct sink k = {0};
            size_t i = 0;

            sv_sentence_init(&s, clause, on_sentence, &k);
            while (i < text.len) {
                size_t n = text.len - i;

                if (mode == 1) {
                    n = 1;
                } else if (mode == 2) {
                    seed = seed * 1103515245u + 12345u;
                    n = 1 + (seed >> 16) % 5;
                    if (n > text.len - i)
                        n = text.len - i;
                }
                CHECK_EQ(sv_sentence_feed(&s, text.data + i, n), 0);
                i += n;
            }
            CHECK_EQ(sv_sentence_flush(&s), 0);
            if (mode == 0) {
                sv_buf_append(&first, "", 0);
                if (k.out.len > 0)
                    sv_buf_append(&first, k.out.data, k.out.len);
            } else if (strcmp(first.data, k.out.data ? k.out.data : "")) {
                SV_FAIL("\"%s\" mode %d:\n  got  \"%s\"\n  want \"%s\"",
                        text.data, mode, k.out.data ? k.out.data : "",
                        first.data);
            }
            sv_sentence_close(&s);
            sv_buf_free(&k.out);
        }
        sv_buf_free(&text);
        sv_buf_free(&first);
    }
}


SV_TEST_MAIN(SV_CASE(basic), SV_CASE(abbreviations), SV_CASE(dutch),
             SV_CASE(numbers_urls), SV_CASE(ellipsis), SV_CASE(quotes_newlines),
             SV_CASE(first_clause), SV_CASE(random_splits), SV_CASE(streaming),
             SV_CASE(stop_reset), SV_CASE(overlong))
