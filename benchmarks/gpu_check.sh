#!/usr/bin/env bash
# CUDA checks and GPU timings in one run, for a machine with an NVIDIA GPU (not for CI).
#   bash benchmarks/gpu_check.sh [OUTPUT_DIR]
# 1. the card, driver, torch, CUDA and cuDNN versions;
# 2. the tests that compare the CUDA path with the CPU path (skipped without a GPU);
# 3. gvetool train sc on the embedded data with --device cuda --precision bf16
#    (pinned batches, asynchronous copies, autocast through the real trainer), then lrcn
#    and gve with --cuda-graph (the trainer's captured step, end to end);
# 4. benchmarks/train_step.py at CUB size: the original, gvetool's step and its captured
#    step (--cuda-graph), fp32, tf32 and bf16, trained and untrained lengths; the figures
#    go to OUTPUT_DIR/table.md, a Markdown table for the README.
set -uo pipefail
out="${1:-gpu-check}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
$python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'cudnn', torch.backends.cudnn.version(), torch.cuda.get_device_name())"
$python -m pip install --quiet --no-deps --no-build-isolation --no-index -e . \
    || echo "gvetool could not be installed: tests needing its entry points will fail"
$python -m pytest -q -p no:cacheprovider -rs -m cuda tests \
    2>&1 | tee "$out/tests.log" | tail -15
$python -m gvetool demo --help >/dev/null 2>&1 || true
small=(--dataset synth --epochs 1 --hidden-size 256 --embedding-size 256 --device cuda --out "$out/runs")
$python -m gvetool train sc "${small[@]}" --precision bf16 2>&1 | tail -4
$python -m gvetool train lrcn "${small[@]}" --cuda-graph 2>&1 | tail -4
sc=$(ls -d "$out"/runs/sc-synth-*/ | tail -1)
$python -m gvetool train gve "${small[@]}" --cuda-graph --sc-ckpt "${sc}best.pt" 2>&1 | tail -4
table="$out/table.md"
rm -f "$table"
for precision in fp32 tf32 bf16; do
    $python benchmarks/train_step.py --device cuda --precision "$precision" --steps 10 \
        --cuda-graph --table "$table" 2>&1 | tee "$out/train_step_${precision}.txt"
done
$python benchmarks/train_step.py --device cuda --precision fp32 --steps 5 --untrained \
    --cuda-graph --table "$table" 2>&1 | tee "$out/train_step_fp32_untrained.txt"
$python benchmarks/train_step.py --device cuda --precision fp32 --steps 10 --no-graphs \
    --no-original 2>&1 | tee "$out/train_step_fp32_no_graphs.txt"
cat "$table"
