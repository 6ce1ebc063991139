/*
 * vault.c - sealing BYOK secrets under the master key (see vault.h).
 *
 * The master key is read once at start-up into sodium guarded memory and
 * made read-only. Sealing uses XChaCha20-Poly1305 (IETF) with a random
 * 24-byte nonce per secret, which is safe to draw at random, and binds
 * the secret id, organization and provider in as associated data.
 *
 * Loading and file creation run at start-up or from the admin command;
 * seal and open only read the vault, so any thread may call them.
 *
 * SPDX-License-Identifier: MIT
 */
#include "store/vault.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "util/alloc.h"
#include "util/secret.h"

#define KEY_BYTES   crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES   crypto_aead_xchacha20poly1305_ietf_ABYTES
#define KEY_HEX_LEN (2 * KEY_BYTES)

/* Bumped if the layout or the associated data ever change. */
#define SEAL_VERSION      1
#define SEAL_HEADER_BYTES (1 + NONCE_BYTES)

/* Domain separation: these bytes, NUL included, start the AD. */
static const char ad_label[] = "sovereignd-byok-v1";

/* A secret larger than this is not an API key; refuse it early. */
#define MAX_PLAIN_BYTES (1024 * 1024)

struct sv_vault {
    uint8_t *key; /* owned, sodium_malloc'd, read-only after load */
};


static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));


static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}


static bool is_lower_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}


static void put_field(uint8_t *ad, size_t *off, const char *field)
{
    size_t len = strlen(field);

    ad[(*off)++] = (uint8_t)(len >> 24);
    ad[(*off)++] = (uint8_t)(len >> 16);
    ad[(*off)++] = (uint8_t)(len >> 8);
    ad[(*off)++] = (uint8_t)len;
    memcpy(ad + *off, field, len);
    *off += len;
}


/*
 * Builds the associated data for one secret. Every field carries its
 * length, so ("ab", "c") and ("a", "bc") differ. The caller frees *ad.
 */
static int build_ad(const char *secret_id, const char *org_id,
                    const char *provider, uint8_t **ad, size_t *ad_len)
{
    const char *fields[] = {secret_id, org_id, provider};
    size_t len = 1 + sizeof(ad_label);
    size_t off = 0;
    uint8_t *p;

    for (size_t i = 0; i < SV_ARRAY_SIZE(fields); i++) {
        if (fields[i] == NULL || strlen(fields[i]) > UINT32_MAX / 2)
            return -EINVAL;
        len += 4 + strlen(fields[i]);
    }
    p = sv_xmalloc(len);
    p[off++] = SEAL_VERSION;
    memcpy(p + off, ad_label, sizeof(ad_label));
    off += sizeof(ad_label);
    for (size_t i = 0; i < SV_ARRAY_SIZE(fields); i++)
        put_field(p, &off, fields[i]);
    SV_ASSERT(off == len);
    *ad = p;
    *ad_len = len;
    return 0;
}


/* Fsyncs the directory holding path, so a new file's name is durable. */
static void sync_parent_dir(const char *path)
{
    char *dir = sv_xstrdup(path);
    char *slash = strrchr(dir, '/');
    int fd;

    if (slash == NULL) {
        strcpy(dir, ".");
    } else if (slash == dir) {
        slash[1] = '\0';
    } else {
        *slash = '\0';
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        /* Best effort: some file systems refuse fsync on directories. */
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}


static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}


