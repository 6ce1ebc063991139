/*
 * test_config.c - unit tests for config/config.c: a full file, defaults,
 * every error path, where platform keys come from, and that no key ever
 * shows up in an error message.
 *
 * Each case writes its files into its own mkdtemp() directory, which an
 * atexit() handler removes (also after a failed CHECK, which exits).
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config/config.h"
#include "util/log.h"

/* The case's scratch directory; a test process runs one case. */
static char tmp_dir[64];

/* Keys used below; each must never appear in an error message. */
#define KEY_FILE "sk-file-0123456789abcdef"
#define KEY_CRED "sk-cred-0123456789abcdef"
#define KEY_ENV  "sk-env-0123456789abcdef"


static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    remove(path);
    return 0;
}


static void remove_tmp_dir(void)
{
    if (tmp_dir[0] != '\0')
        nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}


/* Clears every variable the loader reads, so the host cannot leak in. */
static void clear_env(void)
{
    static const char *vars[] = {
        "STATE_DIRECTORY",  "RUNTIME_DIRECTORY", "CREDENTIALS_DIRECTORY",
        "DEEPGRAM_API_KEY", "OPENAI_API_KEY",    "ELEVENLABS_API_KEY",
        "RESEND_API_KEY",
    };

    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}


static void setup(void)
{
    strcpy(tmp_dir, "/tmp/sv_config_XXXXXX");
    CHECK(mkdtemp(tmp_dir) != NULL);
    atexit(remove_tmp_dir);
    clear_env();
    /* Warnings about key file modes are expected; keep output quiet. */
    sv_log_init(SV_LOG_ERR);
}


/* The path of name inside the scratch directory; the caller frees it. */
static char *tmp_path(const char *name)
{
    size_t n = strlen(tmp_dir) + strlen(name) + 2;
    char *p = malloc(n);

    CHECK(p != NULL);
    snprintf(p, n, "%s/%s", tmp_dir, name);
    return p;
}


static char *write_file(const char *name, const char *text, size_t len)
{
    char *path = tmp_path(name);
    FILE *f = fopen(path, "w");

    CHECK(f != NULL);
    CHECK_EQ(fwrite(text, 1, len, f), len);
    CHECK_EQ(fclose(f), 0);
    return path;
}


static char *write_text(const char *name, const char *text)
{
    return write_file(name, text, strlen(text));
}


/* Writes text as the config file and loads it; *cfg is set on success. */
static int load_text(const char *text, struct sv_config **cfg, char *err,
                     size_t errlen)
{
    char *path = write_text("sovereignd.conf", text);
    int r;

    r = sv_config_load(cfg, path, err, errlen);
    free(path);
    return r;
}


/*
 * Loads text, which must fail with status, and returns the message in
 * err, which must start with "<path>:<line>: " and contain want.
 */
static void expect_error(const char *text, int status, int line,
                         const char *want)
{
    static struct sv_config untouched;
    struct sv_config *cfg = &untouched;
    char err[512];
    char prefix[160];
    int r;

    r = load_text(text, &cfg, err, sizeof(err));
    if (r != status)
        SV_FAIL("loading [[%s]]: %d, wanted %d (%s)", text, r, status, err);
    CHECK(cfg == &untouched);
    snprintf(prefix, sizeof(prefix), "%s/sovereignd.conf:%d: ", tmp_dir, line);
    if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, want))
        SV_FAIL("loading [[%s]]: message \"%s\", wanted \"%s...%s\"", text, err,
                prefix, want);
}


static void check_no_key(const char *err)
{
    CHECK(strstr(err, "sk-") == NULL);
    CHECK(strstr(err, "0123456789") == NULL);
}


