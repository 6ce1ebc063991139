/*
 * check.h - the unit test harness: checks that print both sides, and a
 * main() that runs one case chosen by name (CMake registers each case as
 * its own test, so each runs in its own process).
 *
 * A test file defines its cases with SV_TEST(name) and ends with
 * SV_TEST_MAIN(case, case, ...). A case returns normally to pass, fails
 * through the CHECK macros (which exit 1), and skips with SV_SKIP(why),
 * which exits 77.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_CHECK_H
#define SV_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SV_FAIL(...)                                                           \
    do {                                                                       \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                        \
        fprintf(stderr, __VA_ARGS__);                                          \
        fputc('\n', stderr);                                                   \
        exit(1);                                                               \
    } while (0)

#define SV_SKIP(why)                                                           \
    do {                                                                       \
        fprintf(stderr, "skipped: %s\n", why);                                 \
        exit(77);                                                              \
    } while (0)

#define CHECK(expr)                                                            \
    do {                                                                       \
        if (!(expr))                                                           \
            SV_FAIL("CHECK(%s) failed", #expr);                                \
    } while (0)

#define CHECK_INT(a, op, b)                                                    \
    do {                                                                       \
        intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);                       \
        if (!(a_ op b_))                                                       \
            SV_FAIL("CHECK(%s %s %s) failed: %jd vs %jd", #a, #op, #b, a_,     \
                    b_);                                                       \
    } while (0)

#define CHECK_EQ(a, b) CHECK_INT(a, ==, b)

#define CHECK_STR(a, b)                                                        \
    do {                                                                       \
        const char *a_ = (a), *b_ = (b);                                       \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                   \
            SV_FAIL("CHECK_STR(%s, %s) failed: \"%s\" vs \"%s\"", #a, #b,      \
                    a_ ? a_ : "(null)", b_ ? b_ : "(null)");                   \
    } while (0)

struct sv_test_case {
    const char *name;
    void (*fn)(void);
};

#define SV_TEST(name) static void test_##name(void)
#define SV_CASE(name)                                                          \
    {                                                                          \
#name, test_##name                                                     \
    }

#define SV_TEST_MAIN(...)                                                      \
    int main(int argc, char **argv)                                            \
    {                                                                          \
        static const struct sv_test_case cases[] = {__VA_ARGS__};              \
        size_t n = sizeof(cases) / sizeof(cases[0]);                           \
        for (size_t i = 0; i < n; i++) {                                       \
            if (argc < 2 || strcmp(argv[1], cases[i].name) == 0) {             \
                cases[i].fn();                                                 \
                if (argc >= 2)                                                 \
                    return 0;                                                  \
            }                                                                  \
        }                                                                      \
        if (argc >= 2) {                                                       \
            fprintf(stderr, "no case named %s\n", argv[1]);                    \
            return 2;                                                          \
        }                                                                      \
        return 0;                                                              \
    }

#endif
