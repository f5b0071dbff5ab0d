#!/usr/bin/env bash
# A GPU session's training campaign through the workplace's device tool (docs/gpu-session.md).
# The device machine receives the working tree alone, 64 MiB at most, and returns files through $OUT
# (8 files, 16 MiB each); the zoo alone is over 100 MB and the training photos are not in the tree.
#
#   here:  bash scripts/gpu_session.sh prepare [MODEL]   park the zoo outside the tree, write .gpu/: the
#                                                         start weights, a crop set filling the budget,
#                                                         8 Kodak images, the wheels the GPU image lacks
#   there: bash scripts/gpu_session.sh train SECONDS      (device run, carry [".gpu"]) check the CUDA
#                                                         stream path, then train on CUDA for SECONDS
#   here:  bash scripts/gpu_session.sh collect DIR        DIR: the run's files_at. Weights and logs into
#                                                         ~/.cache/percomp/runs/MODEL-gpu, a CPU decode of
#                                                         the GPU's streams, .gpu/ set to go on from there
#   here:  bash scripts/gpu_session.sh restore            the parked zoo back into checkpoints/
#
# MODEL: base-vr (default). GPU_CROP / GPU_BATCH / GPU_LR / GPU_VAL_EVERY set a new GPU run's recipe
# (384, 8, 5e-5, 1000: from converged weights with a fresh Adam, 1e-4 first knocks the curve back).
# GPU_PYTHON and GPU_DEVICE (python3, cuda) let the `train` step be rehearsed here: with
# OUT=/tmp/out GPU_PYTHON=.venv/bin/python GPU_DEVICE=cpu it runs the same flow on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
GPU=.gpu                                   # carried to the device (ignored by git)
RUN=.gpu-run                               # the run folder on the device: kept between calls while warm
PY=${GPU_PYTHON:-python3}                  # the device image's Python, which holds CUDA torch
DEVICE=${GPU_DEVICE:-cuda}
PARKED=${PERCOMP_PARKED:-$HOME/.cache/percomp/parked-checkpoints}
SHARED=${PERCOMP_SHARED:-../shared}
TREE_LIMIT=$((64 * 1024 * 1024))
PART_BYTES=$((15 * 1024 * 1024))           # under the 16 MiB a returned file may have
WHEELS=(compressai==1.2.8 pytorch-msssim==1.0.0 pillow-heif==1.8.1)  # the GPU image has the rest (KINDS.md)

model_of() { cat "$GPU/model" 2>/dev/null || echo base-vr; }
# bytes that travel: tracked files present plus untracked files git does not ignore, plus .gpu
tree_bytes() {
    "$1" - <<'PY'
import os, subprocess
listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                        capture_output=True, check=True).stdout.split(b"\0")
total = sum(os.path.getsize(f) for f in set(listed) if f and os.path.isfile(f))
for root, _, files in os.walk(".gpu"):
    total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
print(total)
PY
}

case "${1:-}" in
prepare)
    MODEL=${2:-base-vr}
    [ "$MODEL" = base-vr ] || { echo "gpu_session: prepare takes base-vr (the campaign's GPU model)" >&2; exit 2; }
    bash scripts/setup.sh
    mkdir -p "$GPU/zoo" "$PARKED"
    echo "$MODEL" > "$GPU/model"
    # the start weights: kept when a collect left the GPU's own there, else the shipped ones
    [ -f "$GPU/zoo/$MODEL.safetensors" ] || cp "checkpoints/$MODEL.json" "checkpoints/$MODEL.safetensors" "$GPU/zoo/"
    shopt -s nullglob
    for f in checkpoints/*.safetensors checkpoints/*.json; do
        if [ -e "$PARKED/$(basename "$f")" ]; then echo "gpu_session: $PARKED already holds $(basename "$f"); restore first" >&2; exit 2; fi
    done
    moved=(checkpoints/*.safetensors checkpoints/*.json)
    [ ${#moved[@]} -eq 0 ] || { mv "${moved[@]}" "$PARKED"/; echo "parked ${#moved[@]} zoo files in $PARKED (restore puts them back)"; }
    if [ ! -d "$GPU/val" ]; then
        mkdir -p "$GPU/val"
        find "$SHARED/datasets/kodak" -maxdepth 1 -type f -name '*.png' | sort | head -n 8 | xargs -I{} cp {} "$GPU/val/"
    fi
    if [ ! -d "$GPU/wheels" ]; then
        .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            --platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
            -d "$GPU/wheels.tmp" "${WHEELS[@]}" && mv "$GPU/wheels.tmp" "$GPU/wheels"
    fi
    # the app's ROI mask of the latency image: the GPU image's OpenCV lacks the saliency the auto source uses
    [ -f "$GPU/kodim23-roi.png" ] || .venv/bin/python benchmarks/workbench_latency.py --save-mask "$GPU/kodim23-roi.png"
    if [ ! -d "$GPU/crops" ]; then
        used=$(tree_bytes .venv/bin/python)
        budget=$(( (TREE_LIMIT - used) * 85 / 100 ))  # spare: the manifest, and a tool that counts a little differently
        [ "$budget" -gt $((4 * 1024 * 1024)) ] || { echo "gpu_session: only $((budget / 1048576)) MiB left for crops" >&2; exit 2; }
        .venv/bin/percomp pack-crops "$SHARED"/datasets/train/*/ --out "$GPU/crops" --crop 512 \
            --budget-mb "$(.venv/bin/python -c "print($budget / 2**20)")"
    fi
    used=$(tree_bytes .venv/bin/python)
    echo "the tree that travels: $((used / 1048576)) MiB of 64"
    [ "$used" -le "$TREE_LIMIT" ] || { echo "gpu_session: over the device's 64 MiB; remove untracked files or crops" >&2; exit 2; }
    echo "next: device run, carry [\"$GPU\"], timeout_s 600, command: bash scripts/gpu_session.sh train 480"
    ;;
