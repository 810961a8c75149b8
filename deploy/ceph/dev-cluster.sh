#!/usr/bin/env bash
# A Ceph test cluster on loopback for idauth's RADOS engine: 1 monitor, 1 manager and
# 4 OSDs (BlueStore on sparse files), pool "idauth" with size 3 / min_size 2.
#
#   deploy/ceph/dev-cluster.sh start        install Debian's packages if missing, start, wait for active+clean
#   deploy/ceph/dev-cluster.sh stop         stop the daemons this script started (by their recorded PIDs)
#   deploy/ceph/dev-cluster.sh status       `ceph -s` and the recorded daemons
#   deploy/ceph/dev-cluster.sh osd-kill N   SIGKILL osd.N (a dead disk's daemon)
#   deploy/ceph/dev-cluster.sh osd-start N  start osd.N again on its data
#   deploy/ceph/dev-cluster.sh osd-destroy N  kill osd.N, delete its data and block file, remove it from the cluster
#   deploy/ceph/dev-cluster.sh osd-add      create and start a fresh OSD; prints its id
#   deploy/ceph/dev-cluster.sh wait-clean [S]  wait up to S seconds (180) for every PG active+clean
#
# IDAUTH_CEPH_DIR (default /tmp/idauth-ceph) holds ceph.conf, the daemons' data, logs
# and PID files; clients use $IDAUTH_CEPH_DIR/ceph.conf. `auth none`: a test cluster
# only (production uses cephx). Every daemon is started in the foreground (-f) in the
# background of this script, its PID recorded in pids/, and stopped by that PID alone.
set -euo pipefail

D=${IDAUTH_CEPH_DIR:-/tmp/idauth-ceph}
CONF=$D/ceph.conf
POOL=${IDAUTH_CEPH_POOL:-idauth}
OSDS=${IDAUTH_CEPH_OSDS:-4}
MON_PORT=${IDAUTH_CEPH_MON_PORT:-6789}
PACKAGES=(ceph-mon ceph-osd ceph-mgr ceph-common librados-dev)

say() { echo "dev-cluster: $*" >&2; }
# A monitor busy with an OSD that just came back can refuse a command once ("problem
# getting command descriptions from mon", seen in CI), so a failed command is tried
# three times before its failure counts.
ceph_() {
    local out attempt
    for attempt in 1 2 3; do
        if out=$(timeout 60 ceph -c "$CONF" "$@"); then
            [ -n "$out" ] && printf '%s\n' "$out"
            return 0
        fi
        [ "$attempt" -lt 3 ] && sleep 2
    done
    return 1
}

install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return
    say "installing ${missing[*]} (Debian packages)"
    local sudo=()
    [ "$(id -u)" -ne 0 ] && sudo=(sudo)
    "${sudo[@]}" apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

# Whether daemon $1's recorded PID is alive and still the daemon this script started
# (its command line names this cluster's ceph.conf): PIDs wrap, and a recorded one may
# since belong to another process, which must never be signalled.
alive() {
    local pid
    [ -f "$D/pids/$1.pid" ] || return 1
    pid=$(cat "$D/pids/$1.pid")
    kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-c $CONF "
}

# Starts a daemon in the foreground, in the background of this shell, and records its PID.
spawn() {
    local name=$1; shift
    "$@" -c "$CONF" -f >>"$D/log/$name.out" 2>&1 &
    echo $! >"$D/pids/$name.pid"
    disown $! 2>/dev/null || true
}

write_conf() {
    local fsid=$1
    cat >"$CONF" <<EOF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$MON_PORT
mon initial members = a
public network = 127.0.0.0/8
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
run dir = $D/run
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
pid file =
osd crush chooseleaf type = 0
osd pool default size = 3
osd pool default min size = 2
osd pool default pg autoscale mode = off
mon allow pool delete = true
mon data avail warn = 2
mon data avail crit = 1
mon osd down out interval = 10
osd recovery sleep hdd = 0
osd recovery sleep = 0
osd max backfills = 4
osd heartbeat grace = 6
osd heartbeat interval = 2
client mount timeout = 30
rados osd op timeout = 30
rados mon op timeout = 30

# Each client process gets its own admin socket: two \`ceph\` commands at once (a test and
# this script) otherwise race for client.admin.asok.
[client]
admin socket = $D/run/\$name.\$pid.asok

[mon]
mon data = $D/mon/\$cluster-\$id

[mgr]
mgr data = $D/mgr/\$cluster-\$id

[osd]
osd data = $D/osd/\$cluster-\$id
osd objectstore = bluestore
# The block file lies outside the OSD's data directory: inside it, mkfs fails with a
# symlink loop.
bluestore block path = $D/blocks/osd.\$id.block
bluestore block create = true
bluestore block size = 2147483648
bluestore fsck on mount = false
osd memory target = 268435456
# Four OSDs, a monitor and a manager share two vCPUs here (and the files report a
# rotational disk): one op shard of two threads and two messenger threads per OSD
# instead of five shards and three, and no deferred (written twice) small writes.
# On this machine that took idauth's half-load verify p99 from 27-35 ms to 12-23 ms
# (docs/benchmarks.md); a production cluster keeps Ceph's defaults for its hardware.
osd op num shards hdd = 1
osd op num threads per shard hdd = 2
ms async op threads = 2
bluestore prefer deferred size hdd = 0
bluestore cache autotune = false
bluestore cache size = 67108864
EOF
}