SV_TEST(full)
{
    struct sv_config *cfg;
    char err[512];
    char *key_path;
    char *text;
    int r;

    setup();
    key_path = write_text("openai.key", KEY_FILE "\n");
    chmod(key_path, 0600);
    text = NULL;
    r = asprintf(&text,
                 "; a comment\n"
                 "# another\n"
                 "[server]\n"
                 "listen = 0.0.0.0:9090\n"
                 "unix_socket = /run/sovereign/sovereignd.sock\n"
                 "rate_limit = 250\n"
                 "max_body_bytes = 131072 ; inline comment\n"
                 "log_level = debug\n"
                 "\n"
                 "[store]\n"
                 "path = /srv/sv/db.sqlite\n"
                 "[vault]\n"
                 "master_key_file = /srv/sv/master.key\n"
                 "[provider.deepgram]\n"
                 "url = wss://stt.example.com/\n"
                 "validate_keys = true\n"
                 "timeout_ms = 5000\n"
                 "[provider.openai]\n"
                 "url = http://127.0.0.1:11434/v1\n"
                 "api_key_file = %s\n"
                 "validate_keys = no\n"
                 "timeout_ms = 600000\n"
                 "[provider.elevenlabs]\n"
                 "url = HTTPS://tts.example.com\n"
                 "timeout_ms = 100\n"
                 "[provider.resend]\n"
                 "url = https://mail.example.com/api\n"
                 "validate_keys = on\n",
                 key_path);
    CHECK(r > 0);
    r = load_text(text, &cfg, err, sizeof(err));
    if (r != 0)
        SV_FAIL("load: %d %s", r, err);

    CHECK(strstr(cfg->path, "/sovereignd.conf") != NULL);
    CHECK_STR(cfg->listen_host, "0.0.0.0");
    CHECK_EQ(cfg->listen_port, 9090);
    CHECK_STR(cfg->unix_socket, "/run/sovereign/sovereignd.sock");
    CHECK_EQ(cfg->rate_limit_per_min, 250);
    CHECK_EQ(cfg->max_body_bytes, 131072);
    CHECK_EQ(cfg->log_level, SV_LOG_DEBUG);
    CHECK_STR(cfg->store_path, "/srv/sv/db.sqlite");
    CHECK_STR(cfg->master_key_file, "/srv/sv/master.key");

    CHECK_STR(cfg->provider[SV_PROVIDER_DEEPGRAM].url, "wss://stt.example.com");
    CHECK(cfg->provider[SV_PROVIDER_DEEPGRAM].validate_keys);
    CHECK_EQ(cfg->provider[SV_PROVIDER_DEEPGRAM].timeout_ms, 5000);
    CHECK(cfg->provider[SV_PROVIDER_DEEPGRAM].api_key == NULL);

    CHECK_STR(cfg->provider[SV_PROVIDER_OPENAI].url,
              "http://127.0.0.1:11434/v1");
    CHECK(!cfg->provider[SV_PROVIDER_OPENAI].validate_keys);
    CHECK_EQ(cfg->provider[SV_PROVIDER_OPENAI].timeout_ms, 600000);
    CHECK_STR(cfg->provider[SV_PROVIDER_OPENAI].api_key, KEY_FILE);
    CHECK_STR(cfg->provider[SV_PROVIDER_OPENAI].key_source, "file");

    /* The scheme is lower-cased, the rest kept. */
    CHECK_STR(cfg->provider[SV_PROVIDER_ELEVENLABS].url,
              "https://tts.example.com");
    CHECK_EQ(cfg->provider[SV_PROVIDER_ELEVENLABS].timeout_ms, 100);
    CHECK_STR(cfg->provider[SV_PROVIDER_RESEND].url,
              "https://mail.example.com/api");
    CHECK(cfg->provider[SV_PROVIDER_RESEND].validate_keys);

    sv_config_log(cfg);
    sv_config_free(cfg);
    free(text);
    free(key_path);
}


SV_TEST(defaults)
{
    struct sv_config *cfg;
    char err[512];
    int r;

    setup();
    r = load_text("# nothing set\n", &cfg, err, sizeof(err));
    if (r != 0)
        SV_FAIL("load: %d %s", r, err);
    CHECK_STR(cfg->listen_host, "127.0.0.1");
    CHECK_EQ(cfg->listen_port, 8080);
    CHECK(cfg->unix_socket == NULL);
    CHECK_EQ(cfg->rate_limit_per_min, 100);
    CHECK_EQ(cfg->max_body_bytes, 65536);
    CHECK_EQ(cfg->log_level, SV_LOG_NOTICE);
    CHECK_STR(cfg->store_path, "/var/lib/sovereign/sovereign.db");
    CHECK_STR(cfg->master_key_file, "/etc/sovereign/master.key");
    for (size_t i = 0; i < SV_PROVIDER_KEYED_COUNT; i++) {
        CHECK_STR(cfg->provider[i].url, sv_providers[i].default_url);
        CHECK(cfg->provider[i].api_key == NULL);
        CHECK(!cfg->provider[i].validate_keys);
        CHECK_EQ(cfg->provider[i].timeout_ms, 10000);
    }
    sv_config_free(cfg);

    /* An empty file is fine too, and so is a NULL err. */
    r = load_text("", &cfg, NULL, 0);
    CHECK_EQ(r, 0);
    sv_config_free(cfg);
    sv_config_free(NULL);
}


