/*
 * config.c - reads the daemon's INI file and its platform keys (see
 * config.h).
 *
 * The file is read into memory and fed to inih line by line through our
 * own reader, which counts lines: inih's handler gets no line number, so
 * the handler records the first error together with the reader's count,
 * and the reader then reports end of file so that parsing stops there.
 * Syntax errors that inih finds itself come back as ini_parse_stream()'s
 * return value, the line of the first error.
 *
 * No message ever quotes a value: a key pasted into the wrong setting
 * must not reach the journal through an error about that setting.
 *
 * Main thread, at start-up only.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ini.h>
#include <sodium.h>

#include "util/alloc.h"
#include "util/log.h"
#include "util/misc.h"
#include "util/secret.h"

#define CONFIG_FILE_MAX_BYTES (1024 * 1024)

#define DEFAULT_LISTEN_HOST     "127.0.0.1"
#define DEFAULT_LISTEN_PORT     8080
#define DEFAULT_RATE_LIMIT      100
#define DEFAULT_MAX_BODY_BYTES  65536
#define DEFAULT_STORE_PATH      "/var/lib/sovereign/sovereign.db"
#define DEFAULT_MASTER_KEY_FILE "/etc/sovereign/master.key"
#define DEFAULT_TIMEOUT_MS      10000
#define DEFAULT_LOCAL_AUDIO_HZ  16000

const unsigned sv_local_audio_rates_hz[4] = {8000, 16000, 24000, 48000};

/* Room for a key plus generous trailing whitespace; more is too long. */
#define KEY_BUF_BYTES (SV_CONFIG_KEY_MAX_BYTES + 256)

/* Sections with a fixed name come first; provider i is SEC_PROVIDER + i. */
enum section {
    SEC_SERVER,
    SEC_STORE,
    SEC_VAULT,
    SEC_LOCAL_AUDIO,
    SEC_PROVIDER,
    SEC_COUNT = SEC_PROVIDER + SV_PROVIDER_KEYED_COUNT,
};

/* The state of one load; lives on sv_config_load()'s stack. */
struct parse {
    struct sv_config *cfg; /* borrowed; being filled in */
    const char *data;      /* borrowed; the whole file */
    size_t len;
    size_t pos; /* of the next line in data */
    int line;   /* number of the line last handed to inih */

    const char *section; /* borrowed from inih during a handler call */
    const char *name;    /* likewise */

    bool failed; /* an error is recorded; stop parsing */
    int err_line;
    int status; /* negative errno of the first error */
    char *err;  /* borrowed; the caller's buffer */
    size_t errlen;

    uint32_t seen[SEC_COUNT]; /* keys given so far, one bit per rule */
    char *key_file[SV_PROVIDER_KEYED_COUNT]; /* owned; api_key_file */
    int key_file_line[SV_PROVIDER_KEYED_COUNT];
    int local_audio_line; /* of the first [local_audio] setting, or 0 */
};

/* A setter stores value or records an error and returns -EINVAL. */
typedef int set_cb(struct parse *p, size_t provider, const char *value);

struct key_rule {
    const char *name;
    set_cb *set;
};


static void vformat_err(struct parse *p, const char *prefix, const char *fmt,
                        va_list ap)
{
    int n;

    if (p->err == NULL || p->errlen == 0)
        return;
    n = snprintf(p->err, p->errlen, "%s", prefix);
    if (n >= 0 && (size_t)n < p->errlen)
        vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
}


/* Records the first error, formatted in full; later ones are dropped. */
static int record_err(struct parse *p, int status, int line, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));

static int record_err(struct parse *p, int status, int line, const char *fmt,
                      ...)
{
    va_list ap;

    if (p->failed)
        return status;
    p->failed = true;
    p->status = status;
    p->err_line = line;
    va_start(ap, fmt);
    vformat_err(p, "", fmt, ap);
    va_end(ap);
    return status;
}


