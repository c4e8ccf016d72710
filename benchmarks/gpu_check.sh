#!/usr/bin/env bash
# GPU smoke check: every installed generator's fit and a 16-image augment at --profile smoke on CUDA, one
# smoke benchmark, then the speed benchmarks that take --device; a summary of times and GPU memory at the end.
# Target: under 8 minutes on one GPU. Stops at the first failing step and names it.
#
#   bash benchmarks/gpu_check.sh                         # from the repository root, augdiff installed
#   GENERATORS="ddpm-pcam stain-jitter" bash benchmarks/gpu_check.sh
#   KEEP=1 STEP_TIMEOUT=600 bash benchmarks/gpu_check.sh
#
# Environment: AUGDIFF (the CLI, default `augdiff`), PYTHON (default `python`), GENERATORS (default: all of
# `augdiff list --json`), BENCH_GENERATOR (the benchmark's generator, default ddpm-pcam, else the first),
# STEP_TIMEOUT (seconds per step, default 300), KEEP=1 (keep the temporary runs folder).
set -euo pipefail

AUGDIFF=${AUGDIFF:-augdiff}
PYTHON=${PYTHON:-python}
STEP_TIMEOUT=${STEP_TIMEOUT:-300}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/augdiff-gpu-check.XXXXXX")
RUNS="$WORK/runs"
export AUGDIFF_RUNS_DIR="$RUNS"
mkdir -p "$RUNS"

SUMMARY=()      # one "name|seconds|peak MiB" per finished step
CURRENT=""      # the step running now, for the failure message
SAMPLER=""      # pid of this step's nvidia-smi memory sampler (started by us)

cleanup() {
    local rc=$?
    if [[ -n "$SAMPLER" ]]; then kill "$SAMPLER" 2>/dev/null || true; fi
    print_summary
    if ((rc != 0)); then
        echo "GPU CHECK FAILED at step: ${CURRENT:-setup} (exit $rc) after ${SECONDS}s;" \
            "logs and runs kept in $WORK" >&2
        return
    fi
    if [[ "${KEEP:-0}" == 1 ]]; then echo "logs and runs kept in $WORK"; else rm -rf "$WORK"; fi
    echo "GPU CHECK PASSED in ${SECONDS}s"
}

print_summary() {
    ((${#SUMMARY[@]})) || return 0
    echo
    printf '%-44s %9s %14s\n' step seconds "GPU MiB, peak"
    local line name secs mem
    for line in "${SUMMARY[@]}"; do
        IFS='|' read -r name secs mem <<<"$line"
        printf '%-44s %9s %14s\n' "$name" "$secs" "$mem"
    done
}
trap cleanup EXIT

# step NAME COMMAND...: run with a timeout, log to $WORK/NAME.log, and sample the device's used memory (all
# processes, as nvidia-smi reports it) every 200 ms meanwhile.
step() {
    local name=$1
    shift
    CURRENT=$name
    local log="$WORK/${name//[^A-Za-z0-9._-]/_}.log"
    local mem="$log.mem"
    echo "== $name: $*"
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 >"$mem" 2>/dev/null &
    SAMPLER=$!
    local start rc=0
    start=$(date +%s.%N)
    timeout "$STEP_TIMEOUT" "$@" >"$log" 2>&1 || rc=$?
    kill "$SAMPLER" 2>/dev/null || true
    wait "$SAMPLER" 2>/dev/null || true
    SAMPLER=""
    local secs peak
    secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
    peak=$(awk 'BEGIN { m = 0 } $1 + 0 > m { m = $1 + 0 } END { print m }' "$mem")
    if ((rc != 0)); then
        tail -n 40 "$log" >&2
        ((rc == 124)) && echo "(timed out after ${STEP_TIMEOUT}s)" >&2
        exit "$rc"
    fi
    tail -n 3 "$log"
    SUMMARY+=("$name|$secs|$peak")
}

# --- the machine --------------------------------------------------------------------------------------------
CURRENT="cuda available"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
"$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "torch sees no CUDA device")'
CURRENT="augdiff list"
if [[ -z "${GENERATORS:-}" ]]; then
    GENERATORS=$("$AUGDIFF" list --json | "$PYTHON" -c \
        'import json, sys; print(" ".join(g["name"] for g in json.load(sys.stdin)["generators"]))')
fi
read -r -a GENS <<<"$GENERATORS"
((${#GENS[@]})) || { echo "no generators installed" >&2; exit 1; }
echo "generators: ${GENS[*]}; runs in $RUNS"
SMOKE=(--profile smoke --device cuda --runs-dir "$RUNS")

# --- every generator: fit, then 16 images -------------------------------------------------------------------
# A generator fitted under another's name (add-pro under add) finds that fit done and returns at once.
for gen in "${GENS[@]}"; do
    step "fit $gen" "$AUGDIFF" fit "$gen" "${SMOKE[@]}"
done
for gen in "${GENS[@]}"; do
    step "augment $gen --n 16" "$AUGDIFF" augment --generator "$gen" --n 16 "${SMOKE[@]}"
done

# --- one smoke benchmark: the real baseline and one generator's synthetic set, one seed ---------------------
BENCH_GENERATOR=${BENCH_GENERATOR:-ddpm-pcam}
[[ " ${GENS[*]} " == *" $BENCH_GENERATOR "* ]] || BENCH_GENERATOR=${GENS[0]}
step "benchmark smoke ($BENCH_GENERATOR)" "$AUGDIFF" benchmark "${SMOKE[@]}" --seeds 1 \
    --generators "$BENCH_GENERATOR" --sets synthetic --out "$WORK/benchmark"

# --- speed benchmarks, on CUDA where the script takes --device ----------------------------------------------
for bench in bench_diffusion bench_classifier; do
    if "$PYTHON" "$HERE/$bench.py" --help 2>/dev/null | grep -q -- '--device'; then
        step "$bench (cuda)" "$PYTHON" "$HERE/$bench.py" --device cuda
    else
        echo "== $bench: skipped (no --device flag, or its imports fail:" \
            "see \`$PYTHON $HERE/$bench.py --help\`)"
    fi
done
# The paper recipe (ViT-B, bf16) is what a GPU is for; 96 px is PCam's full patch.
step "bench_classifier paper 96px (cuda)" "$PYTHON" "$HERE/bench_classifier.py" --device cuda \
    --profile paper --size 96

CURRENT="nvidia-smi"
echo
nvidia-smi --query-gpu=memory.used,memory.total --format=csv
CURRENT=""