train)
    SECONDS_LIMIT=${2:?train SECONDS}
    MODEL=$(model_of)
    : "${OUT:?train runs on the device machine, where the tool sets \$OUT}"
    if ! "$PY" -c "import compressai, pytorch_msssim, pillow_heif" 2>/dev/null; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$GPU"/wheels/*.whl
        export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    fi
    export PYTHONUNBUFFERED=1
    nvidia-smi -L || true
    work=.gpu-out && rm -rf "$work" && mkdir -p "$work" "$RUN"
    # The CUDA stream path: encode and decode the validation images on the GPU; `collect` decodes the
    # same streams on a CPU and compares. A failure here is reported and does not stop the training.
    if "$PY" -m percomp_ui compress "$GPU/val" "$work/streams" --zoo "$GPU/zoo" --model "$MODEL" --level 5 \
            --device "$DEVICE" --quiet \
        && "$PY" -m percomp_ui decompress "$work/streams" "$work/gpu-decoded" --zoo "$GPU/zoo" --device "$DEVICE" --quiet; then
        tar -cf "$OUT/cuda-streams.tar" -C "$work" streams gpu-decoded
    else
        echo "gpu_session: the CUDA stream check failed (above); training goes on" >&2
    fi
    # The workbench's α / bpp → ROI reconstruction time on this device (issue 3's GPU goal), in process:
    # gradio does not fit in the tree. Once per machine; a failure is reported and training goes on.
    if [ ! -f "$RUN.latency.json" ]; then
        PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" "$PY" benchmarks/workbench_latency.py --zoo "$GPU/zoo" --device "$DEVICE" --painted "$GPU/kodim23-roi.png" \
            --out "$RUN.latency.json" || echo "gpu_session: the latency benchmark failed (above); training goes on" >&2
    fi
    [ ! -f "$RUN.latency.json" ] || cp "$RUN.latency.json" "$OUT/workbench-latency.json"
    args=()
    if [ ! -f "$RUN/config.json" ]; then  # a cold machine: a new run from the carried weights
        read -ra ladder <<< "$("$PY" -c "import json, sys; print(*json.load(open(sys.argv[1]))['config']['lambdas'])" "$GPU/zoo/$MODEL.json")"
        args=(--data "$GPU/crops" --val "$GPU/val" --init-from "$MODEL" --export-name "$MODEL" --lambdas "${ladder[@]}"
              --crop "${GPU_CROP:-384}" --batch "${GPU_BATCH:-8}" --lr "${GPU_LR:-5e-5}" --val-every "${GPU_VAL_EVERY:-1000}" --save-every-s 120)
    fi
    # SIGTERM at the limit: the trainer finishes its step, saves its state and returns
    timeout -s TERM -k 60 "$SECONDS_LIMIT" "$PY" -m percomp_ui train "$RUN" --zoo "$GPU/zoo" "${args[@]}" \
        --device "$DEVICE" --no-progress 2>&1 | tee -a "$RUN.console.log" || true
    cp "$RUN.console.log" "$RUN/console.log"
    tar -cf "$OUT/run.tar" -C "$RUN" --ignore-failed-read config.json origin.json log.jsonl val.jsonl console.log best/"$MODEL".json
    if [ -f "$RUN/best/$MODEL.safetensors" ]; then
        split -b "$PART_BYTES" -d "$RUN/best/$MODEL.safetensors" "$OUT/weights.part"
    fi
    ls -la "$OUT"
    ;;