/* The shipped example loads, and what it shows are the defaults. */
SV_TEST(example)
{
    struct sv_config *cfg;
    const char *src = getenv("SV_SOURCE_DIR");
    char path[512];
    char err[512];
    int r;

    setup();
    if (src == NULL)
        SV_SKIP("SV_SOURCE_DIR is not set");
    snprintf(path, sizeof(path), "%s/config/sovereignd.conf.example", src);
    r = sv_config_load(&cfg, path, err, sizeof(err));
    if (r != 0)
        SV_FAIL("load: %d %s", r, err);
    CHECK_STR(cfg->listen_host, "127.0.0.1");
    CHECK_EQ(cfg->listen_port, 8080);
    CHECK(cfg->unix_socket == NULL);
    CHECK_EQ(cfg->rate_limit_per_min, 100);
    CHECK_EQ(cfg->max_body_bytes, 65536);
    CHECK_EQ(cfg->log_level, SV_LOG_NOTICE);
    CHECK_STR(cfg->store_path, "/var/lib/sovereign/sovereign.db");
    CHECK_STR(cfg->master_key_file, "/etc/sovereign/master.key");
    for (size_t i = 0; i < SV_PROVIDER_KEYED_COUNT; i++) {
        CHECK_STR(cfg->provider[i].url, sv_providers[i].default_url);
        CHECK(!cfg->provider[i].validate_keys);
        CHECK_EQ(cfg->provider[i].timeout_ms, 10000);
        CHECK(cfg->provider[i].api_key == NULL);
    }
    CHECK(!cfg->local_audio.is_enabled);
    sv_config_free(cfg);
}


SV_TEST(local_audio)
{
    struct sv_config *cfg;
    char err[512];
    int r;

    setup();
    r = load_text("[server]\nlisten = off\n", &cfg, err, sizeof(err));
    CHECK_EQ(r, 0);
    CHECK(!cfg->local_audio.is_enabled);
    sv_config_free(cfg);

    r = load_text("[local_audio]\nassistant = a-1\norg = o-2\n", &cfg, err,
                  sizeof(err));
    if (r != 0)
        SV_FAIL("load: %d %s", r, err);
    CHECK(cfg->local_audio.is_enabled);
    CHECK_STR(cfg->local_audio.assistant_id, "a-1");
    CHECK_STR(cfg->local_audio.org_id, "o-2");
    CHECK(cfg->local_audio.input_device == NULL);
    CHECK(cfg->local_audio.output_device == NULL);
    CHECK_EQ(cfg->local_audio.sample_rate_hz, 16000);
    sv_config_free(cfg);

    r = load_text("[local_audio]\nassistant = a-1\norg = o-2\n"
                  "input_device = USB Mic\noutput_device = hw:1\n"
                  "sample_rate = 48000\n",
                  &cfg, err, sizeof(err));
    if (r != 0)
        SV_FAIL("load: %d %s", r, err);
    CHECK_STR(cfg->local_audio.input_device, "USB Mic");
    CHECK_STR(cfg->local_audio.output_device, "hw:1");
    CHECK_EQ(cfg->local_audio.sample_rate_hz, 48000);
    sv_config_free(cfg);
}


SV_TEST(local_audio_errors)
{
    setup();
    expect_error("[local_audio]\nassistant = a\norg = o\nsample_rate = 44100\n",
                 -EINVAL, 4,
                 "[local_audio] sample_rate: must be 8000, 16000, 24000 or "
                 "48000");
    expect_error("[local_audio]\nassistant = a\norg = o\nsample_rate = x\n",
                 -EINVAL, 4, "[local_audio] sample_rate: must be");
    expect_error("[local_audio]\nassistant = a\norg = o\ninput_device =\n",
                 -EINVAL, 4, "[local_audio] input_device: must not be empty");
    expect_error("[local_audio]\nassistant = \n", -EINVAL, 2,
                 "[local_audio] assistant: must not be empty");
    expect_error("[local_audio]\norg = has space\n", -EINVAL, 2,
                 "[local_audio] org: is not an id");
    expect_error("[server]\nlisten = off\n[local_audio]\nsample_rate = 8000\n"
                 "org = o\n",
                 -EINVAL, 4, "[local_audio] assistant: missing");
    expect_error("[local_audio]\nassistant = a\n", -EINVAL, 2,
                 "[local_audio] org: missing");
    expect_error("[local_audio]\nassistant = a\norg = o\nvolume = 3\n", -EINVAL,
                 4, "[local_audio] volume: unknown setting");
    expect_error("[local_audio]\nassistant = a\nassistant = b\n", -EINVAL, 3,
                 "[local_audio] assistant: given twice");
}


