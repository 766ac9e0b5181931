#!/usr/bin/env bash
# Run a stage of `make test` and print how long it took, so a slow stage is seen without guessing.
#   scripts/timed.sh NAME COMMAND [ARGS…]
set -uo pipefail
name="$1"; shift
start=$(date +%s)
"$@"
rc=$?
echo "── stage ${name}: $(( $(date +%s) - start )) s (exit ${rc})"
exit "$rc"
