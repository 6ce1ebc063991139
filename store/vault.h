/*
 * vault.h - sealing BYOK secrets under the master key.
 *
 * Secrets are sealed with XChaCha20-Poly1305 (libsodium AEAD). The secret
 * id, organization id and provider are bound in as associated data, so a
 * ciphertext moved to another row, tenant or provider fails to open.
 * The master key lives in sodium guarded memory (locked, not dumped).
 *
 * Master key file: exactly 64 lower-case hex digits (a 32-byte key),
 * optionally followed by one newline, nothing else. It must be a regular
 * file that neither group nor others may read or write (0600 or 0400).
 *
 * Sealed layout: 1 version byte (1), a 24-byte random nonce, then the
 * ciphertext with its 16-byte tag. The associated data is the version
 * byte, "sovereignd-byok-v1" with its NUL, and each of secret id,
 * organization id and provider as a 4-byte big-endian length and its
 * bytes, so no two different triples give the same associated data.
 *
 * Thread-safe once loaded: seal and open only read the vault.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_VAULT_H
#define SV_VAULT_H

#include <stddef.h>
#include <stdint.h>

#include "util/secret.h"

struct sv_vault;

/*
 * Writes a new random master key to path with mode 0600, refusing to
 * overwrite an existing file (-EEXIST). The file is synced before this
 * returns. Returns 0 or a negative errno. Any thread.
 */
int sv_vault_create_file(const char *path);

/*
 * Loads the master key from path. Fails when the file is missing
 * (-ENOENT), not a regular file or malformed (-EINVAL), or readable or
 * writable by group or others (-EACCES); err (errlen bytes, may be NULL)
 * names the path and says why, never showing key bytes. Returns 0 or a
 * negative errno; *out is set only on success.
 */
int sv_vault_load(struct sv_vault **out, const char *path, char *err,
                  size_t errlen);

/* Wipes the key and frees the vault; NULL is a no-op. */
void sv_vault_free(struct sv_vault *v);

/*
 * Seals plain[0..len) for the given secret id, organization and provider.
 * *ct is a new malloc'd buffer of *ct_len bytes (nonce included), which
 * the caller frees. Returns 0, or -EINVAL for an absurd length.
 */
int sv_vault_seal(const struct sv_vault *v, const char *secret_id,
                  const char *org_id, const char *provider, const char *plain,
                  size_t len, uint8_t **ct, size_t *ct_len);

/*
 * Opens a sealed secret. On success *plain is a NUL-terminated string in
 * sodium guarded memory, to be released with sv_secret_free(). Returns
 * -EBADMSG when the ciphertext was tampered with, moved, or sealed under
 * another key.
 */
int sv_vault_open(const struct sv_vault *v, const char *secret_id,
                  const char *org_id, const char *provider, const uint8_t *ct,
                  size_t ct_len, char **plain);

#endif
