#!/usr/bin/env bash
# CUDA checks and GPU timings in one run, for a machine with an NVIDIA GPU (not for CI).
#   bash benchmarks/gpu_check.sh [OUTPUT_DIR]
# 1. the card, driver, torch, CUDA and cuDNN versions;
# 2. the tests that compare the CUDA path with the CPU path (skipped without a GPU);
# 3. gvetool train sc on the embedded data with --device cuda --precision bf16
#    (pinned batches, asynchronous copies, autocast through the real trainer);
# 4. benchmarks/train_step.py at CUB size: fp32, tf32 and bf16, trained and untrained lengths.
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
$python -m pytest -q -p no:cacheprovider -rs tests/test_execution.py tests/test_models.py tests/test_adam.py \
    2>&1 | tee "$out/tests.log" | tail -15
$python -m gvetool demo --help >/dev/null 2>&1 || true
$python -m gvetool train sc --dataset synth --epochs 1 --hidden-size 256 --embedding-size 256 \
    --device cuda --precision bf16 --out "$out/runs" 2>&1 | tail -4
for precision in fp32 tf32 bf16; do
    $python benchmarks/train_step.py --device cuda --precision "$precision" --steps 10 \
        2>&1 | tee "$out/train_step_${precision}.txt"
done
$python benchmarks/train_step.py --device cuda --precision fp32 --steps 5 --untrained \
    2>&1 | tee "$out/train_step_fp32_untrained.txt"
$python benchmarks/train_step.py --device cuda --precision fp32 --steps 10 --no-graphs \
    --no-original 2>&1 | tee "$out/train_step_fp32_no_graphs.txt"
$python benchmarks/train_step.py --device cuda --precision fp32 --steps 10 --reinforce-tokens 1024 \
    --no-original 2>&1 | tee "$out/train_step_fp32_1024_tokens.txt"
