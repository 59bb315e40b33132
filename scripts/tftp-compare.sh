#!/usr/bin/env bash
# TFTP throughput: `pxelab serve --tftp-only` against dnsmasq's TFTP server, same
# machine, same run, same client.
#
# Usage (as root, from anywhere in the checkout):  scripts/tftp-compare.sh [RUNS] [MIB]
#   RUNS  downloads per server, interleaved (default 5)
#   MIB   size of the test file in MiB (default 40)
#
# Both servers run in one network namespace (dnsmasq on port 69, pxelab on 6969),
# the client (curl, blksize 1468, lockstep as RFC 1350 + 2348) in another, joined by
# a veth pair; nothing leaves the two namespaces. Every download is compared byte
# for byte with the original. Prints each run, the median MiB/s per server and the
# ratio pxelab/dnsmasq; then the same with atftp asking for windowsize 8 (RFC 7440),
# when atftp is installed. Needs: root, iproute2, dnsmasq, curl, cargo.
set -euo pipefail

RUNS=${1:-5}
MIB=${2:-40}
PXELAB_PORT=6969
SRV_ADDR=10.213.250.1
CLI_ADDR=10.213.250.2

cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "tftp-compare: needs root (network namespaces)" >&2
  exit 2
fi
for p in ip dnsmasq curl cmp; do
  command -v "$p" >/dev/null || { echo "tftp-compare: $p not found" >&2; exit 2; }
done

echo "== building pxelab (release)"
cargo build --release --quiet --bin pxelab
PXELAB=$PWD/target/release/pxelab

# Namespace names follow the test harness's pxl-<pid>-... scheme, so a run killed
# before its cleanup is removed by the next test run.
SRV=pxl-$$-cmp-srv
CLI=pxl-$$-cmp-cli
WORK=$(mktemp -d /tmp/pxelab-tftp-compare.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$SRV" 2>/dev/null || true
  ip netns del "$CLI" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$SRV"
ip netns add "$CLI"
ip -n "$SRV" link set lo up
ip -n "$CLI" link set lo up
ip -n "$SRV" link add pxl0 type veth peer name pxl0 netns "$CLI"
ip -n "$SRV" addr add "$SRV_ADDR/24" dev pxl0
ip -n "$CLI" addr add "$CLI_ADDR/24" dev pxl0
ip -n "$SRV" link set pxl0 up
ip -n "$CLI" link set pxl0 up

mkdir "$WORK/root"
head -c "$((MIB * 1024 * 1024))" /dev/urandom > "$WORK/root/big.bin"

(cd "$WORK" && exec ip netns exec "$SRV" "$PXELAB" serve --interface pxl0 \
  --tftp-root "$WORK/root" --tftp-only --tftp-port "$PXELAB_PORT" > "$WORK/pxelab.log" 2>&1) &
PIDS+=($!)
ip netns exec "$SRV" dnsmasq --no-daemon --conf-file=/dev/null --port=0 \
  --interface=pxl0 --bind-interfaces --pid-file="$WORK/dnsmasq.pid" \
  --enable-tftp --tftp-root="$WORK/root" --log-facility=- > "$WORK/dnsmasq.log" 2>&1 &
PIDS+=($!)

wait_bound() { # port name
  for _ in $(seq 100); do
    if ip netns exec "$SRV" ss -Hulnp | awk '{print $4}' | grep -q ":$1\$"; then return 0; fi
    sleep 0.1
  done
  echo "tftp-compare: $2 did not bind UDP port $1; its log:" >&2
  cat "$WORK/$2.log" >&2
  exit 1
}
wait_bound "$PXELAB_PORT" pxelab
wait_bound 69 dnsmasq

fetch() { # name url -> prints MiB/s
  local out="$WORK/out.bin" bps
  rm -f "$out"
  bps=$(ip netns exec "$CLI" curl --silent --show-error --fail --max-time 300 \
    --tftp-blksize 1468 --output "$out" --write-out '%{speed_download}' "$2")
  if ! cmp -s "$out" "$WORK/root/big.bin"; then
    echo "tftp-compare: $1 download differs from the original" >&2
    exit 1
  fi
  awk -v b="$bps" 'BEGIN { printf "%.1f", b / 1048576 }'
}

# atftp asks for RFC 7440 windowsize 8; a server without windowsize (dnsmasq)
# leaves it out of its OACK and the transfer runs lockstep.
fetch_atftp() { # name port -> prints MiB/s
  local out="$WORK/out.bin" t0 t1
  rm -f "$out"
  t0=$EPOCHREALTIME
  ip netns exec "$CLI" timeout 300 atftp --option "blksize 1468" --option "windowsize 8" \
    -g -r big.bin -l "$out" "$SRV_ADDR" "$2" >/dev/null 2>&1
  t1=$EPOCHREALTIME
  if ! cmp -s "$out" "$WORK/root/big.bin"; then
    echo "tftp-compare: atftp download from $1 differs from the original" >&2
    exit 1
  fi
  awk -v a="$t0" -v b="$t1" -v n="$((MIB * 1024 * 1024))" 'BEGIN { printf "%.1f", n / (b - a) / 1048576 }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "== $RUNS downloads of $MIB MiB per server, interleaved"
echo "   client: curl --tftp-blksize 1468 tftp://$SRV_ADDR[:$PXELAB_PORT]/big.bin"
echo "   pxelab: pxelab serve --interface pxl0 --tftp-root DIR --tftp-only --tftp-port $PXELAB_PORT (release)"
echo "   dnsmasq: dnsmasq --port=0 --enable-tftp --tftp-root=DIR --interface=pxl0 --bind-interfaces"
compare() { # label pxelab-command... -- dnsmasq-command...: runs both RUNS times, interleaved
  local label=$1 p d i P=() D=() pcmd=() dcmd=()
  shift
  while [[ $1 != -- ]]; do pcmd+=("$1"); shift; done
  shift
  dcmd=("$@")
  for i in $(seq "$RUNS"); do
    p=$("${pcmd[@]}")
    d=$("${dcmd[@]}")
    P+=("$p") D+=("$d")
    echo "run $i: pxelab $p MiB/s, dnsmasq $d MiB/s"
  done
  PM=$(printf '%s\n' "${P[@]}" | median)
  DM=$(printf '%s\n' "${D[@]}" | median)
  echo "median: pxelab $PM MiB/s, dnsmasq ($(dnsmasq --version | head -1 | awk '{print $3}')) $DM MiB/s"
  awk -v p="$PM" -v d="$DM" -v l="$label" 'BEGIN { printf "ratio pxelab/dnsmasq%s: %.2f\n", l, p / d }'
}

compare "" fetch pxelab "tftp://$SRV_ADDR:$PXELAB_PORT/big.bin" -- fetch dnsmasq "tftp://$SRV_ADDR/big.bin"

if command -v atftp >/dev/null; then
  echo
  echo "== the same with atftp --option 'windowsize 8' --option 'blksize 1468'"
  compare " (windowsize 8 asked)" fetch_atftp pxelab "$PXELAB_PORT" -- fetch_atftp dnsmasq 69
else
  echo "(atftp not installed: skipping the windowsize comparison)"
fi
