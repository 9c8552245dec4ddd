#!/usr/bin/env bash
# CUDA checks and GPU timings in one run, for a machine with an NVIDIA GPU (not for CI).
#   bash benchmarks/gpu_check.sh [OUTPUT_DIR]
# 1. the card, driver, torch, CUDA and cuDNN versions;
# 2. the checkout made importable as an installed gvetool (benchmarks/checkout_site.py:
#    its entry points, no build, no network);
# 3. the CUDA-marked tests (pytest -m cuda: CUDA against the CPU, graphs, Adam);
# 4. gvetool train sc on the embedded data with --device cuda --precision bf16
#    (pinned batches, asynchronous copies, autocast through the real trainer), then lrcn
#    and gve with --cuda-graph (the trainer's captured step, end to end);
# 5. benchmarks/train_step.py at CUB size: the original, gvetool's step and its captured
#    step (--cuda-graph), fp32, tf32 and bf16, trained and untrained lengths; the figures
#    go to OUTPUT_DIR/table.md, a Markdown table for the performance docs.
# Every step has its own time limit and status: one that fails or runs out of time costs
# its own row, never the rest. The status of every step and the table are printed at the
# end whatever happened, failures named. The limits add up to BUDGET_S (printed first),
# so one call of the device tool with a 600 s limit holds the whole check.
# GPU_CHECK_TIME_SCALE multiplies every limit (the script's own test runs it at 0.02);
# PYTHON chooses the interpreter.
set -uo pipefail
mkdir -p "${1:-gpu-check}"
out=$(cd "${1:-gpu-check}" && pwd)
export PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
scale=${GPU_CHECK_TIME_SCALE:-1}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here" || exit 1
status="$out/status.tsv"
printf 'step\tstatus\texit\tseconds\tlimit\n' >"$status"

# name, limit in seconds, command...: run it under its limit, log it, record how it ended.
step() {
    local name=$1 limit
    limit=$(awk -v s="$2" -v k="$scale" 'BEGIN { printf "%.2f", s * k }')
    shift 2
    local started ended code state
    started=$(date +%s.%N)
    timeout --kill-after=5 "$limit" "$@" >"$out/$name.log" 2>&1
    code=$?
    ended=$(date +%s.%N)
    case $code in
        0) state=ok ;;
        124 | 137) state=timeout ;;
        *) state=failed ;;
    esac
    printf '%s\t%s\t%s\t%.0f\t%s\n' "$name" "$state" "$code" \
        "$(awk -v a="$started" -v b="$ended" 'BEGIN { print b - a }')" "$limit" >>"$status"
    echo "== $name: $state (exit $code)"
    tail -n 6 "$out/$name.log"
}

limits=(versions:20 site:10 tests:90 train_sc:45 train_lrcn:45 train_gve:60
    step_fp32:50 step_tf32:50 step_bf16:50 step_untrained:40 step_eager:30)
budget=0
for entry in "${limits[@]}"; do budget=$((budget + ${entry#*:})); done
echo "BUDGET_S=$(awk -v s="$budget" -v k="$scale" 'BEGIN { printf "%.0f", s * k }')"
limit() { local entry; for entry in "${limits[@]}"; do [ "${entry%%:*}" = "$1" ] && echo "${entry#*:}"; done; }

step versions "$(limit versions)" bash -c "nvidia-smi --query-gpu=name,memory.total,driver_version \
    --format=csv; $python -c \"import torch; print('torch', torch.__version__, 'cuda', \
torch.version.cuda, 'cudnn', torch.backends.cudnn.version(), torch.cuda.get_device_name())\""
step site "$(limit site)" "$python" benchmarks/checkout_site.py "$out/site"
export PYTHONPATH="$here:$out/site${PYTHONPATH:+:$PYTHONPATH}"
step tests "$(limit tests)" "$python" -m pytest -q -p no:cacheprovider -rs -m cuda tests
small=(--dataset synth --epochs 1 --hidden-size 256 --embedding-size 256 --device cuda
    --out "$out/runs")
step train_sc "$(limit train_sc)" "$python" -m gvetool train sc "${small[@]}" --precision bf16
step train_lrcn "$(limit train_lrcn)" "$python" -m gvetool train lrcn "${small[@]}" --cuda-graph
sc=$(ls -d "$out"/runs/sc-synth-*/ 2>/dev/null | tail -1)
step train_gve "$(limit train_gve)" "$python" -m gvetool train gve "${small[@]}" --cuda-graph \
    --sc-ckpt "${sc}best.pt"
table="$out/table.md"
rm -f "$table"
for precision in fp32 tf32 bf16; do
    step "step_$precision" "$(limit "step_$precision")" "$python" benchmarks/train_step.py \
        --device cuda --precision "$precision" --steps 10 --cuda-graph --table "$table"
done
step step_untrained "$(limit step_untrained)" "$python" benchmarks/train_step.py --device cuda \
    --precision fp32 --steps 5 --untrained --cuda-graph --table "$table"
step step_eager "$(limit step_eager)" "$python" benchmarks/train_step.py --device cuda \
    --precision fp32 --steps 10 --no-graphs --no-original

echo
echo "== every step"
column -t -s $'\t' "$status" 2>/dev/null || cat "$status"
failed=$(awk -F '\t' 'NR > 1 && $2 != "ok" { printf "%s%s (%s)", sep, $1, $2; sep = ", " }' "$status")
echo
if [ -f "$table" ]; then cat "$table"; else echo "(no timing table: every timing step failed)"; fi
if [ -n "$failed" ]; then
    echo "NOT OK: $failed; each step's log is $out/<step>.log"
    exit 1
fi
echo "all steps ok"
