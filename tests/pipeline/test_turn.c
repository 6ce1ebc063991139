/*
 * test_turn.c - the barge-in word filter, table-driven.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdbool.h>

#include "check.h"
#include "pipeline/turn.h"

struct turn_case {
    const char *text;
    unsigned min_words;
    bool want;
};


static void run(const struct turn_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool got = sv_turn_is_barge_in(cases[i].text, cases[i].min_words);

        if (got != cases[i].want)
            SV_FAIL("\"%s\" (min %u): got %d, want %d", cases[i].text,
                    cases[i].min_words, got, cases[i].want);
    }
}


SV_TEST(backchannel)
{
    static const struct turn_case cases[] = {
        {"uh-huh", 1, false},
        {"Uh huh.", 1, false},
        {"mm", 1, false},
        {"Mmmm...", 1, false},
        {"mhm", 1, false},
        {"mm-hmm", 1, false},
        {"Mm-hmm!", 1, false},
        {"hmm", 1, false},
        {"hm?", 1, false},
        {"OK", 1, false},
        {"okay", 1, false},
        {"Okay, okay.", 1, false},
        {"yeah yeah yeah", 2, false},
        {"Yes", 1, false},
        {"yep", 1, false},
        {"Right.", 1, false},
        {"sure", 1, false},
        {"ja", 1, false},
        {"Jaja", 1, false},
        {"oké", 1, false},
        {"OKÉ!", 1, false},
        {"ah", 1, false},
        {"oh", 1, false},
        {"uh", 1, false},
        {"um", 1, false},
        {"Ah, oh, right, yes.", 1, false},
        {"\xe2\x80\x9cyeah\xe2\x80\x9d \xe2\x80\xa6", 1, false},
        {"Yeahhh", 1, false},
    };

    run(cases, sizeof(cases) / sizeof(cases[0]));
}


SV_TEST(real_words)
{
    static const struct turn_case cases[] = {
        {"wait", 1, true},
        {"Wait!", 1, true},
        {"nee", 1, true},
        {"Nee nee", 2, true},
        {"no", 1, true},
        {"stop", 1, true},
        {"yeah but", 1, true},
        {"Okay, so what about Tuesday?", 1, true},
        {"uh, actually", 1, true},
        {"hold on", 2, true},
        {"Één moment", 2, true},
        {"okay-ish", 1, true},
        {"supercalifragilisticexpialidocious", 1, true},
        {"ja, maar", 2, true},
        {"Mmm, wacht even", 3, true},
    };

    run(cases, sizeof(cases) / sizeof(cases[0]));
}


SV_TEST(min_words)
{
    static const struct turn_case cases[] = {
        {"wait", 2, false},
        {"hold on", 2, true},
        {"hold on", 3, false},
        {"hold, on", 2, true},
        {"hold - on", 2, true},
        {"hold \xe2\x80\x94 on", 2, true},
        {"  ...  wait  !  ", 1, true},
        {"  ...  wait  !  ", 2, false},
        {"uh huh wait", 3, true},
        {"mm wait", 2, true},
        {"wait", 0, true},
        {"", 0, false},
        {"   ", 0, false},
        {"...", 1, false},
        {"ok", 0, false},
    };

    run(cases, sizeof(cases) / sizeof(cases[0]));
    CHECK(!sv_turn_is_barge_in(NULL, 1));
}


SV_TEST_MAIN(SV_CASE(backchannel), SV_CASE(real_words), SV_CASE(min_words))
