/*
 * test_vault.c - the BYOK vault: sealing round trips, refusal of moved,
 * tampered or foreign ciphertexts, and the master key file's checks.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "check.h"
#include "store/vault.h"
#include "tmpdir.h"
#include "util/alloc.h"
#include "util/secret.h"

#define SECRET_ID "0b6f3c1e-8d2a-4f5b-9c7e-1a2b3c4d5e6f"
#define ORG_ID    "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"
#define PLAIN     "sk-proj-ThisIsAFakeOpenAIKey0123456789"

/* One vault in its own scratch directory. */
struct fixture {
    char dir[256];
    char *key_path; /* owned */
    struct sv_vault *vault;
};


static void fixture_init(struct fixture *f)
{
    char err[256] = "";

    tmp_make(f->dir, sizeof(f->dir));
    f->key_path = sv_xasprintf("%s/master.key", f->dir);
    CHECK_EQ(sv_vault_create_file(f->key_path), 0);
    CHECK_EQ(sv_vault_load(&f->vault, f->key_path, err, sizeof(err)), 0);
}


static void fixture_close(struct fixture *f)
{
    sv_vault_free(f->vault);
    tmp_remove(f->dir);
    free(f->key_path);
}


static void seal(struct fixture *f, uint8_t **ct, size_t *ct_len)
{
    CHECK_EQ(sv_vault_seal(f->vault, SECRET_ID, ORG_ID, "openai", PLAIN,
                           strlen(PLAIN), ct, ct_len),
             0);
}


/* Opens with the test's ids and checks the result code. */
static void expect_open(const struct sv_vault *v, const char *secret_id,
                        const char *org_id, const char *provider,
                        const uint8_t *ct, size_t ct_len, int want)
{
    char *plain = NULL;
    int rc = sv_vault_open(v, secret_id, org_id, provider, ct, ct_len, &plain);

    CHECK_EQ(rc, want);
    if (rc == 0) {
        CHECK_STR(plain, PLAIN);
        sv_secret_free(plain);
    } else {
        CHECK(plain == NULL);
    }
}


SV_TEST(roundtrip)
{
    struct fixture f;
    uint8_t *ct;
    size_t ct_len;
    char *plain = NULL;

    fixture_init(&f);
    seal(&f, &ct, &ct_len);
    CHECK_EQ(ct_len, 1 + 24 + strlen(PLAIN) + 16);
    CHECK_EQ(ct[0], 1);
    expect_open(f.vault, SECRET_ID, ORG_ID, "openai", ct, ct_len, 0);
    free(ct);

    /* An empty secret is sealed and opened as well. */
    CHECK_EQ(sv_vault_seal(f.vault, SECRET_ID, ORG_ID, "openai", "", 0, &ct,
                           &ct_len),
             0);
    CHECK_EQ(ct_len, 1 + 24 + 16);
    CHECK_EQ(
        sv_vault_open(f.vault, SECRET_ID, ORG_ID, "openai", ct, ct_len, &plain),
        0);
    CHECK_STR(plain, "");
    sv_secret_free(plain);
    free(ct);
    fixture_close(&f);
}


SV_TEST(wrong_key)
{
    struct fixture a;
    struct fixture b;
    uint8_t *ct;
    size_t ct_len;

    fixture_init(&a);
    fixture_init(&b);
    seal(&a, &ct, &ct_len);
    expect_open(b.vault, SECRET_ID, ORG_ID, "openai", ct, ct_len, -EBADMSG);
    expect_open(a.vault, SECRET_ID, ORG_ID, "openai", ct, ct_len, 0);
    free(ct);
    fixture_close(&a);
    fixture_close(&b);
}