collect)
    DIR=${2:?collect DIR, the files_at of the device run}
    MODEL=$(model_of)
    LOCAL=${PERCOMP_RUNS:-$HOME/.cache/percomp/runs}/$MODEL-gpu
    mkdir -p "$LOCAL/best" "$LOCAL/device"
    tar -xf "$DIR/run.tar" -C "$LOCAL/device"
    # the device run's history, appended past what earlier calls brought back
    for log in log.jsonl val.jsonl; do
        [ -f "$LOCAL/device/$log" ] || continue
        .venv/bin/python - "$LOCAL/device/$log" "$LOCAL/$log" <<'PY'
import json, os, sys
new, kept = sys.argv[1], sys.argv[2]
last = max((json.loads(line)["step"] for line in open(kept) if line.strip()), default=-1) if os.path.exists(kept) else -1
with open(kept, "a") as out:
    out.writelines(line for line in open(new) if line.strip() and json.loads(line)["step"] > last)
PY
    done
    [ ! -f "$LOCAL/device/config.json" ] || cp "$LOCAL/device/config.json" "$LOCAL/"
    # the CUDA stream path, decoded here (the streams were made with the weights now in .gpu/zoo)
    if [ -f "$DIR/cuda-streams.tar" ]; then
        rm -rf "$LOCAL/cuda" && mkdir -p "$LOCAL/cuda" && tar -xf "$DIR/cuda-streams.tar" -C "$LOCAL/cuda"
        .venv/bin/python benchmarks/device_exchange.py "$LOCAL/cuda/streams" "$LOCAL/cuda/gpu-decoded" "$GPU/val" \
            --zoo "$GPU/zoo" --out benchmarks/results/device-exchange.json || true
    fi
    if [ -f "$DIR/workbench-latency.json" ]; then
        cp "$DIR/workbench-latency.json" benchmarks/results/workbench-latency-gpu.json
        echo "the workbench's latency on the GPU: benchmarks/results/workbench-latency-gpu.json"
    fi
    parts=("$DIR"/weights.part*)
    if [ -e "${parts[0]}" ]; then
        cat "${parts[@]}" > "$LOCAL/best/$MODEL.safetensors"
        cp "$LOCAL/device/best/$MODEL.json" "$LOCAL/best/"
        # the card's hash is of the weights as a loader sees them: a torn transfer fails here
        .venv/bin/python -c "from percomp_ui.zoo import load_model; import sys; load_model(sys.argv[1], __import__('pathlib').Path(sys.argv[2]))" \
            "$MODEL" "$LOCAL/best"
        cp "$LOCAL/best/$MODEL.json" "$LOCAL/best/$MODEL.safetensors" "$GPU/zoo/"  # a cold machine goes on from here
        echo "collected $MODEL (step $(.venv/bin/python -c "import json, sys; print(json.load(open(sys.argv[1]))['training']['steps'])" "$LOCAL/best/$MODEL.json")) into $LOCAL"
        echo "judge it: .venv/bin/percomp export $LOCAL --to ZOO (a copy of checkpoints/), then percomp eval on Kodak"
    else
        echo "no validated weights came back yet (the device run validates every 1 000 steps)"
    fi
    [ -f "$LOCAL/val.jsonl" ] && tail -n 2 "$LOCAL/val.jsonl"
    ;;
restore)
    shopt -s nullglob
    parked=("$PARKED"/*.safetensors "$PARKED"/*.json)
    for f in "${parked[@]}"; do
        if [ -e "checkpoints/$(basename "$f")" ]; then
            echo "gpu_session: checkpoints/$(basename "$f") exists; leaving the parked copy in $PARKED" >&2
        else
            mv "$f" checkpoints/
        fi
    done
    echo "restored ${#parked[@]} zoo files; git status checkpoints/:"
    git status --short checkpoints/
    ;;
*)
    echo "usage: $0 prepare [base-vr] | train SECONDS | collect DIR | restore" >&2
    exit 2 ;;
esac
