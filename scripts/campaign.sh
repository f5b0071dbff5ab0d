#!/usr/bin/env bash
# The training campaign: keep the BASE model training in the background at low priority, resuming
# where the last session stopped. Safe to call repeatedly (one trainer per run folder).
#
#   bash scripts/campaign.sh [start] [MODEL]   start (or confirm) the background trainer of MODEL
#   bash scripts/campaign.sh status [MODEL]    step, last validation, whether it runs
#   bash scripts/campaign.sh stop [MODEL]      stop it (state is saved every 5 minutes and at each validation)
#
# MODEL: base-vr (default; the BASE variable-rate MSE model), roi-vr (seed 003's ROI model, fine-tuned
# from the shipped base-vr with random masks, ROI-scaled latents and the ROI / background loss) or
# seed-000 (seed 000's four perceptual fine-tunes, one after another: scripts/seed000_finetunes.sh).
# Run folder: $PERCOMP_RUN (default ~/.cache/percomp/runs/MODEL; seed-000: runs/s000-l128 … l2048),
# outside the work tree. On a machine without one, the run starts from the shipped checkpoint of MODEL
# (roi-vr: of base-vr unless the shipped roi-vr was fine-tuned from the shipped base-vr), so steps
# accumulate. Two cores run one trainer well: stop one before starting another.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${2:-base-vr}
case "$MODEL" in base-vr|roi-vr|seed-000) ;; *) echo "unknown model $MODEL (base-vr, roi-vr or seed-000)" >&2; exit 2 ;; esac
RUN=${PERCOMP_RUN:-$HOME/.cache/percomp/runs/$MODEL}
SHARED=${PERCOMP_SHARED:-../shared}
mkdir -p "$RUN"
pidfile="$RUN/trainer.pid"
running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
# roi-vr's starting point: the shipped roi-vr if its card says it was fine-tuned from the shipped
# base-vr's weights, else base-vr itself (a new BASE makes the ROI model start again from it)
roi_origin() {
    .venv/bin/python - <<'PY'
import json, pathlib
base = json.loads(pathlib.Path("checkpoints/base-vr.json").read_text())
roi = pathlib.Path("checkpoints/roi-vr.json")
origin = json.loads(roi.read_text()).get("training", {}).get("fine_tune", {}).get("from", "") if roi.exists() else ""
print("roi-vr" if base["weights_hash"] in origin else "base-vr")
PY
}

case "${1:-start}" in
status)
    running && echo "trainer running (pid $(cat "$pidfile"))" || echo "trainer not running"
    runs=("$RUN")
    [ "$MODEL" = seed-000 ] && runs=("$(dirname "$RUN")"/s000-l*)
    for run in "${runs[@]}"; do
        [ -d "$run" ] || continue
        [ "$MODEL" = seed-000 ] && echo "$(basename "$run"):"
        [ -f "$run/log.jsonl" ] && tail -n 1 "$run/log.jsonl"
        [ -f "$run/val.jsonl" ] && tail -n 1 "$run/val.jsonl"
    done
    exit 0 ;;
stop)
    # seed-000 runs in its own process group (the loop and its trainer); the others are one process
    running && { kill -- -"$(cat "$pidfile")" 2>/dev/null || kill "$(cat "$pidfile")"; } && echo "stopped" \
        || echo "trainer not running"
    exit 0 ;;
start) ;;
*) echo "usage: $0 [start|status|stop] [base-vr|roi-vr|seed-000]" >&2; exit 2 ;;
esac

if running; then
    echo "trainer already running (pid $(cat "$pidfile")); see $RUN"
    exit 0
fi
bash scripts/setup.sh
if [ "$MODEL" = seed-000 ]; then
    RUNS="$(dirname "$RUN")" setsid nohup nice -n 10 bash scripts/seed000_finetunes.sh >> "$RUN/console.log" 2>&1 &
    echo $! > "$pidfile"
    echo "seed-000 fine-tunes started (pid $!), run folders $(dirname "$RUN")/s000-l*"
    exit 0
fi
args=()
if [ "$MODEL" = roi-vr ] && [ -f "$RUN/origin.json" ] && ! .venv/bin/python - "$RUN/origin.json" <<'PY'
import json, pathlib, sys
origin = json.loads(pathlib.Path(sys.argv[1]).read_text())
shipped = json.loads(pathlib.Path("checkpoints/base-vr.json").read_text())["weights_hash"]
sys.exit(origin["name"] == "base-vr" and origin.get("weights_hash") != shipped)
PY
then
    # a ROI run fine-tuning an older BASE than the shipped one: keep it aside, start from the new BASE
    stale="$RUN-from-$(.venv/bin/python -c 'import json, sys; print(json.load(open(sys.argv[1]))["weights_hash"])' "$RUN/origin.json")"
    mv "$RUN" "$stale" && mkdir -p "$RUN" && echo "moved the ROI run of an older base-vr to $stale"
fi
if [ ! -f "$RUN/config.json" ]; then
    for d in "$SHARED"/datasets/train/*/; do args+=(--data "$d"); done
    args+=(--val "$SHARED/datasets/kodak" --threads "$(nproc)")
    if [ "$MODEL" = roi-vr ]; then
        # fine-tune the shipped BASE at the fine-tune learning rate on the BASE's ladder; continue the
        # shipped roi-vr instead only when it was fine-tuned from these very BASE weights. The background
        # weight w of eq. 4 (ROI_BG_WEIGHT, default 0.005) sets how much the ROI outweighs the background.
        args+=(--roi --export-name roi-vr --lr 1e-4 --roi-background-weight "${ROI_BG_WEIGHT:-0.005}")
        args+=(--lambdas 16 32 64 128 256 512 1024 2048 4096 8192 --init-from "$(roi_origin)")
    elif [ -f checkpoints/base-vr.json ]; then
        # go on from the shipped BASE, on its own ladder, at the fine-tune learning rate (the first
        # BASE run diverged at 5e-4 after step 5 000)
        read -ra ladder < <(.venv/bin/python -c 'import json; print(*(f"{v:g}" for v in json.load(open("checkpoints/base-vr.json"))["config"]["lambdas"]))')
        args+=(--init-from base-vr --export-name base-vr --lr 1e-4 --lambdas "${ladder[@]}")
    fi
fi
nohup nice -n 10 .venv/bin/percomp train "$RUN" "${args[@]}" --no-progress >> "$RUN/console.log" 2>&1 &
echo $! > "$pidfile"
echo "trainer started (pid $!), run folder $RUN"