start_osd() {
    local id=$1; shift
    spawn "osd.$id" ceph-osd -i "$id" "$@"
}

# Waits up to $2 seconds for osd.$1's daemon to say it is active (booted, in the map);
# fails at once if the daemon died.
wait_active() {
    local id=$1 limit=$2 waited=0
    while [ "$waited" -lt "$limit" ]; do
        alive "osd.$id" || return 1
        timeout 5 ceph --admin-daemon "$D/run/osd.$id.asok" status 2>/dev/null | grep -q '"state": "active"' && return 0
        sleep 1; waited=$((waited + 1))
    done
    return 1
}

# Starts osd.$1 again on its data and waits for it to be active. A restart needs no
# CRUSH update (the OSD is placed already), and skipping it skips the monitor command
# that once failed a boot in CI ("mon_cmd_maybe_osd_create fail: 'wrong fsid'", then
# exit); a daemon that still dies at boot is started again, three tries in all.
restart_osd() {
    local id=$1 attempt
    for attempt in 1 2 3; do
        start_osd "$id" --osd-crush-update-on-start=false --osd-class-update-on-start=false
        wait_active "$id" 90 && return 0
        say "osd.$id did not come up (try $attempt): $(tail -n 3 "$D/log/osd.$id.out" 2>/dev/null | tr '\n' ' ')"
        if alive "osd.$id"; then kill -KILL "$(cat "$D/pids/osd.$id.pid")"; fi
        rm -f "$D/pids/osd.$id.pid"
        sleep 2
    done
    return 1
}

# Waits up to $2 seconds for osd.$1 to be marked up; fails at once if its daemon died.
wait_up() {
    local id=$1 limit=$2 waited=0
    while [ "$waited" -lt "$limit" ]; do
        alive "osd.$id" || return 1
        ceph_ osd dump 2>/dev/null | grep -q "^osd\.$id up" && return 0
        sleep 1; waited=$((waited + 1))
    done
    return 1
}

# Creates and starts a fresh OSD and waits for it to be up; prints its id. A new OSD
# that reuses a just-purged id was once refused by the monitor at boot ("wrong fsid"),
# so a daemon that does not come up is removed again and the OSD made anew.
add_osd() {
    local uuid id attempt
    for attempt in 1 2 3; do
        uuid=$(cat /proc/sys/kernel/random/uuid)
        id=$(ceph_ osd new "$uuid")
        mkdir -p "$D/osd/ceph-$id"
        rm -f "$D/blocks/osd.$id.block"
        ceph-osd -c "$CONF" -i "$id" --mkfs --osd-uuid "$uuid" >>"$D/log/osd.$id.mkfs" 2>&1 \
            || { say "mkfs of osd.$id failed: see $D/log/osd.$id.mkfs"; exit 1; }
        start_osd "$id"
        if wait_up "$id" 60; then
            echo "$id"
            return 0
        fi
        say "osd.$id did not come up (try $attempt): $(tail -n 3 "$D/log/osd.$id.out" 2>/dev/null | tr '\n' ' ')"
        if alive "osd.$id"; then kill -KILL "$(cat "$D/pids/osd.$id.pid")"; fi
        rm -f "$D/pids/osd.$id.pid"
        rm -rf "$D/osd/ceph-$id" "$D/blocks/osd.$id.block"
        ceph_ osd purge "$id" --yes-i-really-mean-it >/dev/null 2>&1 || true
        sleep 2
    done
    say "no new OSD came up after 3 tries"
    exit 1
}

wait_clean() {
    local limit=${1:-180} waited=0
    while :; do
        local stat
        stat=$(ceph_ pg stat 2>/dev/null || true)
        # "32 pgs: 32 active+clean; ..." when every PG is clean.
        if [[ $stat =~ ^([0-9]+)\ pgs:\ ([0-9]+)\ active\+clean\; ]] && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]; then
            say "active+clean after ${waited} s: $stat"
            return 0
        fi
        if [ "$waited" -ge "$limit" ]; then
            say "not active+clean after $limit s: $stat"
            ceph_ -s >&2 || true
            return 1
        fi
        sleep 1; waited=$((waited + 1))
    done
}