SV_TEST(moved)
{
    struct fixture f;
    uint8_t *ct;
    size_t ct_len;

    fixture_init(&f);
    seal(&f, &ct, &ct_len);
    expect_open(f.vault, "1b6f3c1e-8d2a-4f5b-9c7e-1a2b3c4d5e6f", ORG_ID,
                "openai", ct, ct_len, -EBADMSG);
    expect_open(f.vault, SECRET_ID, "8d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6",
                "openai", ct, ct_len, -EBADMSG);
    expect_open(f.vault, SECRET_ID, ORG_ID, "deepgram", ct, ct_len, -EBADMSG);
    expect_open(f.vault, SECRET_ID, ORG_ID, "openai", ct, ct_len, 0);
    free(ct);

    /* Shifting a boundary between fields must change the binding too. */
    CHECK_EQ(sv_vault_seal(f.vault, "x", "ab", "c", PLAIN, strlen(PLAIN), &ct,
                           &ct_len),
             0);
    expect_open(f.vault, "x", "a", "bc", ct, ct_len, -EBADMSG);
    expect_open(f.vault, "xa", "b", "c", ct, ct_len, -EBADMSG);
    expect_open(f.vault, "x", "ab", "c", ct, ct_len, 0);
    free(ct);
    fixture_close(&f);
}


SV_TEST(tamper)
{
    struct fixture f;
    uint8_t *ct;
    uint8_t *longer;
    size_t ct_len;

    fixture_init(&f);
    seal(&f, &ct, &ct_len);
    for (size_t i = 0; i < ct_len; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            ct[i] ^= (uint8_t)(1u << bit);
            expect_open(f.vault, SECRET_ID, ORG_ID, "openai", ct, ct_len,
                        -EBADMSG);
            ct[i] ^= (uint8_t)(1u << bit);
        }
    }
    for (size_t len = 0; len < ct_len; len++)
        expect_open(f.vault, SECRET_ID, ORG_ID, "openai", ct, len, -EBADMSG);
    longer = sv_xmalloc(ct_len + 1);
    memcpy(longer, ct, ct_len);
    longer[ct_len] = 0;
    expect_open(f.vault, SECRET_ID, ORG_ID, "openai", longer, ct_len + 1,
                -EBADMSG);
    /* Untouched, it still opens: the failures above were the tampering. */
    expect_open(f.vault, SECRET_ID, ORG_ID, "openai", ct, ct_len, 0);
    free(longer);
    free(ct);
    fixture_close(&f);
}


/* Expects sv_vault_load(path) to fail with want, naming path in err. */
static void expect_refused(const char *path, int want, const char *reason,
                           const char *key_hex)
{
    struct sv_vault *v = NULL;
    char err[512] = "";

    CHECK_EQ(sv_vault_load(&v, path, err, sizeof(err)), want);
    CHECK(v == NULL);
    CHECK(strstr(err, path) != NULL);
    if (strstr(err, reason) == NULL)
        SV_FAIL("error \"%s\" does not say \"%s\"", err, reason);
    if (key_hex != NULL) {
        CHECK(strstr(err, key_hex) == NULL);
        CHECK(strstr(err, "0123456789abcdef") == NULL);
    }
}


SV_TEST(load_refuses)
{
    const char *hex = "0123456789abcdef0123456789abcdef"
                      "0123456789abcdef0123456789abcdef";
    struct sv_vault *v = NULL;
    char err[512] = "";
    char dir[256];
    char *path;
    char *bad;

    tmp_make(dir, sizeof(dir));
    path = sv_xasprintf("%s/key", dir);

    expect_refused(path, -ENOENT, "No such file", NULL);

    bad = sv_xasprintf("%.63s\n", hex);
    write_file(path, bad, strlen(bad), 0600);
    expect_refused(path, -EINVAL, "malformed", hex);
    free(bad);
    bad = sv_xasprintf("%s0\n", hex);
    write_file(path, bad, strlen(bad), 0600);
    expect_refused(path, -EINVAL, "malformed", hex);
    free(bad);
    bad = sv_xasprintf("%s\n\n", hex);
    write_file(path, bad, strlen(bad), 0600);
    expect_refused(path, -EINVAL, "malformed", hex);
    free(bad);
    bad = sv_xasprintf("%.62sAB\n", hex);
    write_file(path, bad, strlen(bad), 0600);
    expect_refused(path, -EINVAL, "malformed", hex);
    free(bad);
    bad = sv_xasprintf("%.62sxz", hex);
    write_file(path, bad, strlen(bad), 0600);
    expect_refused(path, -EINVAL, "malformed", hex);
    free(bad);
    write_file(path, "", 0, 0600);
    expect_refused(path, -EINVAL, "malformed", hex);

    /* A well-formed key with open permissions is refused for them. */
    write_file(path, hex, strlen(hex), 0644);
    expect_refused(path, -EACCES, "group or others", hex);
    write_file(path, hex, strlen(hex), 0640);
    expect_refused(path, -EACCES, "group or others", hex);
    write_file(path, hex, strlen(hex), 0602);
    expect_refused(path, -EACCES, "group or others", hex);

    /* The same file, made private, loads: with and without a newline. */
    write_file(path, hex, strlen(hex), 0400);
    CHECK_EQ(sv_vault_load(&v, path, err, sizeof(err)), 0);
    sv_vault_free(v);
    bad = sv_xasprintf("%s\n", hex);
    write_file(path, bad, strlen(bad), 0600);
    CHECK_EQ(sv_vault_load(&v, path, err, sizeof(err)), 0);
    sv_vault_free(v);
    free(bad);
    unlink(path);

    /* A directory is not a key file. */
    CHECK_EQ(mkdir(path, 0700), 0);
    expect_refused(path, -EINVAL, "not a regular file", NULL);
    rmdir(path);

    /* err may be NULL. */
    CHECK_EQ(sv_vault_load(&v, path, NULL, 0), -ENOENT);

    free(path);
    tmp_remove(dir);
}


