#!/usr/bin/env bash
# pxelab against the servers people run today, on one machine, in one run.
#
# Usage (as root, from anywhere in the checkout):
#   benches/compare.sh [--runs N] [--mib M] [--only tftp|dhcp] [--pxelab PATH]
#     --runs N     downloads per client × server, interleaved (default 5)
#     --mib M      size of the TFTP test file in MiB (default 64)
#     --only X     run only the TFTP or only the DHCP part
#     --pxelab P   the pxelab binary (default: target/release/pxelab, built if missing)
#
# TFTP: one 64 MiB file downloaded by curl (blksize 1468) and atftp (blksize 1468,
# windowsize 1, and windowsize 8 when atftp knows RFC 7440) from pxelab (serve
# --tftp-only), dnsmasq, tftpd-hpa (in.tftpd) and atftpd. Every server runs at
# once in one network namespace on its own port; the clients run in a second
# namespace joined to it by a veth pair, so nothing leaves the two namespaces.
# Runs are interleaved: run i fetches from every server in turn (the order
# rotates each run) before run i+1 starts. Every download is compared byte for
# byte with the original. Prints each run, the medians and pxelab's ratios.
#
# DHCP: Kea's perfdhcp (DORA from up to 60,000 simulated clients) in the client
# namespace against pxelab (full mode, redb lease file: every ACK waits until its
# lease is fsynced; leases of requests that arrive together share one commit),
# dnsmasq (lease file, --no-ping so that its ICMP probe before each offer does not
# cap its rate) and kea-dhcp4 (memfile, persisted), one server at a time on port
# 67, each with a pool of about 64,000 addresses. perfdhcp is given the server's
# address, so it acts as a relay agent: it sends from port 67 with giaddr set to
# its own address and every server answers it there (RFC 2131 §4.1). For each
# server: the highest offered rate (DORA exchanges/s) with under 1 % of the
# exchanges dropped, found by doubling from MIN_RATE (default 50/s) then bisecting, each trial 5 s.
# Servers alternate in rounds (default 2), medians of the rounds. perfdhcp itself
# needs CPU: on a 2-core machine it stops keeping its offered rate at about
# 10,000/s, and a rate it did not manage to send is not counted as sustained.
#
# It installs nothing: a missing program is named with its Debian package and
# that peer (or part) is skipped. Every download and trial is time-bounded.
# The Debian packages atftpd and tftpd-hpa conflict; to have both, keep tftpd-hpa
# installed and unpack atftpd without installing it, then point ATFTPD at it:
#   apt-get download atftpd && dpkg-deb -x atftpd_*.deb /opt/atftpd
#   ATFTPD=/opt/atftpd/usr/sbin/atftpd benches/compare.sh
set -euo pipefail

RUNS=5
MIB=64
ONLY=
PXELAB=
DHCP_ROUNDS=${DHCP_ROUNDS:-2}
TRIAL_S=${TRIAL_S:-5}
MIN_RATE=${MIN_RATE:-50}
MAX_RATE=${MAX_RATE:-64000}

while [[ $# -gt 0 ]]; do
  case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --mib) MIB=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --pxelab) PXELAB=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "compare: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "compare: needs root (it creates network namespaces and binds ports 67 and 69); run it with sudo" >&2
  exit 2
fi

# program -> Debian package that provides it
declare -A PKG=(
  [ip]=iproute2 [curl]=curl [cmp]=diffutils [dnsmasq]=dnsmasq-base
  [in.tftpd]=tftpd-hpa [atftpd]=atftpd [atftp]=atftp
  [perfdhcp]=kea-admin [kea-dhcp4]=kea-dhcp4-server
)
ATFTPD=${ATFTPD:-atftpd}
have() {
  if command -v "$1" >/dev/null 2>&1; then return 0; fi
  if [[ $1 == atftpd && -x $ATFTPD ]]; then return 0; fi
  echo "compare: $1 not found (Debian package ${PKG[$1]:-?}): skipping what needs it" >&2
  return 1
}
have ip || exit 2
have cmp || exit 2

if [[ -z $PXELAB ]]; then
  PXELAB=$PWD/target/release/pxelab
  if [[ ! -x $PXELAB ]]; then
    echo "== building pxelab (release)"
    cargo build --release --quiet --bin pxelab
  fi
fi
PXELAB=$(realpath "$PXELAB")