SV_TEST(systemd_dirs)
{
    struct sv_config *cfg;
    char err[512];
    int r;

    setup();
    setenv("CREDENTIALS_DIRECTORY", "/run/credentials/sovereignd.service", 1);
    setenv("STATE_DIRECTORY", "/var/lib/sovereign:/var/lib/other", 1);
    setenv("RUNTIME_DIRECTORY", "/run/sovereign/", 1);
    r = load_text("[server]\nunix_socket = api.sock\n"
                  "[store]\npath = data/sv.db\n",
                  &cfg, err, sizeof(err));
    if (r != 0)
        SV_FAIL("load: %d %s", r, err);
    CHECK_STR(cfg->master_key_file,
              "/run/credentials/sovereignd.service/master-key");
    CHECK_STR(cfg->store_path, "/var/lib/sovereign/data/sv.db");
    CHECK_STR(cfg->unix_socket, "/run/sovereign/api.sock");
    sv_config_free(cfg);

    /* Without the variables, relative paths resolve against the cwd. */
    clear_env();
    CHECK_EQ(chdir(tmp_dir), 0);
    r = load_text("[store]\npath = sv.db\n", &cfg, err, sizeof(err));
    if (r != 0)
        SV_FAIL("load: %d %s", r, err);
    CHECK(strncmp(cfg->store_path, tmp_dir, strlen(tmp_dir)) == 0);
    CHECK_STR(cfg->store_path + strlen(tmp_dir), "/sv.db");
    CHECK_STR(cfg->master_key_file, "/etc/sovereign/master.key");
    sv_config_free(cfg);
}


SV_TEST(listen_ipv6)
{
    struct sv_config *cfg;
    char err[512];
    int r;

    setup();
    r = load_text("[server]\nlisten = [::1]:8443\n", &cfg, err, sizeof(err));
    if (r != 0)
        SV_FAIL("load: %d %s", r, err);
    CHECK_STR(cfg->listen_host, "::1");
    CHECK_EQ(cfg->listen_port, 8443);
    sv_config_free(cfg);

    r = load_text("[server]\nlisten = [::]:0\n", &cfg, err, sizeof(err));
    CHECK_EQ(r, 0);
    CHECK_STR(cfg->listen_host, "::");
    CHECK_EQ(cfg->listen_port, 0);
    sv_config_free(cfg);
}


SV_TEST(listen_off)
{
    static const char *files[] = {
        "[server]\nlisten = off\nunix_socket = /run/sv.sock\n",
        "[server]\nlisten =\nunix_socket = /run/sv.sock\n",
    };
    struct sv_config *cfg;
    char err[512];
    int r;

    setup();
    for (size_t i = 0; i < 2; i++) {
        r = load_text(files[i], &cfg, err, sizeof(err));
        if (r != 0)
            SV_FAIL("load: %d %s", r, err);
        CHECK(cfg->listen_host == NULL);
        CHECK_EQ(cfg->listen_port, 0);
        CHECK_STR(cfg->unix_socket, "/run/sv.sock");
        sv_config_free(cfg);
    }
    r = load_text("[server]\nunix_socket = off\n", &cfg, err, sizeof(err));
    CHECK_EQ(r, 0);
    CHECK(cfg->unix_socket == NULL);
    CHECK_STR(cfg->listen_host, "127.0.0.1");
    sv_config_free(cfg);
}


SV_TEST(missing_file)
{
    struct sv_config *cfg = NULL;
    char err[512];
    char *path;
    int r;

    setup();
    path = tmp_path("nope.conf");
    r = sv_config_load(&cfg, path, err, sizeof(err));
    CHECK_EQ(r, -ENOENT);
    CHECK(cfg == NULL);
    CHECK(strncmp(err, path, strlen(path)) == 0);
    CHECK(strstr(err, "No such file") != NULL);
    free(path);

    /* A directory is no config file either. */
    r = sv_config_load(&cfg, tmp_dir, err, sizeof(err));
    CHECK_EQ(r, -EISDIR);
    CHECK(strncmp(err, tmp_dir, strlen(tmp_dir)) == 0);
}


SV_TEST(unknown_section)
{
    setup();
    expect_error("[server]\nlisten = off\n[bogus]\nx = 1\n", -EINVAL, 4,
                 "[bogus] x: unknown section");
    expect_error("[provider.nosuch]\nurl = https://a.example\n", -EINVAL, 2,
                 "[provider.nosuch] url: unknown section");
    expect_error("x = 1\n", -EINVAL, 1, "x: settings must follow a [section]");
}


