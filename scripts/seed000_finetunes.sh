#!/usr/bin/env bash
# Seed 000's four perceptual models, one after another: each a fine-tune of a shipped variable-rate
# net (INIT, default base-vr, the campaign's best-trained one) at one λ ∈ {128, 256, 1024, 2048},
# with seed 000 eq. 1
# (α, β, γ = 1, 0.1, 0.1; the LPIPS term is skipped, and recorded so, when its weights are absent).
# Each run trains FINE_TUNE_STEPS steps past the checkpoint it starts from, and resumes when killed
# (or when called again with a larger FINE_TUNE_STEPS, to train on).
# Half the samples use its own λ's rate level, the rest the levels below it, and the ladder is
# extended below INIT's by LOW_LAMBDAS (default 2 4 8; gains start on the extrapolated line). Why:
# eq. 1's MS-SSIM term weighs more than its MSE at the same λ, so every level lands at a higher rate
# than the MSE net's (trained at λ 128 alone, Kodak level 0 went 0.07 → 0.22 bpp), and seed 000's
# per-image choice needs low rates to keep every Kodak image under 0.15 bpp.
# The BASE campaign's recipe (scripts/cpu_recipe.sh: one 512-px crop a batch, bfloat16 transforms,
# compiled); validation and export judge a moving average of the weights, with a decay (EMA, default
# 0.99: about the last 100 steps) short enough to forget INIT within a few hundred steps.
# Called by `bash scripts/campaign.sh start seed-000`.
#
#   RUNS=~/.cache/percomp/runs INIT=base-vr FINE_TUNE_STEPS=600 VAL_EVERY=200 LOW_LAMBDAS="2 4 8" EMA=0.99 bash scripts/seed000_finetunes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cpu_recipe.sh
RUNS=${RUNS:-$HOME/.cache/percomp/runs}
SHARED=${PERCOMP_SHARED:-../shared}
STEPS=${FINE_TUNE_STEPS:-600}
VAL_EVERY=${VAL_EVERY:-200}
LOW_LAMBDAS=${LOW_LAMBDAS:-2 4 8}
INIT=${INIT:-base-vr}
for lam in 128 256 1024 2048; do
    run="$RUNS/s000-l$lam"
    mkdir -p "$run"
    # the ladder (LOW_LAMBDAS below INIT's), the λ's rate level k in it, the levels to draw (0 … k−1
    # once, k k times: k in half the samples) and the step to stop at (INIT's steps + STEPS)
    IFS=';' read -r level draw stop ladder < <(.venv/bin/python - "$INIT" "$lam" "$STEPS" $LOW_LAMBDAS <<'PY'
import json, sys
card = json.load(open(f"checkpoints/{sys.argv[1]}.json"))
low = [float(v) for v in sys.argv[4:] if float(v) < min(card["config"]["lambdas"])]
lambdas = sorted(low) + card["config"]["lambdas"]
k = lambdas.index(float(sys.argv[2]))
draw = [*range(k), *[k] * max(k, 1)]
print(k, " ".join(map(str, draw)), card["training"]["steps"] + int(sys.argv[3]), " ".join(f"{v:g}" for v in lambdas), sep=";")
PY
)
    args=(--steps "$stop" --val-every "$VAL_EVERY")  # also on resume: a larger FINE_TUNE_STEPS extends a run
    if [ ! -f "$run/config.json" ]; then
        for d in "$SHARED"/datasets/train/*/; do args+=(--data "$d"); done
        args+=(--val "$SHARED/datasets/kodak" --threads "$(nproc)" --init-from "$INIT" --export-name "s000-l$lam"
               --alpha 1 --beta 0.1 --gamma 0.1 --lr 1e-4
               "${CPU_RECIPE[@]}" --ema "${EMA:-0.99}")
        read -ra lambdas <<< "$ladder"
        read -ra levels <<< "$draw"
        args+=(--lambdas "${lambdas[@]}" --levels "${levels[@]}" --val-levels 0 "$level")
    fi
    echo "== s000-l$lam: level $level of $INIT, until step $stop ($(date -u +%H:%M))"
    .venv/bin/percomp train "$run" "${args[@]}" --no-progress
done
echo "== all four seed-000 fine-tunes done ($(date -u +%H:%M)); their weights: $RUNS/s000-l*/best"