NET=10.213
SRV_ADDR=$NET.0.1
CLI_ADDR=$NET.0.2
# Namespace names follow the test harness's pxl-<pid>-... scheme, so a run killed
# before its cleanup is removed by the next test run.
SRV=pxl-$$-cmp-srv
CLI=pxl-$$-cmp-cli
WORK=$(mktemp -d /tmp/pxelab-compare.XXXXXX)
chmod 755 "$WORK"   # tftpd-hpa and atftpd drop to nobody
PIDS=()
stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}
cleanup() {
  stop_all
  ip netns pids "$SRV" 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns pids "$CLI" 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns del "$SRV" 2>/dev/null || true
  ip netns del "$CLI" 2>/dev/null || true
  if [[ -n ${KEEP_WORK:-} ]]; then echo "compare: logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$SRV"
ip netns add "$CLI"
ip -n "$SRV" link set lo up
ip -n "$CLI" link set lo up
ip -n "$SRV" link add pxl0 type veth peer name pxl0 netns "$CLI"
ip -n "$SRV" addr add "$SRV_ADDR/16" dev pxl0
ip -n "$CLI" addr add "$CLI_ADDR/16" dev pxl0
ip -n "$SRV" link set pxl0 up
ip -n "$CLI" link set pxl0 up

in_srv() { ip netns exec "$SRV" "$@"; }
in_cli() { ip netns exec "$CLI" "$@"; }

wait_bound() { # proto(u|t) port name
  for _ in $(seq 100); do
    if in_srv ss -Hln"$1" | awk '{print $4}' | grep -q ":$2\$"; then return 0; fi
    sleep 0.1
  done
  echo "compare: $3 did not bind port $2; its log:" >&2
  cat "$WORK/$3.log" >&2 || true
  return 1
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "nan") printf "%.2f", a / b; else print "n/a" }'; }
version_of() {
  case $1 in
    pxelab) git describe --always --dirty 2>/dev/null || echo "?" ;;
    dnsmasq) dnsmasq --version | head -1 | awk '{print $3}' ;;
    tftpd-hpa) in.tftpd -V 2>&1 | head -1 | awk '{print $2}' | tr -d , ;;
    atftpd) "$ATFTPD" --version 2>&1 | head -1 | awk '{print $1}' ;;
    kea) kea-dhcp4 -v 2>&1 | head -1 ;;
  esac
}

echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
echo "== pxelab: $PXELAB ($(version_of pxelab))"