/* An error in the setting inih is handing us: "file:N: [sec] key: text". */
static int bad_value(struct parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int bad_value(struct parse *p, const char *fmt, ...)
{
    va_list ap;
    char *prefix;

    if (p->failed)
        return -EINVAL;
    prefix = sv_xasprintf("%s:%d: [%s] %s: ", p->cfg->path, p->line, p->section,
                          p->name);
    p->failed = true;
    p->status = -EINVAL;
    p->err_line = p->line;
    va_start(ap, fmt);
    vformat_err(p, prefix, fmt, ap);
    va_end(ap);
    free(prefix);
    return -EINVAL;
}


/* Parses a plain decimal number (no sign, no spaces) within min..max. */
static int parse_uint(const char *s, unsigned long long min,
                      unsigned long long max, unsigned long long *out)
{
    unsigned long long v;
    char *end;

    if (*s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end != '\0')
        return -EINVAL;
    if (errno == ERANGE || v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}


static int parse_bool(const char *s, bool *out)
{
    static const char *yes[] = {"true", "yes", "on", "1"};
    static const char *no[] = {"false", "no", "off", "0"};

    for (size_t i = 0; i < SV_ARRAY_SIZE(yes); i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}


/* The first entry of a colon-separated directory list, or NULL. */
static char *env_first_dir(const char *name)
{
    const char *v = getenv(name);

    if (v == NULL || v[0] != '/')
        return NULL;
    return sv_xstrndup(v, strcspn(v, ":"));
}


/*
 * Makes path absolute against the first directory in the environment
 * variable env, or else the current directory. NULL when neither is
 * known (getcwd failed).
 */
static char *resolve_path(const char *path, const char *env)
{
    char *base;
    char *full;
    size_t n;

    if (path[0] == '/')
        return sv_xstrdup(path);
    base = env_first_dir(env);
    if (base == NULL)
        base = getcwd(NULL, 0);
    if (base == NULL)
        return NULL;
    n = strlen(base);
    full = sv_xasprintf("%s%s%s", base, n > 0 && base[n - 1] == '/' ? "" : "/",
                        path);
    free(base);
    return full;
}


static int set_listen(struct parse *p, size_t provider, const char *v)
{
    struct sv_config *cfg = p->cfg;
    unsigned char addr[sizeof(struct in6_addr)];
    unsigned long long port;
    const char *port_text;
    char *host;
    int family;

    if (v[0] == '\0' || strcmp(v, "off") == 0) {
        free(cfg->listen_host);
        cfg->listen_host = NULL;
        cfg->listen_port = 0;
        return 0;
    }
    if (v[0] == '[') {
        const char *close = strchr(v, ']');

        if (close == NULL || close[1] != ':')
            return bad_value(p, "expected [address]:port for IPv6");
        host = sv_xstrndup(v + 1, (size_t)(close - v - 1));
        port_text = close + 2;
        family = AF_INET6;
    } else {
        const char *colon = strrchr(v, ':');

        if (colon == NULL)
            return bad_value(p, "expected address:port, [address]:port or "
                                "off");
        if (memchr(v, ':', (size_t)(colon - v)) != NULL)
            return bad_value(p, "an IPv6 address needs brackets, as in "
                                "[::1]:8080");
        host = sv_xstrndup(v, (size_t)(colon - v));
        port_text = colon + 1;
        family = AF_INET;
    }
    if (inet_pton(family, host, addr) != 1) {
        free(host);
        return bad_value(p, "the address must be an IP address (%s)",
                         family == AF_INET6 ? "IPv6 inside brackets"
                                            : "IPv4, or IPv6 in brackets");
    }
    if (parse_uint(port_text, 0, 65535, &port) < 0) {
        free(host);
        return bad_value(p, "port must be 0..65535");
    }
    free(cfg->listen_host);
    cfg->listen_host = host;
    cfg->listen_port = (int)port;
    return 0;
}


static int set_unix_socket(struct parse *p, size_t provider, const char *v)
{
    struct sv_config *cfg = p->cfg;
    char *path;

    if (v[0] == '\0' || strcmp(v, "off") == 0) {
        free(cfg->unix_socket);
        cfg->unix_socket = NULL;
        return 0;
    }
    path = resolve_path(v, "RUNTIME_DIRECTORY");
    if (path == NULL)
        return bad_value(p, "relative path, and the current directory is "
                            "unknown");
    if (strlen(path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
        free(path);
        return bad_value(p,
                         "the path is too long for a unix socket (at "
                         "most %zu bytes)",
                         sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
    }
    free(cfg->unix_socket);
    cfg->unix_socket = path;
    return 0;
}


static int set_rate_limit(struct parse *p, size_t provider, const char *v)
{
    unsigned long long n;

    if (parse_uint(v, 1, 1000000, &n) < 0)
        return bad_value(p, "must be a whole number from 1 to 1000000 "
                            "(requests per minute)");
    p->cfg->rate_limit_per_min = (unsigned)n;
    return 0;
}


static int set_max_body(struct parse *p, size_t provider, const char *v)
{
    unsigned long long n;

    if (parse_uint(v, 1024, 64 * 1024 * 1024, &n) < 0)
        return bad_value(p, "must be a whole number from 1024 to 67108864 "
                            "(bytes)");
    p->cfg->max_body_bytes = (size_t)n;
    return 0;
}


static int set_log_level(struct parse *p, size_t provider, const char *v)
{
    int level = sv_log_level_parse(v);

    if (level < 0)
        return bad_value(p, "must be err, warn, notice, info or debug");
    p->cfg->log_level = level;
    return 0;
}


static int set_store_path(struct parse *p, size_t provider, const char *v)
{
    char *path;

    if (v[0] == '\0')
        return bad_value(p, "must not be empty");
    path = resolve_path(v, "STATE_DIRECTORY");
    if (path == NULL)
        return bad_value(p, "relative path, and the current directory is "
                            "unknown");
    free(p->cfg->store_path);
    p->cfg->store_path = path;
    return 0;
}


static int set_master_key_file(struct parse *p, size_t provider, const char *v)
{
    if (v[0] == '\0')
        return bad_value(p, "must not be empty (remove the line for the "
                            "default)");
    free(p->cfg->master_key_file);
    p->cfg->master_key_file = sv_xstrdup(v);
    return 0;
}


static int set_url(struct parse *p, size_t provider, const char *v)
{
    static const char *schemes[] = {"ws://", "wss://", "http://", "https://"};
    struct sv_provider_conf *pc = &p->cfg->provider[provider];
    size_t scheme_len = 0;
    size_t host_len;
    size_t len;
    char *url;

    for (size_t i = 0; i < SV_ARRAY_SIZE(schemes); i++) {
        if (strncasecmp(v, schemes[i], strlen(schemes[i])) == 0)
            scheme_len = strlen(schemes[i]);
    }
    if (scheme_len == 0)
        return bad_value(p, "must start with ws://, wss://, http:// or "
                            "https://");
    for (const char *c = v; *c != '\0'; c++) {
        if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f)
            return bad_value(p, "must not contain spaces, control "
                                "characters or non-ASCII bytes");
    }
    host_len = strcspn(v + scheme_len, "/");
    if (host_len == 0)
        return bad_value(p, "has no host");
    /* A base URL gets paths appended; user:password@ would be inline
     * secret material, which belongs in a key file. */
    if (memchr(v + scheme_len, '@', host_len) != NULL)
        return bad_value(p, "must not carry credentials (user@); keys go "
                            "in api_key_file, a credential or the "
                            "environment");
    if (strpbrk(v, "?#") != NULL)
        return bad_value(p, "must be a base URL, without a query or "
                            "fragment");

    url = sv_xstrdup(v);
    for (size_t i = 0; i < scheme_len; i++) {
        if (url[i] >= 'A' && url[i] <= 'Z')
            url[i] = (char)(url[i] - 'A' + 'a');
    }
    len = strlen(url);
    if (url[len - 1] == '/')
        url[len - 1] = '\0';
    free(pc->url);
    pc->url = url;
    return 0;
}


static int set_api_key_file(struct parse *p, size_t provider, const char *v)
{
    if (v[0] == '\0')
        return bad_value(p, "must not be empty (remove the line to use a "
                            "credential or the environment)");
    free(p->key_file[provider]);
    p->key_file[provider] = sv_xstrdup(v);
    p->key_file_line[provider] = p->line;
    return 0;
}


static int set_validate_keys(struct parse *p, size_t provider, const char *v)
{
    if (parse_bool(v, &p->cfg->provider[provider].validate_keys) < 0)
        return bad_value(p, "must be true or false");
    return 0;
}


static int set_timeout(struct parse *p, size_t provider, const char *v)
{
    unsigned long long n;

    if (parse_uint(v, 100, 600000, &n) < 0)
        return bad_value(p, "must be a whole number from 100 to 600000 "
                            "(milliseconds)");
    p->cfg->provider[provider].timeout_ms = (unsigned)n;
    return 0;
}


/*
 * An id of the store: printable ASCII without spaces, shorter than
 * SV_ID_LEN. Whether it names anything is checked when the daemon uses
 * it, against the store.
 */
static int set_id(struct parse *p, char **dst, const char *v)
{
    size_t n = strlen(v);

    if (n == 0)
        return bad_value(p, "must not be empty");
    if (n >= SV_ID_LEN)
        return bad_value(p, "is not an id (at most %d characters)",
                         SV_ID_LEN - 1);
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)v[i] <= ' ' || (unsigned char)v[i] >= 0x7f)
            return bad_value(p, "is not an id (no spaces, control "
                                "characters or non-ASCII bytes)");
    }
    free(*dst);
    *dst = sv_xstrdup(v);
    return 0;
}


static int set_la_assistant(struct parse *p, size_t provider, const char *v)
{
    return set_id(p, &p->cfg->local_audio.assistant_id, v);
}


static int set_la_org(struct parse *p, size_t provider, const char *v)
{
    return set_id(p, &p->cfg->local_audio.org_id, v);
}


static int set_device(struct parse *p, char **dst, const char *v)
{
    if (v[0] == '\0')
        return bad_value(p, "must not be empty (remove the line for the "
                            "default device)");
    free(*dst);
    *dst = sv_xstrdup(v);
    return 0;
}


static int set_la_input(struct parse *p, size_t provider, const char *v)
{
    return set_device(p, &p->cfg->local_audio.input_device, v);
}


static int set_la_output(struct parse *p, size_t provider, const char *v)
{
    return set_device(p, &p->cfg->local_audio.output_device, v);
}


static int set_la_rate(struct parse *p, size_t provider, const char *v)
{
    unsigned long long n;

    if (parse_uint(v, 8000, 48000, &n) == 0) {
        for (size_t i = 0; i < SV_ARRAY_SIZE(sv_local_audio_rates_hz); i++) {
            if (n == sv_local_audio_rates_hz[i]) {
                p->cfg->local_audio.sample_rate_hz = (unsigned)n;
                return 0;
            }
        }
    }
    return bad_value(p, "must be 8000, 16000, 24000 or 48000 (Hz)");
}


static const struct key_rule server_rules[] = {
    {"listen", set_listen},         {"unix_socket", set_unix_socket},
    {"rate_limit", set_rate_limit}, {"max_body_bytes", set_max_body},
    {"log_level", set_log_level},   {NULL, NULL},
};

static const struct key_rule store_rules[] = {
    {"path", set_store_path},
    {NULL, NULL},
};

static const struct key_rule vault_rules[] = {
    {"master_key_file", set_master_key_file},
    {NULL, NULL},
};

static const struct key_rule local_audio_rules[] = {
    {"assistant", set_la_assistant}, {"org", set_la_org},
    {"input_device", set_la_input},  {"output_device", set_la_output},
    {"sample_rate", set_la_rate},    {NULL, NULL},
};

static const struct key_rule provider_rules[] = {
    {"url", set_url},
    {"api_key_file", set_api_key_file},
    {"validate_keys", set_validate_keys},
    {"timeout_ms", set_timeout},
    {NULL, NULL},
};


/* The section's number, or -1 when the daemon has no such section. */
static int find_section(const char *name)
{
    const struct sv_provider_info *info;
    size_t i;

    if (strcmp(name, "server") == 0)
        return SEC_SERVER;
    if (strcmp(name, "store") == 0)
        return SEC_STORE;
    if (strcmp(name, "vault") == 0)
        return SEC_VAULT;
    if (strcmp(name, "local_audio") == 0)
        return SEC_LOCAL_AUDIO;
    if (strncmp(name, "provider.", 9) != 0)
        return -1;
    info = sv_provider_find(name + 9);
    if (info == NULL)
        return -1;
    i = sv_provider_index(info);
    if (i >= SV_PROVIDER_KEYED_COUNT)
        return -1;
    return SEC_PROVIDER + (int)i;
}


static const struct key_rule *section_rules(int section)
{
    switch (section) {
    case SEC_SERVER:
        return server_rules;
    case SEC_STORE:
        return store_rules;
    case SEC_VAULT:
        return vault_rules;
    case SEC_LOCAL_AUDIO:
        return local_audio_rules;
    default:
        return provider_rules;
    }
}


/*
 * True for names that suggest a secret is being put inline: "api_key",
 * "master_key", "token", "password" and the like. Settings that name a
 * file holding a secret end in "_file" and are fine.
 */
static bool looks_secret(const char *name)
{
    static const char *words[] = {"secret", "token", "password", "passwd"};
    size_t n = strlen(name);

    if (n >= 5 && strcasecmp(name + n - 5, "_file") == 0)
        return false;
    if (n >= 3 && strcasecmp(name + n - 3, "key") == 0)
        return true;
    for (size_t i = 0; i < SV_ARRAY_SIZE(words); i++) {
        if (strcasestr(name, words[i]) != NULL)
            return true;
    }
    return false;
}


static int reject_secret(struct parse *p, int section)
{
    const struct sv_provider_info *info;

    if (section >= SEC_PROVIDER) {
        info = &sv_providers[section - SEC_PROVIDER];
        return bad_value(p,
                         "keys may not sit in the config file; name a file "
                         "holding the key with api_key_file, or provide "
                         "the systemd credential %s-api-key, or set the "
                         "environment variable %s",
                         info->id, info->key_env);
    }
    if (section == SEC_VAULT) {
        return bad_value(p, "keys may not sit in the config file; name the "
                            "file holding the master key with "
                            "master_key_file, or provide the systemd "
                            "credential master-key");
    }
    return bad_value(p, "keys may not sit in the config file; use "
                        "api_key_file in a [provider.<id>] section, a "
                        "systemd credential (<id>-api-key) or the "
                        "provider's environment variable");
}


/*
 * True when s looks like a section or setting name: at most 24 letters,
 * digits and underscores (and dots in section names).
 */
static bool plain_name(const char *s, bool is_section)
{
    size_t n = strlen(s);

    if (n > 24)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              (is_section && s[i] == '.')))
            return false;
    }
    return true;
}


