#!/usr/bin/env bash
# Usage: scripts/bench-engines.sh (after `cargo build --release --features rados` and
# `deploy/ceph/dev-cluster.sh start`). OLD_BIN=path/to/an/older/idauth adds that build
# on sled to the same run (the embedded default before and after a change).
#
# For each engine (sled with its default 4 shards, rados with 1; and OLD_BIN's sled):
# `idauth serve` on a fresh store, `synth` RESIDENTS residents (one finger each) for
# enrolments/s, a closed loop (32 in flight, DURATION seconds, default 10) for
# verifies/s, then an open loop at half that rate for p50/p99. Every server is started
# here, recorded by PID and stopped by that PID.
set -euo pipefail
BIN=${BIN:-target/release/idauth}
CONF=${IDAUTH_CEPH_CONF:-/tmp/idauth-ceph/ceph.conf}
RESIDENTS=${RESIDENTS:-2000}
DURATION=${DURATION:-10}
D=${D:-/tmp/idauth-bench-engines}
PORT=${PORT:-50093}
rm -rf "$D"; mkdir -p "$D"
PID=
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; wait 2>/dev/null || true' EXIT

run_engine() {
    local name=$1 bin=$2; shift 2
    local dir="$D/$name"
    mkdir -p "$dir"
    env "$@" "$bin" serve --data-dir "$dir/data" --secrets-dir "$dir/secrets" --listen 127.0.0.1:$PORT \
        >"$dir/serve.out" 2>"$dir/serve.err" &
    PID=$!
    for _ in $(seq 300); do grep -q "listening on" "$dir/serve.out" 2>/dev/null && break; sleep 0.1; done
    local c=(--server http://127.0.0.1:$PORT --api-key-file "$dir/secrets/dev-credential.key" --json)
    "$BIN" synth "${c[@]}" --residents "$RESIDENTS" --fingers 1 --concurrency 32 >"$dir/synth.json"
    "$BIN" bench "${c[@]}" --residents "$RESIDENTS" --enrolled-fingers 1 --duration "$DURATION" \
        --concurrency 32 --warmup 1000 >"$dir/closed.json"
    local cap
    cap=$(python3 -c "import json;print(json.load(open('$dir/closed.json'))['verify']['throughput_per_s'])")
    "$BIN" bench "${c[@]}" --residents "$RESIDENTS" --enrolled-fingers 1 --duration "$DURATION" \
        --rate "$(python3 -c "print(round($cap/2))")" >"$dir/half.json"
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
    python3 - "$dir" "$name" <<'PY'
import json,sys
d,name=sys.argv[1],sys.argv[2]
s=json.load(open(d+'/synth.json')); c=json.load(open(d+'/closed.json'))['verify']; h=json.load(open(d+'/half.json'))['verify']
enrol=s.get('enrolments_per_s') or s.get('throughput_per_s') or s.get('rate_per_s')
print(json.dumps({"engine":name,"enrolments_per_s":enrol,"verifies_per_s":round(c['throughput_per_s'],1),
 "closed_p50_ms":c['latency_ms']['p50'],"closed_p99_ms":c['latency_ms']['p99'],
 "half_load_per_s":round(h['throughput_per_s'],1),"half_p50_ms":h['latency_ms']['p50'],"half_p99_ms":h['latency_ms']['p99'],
 "errors":c['errors'],"half_errors":h['errors']}))
PY
}

run_engine sled "$BIN"
[ -n "${OLD_BIN:-}" ] && run_engine sled-before "$OLD_BIN"
# One shard on RADOS (README, "On Ceph"): the cluster does the placement, and chain
# writes are batched per shard, so one shard sends a quarter of four's writes.
run_engine rados "$BIN" IDAUTH_SHARDS=1 IDAUTH_STORE=rados IDAUTH_RADOS_CONF="$CONF" \
    IDAUTH_RADOS_NAMESPACE="bench-$(date +%s)"
