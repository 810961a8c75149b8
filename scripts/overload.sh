#!/usr/bin/env bash
# Usage: scripts/overload.sh (after cargo build --release); EXTRA=--plain for plain probes.
# Starts its own idauth serve on 127.0.0.1:$PORT, stopped by its PID at exit.
# Overload run: capacity (closed loop), then open loops at 3x that rate (service alone,
# then with the client SDK's adaptive throttling; THROTTLE_K sets its K, 1.5 by default).
# SERVER_CPUS / CLIENT_CPUS (taskset lists, e.g. 0 and 1) pin the service and the load
# generator to CPUs of their own, so that the client's work at 3x does not come out
# of the service's capacity: capacity and goodput are then the pinned service's.
set -euo pipefail
BIN=${BIN:-target/release/idauth}
D=${D:-/tmp/idauth-overload}
PORT=${PORT:-50091}
RESIDENTS=${RESIDENTS:-2000}
rm -rf "$D"; mkdir -p "$D"
SERVER_PIN=(); CLIENT_PIN=()
[ -n "${SERVER_CPUS:-}" ] && SERVER_PIN=(taskset -c "$SERVER_CPUS")
[ -n "${CLIENT_CPUS:-}" ] && CLIENT_PIN=(taskset -c "$CLIENT_CPUS")
"${SERVER_PIN[@]}" "$BIN" serve --data-dir "$D/data" --secrets-dir "$D/secrets" --listen 127.0.0.1:$PORT >"$D/serve.out" 2>"$D/serve.err" &
PID=$!
echo $PID > "$D/serve.pid"
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "listening on" "$D/serve.out" 2>/dev/null && break; sleep 0.1; done
KEY="$D/secrets/dev-credential.key"
C=(--server http://127.0.0.1:$PORT --api-key-file "$KEY" --json)
"${CLIENT_PIN[@]}" "$BIN" synth "${C[@]}" --residents $RESIDENTS --seed 1 --concurrency 16 >"$D/synth.json"
rss() { awk '/VmRSS/ {print $2}' /proc/$PID/status; }
echo "rss_kb_after_synth $(rss)"
"${CLIENT_PIN[@]}" "$BIN" bench "${C[@]}" ${EXTRA:-} --residents $RESIDENTS --duration 10 --concurrency 32 --warmup 2000 >"$D/closed.json"
CAP=$(python3 -c "import json;print(json.load(open('$D/closed.json'))['verify']['throughput_per_s'])")
echo "capacity_per_s $CAP"
echo "rss_kb_before_overload $(rss)"
RATE=$(python3 -c "print(round(3*$CAP))")
# Two open loops at 3x: the service's own overload control alone (--no-throttle), then
# the client SDK as shipped (adaptive throttling, K=${THROTTLE_K:-1.5}).
# First an open loop at 1x, unthrottled: what the service does with the same offered
# rate as the closed loop's, but arriving on a schedule instead of 32 at a time.
for MODE in at-capacity alone sdk; do
  FLAGS=(--no-throttle); OFFER=$RATE
  [ $MODE = sdk ] && FLAGS=(--throttle "${THROTTLE_K:-1.5}")
  [ $MODE = at-capacity ] && OFFER=$(python3 -c "print(round($CAP))")
  "${CLIENT_PIN[@]}" "$BIN" bench "${C[@]}" ${EXTRA:-} "${FLAGS[@]}" --residents $RESIDENTS --duration 10 --rate $OFFER >"$D/open-$MODE.json" &
  BPID=$!
  for i in 1 2 3 4 5; do sleep 2; echo "rss_kb_during_overload_${MODE}_${i} $(rss)"; done
  wait $BPID
  echo "rss_kb_after_overload_$MODE $(rss)"
  python3 - "$D/open-$MODE.json" "$CAP" "$OFFER" "$MODE" <<'PY'
import json,sys
path,cap,rate,mode=sys.argv[1],float(sys.argv[2]),float(sys.argv[3]),sys.argv[4]
v=json.load(open(path))['verify']
good=v['decided']['throughput_per_s']
errors=v['errors']
refused=sum(n for c,n in errors.items() if c!='BIOMETRIC_MISMATCH')
print(json.dumps({"mode":mode,"capacity_per_s":round(cap,1),"offered_per_s":rate,"asked":v['requests'],
 "goodput_per_s":round(good,1),"goodput_over_capacity":round(good/cap,3),
 "p99_decided_ms":v['decided']['latency_ms']['p99'],"p50_decided_ms":v['decided']['latency_ms']['p50'],
 "errors":errors,"refusals":refused,"refusals_with_retry_hint":v['refusals_with_retry_hint']}))
PY
done