/* inih's handler: one "name = value" of section. */
static int on_entry(void *user, const char *section, const char *name,
                    const char *value)
{
    struct parse *p = user;
    const struct key_rule *rules;
    size_t provider;
    int sec;

    if (p->failed)
        return 1;
    /* Names go into messages only when they look like names; a key
     * pasted on a line of its own could otherwise be quoted. */
    p->section = plain_name(section, true) ? section : "?";
    p->name = plain_name(name, false) ? name : "?";
    if (section[0] == '\0') {
        record_err(p, -EINVAL, p->line,
                   "%s:%d: %s: settings must follow a [section] header",
                   p->cfg->path, p->line, p->name);
        return 0;
    }
    sec = find_section(section);
    if (sec >= 0) {
        rules = section_rules(sec);
        for (size_t i = 0; rules[i].name != NULL; i++) {
            if (strcmp(rules[i].name, name) != 0)
                continue;
            if (p->seen[sec] & (1u << i)) {
                bad_value(p, "given twice (each setting may appear once, "
                             "and an indented line continues the one "
                             "above)");
                return 0;
            }
            p->seen[sec] |= 1u << i;
            if (sec == SEC_LOCAL_AUDIO && p->local_audio_line == 0)
                p->local_audio_line = p->line;
            provider = sec >= SEC_PROVIDER ? (size_t)(sec - SEC_PROVIDER) : 0;
            return rules[i].set(p, provider, value) == 0;
        }
    }
    if (looks_secret(name)) {
        reject_secret(p, sec);
        return 0;
    }
    if (p->name[0] == '?') {
        bad_value(p, "not a setting name; lines read name = value");
        return 0;
    }
    if (sec < 0) {
        bad_value(p, "unknown section (known: server, store, vault, "
                     "local_audio and provider.<id> for deepgram, openai, "
                     "elevenlabs, resend)");
        return 0;
    }
    bad_value(p, "unknown setting");
    return 0;
}


