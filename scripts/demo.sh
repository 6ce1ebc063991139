#!/bin/sh
# The README's first command: builds sovereignd, starts it on a private
# state directory with an embedded default configuration (a generated
# master key, no provider keys, no network), drives its REST API as a
# client would, and stops it.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh

build=build/release
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" >/dev/null

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

ctl() { "$build/daemon/sovereignctl" --config "$state/sovereignd.conf" "$@"; }
ctl vault init

"$build/daemon/sovereignd" --config "$state/sovereignd.conf" \
    2>"$state/daemon.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT INT TERM
until grep -q "ready" "$state/daemon.log"; do
    kill -0 $pid 2>/dev/null || { cat "$state/daemon.log"; exit 1; }
    sleep 0.1
done
port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' \
    "$state/daemon.log")
echo "sovereignd is serving on 127.0.0.1:$port and unix:$state/sovereignd.sock"

org=$(ctl org create "Demo")
key=$(printf '%s' "$org" | sed -n 's/.*"api_key": "\([^"]*\)".*/\1/p')
echo "created an organization and its API key (shown once; kept in this shell)"

api() {
    method=$1 path=$2
    shift 2
    curl -s -X "$method" -H "Authorization: Bearer $key" \
        -H "Content-Type: application/json" "$@" \
        "http://127.0.0.1:$port/api/v1$path"
    echo
}
echo "--- GET /healthz"
curl -s "http://127.0.0.1:$port/healthz"; echo
echo "--- POST /assistants"
api POST /assistants -d '{"name": "Front desk", "first_message": "Hello!"}'
echo "--- GET /byok (no keys stored)"
api GET /byok
echo "--- POST /byok with a bad provider (a clear 400)"
api POST /byok -d '{"provider": "nope", "api_key": "x"}'

kill -TERM $pid
wait $pid
trap - EXIT INT TERM
echo "sovereignd stopped cleanly; its log is $state/daemon.log"