SV_TEST(unknown_key)
{
    setup();
    expect_error("[server]\nlisten = off\nlisen = 1.2.3.4:5\n", -EINVAL, 3,
                 "[server] lisen: unknown setting");
    expect_error("[provider.openai]\nmodel = gpt-4o\n", -EINVAL, 2,
                 "[provider.openai] model: unknown setting");
    expect_error("[store]\nurl = https://a.example\n", -EINVAL, 2,
                 "[store] url: unknown setting");
}


SV_TEST(inline_key)
{
    struct sv_config *cfg;
    char err[512];
    int r;

    setup();
    expect_error("[provider.openai]\napi_key = " KEY_FILE "\n", -EINVAL, 2,
                 "[provider.openai] api_key: keys may not sit in the "
                 "config file");
    r = load_text("[provider.openai]\napi_key = " KEY_FILE "\n", &cfg, err,
                  sizeof(err));
    CHECK_EQ(r, -EINVAL);
    check_no_key(err);
    /* The message names every alternative. */
    CHECK(strstr(err, "api_key_file") != NULL);
    CHECK(strstr(err, "openai-api-key") != NULL);
    CHECK(strstr(err, "OPENAI_API_KEY") != NULL);

    expect_error("[server]\napi_key = " KEY_FILE "\n", -EINVAL, 2,
                 "[server] api_key: keys may not sit in the config file");
    expect_error("[vault]\nmaster_key = abc\n", -EINVAL, 2, "master_key_file");
    expect_error("[provider.resend]\ntoken = abc\n", -EINVAL, 2,
                 "keys may not sit");
    expect_error("[bogus]\nPassword = abc\n", -EINVAL, 2, "keys may not sit");
    expect_error("[provider.openai]\napi-key = abc\n", -EINVAL, 2,
                 "[provider.openai] ?: keys may not sit");
    /* Userinfo in a URL is inline secret material too. */
    expect_error("[provider.openai]\nurl = https://u:" KEY_FILE "@a.example\n",
                 -EINVAL, 2, "[provider.openai] url: must not carry");
}


SV_TEST(bad_listen)
{
    setup();
    expect_error("[server]\nlisten = 127.0.0.1:65536\n", -EINVAL, 2,
                 "[server] listen: port must be 0..65535");
    expect_error("[server]\nlisten = 127.0.0.1:http\n", -EINVAL, 2,
                 "port must be 0..65535");
    expect_error("[server]\nlisten = 127.0.0.1:\n", -EINVAL, 2,
                 "port must be 0..65535");
    expect_error("[server]\nlisten = 127.0.0.1:-1\n", -EINVAL, 2,
                 "port must be 0..65535");
    expect_error("[server]\nlisten = 127.0.0.1\n", -EINVAL, 2,
                 "expected address:port");
    expect_error("[server]\nlisten = ::1:8080\n", -EINVAL, 2, "needs brackets");
    expect_error("[server]\nlisten = [::1]8080\n", -EINVAL, 2,
                 "expected [address]:port");
    expect_error("[server]\nlisten = [127.0.0.1]:8080\n", -EINVAL, 2,
                 "must be an IP address");
    expect_error("[server]\nlisten = localhost:8080\n", -EINVAL, 2,
                 "must be an IP address");
    expect_error("[server]\nlisten = 300.1.1.1:8080\n", -EINVAL, 2,
                 "must be an IP address");
}


SV_TEST(bad_bool)
{
    setup();
    expect_error("[provider.deepgram]\nvalidate_keys = maybe\n", -EINVAL, 2,
                 "[provider.deepgram] validate_keys: must be true or false");
    expect_error("[provider.deepgram]\nvalidate_keys =\n", -EINVAL, 2,
                 "must be true or false");
    expect_error("[provider.deepgram]\nvalidate_keys = TRUE\n", -EINVAL, 2,
                 "must be true or false");
}