/*
 * inih's reader, fgets() style, over the file in memory. It counts
 * lines for the handler's messages, refuses NUL bytes and lines that
 * inih would split, and ends the input once an error is recorded.
 */
static char *read_line(char *str, int num, void *stream)
{
    struct parse *p = stream;
    size_t n = 0;
    char c;

    if (p->failed || p->pos >= p->len)
        return NULL;
    p->line++;
    while (p->pos < p->len) {
        c = p->data[p->pos];
        if (c == '\0') {
            record_err(p, -EINVAL, p->line,
                       "%s:%d: the line contains a NUL byte", p->cfg->path,
                       p->line);
            return NULL;
        }
        if (n + 1 >= (size_t)num) {
            record_err(p, -EINVAL, p->line,
                       "%s:%d: the line is longer than %d bytes", p->cfg->path,
                       p->line, num - 2);
            return NULL;
        }
        str[n++] = c;
        p->pos++;
        if (c == '\n')
            break;
    }
    str[n] = '\0';
    return str;
}


/* Reads a whole small file into a new NUL-terminated buffer. */
static int read_file(const char *path, size_t max, char **out, size_t *len)
{
    struct stat st;
    char *data = NULL;
    size_t have = 0;
    ssize_t n;
    int fd;
    int r = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        r = -EISDIR;
        goto out;
    }
    data = sv_xmalloc(max + 1);
    for (;;) {
        n = read(fd, data + have, max + 1 - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            goto out;
        }
        if (n == 0)
            break;
        have += (size_t)n;
        if (have > max) {
            r = -EFBIG;
            goto out;
        }
    }
    data[have] = '\0';
    *out = data;
    *len = have;
    data = NULL;

