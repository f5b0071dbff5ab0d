# Sourced by campaign.sh (base-vr, roi-vr) and seed000_finetunes.sh: the CPU training recipe the campaign
# measured, as `percomp train` options in CPU_RECIPE; CROP, BATCH and AMP override.
# One 512-px crop a batch (the pixels of four 256-px ones; only the training photos ≥ 512 px): from
# base-vr 9b4d22bc, 250 steps at lr 2e-5 moved Kodak-8's curve −2.2 % where 256-px crops moved it −0.3 %.
# The transforms in bfloat16 (the rate stays float32): half the time a step on this CPU (avx512_bf16),
# and after 500 steps the same place as float32 (−2.4 % / −2.35 %; benchmarks/results/recipe-crop512-bf16.json).
# torch.compile takes that to 0.57 s after a minute of compiling (the checkerboard's masked assignment
# stays eager: inductor has no aten.nonzero, so torch logs a graph break and an "Error detected in
# IndexPutBackward0" warning once; every parameter still gets its gradient).
# shellcheck disable=SC2034  # used by the scripts that source this file
CPU_RECIPE=(--crop "${CROP:-512}" --batch "${BATCH:-1}" --amp "${AMP:-bf16}" --compile)