SV_TEST(bad_number)
{
    setup();
    expect_error("[provider.openai]\ntimeout_ms = 99\n", -EINVAL, 2,
                 "[provider.openai] timeout_ms: must be a whole number "
                 "from 100 to 600000");
    expect_error("[provider.openai]\ntimeout_ms = 600001\n", -EINVAL, 2,
                 "from 100 to 600000");
    expect_error("[provider.openai]\ntimeout_ms = 10s\n", -EINVAL, 2,
                 "from 100 to 600000");
    expect_error("[provider.openai]\ntimeout_ms = -5\n", -EINVAL, 2,
                 "from 100 to 600000");
    expect_error("[provider.openai]\ntimeout_ms = 99999999999999999999999\n",
                 -EINVAL, 2, "from 100 to 600000");
    expect_error("[server]\nrate_limit = 0\n", -EINVAL, 2,
                 "[server] rate_limit: must be a whole number");
    expect_error("[server]\nrate_limit = lots\n", -EINVAL, 2,
                 "[server] rate_limit: must be a whole number");
    expect_error("[server]\nmax_body_bytes = 1e6\n", -EINVAL, 2,
                 "[server] max_body_bytes: must be a whole number");
    expect_error("[server]\nmax_body_bytes = 100\n", -EINVAL, 2,
                 "[server] max_body_bytes: must be a whole number");
}


SV_TEST(bad_url)
{
    setup();
    expect_error("[provider.openai]\nurl = ftp://a.example\n", -EINVAL, 2,
                 "[provider.openai] url: must start with ws://, wss://, "
                 "http:// or https://");
    expect_error("[provider.openai]\nurl = api.openai.com\n", -EINVAL, 2,
                 "must start with");
    expect_error("[provider.openai]\nurl =\n", -EINVAL, 2, "must start with");
    expect_error("[provider.openai]\nurl = https://\n", -EINVAL, 2,
                 "has no host");
    expect_error("[provider.openai]\nurl = https:///v1\n", -EINVAL, 2,
                 "has no host");
    expect_error("[provider.openai]\nurl = https://a.example/v1?x=1\n", -EINVAL,
                 2, "without a query");
    expect_error("[provider.openai]\nurl = https://a example\n", -EINVAL, 2,
                 "must not contain spaces");
}


SV_TEST(bad_log_level)
{
    setup();
    expect_error("[server]\nlog_level = loud\n", -EINVAL, 2,
                 "[server] log_level: must be err, warn, notice, info or "
                 "debug");
}


SV_TEST(bad_other)
{
    char line[400];

    setup();
    /* The same setting twice, and a continuation line. */
    expect_error("[server]\nlisten = off\nlisten = 1.2.3.4:5\n", -EINVAL, 3,
                 "[server] listen: given twice");
    expect_error("[server]\nlisten = off\n  more\n", -EINVAL, 3,
                 "[server] listen: given twice");
    expect_error("[store]\npath =\n", -EINVAL, 2, "[store] path: must not");
    expect_error("[vault]\nmaster_key_file =\n", -EINVAL, 2,
                 "[vault] master_key_file: must not be empty");
    expect_error("[provider.openai]\napi_key_file =\n", -EINVAL, 2,
                 "[provider.openai] api_key_file: must not be empty");

    /* A unix socket path must fit in sockaddr_un. */
    memset(line, 'a', sizeof(line));
    memcpy(line, "[server]\nunix_socket = /", 24);
    line[150] = '\n';
    line[151] = '\0';
    expect_error(line, -EINVAL, 2, "too long for a unix socket");
}


SV_TEST(syntax)
{
    char big[400];

    setup();
    expect_error("[server]\nlisten off\n", -EINVAL, 2, "syntax error");
    /* inih splits at ':' too; what is left of it is not quoted. */
    expect_error("[server]\nlisten 127.0.0.1:80\n", -EINVAL, 2,
                 "[server] ?: not a setting name");
    expect_error("[server]\nsk-" KEY_FILE ":x\n", -EINVAL, 2,
                 "[server] ?: not a setting name");
    expect_error("[sk-" KEY_FILE "]\nurl = https://a.example\n", -EINVAL, 2,
                 "[?] url: unknown section");
    expect_error("[server\nlisten = off\n", -EINVAL, 1, "syntax error");
    /* inih reports its own error, which comes first, over ours. */
    expect_error("[server]\noops\nbogus = 1\n", -EINVAL, 2, "syntax error");
    /* Our error comes first here: inih must not override it. */
    expect_error("[server]\nbogus = 1\noops\n", -EINVAL, 2,
                 "[server] bogus: unknown setting");

    /* inih would split a line this long; it is refused instead. */
    memset(big, 'x', sizeof(big));
    memcpy(big, "[store]\npath = /", 16);
    big[300] = '\n';
    big[301] = '\0';
    expect_error(big, -EINVAL, 2, "longer than");
}


