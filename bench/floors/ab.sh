#!/usr/bin/env bash
# Interleaved A/B of servers that serve /bench on 127.0.0.1:19080, with pinned-cpu.sh's method:
# each command in turn, ROUNDS times, pinned to core 0 with bench/upstream.js on :19090 and
# `wrk -t1 -c64` on core 1 (2 s unmeasured, then WIN seconds, default 5); prints each command's
# median CPU µs per request from its /proc/<pid>/stat, and every round's figure. Alternating the
# commands round by round keeps a noisy machine's drift out of the comparison.
#
#   bench/floors/ab.sh 6 "node /old/dist/src/cli/main.js start --config FILE --workers 0" \
#     "node dist/src/cli/main.js start --config FILE --workers 0"
#   HDR_2="authorization: Bearer $TOKEN" bench/floors/ab.sh 7 "node … --config passthrough.yaml …" \
#     "node … --config jwt.yaml …"
#
# Each command may start with VAR=value assignments (run through env). WRK_HEADER is one request
# header for every command; HDR_<n> (1-based), when set, replaces it for command n ('' for none).
rounds=$1; shift
cd "$(dirname "$0")/../.." || exit 1
pgrep -f "upstream.js --port 19090" >/dev/null || (taskset -c 1 node dist/bench/upstream.js --port 19090 > /dev/null 2>&1 &)
sleep 0.3
declare -A R
for r in $(seq "$rounds"); do
  idx=0
  for cmd in "$@"; do
    idx=$((idx+1))
    hv="HDR_$idx"; H="${!hv-$WRK_HEADER}"
    (eval "taskset -c 0 env $cmd" > /dev/null 2>&1 &)
    for k in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:19080/bench 2>/dev/null && break; sleep 0.1; done
    P=$(ss -ltnp 'sport = :19080' | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
    taskset -c 1 wrk -t1 -c64 -d2s ${H:+-H "$H"} http://127.0.0.1:19080/bench > /dev/null
    a=$(awk '{print $14+$15}' "/proc/$P/stat")
    out=$(taskset -c 1 wrk -t1 -c64 -d"${WIN:-5}"s ${H:+-H "$H"} http://127.0.0.1:19080/bench)
    b=$(awk '{print $14+$15}' "/proc/$P/stat")
    reqs=$(echo "$out" | grep "requests in" | awk '{print $1}')
    R[$idx]="${R[$idx]} $(awk -v d=$((b-a)) -v n="$reqs" 'BEGIN{printf "%.1f", d*10000/n}')"
    kill -INT "$P" 2>/dev/null; sleep 0.3; kill -9 "$P" 2>/dev/null; sleep 0.4
  done
done
idx=0
for cmd in "$@"; do
  idx=$((idx+1))
  med=$(echo ${R[$idx]} | tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "[$idx] median $med µs/req  rounds:${R[$idx]}  :: $cmd"
done
