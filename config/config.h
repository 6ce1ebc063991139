/*
 * config.h - the daemon's settings: an INI file, plus platform keys from
 * files, systemd credentials or the environment.
 *
 * Loaded once at start-up, on the main thread, before the loop runs; read
 * only afterwards. A key is never read from the INI file itself.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_CONFIG_H
#define SV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "providers/registry.h"

#define SV_CONFIG_DEFAULT_PATH "/etc/sovereign/sovereignd.conf"

/* The longest platform key accepted, in bytes, after trimming. */
#define SV_CONFIG_KEY_MAX_BYTES 4096

struct sv_provider_conf {
    char *url;              /* owned; base URL, scheme ws, wss, http or https */
    char *api_key;          /* owned, in sodium guarded memory; NULL if none */
    const char *key_source; /* static text: "file", "credential", "env" */
    bool validate_keys;     /* check BYOK keys with the provider first */
    unsigned timeout_ms;    /* request or connect time-out */
};

/* The rates [local_audio] sample_rate may name, in Hz, lowest first. */
extern const unsigned sv_local_audio_rates_hz[4];

/*
 * [local_audio]: a call on the machine's own microphone and speaker.
 * Off (is_enabled false) when the file has no such section.
 */
struct sv_local_audio_conf {
    bool is_enabled;
    char *assistant_id;      /* owned; the assistant that answers */
    char *org_id;            /* owned; whose assistant, keys and records */
    char *input_device;      /* owned; substring of a device name, or NULL */
    char *output_device;     /* owned; NULL for the default device */
    unsigned sample_rate_hz; /* one of sv_local_audio_rates_hz */
};

struct sv_config {
    char *path; /* owned; the file this came from */

    /* [server] */
    char *listen_host;           /* owned; IP literal, NULL when TCP is off */
    int listen_port;             /* 0 picks a free port */
    char *unix_socket;           /* owned; absolute path, NULL when off */
    unsigned rate_limit_per_min; /* REST requests per API key */
    size_t max_body_bytes;       /* REST request bodies */
    int log_level;               /* SV_LOG_* */

    /* [store] and [vault] */
    char *store_path;      /* owned; absolute */
    char *master_key_file; /* owned */

    /* [provider.<id>], indexed by enum sv_provider_id */
    struct sv_provider_conf provider[SV_PROVIDER_KEYED_COUNT];

    struct sv_local_audio_conf local_audio;
};

/*
 * Reads the file at path (and the key sources named above) into a new
 * config. On error returns a negative errno (-ENOENT for a missing file,
 * -EINVAL for bad content, the open or read error of a key file) and
 * writes a message naming the file, line and key into err; *out is
 * untouched. Values are never copied into err, so a key pasted into the
 * wrong place does not end up in a log. Reads the environment
 * (STATE_DIRECTORY, RUNTIME_DIRECTORY, CREDENTIALS_DIRECTORY and each
 * provider's key variable). Main thread, before the loop starts.
 */
int sv_config_load(struct sv_config **out, const char *path, char *err,
                   size_t errlen);

/*
 * Logs a summary of cfg at NOTICE: addresses, paths and, per provider,
 * where its key came from (never the key). Main thread.
 */
void sv_config_log(const struct sv_config *cfg);

/* Wipes the keys and frees everything; NULL is a no-op. */
void sv_config_free(struct sv_config *cfg);

#endif