#
# TFTP
#
tftp_part() {
  local root="$WORK/root" bytes=$((MIB * 1024 * 1024))
  mkdir "$root"
  chmod 755 "$root"
  head -c "$bytes" /dev/urandom > "$root/big.bin"
  chmod 644 "$root/big.bin"

  declare -A PORT=()
  local servers=()
  (cd "$WORK" && exec ip netns exec "$SRV" "$PXELAB" serve --interface pxl0 \
    --tftp-root "$root" --tftp-only --tftp-port 6969 > "$WORK/pxelab.log" 2>&1) &
  PIDS+=($!)
  wait_bound u 6969 pxelab && { servers+=(pxelab); PORT[pxelab]=6969; }
  if have dnsmasq; then
    in_srv dnsmasq --no-daemon --conf-file=/dev/null --port=0 --interface=pxl0 \
      --bind-interfaces --pid-file="$WORK/dnsmasq.pid" --enable-tftp \
      --tftp-root="$root" --log-facility=- > "$WORK/dnsmasq.log" 2>&1 &
    PIDS+=($!)
    wait_bound u 69 dnsmasq && { servers+=(dnsmasq); PORT[dnsmasq]=69; }
  fi
  if have in.tftpd; then
    in_srv in.tftpd --listen --foreground --address "$SRV_ADDR:6970" \
      --secure "$root" > "$WORK/tftpd-hpa.log" 2>&1 &
    PIDS+=($!)
    wait_bound u 6970 tftpd-hpa && { servers+=(tftpd-hpa); PORT[tftpd-hpa]=6970; }
  fi
  if have atftpd; then
    in_srv "$ATFTPD" --daemon --no-fork --port 6971 --bind-address "$SRV_ADDR" \
      --logfile "$WORK/atftpd.log" --maxthread 4 "$root" > "$WORK/atftpd.out" 2>&1 &
    PIDS+=($!)
    wait_bound u 6971 atftpd && { servers+=(atftpd); PORT[atftpd]=6971; }
  fi

  local clients=()
  have curl && clients+=(curl)
  if have atftp; then
    clients+=(atftp-w1)
    # atftp without RFC 7440 refuses the unknown option name at once.
    if atftp --help 2>&1 | grep -q windowsize || atftp --option "windowsize 8" --help >/dev/null 2>&1; then
      clients+=(atftp-w8)
    fi
  fi

  fetch() { # client server -> prints MiB/s, or "fail"
    local out="$WORK/out.bin" t0 t1 port=${PORT[$2]} ok=1
    rm -f "$out"
    t0=$EPOCHREALTIME
    case $1 in
      curl) in_cli timeout 120 curl --silent --show-error --fail --tftp-blksize 1468 \
              --output "$out" "tftp://$SRV_ADDR:$port/big.bin" 2>>"$WORK/client.log" || ok=0 ;;
      atftp-w1) in_cli timeout 120 atftp --option "blksize 1468" \
              -g -r big.bin -l "$out" "$SRV_ADDR" "$port" >>"$WORK/client.log" 2>&1 || ok=0 ;;
      atftp-w8) in_cli timeout 120 atftp --option "blksize 1468" --option "windowsize 8" \
              -g -r big.bin -l "$out" "$SRV_ADDR" "$port" >>"$WORK/client.log" 2>&1 || ok=0 ;;
    esac
    t1=$EPOCHREALTIME
    if [[ $ok -ne 1 ]] || ! cmp -s "$out" "$root/big.bin"; then
      echo fail
      return
    fi
    awk -v a="$t0" -v b="$t1" -v n="$bytes" 'BEGIN { printf "%.1f", n / (b - a) / 1048576 }'
  }

  echo
  echo "== TFTP: $RUNS runs of a $MIB MiB file per client × server, interleaved"
  echo "   servers: ${servers[*]} (pxelab $(version_of pxelab), dnsmasq $(have dnsmasq && version_of dnsmasq), tftpd-hpa $(have in.tftpd && version_of tftpd-hpa), atftpd $(have atftpd && version_of atftpd))"
  echo "   clients: ${clients[*]}"
  declare -A R=()
  local i c s k n=${#servers[@]} v line
  for i in $(seq "$RUNS"); do
    for c in "${clients[@]}"; do
      line="run $i $c:"
      for k in $(seq 0 $((n - 1))); do
        s=${servers[$(((k + i) % n))]}
        v=$(fetch "$c" "$s")
        line+=" $s $v"
        [[ $v != fail ]] && R[$c,$s]+="$v "
      done
      echo "$line"
    done
  done
  echo
  echo "== TFTP medians (MiB/s) and pxelab's ratio to each"
  local m p
  for c in "${clients[@]}"; do
    p=$(printf '%s\n' ${R[$c,pxelab]:-} | median)
    line="$c: pxelab $p"
    for s in "${servers[@]}"; do
      [[ $s == pxelab ]] && continue
      m=$(printf '%s\n' ${R[$c,$s]:-} | median)
      line+=", $s $m (ratio $(ratio "$p" "$m"))"
    done
    echo "$line"
  done
  stop_all
}

