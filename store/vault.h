/*
 * vault.h - sealing BYOK secrets under the master key.
 *
 * Secrets are sealed with XChaCha20-Poly1305 (libsodium AEAD). The secret
 * id, organization id and provider are bound in as associated data, so a
 * ciphertext moved to another row, tenant or provider fails to open.
 * The master key lives in sodium guarded memory (locked, not dumped).
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
 * overwrite an existing file (-EEXIST). Returns 0 or a negative errno.
 */
int sv_vault_create_file(const char *path);

/*
 * Loads the master key from path. Fails when the file is missing,
 * malformed, or readable or writable by group or others; err says why
 * (never the key). Returns 0 or a negative errno; *out is set on success.
 */
int sv_vault_load(struct sv_vault **out, const char *path, char *err,
                  size_t errlen);

/* Wipes the key and frees the vault; NULL is a no-op. */
void sv_vault_free(struct sv_vault *v);

/*
 * Seals plain[0..len) for the given secret id, organization and provider.
 * *ct is a new malloc'd buffer of *ct_len bytes (nonce included).
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