SV_TEST(create_file)
{
    struct sv_vault *v = NULL;
    char err[256] = "";
    char dir[256];
    struct stat sb;
    char *path;
    char *text;
    char *again;
    size_t len;

    tmp_make(dir, sizeof(dir));
    path = sv_xasprintf("%s/master.key", dir);

    /* Even with no umask at all the file is private. */
    umask(0);
    CHECK_EQ(sv_vault_create_file(path), 0);
    CHECK_EQ(stat(path, &sb), 0);
    CHECK(S_ISREG(sb.st_mode));
    CHECK_EQ(sb.st_mode & 07777, 0600);

    text = read_file(path, &len);
    CHECK(text != NULL);
    CHECK_EQ(len, 65);
    CHECK_EQ(text[64], '\n');
    for (size_t i = 0; i < 64; i++)
        CHECK((text[i] >= '0' && text[i] <= '9') ||
              (text[i] >= 'a' && text[i] <= 'f'));

    /* A second create refuses and leaves the first key in place. */
    CHECK_EQ(sv_vault_create_file(path), -EEXIST);
    again = read_file(path, &len);
    CHECK(again != NULL);
    CHECK_STR(again, text);
    CHECK_EQ(sv_vault_load(&v, path, err, sizeof(err)), 0);
    sv_vault_free(v);

    /* Two keys are different keys. */
    unlink(path);
    CHECK_EQ(sv_vault_create_file(path), 0);
    free(again);
    again = read_file(path, &len);
    CHECK(strcmp(again, text) != 0);

    free(again);
    free(text);
    free(path);
    tmp_remove(dir);
}


SV_TEST(no_plaintext)
{
    struct fixture f;
    uint8_t *ct;
    uint8_t *ct2;
    size_t ct_len;
    size_t ct2_len;

    fixture_init(&f);
    seal(&f, &ct, &ct_len);
    CHECK(memmem(ct, ct_len, PLAIN, strlen(PLAIN)) == NULL);
    /* Not even a recognizable piece of it. */
    CHECK(memmem(ct, ct_len, "sk-proj", 7) == NULL);
    CHECK(memmem(ct, ct_len, SECRET_ID, strlen(SECRET_ID)) == NULL);

    /* A fresh nonce each time: sealing twice gives different bytes. */
    seal(&f, &ct2, &ct2_len);
    CHECK_EQ(ct_len, ct2_len);
    CHECK(memcmp(ct + 1, ct2 + 1, 24) != 0);
    CHECK(memcmp(ct + 25, ct2 + 25, ct_len - 25) != 0);
    free(ct2);
    free(ct);
    fixture_close(&f);
}


SV_TEST_MAIN(SV_CASE(roundtrip), SV_CASE(wrong_key), SV_CASE(moved),
             SV_CASE(tamper), SV_CASE(load_refuses), SV_CASE(create_file),
             SV_CASE(no_plaintext))