out:
    free(data);
    close(fd);
    return r;
}


/*
 * Reads a key file into buf. Returns the number of bytes read, or a
 * negative errno; *why explains -EINVAL and -EFBIG.
 */
static ssize_t read_key_file(const char *path, char *buf, size_t size,
                             const char **why)
{
    struct stat st;
    size_t have = 0;
    ssize_t n;
    ssize_t r;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        *why = "not a regular file";
        r = -EINVAL;
        goto out;
    }
    if (st.st_mode & S_IROTH)
        sv_log(SV_LOG_WARN,
               "config: %s is readable by every user; "
               "chmod 0600 it",
               path);
    while (have < size) {
        n = read(fd, buf + have, size - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            goto out;
        }
        if (n == 0)
            break;
        have += (size_t)n;
    }
    if (have == size) {
        *why = "the key is longer than 4096 bytes";
        r = -EFBIG;
        goto out;
    }
    r = (ssize_t)have;

out:
    close(fd);
    return r;
}


/*
 * Trims trailing whitespace off buf[0..*len) and checks what is left.
 * Returns 0, or -EINVAL / -EFBIG with *why set.
 */
static int check_key(const char *buf, size_t *len, const char **why)
{
    size_t n = *len;

    while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t' ||
                     buf[n - 1] == '\r' || buf[n - 1] == '\n'))
        n--;
    *len = n;
    if (n > SV_CONFIG_KEY_MAX_BYTES) {
        *why = "the key is longer than 4096 bytes";
        return -EFBIG;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)buf[i] <= ' ' || (unsigned char)buf[i] >= 0x7f) {
            *why = "the key contains spaces, control characters or "
                   "non-ASCII bytes";
            return -EINVAL;
        }
    }
    return 0;
}