#
# DHCP
#
dhcp_part() {
  have perfdhcp || return 0
  local first=$NET.1.0 last=$NET.250.255 servers=(pxelab)
  have dnsmasq && servers+=(dnsmasq)
  have kea-dhcp4 && servers+=(kea)
  mkdir -p "$WORK/tftp-empty"

  start_dhcp() { # server
    rm -rf "$WORK/dhcp-state"
    mkdir -p "$WORK/dhcp-state"
    case $1 in
      pxelab)
        printf 'lease_store = "%s"\n' "$WORK/dhcp-state/leases.redb" > "$WORK/pxelab.toml"
        (cd "$WORK/dhcp-state" && RUST_LOG=warn exec ip netns exec "$SRV" "$PXELAB" serve \
          --interface pxl0 --tftp-root "$WORK/tftp-empty" --tftp-port 6969 \
          --range "$first-$last" --config "$WORK/pxelab.toml" > "$WORK/pxelab-dhcp.log" 2>&1) &
        ;;
      dnsmasq)
        in_srv dnsmasq --no-daemon --conf-file=/dev/null --port=0 --interface=pxl0 \
          --bind-interfaces --no-ping --quiet-dhcp --pid-file="$WORK/dnsmasq-dhcp.pid" \
          --dhcp-range="$first,$last,1h" --dhcp-lease-max=70000 \
          --dhcp-leasefile="$WORK/dhcp-state/dnsmasq.leases" --log-facility=/dev/null \
          > "$WORK/dnsmasq-dhcp.log" 2>&1 &
        ;;
      kea)
        cat > "$WORK/kea.json" <<EOF
{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ "pxl0" ] },
  "lease-database": { "type": "memfile", "persist": true, "lfc-interval": 0,
                      "name": "$WORK/dhcp-state/kea-leases4.csv" },
  "valid-lifetime": 3600,
  "subnet4": [ { "id": 1, "subnet": "$NET.0.0/16", "pools": [ { "pool": "$first - $last" } ] } ],
  "loggers": [ { "name": "kea-dhcp4", "severity": "ERROR",
                 "output_options": [ { "output": "$WORK/kea.log" } ] } ]
} }
EOF
        KEA_PIDFILE_DIR=$WORK/dhcp-state KEA_LOCKFILE_DIR=$WORK/dhcp-state \
          in_srv kea-dhcp4 -c "$WORK/kea.json" > "$WORK/kea-dhcp.log" 2>&1 &
        ;;
    esac
    PIDS+=($!)
    wait_bound u 67 "$1-dhcp" || return 1
    # Kea binds UDP 67 before its packet socket is ready: let every server settle.
    sleep 2
  }

  trial() { # rate -> prints "drop_percent achieved_rate"
    local out
    out=$(in_cli timeout $((TRIAL_S + 15)) perfdhcp -4 -l pxl0 -r "$1" -p "$TRIAL_S" -R 60000 "$SRV_ADDR" 2>&1 || true)
    echo "$out" >> "$WORK/perfdhcp.log"
    # Both exchanges (DISCOVER-OFFER, REQUEST-ACK): what was sent and what was
    # lost; and the DORA rate perfdhcp actually completed.
    echo "$out" | awk '
      /^Rate:/ { rate = $2 }
      /sent packets:/ { sent += $3 }
      /drops:/ { drops += $2 }
      END { if (sent == 0) print "100 0"; else printf "%.2f %d\n", 100 * drops / sent, rate }'
  }

  # Sustained: under 1 % dropped, and at least 95 % of the offered rate completed
  # (perfdhcp short of CPU sends less than asked and would flatter every server).
  sustained() { # drop_percent achieved offered
    awk -v d="$1" -v a="$2" -v r="$3" 'BEGIN { exit !(d < 1 && a >= 0.95 * r) }'
  }

  search() { # server -> prints the best rate sustained
    local rate=$MIN_RATE good=0 bad=0 d a mid
    while (( rate <= MAX_RATE )); do
      read -r d a < <(trial "$rate")
      d=${d:-100} a=${a:-0}
      echo "   $1 @ $rate/s: $d % dropped, $a DORA/s completed" >&2
      if sustained "$d" "$a" "$rate"; then good=$rate; rate=$((rate * 2)); else bad=$rate; break; fi
    done
    if (( good == 0 )); then
      echo "   $1: not sustained even at $rate/s (see $WORK/perfdhcp.log with KEEP_WORK=1)" >&2
    fi
    if (( bad > 0 && good > 0 )); then
      for _ in 1 2 3; do
        mid=$(((good + bad) / 2))
        read -r d a < <(trial "$mid")
        d=${d:-100} a=${a:-0}
        echo "   $1 @ $mid/s: $d % dropped, $a DORA/s completed" >&2
        if sustained "$d" "$a" "$mid"; then good=$mid; else bad=$mid; fi
      done
    fi
    echo "$good"
  }

  echo
  echo "== DHCP: perfdhcp -4 -l pxl0 -r RATE -p $TRIAL_S -R 60000 $SRV_ADDR (relayed DORA), highest rate with < 1 % drops"
  echo "   pool $first-$last on $NET.0.0/16; $DHCP_ROUNDS rounds, servers alternating"
  echo "   pxelab $(version_of pxelab) full mode, redb lease file; dnsmasq $(have dnsmasq && version_of dnsmasq) lease file, --no-ping; kea $(have kea-dhcp4 && version_of kea) memfile persist"
  declare -A D=()
  local r s n=${#servers[@]} k best
  for r in $(seq "$DHCP_ROUNDS"); do
    for k in $(seq 0 $((n - 1))); do
      s=${servers[$(((k + r - 1) % n))]}
      if ! start_dhcp "$s"; then stop_all; continue; fi
      best=$(search "$s")
      stop_all
      echo "round $r: $s $best/s"
      D[$s]+="$best "
    done
  done
  echo
  echo "== DHCP medians (DORA/s with < 1 % drops) and pxelab's ratio to each"
  local p m line
  p=$(printf '%s\n' ${D[pxelab]:-} | median)
  line="pxelab $p"
  for s in "${servers[@]}"; do
    [[ $s == pxelab ]] && continue
    m=$(printf '%s\n' ${D[$s]:-} | median)
    line+=", $s $m (ratio $(ratio "$p" "$m"))"
  done
  echo "$line"
}

[[ $ONLY == dhcp ]] || tftp_part
[[ $ONLY == tftp ]] || dhcp_part