# Every recorded OSD up, restarting one whose daemon died at its first start (seen
# once in five starts here: "mon_cmd_maybe_osd_create fail: 'wrong fsid'", then exit).
ensure_osds_up() {
    local want=$1 waited=0 up
    while :; do
        for f in "$D"/pids/osd.*.pid; do
            local name
            name=$(basename "$f" .pid)
            if ! alive "$name"; then
                say "$name died (see $D/log/$name.out); starting it again"
                start_osd "${name#osd.}"
            fi
        done
        up=$(ceph_ osd stat -f json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["num_up_osds"])' 2>/dev/null || echo 0)
        [ "$up" -ge "$want" ] && return 0
        if [ "$waited" -ge 90 ]; then say "$up of $want OSDs up after 90 s"; return 1; fi
        sleep 2; waited=$((waited + 2))
    done
}

start() {
    install_packages
    if alive mon.a; then
        say "already running (ceph.conf: $CONF)"
        return 0
    fi
    rm -rf "$D"
    mkdir -p "$D"/{run,log,pids,mon,mgr,osd,blocks}
    local fsid
    fsid=$(cat /proc/sys/kernel/random/uuid)
    write_conf "$fsid"
    # The v1 protocol named explicitly: on a port other than 6789, monmaptool would
    # otherwise take the address for msgr2, which the v1 address in ceph.conf never
    # reaches.
    monmaptool --create --fsid "$fsid" --addv a "[v1:127.0.0.1:$MON_PORT]" "$D/monmap" >/dev/null
    mkdir -p "$D/mon/ceph-a"
    ceph-mon -c "$CONF" -i a --mkfs --monmap "$D/monmap" >>"$D/log/mon.a.mkfs" 2>&1 \
        || { say "mon mkfs failed: see $D/log/mon.a.mkfs"; exit 1; }
    spawn mon.a ceph-mon -i a
    local until=$((SECONDS + 60))
    until timeout 10 ceph -c "$CONF" --connect-timeout 5 mon stat >/dev/null 2>&1; do
        [ $SECONDS -ge $until ] && { say "the monitor did not answer in 60 s: see $D/log/mon.a.log"; exit 1; }
        sleep 1
    done
    # Health warnings that a loopback test cluster always raises are not news.
    ceph_ config set mon mon_warn_on_insecure_global_id_reclaim_allowed false >/dev/null
    ceph_ config set global mon_warn_on_pool_no_redundancy false >/dev/null
    mkdir -p "$D/mgr/ceph-x"
    spawn mgr.x ceph-mgr -i x
    for _ in $(seq "$OSDS"); do add_osd >/dev/null; done
    ceph_ osd pool create "$POOL" 32 32 replicated >/dev/null
    ceph_ osd pool set "$POOL" size 3 >/dev/null
    ceph_ osd pool set "$POOL" min_size 2 >/dev/null
    ceph_ osd pool application enable "$POOL" idauth >/dev/null
    ensure_osds_up "$OSDS"
    wait_clean 180
    say "running: ceph.conf $CONF, pool $POOL, $OSDS OSDs"
}

stop_pid_of() {
    local name=$1 pid
    [ -f "$D/pids/$name.pid" ] || return 0
    pid=$(cat "$D/pids/$name.pid")
    if alive "$name"; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$D/pids/$name.pid"
}

stop() {
    [ -d "$D/pids" ] || { say "not running"; return 0; }
    for f in "$D"/pids/osd.*.pid; do [ -e "$f" ] && stop_pid_of "$(basename "$f" .pid)"; done
    stop_pid_of mgr.x
    stop_pid_of mon.a
    [ "${IDAUTH_CEPH_KEEP:-0}" = 1 ] || rm -rf "$D"
    say "stopped"
}

status() {
    for f in "$D"/pids/*.pid; do
        [ -e "$f" ] || continue
        local name pid
        name=$(basename "$f" .pid); pid=$(cat "$f")
        if alive "$name"; then echo "$name pid $pid running"; else echo "$name pid $pid gone"; fi
    done
    ceph_ -s
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    osd-kill)
        if alive "osd.$2"; then
            pid=$(cat "$D/pids/osd.$2.pid"); kill -KILL "$pid"; say "osd.$2 (pid $pid) killed"
        else
            say "osd.$2 was not running"
        fi
        rm -f "$D/pids/osd.$2.pid" ;;
    osd-start) restart_osd "$2" || { say "osd.$2 did not come up after 3 tries"; exit 1; }; say "osd.$2 started" ;;
    osd-destroy)
        if alive "osd.$2"; then kill -KILL "$(cat "$D/pids/osd.$2.pid")"; fi
        rm -f "$D/pids/osd.$2.pid"
        rm -rf "$D/osd/ceph-$2" "$D/blocks/osd.$2.block"
        ceph_ osd down "$2" >/dev/null 2>&1 || true
        ceph_ osd out "$2" >/dev/null 2>&1 || true
        ceph_ osd purge "$2" --yes-i-really-mean-it >/dev/null
        say "osd.$2 destroyed: data and block file deleted, removed from the map" ;;
    osd-add) add_osd ;;
    wait-clean) wait_clean "${2:-180}" ;;
    *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