/*
 * Loads the key at path into the provider's slot. Returns 1 when a key
 * was stored, 0 when the file holds nothing (or is missing and
 * missing_ok), else a negative errno with *why set or NULL (then the
 * errno says it).
 */
static int load_key_file(struct sv_provider_conf *pc, const char *path,
                         const char *source, bool missing_ok, const char **why)
{
    char buf[KEY_BUF_BYTES];
    ssize_t n;
    size_t len;
    int r;

    n = read_key_file(path, buf, sizeof(buf), why);
    if (n == -ENOENT && missing_ok)
        return 0;
    if (n < 0) {
        r = (int)n;
        goto out;
    }
    len = (size_t)n;
    r = check_key(buf, &len, why);
    if (r < 0)
        goto out;
    if (len == 0) {
        r = 0;
        goto out;
    }
    pc->api_key = sv_secret_dup(buf, len);
    pc->key_source = source;
    r = 1;

out:
    sodium_memzero(buf, sizeof(buf));
    return r;
}


/* Finds provider i's platform key: api_key_file, credential, then env. */
static int load_key(struct parse *p, size_t i)
{
    const struct sv_provider_info *info = &sv_providers[i];
    struct sv_provider_conf *pc = &p->cfg->provider[i];
    const char *why = NULL;
    const char *dir;
    const char *env;
    char *cred;
    size_t len;
    int r;

    if (p->key_file[i] != NULL) {
        r = load_key_file(pc, p->key_file[i], "file", false, &why);
        if (r == 0) {
            r = -EINVAL;
            why = "the file is empty";
        }
        if (r < 0) {
            return record_err(
                p, r, p->key_file_line[i],
                "%s:%d: [provider.%s] api_key_file: %s%s", p->cfg->path,
                p->key_file_line[i], info->id,
                why ? why : "cannot read the file: ", why ? "" : strerror(-r));
        }
        return 0;
    }

    dir = getenv("CREDENTIALS_DIRECTORY");
    if (dir != NULL && dir[0] != '\0') {
        /* An empty credential means "no key": the unit file gives each
         * provider credential an empty default so that a missing key
         * file does not stop the service. */
        cred = sv_xasprintf("%s/%s-api-key", dir, info->id);
        r = load_key_file(pc, cred, "credential", true, &why);
        if (r < 0) {
            record_err(p, r, 0, "%s: [provider.%s] credential: %s%s", cred,
                       info->id,
                       why ? why : "cannot read it: ", why ? "" : strerror(-r));
        }
        free(cred);
        if (r != 0)
            return r < 0 ? r : 0;
    }

    env = info->key_env ? getenv(info->key_env) : NULL;
    if (env == NULL)
        return 0;
    len = strlen(env);
    r = check_key(env, &len, &why);
    if (r < 0) {
        return record_err(p, r, 0,
                          "environment variable %s: [provider.%s] key: %s",
                          info->key_env, info->id, why);
    }
    if (len > 0) {
        pc->api_key = sv_secret_dup(env, len);
        pc->key_source = "env";
    }
    return 0;
}


