#!/usr/bin/env bash
# The training campaign: keep the BASE model training in the background at low priority, resuming
# where the last session stopped. Safe to call repeatedly (one trainer per run folder).
#
#   bash scripts/campaign.sh            start (or confirm) the background trainer
#   bash scripts/campaign.sh status     step, last validation, whether it runs
#   bash scripts/campaign.sh stop       stop it (state is saved every 5 minutes and at each validation)
#
# Run folder: $PERCOMP_RUN (default ~/.cache/percomp/runs/base-vr), outside the work tree. On a machine
# without one, the run starts from the shipped checkpoints/base-vr weights, so steps accumulate.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${PERCOMP_RUN:-$HOME/.cache/percomp/runs/base-vr}
SHARED=${PERCOMP_SHARED:-../shared}
mkdir -p "$RUN"
pidfile="$RUN/trainer.pid"
running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "${1:-start}" in
status)
    running && echo "trainer running (pid $(cat "$pidfile"))" || echo "trainer not running"
    [ -f "$RUN/log.jsonl" ] && tail -n 1 "$RUN/log.jsonl"
    [ -f "$RUN/val.jsonl" ] && tail -n 1 "$RUN/val.jsonl"
    exit 0 ;;
stop)
    running && kill "$(cat "$pidfile")" && echo "stopped" || echo "trainer not running"
    exit 0 ;;
start) ;;
*) echo "usage: $0 [start|status|stop]" >&2; exit 2 ;;
esac

if running; then
    echo "trainer already running (pid $(cat "$pidfile")); see $RUN"
    exit 0
fi
bash scripts/setup.sh
args=()
if [ ! -f "$RUN/config.json" ]; then
    for d in "$SHARED"/datasets/train/*/; do args+=(--data "$d"); done
    args+=(--val "$SHARED/datasets/kodak" --threads "$(nproc)")
    [ -f checkpoints/base-vr.json ] && args+=(--init-from base-vr)
fi
nohup nice -n 10 .venv/bin/percomp train "$RUN" "${args[@]}" --no-progress >> "$RUN/console.log" 2>&1 &
echo $! > "$pidfile"
echo "trainer started (pid $!), run folder $RUN"
