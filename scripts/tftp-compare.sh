#!/usr/bin/env bash
# Kept for old links (README, src/serve.rs): the TFTP part of benches/compare.sh,
# which now holds the one implementation.
#
# Usage (as root):  scripts/tftp-compare.sh [RUNS] [MIB]
exec "$(dirname "$0")/../benches/compare.sh" --only tftp --runs "${1:-3}" --mib "${2:-64}"
