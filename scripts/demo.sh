#!/bin/sh
# The README's first command: builds sovereignd, starts it on a private
# state directory with an embedded default configuration (a generated
# master key, a demo organization, an assistant), holds one voice call
# through the client with the spoken question in demo/question.wav (its
# words are in demo/question.txt; espeak-ng's en-us voice at 16 kHz after
# 1.5 s of quiet), prints the conversation and the per-turn latency
# table, leaves the reply audio in .demo/reply.wav, and stops the daemon.
#
# Without provider keys the assistant uses the offline engines
# (pocketsphinx, the echo responder, espeak-ng): no keys, no network. With
# DEEPGRAM_API_KEY, OPENAI_API_KEY and ELEVENLABS_API_KEY set, the same
# command uses the real providers, or compatible servers at the base URLs
# in SOVEREIGN_DEEPGRAM_URL, SOVEREIGN_OPENAI_URL (a local llama.cpp or
# vLLM server's http://127.0.0.1:8000/v1, say) and SOVEREIGN_ELEVENLABS_URL.
#
#   ./scripts/demo.sh          the shipped question
#   ./scripts/demo.sh mic      talk into the microphone (Ctrl-C ends)
#
# SV_DEMO_DIR puts the state elsewhere than .demo/; SV_DEMO_BIN names a
# folder that holds sovereignd and sovereignctl already built (the tests
# use it), instead of building the release preset.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh

if [ -n "${SV_DEMO_BIN:-}" ]; then
    bin=$SV_DEMO_BIN
else
    bin=build/release/daemon
    echo "demo: building (release)..."
    cmake --preset release >/dev/null
    cmake --build --preset release -j "$(nproc)" >/dev/null
fi

state=${SV_DEMO_DIR:-$PWD/.demo}
rm -rf "$state"
mkdir -p "$state"
cat >"$state/sovereignd.conf" <<CONF
[server]
listen = 127.0.0.1:0
unix_socket = $state/sovereignd.sock

[store]
path = $state/sovereign.db

[vault]
master_key_file = $state/master.key
CONF
provider_url() {
    [ -z "$2" ] || printf '\n[provider.%s]\nurl = %s\n' "$1" "$2" \
        >>"$state/sovereignd.conf"
}
provider_url deepgram "${SOVEREIGN_DEEPGRAM_URL:-}"
provider_url openai "${SOVEREIGN_OPENAI_URL:-}"
provider_url elevenlabs "${SOVEREIGN_ELEVENLABS_URL:-}"

ctl() { "$bin/sovereignctl" --config "$state/sovereignd.conf" "$@"; }
ctl vault init >/dev/null

"$bin/sovereignd" --config "$state/sovereignd.conf" \
    2>"$state/daemon.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT INT TERM
until grep -q "ready" "$state/daemon.log"; do
    kill -0 $pid 2>/dev/null || { cat "$state/daemon.log"; exit 1; }
    sleep 0.1
done
port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' \
    "$state/daemon.log")
echo "demo: sovereignd serves on 127.0.0.1:$port and unix:$state/sovereignd.sock"

key=$(ctl org create "Demo" | sed -n 's/.*"api_key": "\([^"]*\)".*/\1/p')
[ -n "$key" ] || { echo "demo: could not create an organization" >&2; exit 1; }
export SOVEREIGN_API_KEY="$key"

offline=yes
if [ -n "${DEEPGRAM_API_KEY:-}" ] && [ -n "${OPENAI_API_KEY:-}" ] &&
    [ -n "${ELEVENLABS_API_KEY:-}" ]; then
    offline=no
    echo "demo: provider keys found: Deepgram, OpenAI and ElevenLabs"
    body='{"name": "Demo", "first_message": "Hello! Ask me anything.",
           "llm_config": {"messages": [{"role": "system", "content":
           "You are a friendly voice assistant. Answer in one or two short sentences."}]}}'
else
    echo "demo: no provider keys: offline engines (pocketsphinx, echo, espeak-ng)"
    body='{"name": "Demo", "first_message": "Hi!",
           "stt_config": {"provider": "pocketsphinx"},
           "llm_config": {"provider": "echo"},
           "tts_config": {"provider": "espeak", "voice_id": "en"}}'
fi
assistant=$(curl -s -X POST -H "Authorization: Bearer $key" \
    -H "Content-Type: application/json" -d "$body" \
    "http://127.0.0.1:$port/api/v1/assistants" |
    sed -n 's/.*"id":"\([^"]*\)".*/\1/p' | head -n 1)
[ -n "$assistant" ] || {
    echo "demo: could not create the assistant; the daemon's log:" >&2
    cat "$state/daemon.log" >&2
    exit 1
}

input=demo/question.wav
output=$state/reply.wav
if [ "${1:-}" = "mic" ]; then
    input=mic
    echo "demo: calling assistant $assistant; speak into the microphone," \
        "Ctrl-C hangs up"
else
    echo "demo: calling assistant $assistant with $input, which says:" \
        "\"$(cat demo/question.txt)\""
fi
if [ $offline = yes ]; then
    echo "demo: (the offline recognizer gets a word or two wrong; the echo" \
        "responder repeats what it heard: see KNOWN_ISSUES.md)"
fi
echo
"$bin/sovereignctl" --config "$state/sovereignd.conf" call \
    --assistant "$assistant" --input "$input" --output "$output" \
    --socket "$state/sovereignd.sock" 2>&1
echo
echo "demo: the reply audio is in $output (play it with: aplay $output)"

kill -TERM $pid
wait $pid
trap - EXIT INT TERM
echo "demo: sovereignd stopped cleanly; its log is $state/daemon.log"
