#!/usr/bin/env bash
# The training campaign: keep the BASE model training in the background at low priority, resuming
# where the last session stopped. Safe to call repeatedly (one trainer per run folder).
#
#   bash scripts/campaign.sh [start] [MODEL]   start (or confirm) the background trainer of MODEL
#   bash scripts/campaign.sh status [MODEL]    step, last validation, whether it runs
#   bash scripts/campaign.sh stop [MODEL]      stop it (it finishes its step and saves its state)
#   bash scripts/campaign.sh finalize [MODEL]  stop it and train a copy FINAL_STEPS more steps (default 1 500)
#                                              at a tenth of its current learning rate, into RUN-final
#
# MODEL: base-vr (default; the BASE variable-rate MSE model), roi-vr (seed 003's ROI model, fine-tuned
# from the shipped base-vr with random masks, ROI-scaled latents and the ROI / background loss) or
# seed-000 (seed 000's four perceptual fine-tunes, one after another: scripts/seed000_finetunes.sh).
# Run folder: $PERCOMP_RUN (default ~/.cache/percomp/runs/MODEL; seed-000: runs/s000-l128 … l2048),
# outside the work tree. On a machine without one, the run starts from the shipped checkpoint of MODEL
# (roi-vr: of base-vr unless the shipped roi-vr was fine-tuned from the shipped base-vr), so steps
# accumulate. Two cores run one trainer well: stop one before starting another. A new run's learning
# rate is LR (default 1e-4; base-vr 2e-5); a new base-vr run starts from the shipped INIT (default base-vr; roi-vr).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${2:-base-vr}
case "$MODEL" in base-vr|roi-vr|seed-000) ;; *) echo "unknown model $MODEL (base-vr, roi-vr or seed-000)" >&2; exit 2 ;; esac
RUN=${PERCOMP_RUN:-$HOME/.cache/percomp/runs/$MODEL}
SHARED=${PERCOMP_SHARED:-../shared}
mkdir -p "$RUN"
pidfile="$RUN/trainer.pid"
running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
# value FILE KEY…: a (nested) value of a JSON file, empty when a key is missing; lists space-separated
value() {
    .venv/bin/python - "$@" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
for key in sys.argv[2:]:
    data = data.get(key, "") if isinstance(data, dict) else ""
print(*(v if isinstance(v, int) else f"{v:g}" for v in data) if isinstance(data, list) else [data])
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
finalize)
    # The campaign trains at a constant learning rate so that it can go on for ever; a shipped snapshot
    # gains from a short decay at the end (lr ÷ 10, as CompressAI's schedules end). The decay runs on a
    # copy, RUN-final, so the campaign itself resumes undecayed; `percomp export RUN-final --to
    # checkpoints/` when it ends, then `campaign.sh start MODEL` to go on.
    [ "$MODEL" != seed-000 ] || { echo "finalize takes base-vr or roi-vr" >&2; exit 2; }
    [ -f "$RUN/state.pt" ] || { echo "$RUN holds no run to finalize" >&2; exit 2; }
    final="$RUN-final"
    if [ -f "$final/trainer.pid" ] && kill -0 "$(cat "$final/trainer.pid")" 2>/dev/null; then
        echo "finalize already running (pid $(cat "$final/trainer.pid")); see $final"
        exit 0
    fi
    running && kill "$(cat "$pidfile")" && while running; do sleep 1; done  # it saves its state on SIGTERM
    step=$(.venv/bin/python -c "import sys, torch; print(torch.load(sys.argv[1], weights_only=True)['step'])" \
        "$RUN/state.pt")
    rm -rf "$final" && mkdir -p "$final"
    for item in config.json state.pt log.jsonl val.jsonl origin.json best; do
        [ ! -e "$RUN/$item" ] || cp -r "$RUN/$item" "$final"/
    done
    read -ra milestones <<< "$(value "$RUN/config.json" lr_milestones)"  # earlier decays stay
    # The decayed copy judges its own weights, not a moving average (--ema 0): from the campaign state at step
    # 39 347, 653 steps at lr 2e-6 took the trained weights' Kodak-8 objective to 0.9805 and the
    # average's (0.999, which still remembers the undecayed steps) only to 0.9824 (docs/results.md)
    nohup nice -n 10 .venv/bin/percomp train "$final" --lr-milestones "${milestones[@]}" "$step" --ema 0 \
        --steps $((step + ${FINAL_STEPS:-1500})) --no-progress >> "$final/console.log" 2>&1 &
    echo $! > "$final/trainer.pid"
    echo "finalizing $MODEL from step $step at lr/10 for ${FINAL_STEPS:-1500} steps (pid $!), run folder $final"
    exit 0 ;;
