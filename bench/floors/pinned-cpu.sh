#!/usr/bin/env bash
# Hand A/B of anything that serves /bench on 127.0.0.1:19080, without the harness: CMD runs
# pinned to core 0, bench/upstream.js on :19090 and `wrk -t1 -c64` on core 1; prints the median
# (and extremes) of RUNS windows of CPU µs per request, from CMD's /proc/<pid>/stat.
#
#   npm run build && bench/floors/pinned-cpu.sh LABEL RUNS CMD...
#   bench/floors/pinned-cpu.sh native 3 node dist/bench/floors/uws-native.js --port 19080 \
#     --upstream http://127.0.0.1:19090
#   bench/floors/pinned-cpu.sh gateway 3 node dist/src/cli/main.js start --config FILE --workers 0
#   WRK_HEADER="authorization: Bearer $TOKEN" bench/floors/pinned-cpu.sh jwt 3 node ...
#
# WRK_HEADER, when set, is one request header wrk adds to every request (its -H).
# CMD's process is the one listening on 19080, so it must serve from that process (--workers 0).
label=$1; runs=$2; shift 2
header=(); [ -n "$WRK_HEADER" ] && header=(-H "$WRK_HEADER")
pgrep -f "upstream.js --port 19090" >/dev/null || (taskset -c 1 node dist/bench/upstream.js --port 19090 > /dev/null 2>&1 &)
sleep 0.3
res=()
for i in $(seq $runs); do
  (taskset -c 0 "$@" > /dev/null 2>&1 &)
  for k in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:19080/bench 2>/dev/null && break; sleep 0.1; done
  P=$(ss -ltnp 'sport = :19080' | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
  taskset -c 1 wrk -t1 -c64 -d2s "${header[@]}" http://127.0.0.1:19080/bench > /dev/null
  a=$(awk '{print $14+$15}' /proc/$P/stat)
  out=$(taskset -c 1 wrk -t1 -c64 -d6s "${header[@]}" http://127.0.0.1:19080/bench)
  b=$(awk '{print $14+$15}' /proc/$P/stat)
  reqs=$(echo "$out" | grep "requests in" | awk '{print $1}')
  rps=$(echo "$out" | grep Requests/sec | awk '{print int($2)}')
  res+=("$(( (b-a)*10000000 / reqs / 1000 )) $rps")
  kill -INT $P 2>/dev/null; sleep 0.3; kill -9 $P 2>/dev/null; sleep 0.5
done
printf '%s\n' "${res[@]}" | sort -n | awk -v l="$label" '{a[NR]=$0} END {print l": median cpu_us/req rps = " a[int((NR+1)/2)] "   (all: " a[1] " | " a[NR] ")"}'