/* Settles what the file may leave out, then finds the keys. */
static int finish(struct parse *p)
{
    struct sv_config *cfg = p->cfg;
    const char *dir;
    int r;

    if (p->local_audio_line > 0) {
        /* The section is there: it turns local audio on, and then the
         * call needs to know whose assistant answers. */
        const char *missing = cfg->local_audio.assistant_id == NULL
                                  ? "assistant"
                              : cfg->local_audio.org_id == NULL ? "org"
                                                                : NULL;

        if (missing != NULL) {
            return record_err(p, -EINVAL, p->local_audio_line,
                              "%s:%d: [local_audio] %s: missing; the section "
                              "needs assistant = ID and org = ID (or remove "
                              "it to turn local audio off)",
                              cfg->path, p->local_audio_line, missing);
        }
        cfg->local_audio.is_enabled = true;
    }
    if (cfg->master_key_file == NULL) {
        dir = getenv("CREDENTIALS_DIRECTORY");
        if (dir != NULL && dir[0] != '\0')
            cfg->master_key_file = sv_xasprintf("%s/master-key", dir);
        else
            cfg->master_key_file = sv_xstrdup(DEFAULT_MASTER_KEY_FILE);
    }
    for (size_t i = 0; i < SV_PROVIDER_KEYED_COUNT; i++) {
        r = load_key(p, i);
        if (r < 0)
            return r;
    }
    return 0;
}


static struct sv_config *config_new(const char *path)
{
    struct sv_config *cfg = sv_xcalloc(1, sizeof(*cfg));

    cfg->path = sv_xstrdup(path);
    cfg->listen_host = sv_xstrdup(DEFAULT_LISTEN_HOST);
    cfg->listen_port = DEFAULT_LISTEN_PORT;
    cfg->rate_limit_per_min = DEFAULT_RATE_LIMIT;
    cfg->max_body_bytes = DEFAULT_MAX_BODY_BYTES;
    cfg->log_level = SV_LOG_NOTICE;
    cfg->store_path = sv_xstrdup(DEFAULT_STORE_PATH);
    for (size_t i = 0; i < SV_PROVIDER_KEYED_COUNT; i++) {
        cfg->provider[i].url = sv_xstrdup(sv_providers[i].default_url);
        cfg->provider[i].timeout_ms = DEFAULT_TIMEOUT_MS;
    }
    cfg->local_audio.sample_rate_hz = DEFAULT_LOCAL_AUDIO_HZ;
    return cfg;
}