start) ;;
*) echo "usage: $0 [start|status|stop|finalize] [base-vr|roi-vr|seed-000]" >&2; exit 2 ;;
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
if [ "$MODEL" = roi-vr ]; then
    base_hash=$(value checkpoints/base-vr.json weights_hash)
    if [ -f "$RUN/origin.json" ] && [ "$(value "$RUN/origin.json" name)" = base-vr ] \
            && [ "$(value "$RUN/origin.json" weights_hash)" != "$base_hash" ]; then
        # a ROI run fine-tuning an older BASE than the shipped one: keep it aside, start from the new BASE
        stale="$RUN-from-$(value "$RUN/origin.json" weights_hash)"
        mv "$RUN" "$stale" && mkdir -p "$RUN" && echo "moved the ROI run of an older base-vr to $stale"
    fi
fi
if [ ! -f "$RUN/config.json" ]; then
    for d in "$SHARED"/datasets/train/*/; do args+=(--data "$d"); done
    args+=(--val "$SHARED/datasets/kodak" --threads "$(nproc)")
    if [ -f checkpoints/base-vr.json ]; then
        # both fine-tune on the shipped BASE's ladder. roi-vr at lr 1e-4 (the first BASE run diverged at
        # 5e-4 after step 5 000; 1e-5 gains fast for ~1 700 steps and then stalls: Kodak-8, from step
        # 16 306). base-vr at 2e-5, the rate its 256-px and 512-px recipes were measured at (below);
        # with one crop a batch its gradient is noisier than with the 128-px batches of 8 that 1e-4 suited
        read -ra ladder <<< "$(value checkpoints/base-vr.json config lambdas)"
        lr=1e-4
        [ "$MODEL" = roi-vr ] || lr=2e-5
        # Both train with the CPU recipe (scripts/cpu_recipe.sh; a ROI step 0.33 s here, where 256-px
        # batches of 4 in float32 took 3.7 s: docs/results.md, "The ROI model"), and validation and
        # export judge a moving average of the weights (EMA overrides): at one crop a batch the trained
        # weights' own curve moves about as much between validations as it gains (docs/results.md,
        # "Learning rate"). Decay 0.999 (about the last 1 000 steps) for base-vr; 0.99 (about 100) for
        # the shorter roi-vr fine-tune, as for the seed-000 ones.
        ema=0.99
        [ "$MODEL" = roi-vr ] || ema=0.999
        source scripts/cpu_recipe.sh
        args+=(--lr "${LR:-$lr}" --lambdas "${ladder[@]}" "${CPU_RECIPE[@]}" --ema "${EMA:-$ema}")
        if [ "$MODEL" = roi-vr ]; then
            # from the shipped BASE; from the shipped roi-vr instead only when it was fine-tuned from
            # these very BASE weights. The background weight w of eq. 4 (ROI_BG_WEIGHT, default 0.005)
            # sets how much the ROI outweighs the background.
            origin=base-vr
            [ -f checkpoints/roi-vr.json ] \
                && [[ "$(value checkpoints/roi-vr.json training fine_tune from)" == *"$base_hash"* ]] && origin=roi-vr
            args+=(--roi --export-name roi-vr --roi-background-weight "${ROI_BG_WEIGHT:-0.005}" --init-from "$origin")
        else
            # INIT=roi-vr: an MSE phase on the ROI fine-tune of the shipped BASE (that is how base-vr
            # 6073f6c1654d1107 and, with LR=1e-5, 7e86bfe132cb925c were made: docs/results.md).
            args+=(--init-from "${INIT:-base-vr}" --export-name base-vr)
        fi
    fi
fi
nohup nice -n 10 .venv/bin/percomp train "$RUN" "${args[@]}" --no-progress >> "$RUN/console.log" 2>&1 &
echo $! > "$pidfile"
echo "trainer started (pid $!), run folder $RUN"