SV_TEST(nul_byte)
{
    struct sv_config *cfg;
    char err[256];
    char prefix[128];
    char *path;
    int r;

    setup();
    path = write_file("nul.conf", "[server]\n\0x = 1\n", 16);
    r = sv_config_load(&cfg, path, err, sizeof(err));
    CHECK_EQ(r, -EINVAL);
    snprintf(prefix, sizeof(prefix), "%s:2: ", path);
    CHECK(strncmp(err, prefix, strlen(prefix)) == 0);
    CHECK(strstr(err, "NUL") != NULL);
    free(path);
}


SV_TEST(key_file_errors)
{
    struct sv_config *cfg;
    char err[512];
    char text[600];
    char *path;
    char *big;
    int r;

    setup();

    path = tmp_path("missing.key");
    snprintf(text, sizeof(text),
             "[server]\n[provider.resend]\n"
             "api_key_file = %s\n",
             path);
    r = load_text(text, &cfg, err, sizeof(err));
    CHECK_EQ(r, -ENOENT);
    CHECK(strstr(err, "sovereignd.conf:3: [provider.resend] api_key_file: "
                      "cannot read the file") != NULL);
    free(path);

    path = write_text("empty.key", "");
    snprintf(text, sizeof(text), "[provider.resend]\napi_key_file = %s\n",
             path);
    expect_error(text, -EINVAL, 2,
                 "[provider.resend] api_key_file: the "
                 "file is empty");
    free(path);

    path = write_text("blank.key", " \r\n\n");
    snprintf(text, sizeof(text), "[provider.resend]\napi_key_file = %s\n",
             path);
    expect_error(text, -EINVAL, 2, "the file is empty");
    free(path);

    snprintf(text, sizeof(text), "[provider.resend]\napi_key_file = %s\n",
             tmp_dir);
    expect_error(text, -EINVAL, 2, "not a regular file");

    path = write_text("ctrl.key", KEY_FILE "\x01rest\n");
    snprintf(text, sizeof(text), "[provider.resend]\napi_key_file = %s\n",
             path);
    expect_error(text, -EINVAL, 2, "control characters");
    r = load_text(text, &cfg, err, sizeof(err));
    check_no_key(err);
    free(path);

    path = write_text("space.key", "sk-a b\n");
    snprintf(text, sizeof(text), "[provider.resend]\napi_key_file = %s\n",
             path);
    expect_error(text, -EINVAL, 2, "contains spaces");
    free(path);

    big = malloc(8000);
    CHECK(big != NULL);
    memset(big, 'k', 8000);
    path = write_file("long.key", big, 4097);
    snprintf(text, sizeof(text), "[provider.resend]\napi_key_file = %s\n",
             path);
    expect_error(text, -EFBIG, 2, "longer than 4096 bytes");
    free(path);
    path = write_file("huge.key", big, 8000);
    snprintf(text, sizeof(text), "[provider.resend]\napi_key_file = %s\n",
             path);
    expect_error(text, -EFBIG, 2, "longer than 4096 bytes");
    free(path);

    /* Exactly 4096 bytes plus a newline is fine. */
    big[4096] = '\n';
    path = write_file("max.key", big, 4097);
    snprintf(text, sizeof(text), "[provider.resend]\napi_key_file = %s\n",
             path);
    r = load_text(text, &cfg, err, sizeof(err));
    CHECK_EQ(r, 0);
    CHECK_EQ(strlen(cfg->provider[SV_PROVIDER_RESEND].api_key), 4096);
    sv_config_free(cfg);
    free(path);
    free(big);

    /* Root reads any file, so an unreadable one needs another user. */
    if (geteuid() == 0)
        return;
    path = write_text("locked.key", KEY_FILE "\n");
    CHECK_EQ(chmod(path, 0), 0);
    snprintf(text, sizeof(text), "[provider.resend]\napi_key_file = %s\n",
             path);
    expect_error(text, -EACCES, 2, "cannot read the file: Permission");
    free(path);
}