int sv_vault_create_file(const char *path)
{
    uint8_t *key = NULL;
    char *hex = NULL;
    int fd = -1;
    int rc;

    if (sodium_init() < 0)
        return -EIO;
    key = sodium_malloc(KEY_BYTES);
    hex = sodium_malloc(KEY_HEX_LEN + 2);
    if (key == NULL || hex == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    randombytes_buf(key, KEY_BYTES);
    sodium_bin2hex(hex, KEY_HEX_LEN + 1, key, KEY_BYTES);
    hex[KEY_HEX_LEN] = '\n';

    /*
     * O_EXCL refuses an existing file (and a symlink in its place); the
     * fchmod() makes the mode exactly 0600 whatever the umask is.
     */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    if (fchmod(fd, 0600) < 0) {
        rc = -errno;
        goto out;
    }
    rc = write_all(fd, hex, KEY_HEX_LEN + 1);
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;

out:
    if (fd >= 0) {
        if (close(fd) < 0 && rc == 0)
            rc = -errno;
        /* Never leave a half-written key behind: it would be loaded. */
        if (rc < 0)
            unlink(path);
        else
            sync_parent_dir(path);
    }
    if (key != NULL)
        sodium_free(key);
    if (hex != NULL)
        sodium_free(hex);

    return rc;
}


/*
 * systemd hands credentials over in a private, read-only directory and
 * may grant the service user access through an ACL, which shows up as
 * group bits in st_mode. Such a file is as private as a mode 0600 one.
 */
static bool is_credential(const char *path)
{
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    size_t n;

    if (dir == NULL || dir[0] != '/')
        return false;
    n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    return strncmp(path, dir, n) == 0 && path[n] == '/' &&
           strchr(path + n + 1, '/') == NULL;
}


int sv_vault_load(struct sv_vault **out, const char *path, char *err,
                  size_t errlen)
{
    /* One byte more than the longest valid file, to notice extra bytes. */
    const size_t cap = KEY_HEX_LEN + 2;
    struct sv_vault *v = NULL;
    char *text = NULL;
    size_t len = 0;
    struct stat sb;
    int fd = -1;
    int rc;

    if (sodium_init() < 0) {
        set_err(err, errlen, "%s: libsodium failed to initialize", path);
        return -EIO;
    }

    /* O_NONBLOCK keeps a FIFO in the key's place from hanging start-up. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        rc = -errno;
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &sb) < 0) {
        rc = -errno;
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        rc = -EINVAL;
        set_err(err, errlen, "%s: not a regular file", path);
        goto out;
    }
    if ((sb.st_mode & 077) != 0 && !is_credential(path)) {
        rc = -EACCES;
        set_err(err, errlen,
                "%s: mode %04o lets group or others access the master key "
                "(chmod 600 it)",
                path, (unsigned)(sb.st_mode & 07777));
        goto out;
    }

    text = sodium_malloc(cap);
    if (text == NULL) {
        rc = -ENOMEM;
        set_err(err, errlen, "%s: out of guarded memory", path);
        goto out;
    }
    while (len < cap) {
        ssize_t n = read(fd, text + len, cap - len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            set_err(err, errlen, "%s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len == KEY_HEX_LEN + 1 && text[KEY_HEX_LEN] == '\n')
        len--;
    if (len != KEY_HEX_LEN || !is_lower_hex(text, len)) {
        rc = -EINVAL;
        set_err(err, errlen,
                "%s: malformed master key (want exactly %d lower-case hex "
                "digits and an optional newline)",
                path, KEY_HEX_LEN);
        goto out;
    }

    v = sv_xcalloc(1, sizeof(*v));
    v->key = sodium_malloc(KEY_BYTES);
    if (v->key == NULL) {
        rc = -ENOMEM;
        set_err(err, errlen, "%s: out of guarded memory", path);
        goto out;
    }
    if (sodium_hex2bin(v->key, KEY_BYTES, text, len, NULL, NULL, NULL) != 0) {
        rc = -EINVAL;
        set_err(err, errlen, "%s: malformed master key", path);
        goto out;
    }
    sodium_mprotect_readonly(v->key);
    *out = v;
    v = NULL;
    rc = 0;

out:
    if (fd >= 0)
        close(fd);
    if (text != NULL)
        sodium_free(text);
    sv_vault_free(v);

    return rc;
}


void sv_vault_free(struct sv_vault *v)
{
    if (v == NULL)
        return;
    /* sodium_free() makes the pages writable again and wipes them. */
    if (v->key != NULL)
        sodium_free(v->key);
    free(v);
}


int sv_vault_seal(const struct sv_vault *v, const char *secret_id,
                  const char *org_id, const char *provider, const char *plain,
                  size_t len, uint8_t **ct, size_t *ct_len)
{
    unsigned long long clen = 0;
    uint8_t *ad = NULL;
    size_t ad_len = 0;
    uint8_t *p;
    size_t total;
    int rc;

    if (sodium_init() < 0)
        return -EIO;
    if (len > MAX_PLAIN_BYTES)
        return -EINVAL;
    rc = build_ad(secret_id, org_id, provider, &ad, &ad_len);
    if (rc < 0)
        return rc;

    total = SEAL_HEADER_BYTES + len + TAG_BYTES;
    p = sv_xmalloc(total);
    p[0] = SEAL_VERSION;
    randombytes_buf(p + 1, NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        p + SEAL_HEADER_BYTES, &clen, (const unsigned char *)plain, len, ad,
        ad_len, NULL, p + 1, v->key);
    SV_ASSERT(clen == len + TAG_BYTES);
    free(ad);
    *ct = p;
    *ct_len = total;

    return 0;
}


int sv_vault_open(const struct sv_vault *v, const char *secret_id,
                  const char *org_id, const char *provider, const uint8_t *ct,
                  size_t ct_len, char **plain)
{
    unsigned long long mlen = 0;
    uint8_t *ad = NULL;
    size_t ad_len = 0;
    char *tmp = NULL;
    size_t body;
    int rc;

    if (sodium_init() < 0)
        return -EIO;
    if (ct_len < SEAL_HEADER_BYTES + TAG_BYTES || ct[0] != SEAL_VERSION)
        return -EBADMSG;
    body = ct_len - SEAL_HEADER_BYTES;
    if (body - TAG_BYTES > MAX_PLAIN_BYTES)
        return -EBADMSG;
    rc = build_ad(secret_id, org_id, provider, &ad, &ad_len);
    if (rc < 0)
        return rc;

    /*
     * Decrypt straight into guarded memory so the plaintext never sits in
     * the ordinary heap; sodium_free() wipes this temporary copy.
     */
    tmp = sodium_malloc(body - TAG_BYTES + 1);
    if (tmp == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            (unsigned char *)tmp, &mlen, NULL, ct + SEAL_HEADER_BYTES, body, ad,
            ad_len, ct + 1, v->key) != 0) {
        rc = -EBADMSG;
        goto out;
    }
    *plain = sv_secret_dup(tmp, (size_t)mlen);
    sodium_memzero(tmp, (size_t)mlen);
    rc = 0;

out:
    if (tmp != NULL)
        sodium_free(tmp);
    free(ad);

    return rc;
}