int sv_config_load(struct sv_config **out, const char *path, char *err,
                   size_t errlen)
{
    struct parse p = {.err = err, .errlen = errlen};
    char *data = NULL;
    int line;
    int r;

    if (path == NULL)
        path = SV_CONFIG_DEFAULT_PATH;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    p.cfg = config_new(path);

    /* Keys go into sodium's guarded memory, which needs the library set
     * up; sodium_init() may be called any number of times. */
    if (sodium_init() < 0) {
        r = record_err(&p, -ENOMEM, 0, "%s: libsodium failed to initialise",
                       path);
        goto out;
    }

    r = read_file(path, CONFIG_FILE_MAX_BYTES, &data, &p.len);
    if (r < 0) {
        record_err(&p, r, 0, "%s: cannot read the file: %s", path,
                   r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
        goto out;
    }
    p.data = data;

    line = ini_parse_stream(read_line, &p, on_entry, &p);
    if (line > 0 && (!p.failed || line < p.err_line)) {
        /* inih found a malformed line before any error of ours. */
        p.failed = false;
        record_err(&p, -EINVAL, line,
                   "%s:%d: syntax error: expected [section] or "
                   "name = value",
                   path, line);
    }
    if (p.failed) {
        r = p.status;
        goto out;
    }

    r = finish(&p);

out:
    free(data);
    for (size_t i = 0; i < SV_PROVIDER_KEYED_COUNT; i++)
        free(p.key_file[i]);
    if (r < 0) {
        sv_config_free(p.cfg);
        return r;
    }
    *out = p.cfg;
    return 0;
}


void sv_config_log(const struct sv_config *cfg)
{
    const struct sv_provider_conf *pc;

    sv_log(SV_LOG_NOTICE, "config: loaded %s", cfg->path);
    if (cfg->listen_host == NULL) {
        sv_log(SV_LOG_NOTICE, "config: TCP listener off");
    } else {
        bool is_v6 = strchr(cfg->listen_host, ':') != NULL;

        sv_log(SV_LOG_NOTICE, "config: listen %s%s%s:%d", is_v6 ? "[" : "",
               cfg->listen_host, is_v6 ? "]" : "", cfg->listen_port);
    }
    sv_log(SV_LOG_NOTICE, "config: unix socket %s",
           cfg->unix_socket ? cfg->unix_socket : "off");
    sv_log(SV_LOG_NOTICE,
           "config: rate limit %u/min, max body %zu bytes, store %s, "
           "master key file %s",
           cfg->rate_limit_per_min, cfg->max_body_bytes, cfg->store_path,
           cfg->master_key_file);
    for (size_t i = 0; i < SV_PROVIDER_KEYED_COUNT; i++) {
        pc = &cfg->provider[i];
        sv_log(SV_LOG_NOTICE,
               "config: provider %s at %s, platform key %s, "
               "validate_keys %s, timeout %u ms",
               sv_providers[i].id, pc->url,
               pc->api_key ? pc->key_source : "none",
               pc->validate_keys ? "on" : "off", pc->timeout_ms);
    }
    if (!cfg->local_audio.is_enabled) {
        sv_log(SV_LOG_NOTICE, "config: local audio off");
        return;
    }
    sv_log(SV_LOG_NOTICE,
           "config: local audio on: assistant %s of org %s, input %s, "
           "output %s, %u Hz",
           cfg->local_audio.assistant_id, cfg->local_audio.org_id,
           cfg->local_audio.input_device ? cfg->local_audio.input_device
                                         : "(default)",
           cfg->local_audio.output_device ? cfg->local_audio.output_device
                                          : "(default)",
           cfg->local_audio.sample_rate_hz);
}


void sv_config_free(struct sv_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < SV_PROVIDER_KEYED_COUNT; i++) {
        free(cfg->provider[i].url);
        sv_secret_free(cfg->provider[i].api_key);
    }
    free(cfg->path);
    free(cfg->listen_host);
    free(cfg->unix_socket);
    free(cfg->store_path);
    free(cfg->master_key_file);
    free(cfg->local_audio.assistant_id);
    free(cfg->local_audio.org_id);
    free(cfg->local_audio.input_device);
    free(cfg->local_audio.output_device);
    free(cfg);
}
