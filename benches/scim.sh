#!/usr/bin/env bash
# Load test of the SCIM endpoint with wrk, against the release binary on loopback.
#
#   benches/scim.sh [sqlite|postgres://user@host/db]   (default sqlite)
#
# Builds nothing: run `cargo build --release` first (CARGO_TARGET_DIR is honoured). BENCHES
# picks scenarios; CONCURRENT_WRITES sets `[scim] concurrent_writes` (PostgreSQL). Seeds
# 2,000 users and a group, then runs, for DURATION (default 10s) at CONNECTIONS (default 16)
# connections over 2 threads: GET by id, GET with a `userName eq` filter, POST users, and
# PATCH group membership (add/remove one member per request, as Entra sends them). Prints
# requests/s and the 99th percentile latency of each.
set -euo pipefail

backend="${1:-sqlite}"
duration="${DURATION:-10s}"
connections="${CONNECTIONS:-16}"
target="${CARGO_TARGET_DIR:-target}"
bin="$target/release/idsync"
[ -x "$bin" ] || { echo "no $bin: cargo build --release first" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
if [ "$backend" = sqlite ]; then
    url="sqlite://$work/idsync.db"
else
    url="$backend"
fi
cat > "$work/idsync.toml" <<TOML
[database]
url = "$url"

[scim]
listen = "127.0.0.1:$port"
TOML
# PostgreSQL only: write requests in flight at once (the release's default otherwise).
[ -n "${CONCURRENT_WRITES:-}" ] && echo "concurrent_writes = $CONCURRENT_WRITES" >> "$work/idsync.toml"

token="$("$bin" --config "$work/idsync.toml" scim-token create 2>/dev/null | tail -n 1)"
RUST_LOG=warn "$bin" --config "$work/idsync.toml" run 2>"$work/daemon.log" &
daemon=$!
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null; rm -rf "$work"' EXIT
base="http://127.0.0.1:$port/scim/v2"
for _ in $(seq 100); do
    curl -sf "$base/health" >/dev/null && break
    sleep 0.1
done

# Seed users and a group; write the ids for the Lua scripts.
python3 - "$base" "$token" "$work" <<'PY'
import json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
base, token, work = sys.argv[1:4]
def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/scim+json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")
def seed(i):
    return call("POST", "/Users", {"userName": f"seed{i}@bench.example", "externalId": f"seed-{i}",
                                   "emails": [{"type": "work", "primary": True, "value": f"seed{i}@bench.example"}],
                                   "name": {"givenName": "Seed", "familyName": str(i)}, "active": True})["id"]
with ThreadPoolExecutor(8) as pool:
    ids = list(pool.map(seed, range(2000)))
group = call("POST", "/Groups", {"displayName": "Bench", "externalId": "bench-group"})["id"]
with open(f"{work}/ids.lua", "w") as f:
    f.write("ids = {" + ",".join(f'"{i}"' for i in ids) + "}\n")
    f.write(f'group = "{group}"\ntoken = "{token}"\n')
PY

common="dofile('$work/ids.lua')
counter = 0
function setup(thread) thread:set('tid', tostring(math.random(1, 1000000))) end
"
cat > "$work/get_id.lua" <<LUA
$common
request = function()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", "/scim/v2/Users/" .. id, { ["Authorization"] = "Bearer " .. token })
end
LUA
cat > "$work/get_filter.lua" <<LUA
$common
request = function()
  local n = math.random(0, #ids - 1)
  local f = "userName%20eq%20%22SEED" .. n .. "%40bench.example%22"
  return wrk.format("GET", "/scim/v2/Users?filter=" .. f, { ["Authorization"] = "Bearer " .. token })
end
LUA
cat > "$work/post_users.lua" <<LUA
$common
request = function()
  counter = counter + 1
  local name = "w" .. tid .. "-" .. counter .. "@bench.example"
  local body = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"' .. name ..
    '","externalId":"x-' .. name .. '","active":true,"emails":[{"type":"work","primary":true,"value":"' .. name .. '"}]}'
  return wrk.format("POST", "/scim/v2/Users", { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/scim+json" }, body)
end
LUA
cat > "$work/patch_group.lua" <<LUA
$common
request = function()
  local id = ids[math.random(#ids)]
  local op = "add"
  if math.random() < 0.5 then op = "remove" end
  local body
  if op == "add" then
    body = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{"value":"' .. id .. '"}]}]}'
  else
    body = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \\\\"' .. id .. '\\\\"]"}]}'
  end
  return wrk.format("PATCH", "/scim/v2/Groups/" .. group, { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/scim+json" }, body)
end
LUA
cat > "$work/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %.0f req/s, p99 %.2f ms, %d errors\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(99) / 1000, errors))
end
LUA

echo "backend: ${backend%%@*}  connections: $connections  duration: $duration"
for bench in ${BENCHES:-get_id get_filter post_users patch_group}; do
    cat "$work/$bench.lua" "$work/report.lua" > "$work/run.lua"
    result="$(wrk -t2 -c"$connections" -d"$duration" -s "$work/run.lua" "http://127.0.0.1:$port" | grep RESULT)"
    printf '%-12s %s\n' "$bench" "${result#RESULT }"
done
