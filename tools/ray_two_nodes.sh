#!/usr/bin/env bash
# A simulated two-node Ray cluster on this machine (a head and a second node of 1 CPU each), and the bench folder
# sorted through it by `facetui recognize --engine ray --address HOST:PORT` (via bench_engines.py).
#   tools/ray_two_nodes.sh [PHOTOS]      (run from the repo root, with the .venv set up by `make setup`)
# Ray 2.60 turns on token authentication: `ray start --head` writes a token to ~/.ray/auth_token, and every other
# process that joins (a node, the driver) must run with RAY_AUTH_MODE=token and find that token (the same file,
# or RAY_AUTH_TOKEN). On a real cluster copy the token to every node; see README "Beyond one machine".
set -euo pipefail
PHOTOS=${1:-200}
VENV=${VENV:-.venv}
RAY=$VENV/bin/ray
PORT=${PORT:-6390}
HOST=$(hostname -I 2>/dev/null | awk '{print $1}')
HOST=${HOST:-127.0.0.1}
trap '$RAY stop --force >/dev/null 2>&1 || true' EXIT
$RAY stop --force >/dev/null 2>&1 || true
$RAY start --head --num-cpus=1 --port="$PORT" --disable-usage-stats --include-dashboard=false >/dev/null
RAY_AUTH_MODE=token $RAY start --address="$HOST:$PORT" --num-cpus=1 --disable-usage-stats >/dev/null
sleep 3
RAY_AUTH_MODE=token $RAY status | sed -n '/Active:/,/Pending:/p'
RAY_AUTH_MODE=token $VENV/bin/python benchmarks/bench_engines.py --photos "$PHOTOS" --engines local,ray \
    --workers 2 --address "$HOST:$PORT"