SV_TEST(key_precedence)
{
    struct sv_config *cfg;
    struct sv_provider_conf *pc;
    char err[512];
    char text[400];
    char *cred_dir;
    char *key_path;
    char *cred_path;
    int r;

    setup();
    cred_dir = tmp_path("creds");
    CHECK_EQ(mkdir(cred_dir, 0700), 0);
    key_path = write_text("deepgram.key", KEY_FILE "\r\n");
    cred_path = write_text("creds/deepgram-api-key", KEY_CRED "\n");
    setenv("DEEPGRAM_API_KEY", KEY_ENV "\n", 1);
    setenv("CREDENTIALS_DIRECTORY", cred_dir, 1);

    /* api_key_file wins over both. */
    snprintf(text, sizeof(text), "[provider.deepgram]\napi_key_file = %s\n",
             key_path);
    r = load_text(text, &cfg, err, sizeof(err));
    if (r != 0)
        SV_FAIL("load: %d %s", r, err);
    pc = &cfg->provider[SV_PROVIDER_DEEPGRAM];
    CHECK_STR(pc->api_key, KEY_FILE);
    CHECK_STR(pc->key_source, "file");
    sv_config_free(cfg);

    /* Then the credential. */
    r = load_text("", &cfg, err, sizeof(err));
    CHECK_EQ(r, 0);
    pc = &cfg->provider[SV_PROVIDER_DEEPGRAM];
    CHECK_STR(pc->api_key, KEY_CRED);
    CHECK_STR(pc->key_source, "credential");
    CHECK(cfg->provider[SV_PROVIDER_OPENAI].api_key == NULL);
    sv_config_free(cfg);

    /* An empty credential (the unit's default) means "no key here". */
    free(write_text("creds/deepgram-api-key", "\n"));
    r = load_text("", &cfg, err, sizeof(err));
    CHECK_EQ(r, 0);
    pc = &cfg->provider[SV_PROVIDER_DEEPGRAM];
    CHECK_STR(pc->api_key, KEY_ENV);
    CHECK_STR(pc->key_source, "env");
    sv_config_free(cfg);

    /* A missing credential too; the environment is last. */
    CHECK_EQ(unlink(cred_path), 0);
    r = load_text("", &cfg, err, sizeof(err));
    CHECK_EQ(r, 0);
    CHECK_STR(cfg->provider[SV_PROVIDER_DEEPGRAM].api_key, KEY_ENV);
    sv_config_free(cfg);
    unsetenv("DEEPGRAM_API_KEY");
    r = load_text("", &cfg, err, sizeof(err));
    CHECK_EQ(r, 0);
    CHECK(cfg->provider[SV_PROVIDER_DEEPGRAM].api_key == NULL);
    sv_config_free(cfg);

    free(key_path);
    free(cred_path);
    free(cred_dir);
}


SV_TEST(key_bad_sources)
{
    struct sv_config *cfg;
    char err[512];
    char *cred_dir;
    char *path;
    int r;

    setup();

    /* A bad key in the environment is named by variable, not shown. */
    setenv("OPENAI_API_KEY", KEY_ENV " trailing-part", 1);
    r = load_text("", &cfg, err, sizeof(err));
    CHECK_EQ(r, -EINVAL);
    CHECK(strstr(err, "environment variable OPENAI_API_KEY") != NULL);
    CHECK(strstr(err, "contains spaces") != NULL);
    check_no_key(err);
    unsetenv("OPENAI_API_KEY");

    /* An empty variable is no key. */
    setenv("OPENAI_API_KEY", "", 1);
    r = load_text("", &cfg, err, sizeof(err));
    CHECK_EQ(r, 0);
    CHECK(cfg->provider[SV_PROVIDER_OPENAI].api_key == NULL);
    sv_config_free(cfg);
    unsetenv("OPENAI_API_KEY");

    /* A bad credential names its file. */
    cred_dir = tmp_path("creds");
    CHECK_EQ(mkdir(cred_dir, 0700), 0);
    setenv("CREDENTIALS_DIRECTORY", cred_dir, 1);
    path = write_text("creds/elevenlabs-api-key", KEY_CRED "\x7f\n");
    r = load_text("", &cfg, err, sizeof(err));
    CHECK_EQ(r, -EINVAL);
    CHECK(strncmp(err, path, strlen(path)) == 0);
    CHECK(strstr(err, "control characters") != NULL);
    check_no_key(err);
    free(path);
    free(cred_dir);
}


SV_TEST_MAIN(SV_CASE(full), SV_CASE(defaults), SV_CASE(example),
             SV_CASE(local_audio), SV_CASE(local_audio_errors),
             SV_CASE(systemd_dirs), SV_CASE(listen_ipv6), SV_CASE(listen_off),
             SV_CASE(missing_file), SV_CASE(unknown_section),
             SV_CASE(unknown_key), SV_CASE(inline_key), SV_CASE(bad_listen),
             SV_CASE(bad_bool), SV_CASE(bad_number), SV_CASE(bad_url),
             SV_CASE(bad_log_level), SV_CASE(bad_other), SV_CASE(syntax),
             SV_CASE(nul_byte), SV_CASE(key_file_errors),
             SV_CASE(key_precedence), SV_CASE(key_bad_sources))
