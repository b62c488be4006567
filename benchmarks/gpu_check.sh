#!/usr/bin/env bash
# The generator's GPU check in one go (GPU time is scarce; about 6 minutes on one H200):
#   1. the generator's tests with CUDA present (device "auto" picks the GPU), among them the
#      CPU-vs-CUDA parity tests (tests/generator/rendering/test_cuda_parity.py: same maps within 1e-4,
#      same stimuli to the eye, only encoded files leave the device), which skip without a GPU;
#   2. benchmarks/generator_bench.py --device cuda for resnet50 and resnet18 at batch 32 and 64:
#      fraction of forward-only, ratio to pytorch-grad-cam, peak GPU memory.
#
# On a machine with network access to the package index, first fetch the wheels the GPU
# machine lacks (grad-cam and ttach; pydantic if the study schema needs it) into .whl/:
#     benchmarks/gpu_check.sh --wheels
# Then, on the GPU machine, from the repository root (Python 3.12 with torch, torchvision,
# numpy, pillow, pytest):
#     benchmarks/gpu_check.sh            # results in $OUT (default ./gpu-check-out)
set -uo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--wheels" ]]; then
    # grad-cam is published as source only: build its pure-Python wheel here; pydantic-core
    # is compiled, for CPython 3.12 on x86-64 Linux
    python3 -m pip wheel -q --no-deps -w .whl grad-cam==1.5.7 ttach==0.0.3 || exit 1
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl pydantic==2.14.3 pydantic-core==2.50.4 annotated-types==0.8.0 typing-inspection==0.4.5 typing-extensions==4.16.0
    exit $?
fi

OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=$PYTHONPATH:/tmp/site
fi
status=0
{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.cuda.is_available())"
} 2>&1 | tee "$OUT/machine.txt"

# 1. tests: parity first (the figures the issue asks for), then the rest of the generator's
timeout 240 python3 -m pytest -q -p no:cacheprovider -o addopts="" -rs --durations=10 \
    tests/generator/rendering/test_cuda_parity.py tests/generator/rendering/test_render_overlap.py \
    tests/generator/rendering/test_blinding_bytes.py tests/generator/engine/test_cams.py \
    tests/generator/rendering/test_generate.py \
    2>&1 | tee "$OUT/tests.txt" || status=1

# 2. throughput on the GPU; each run prints forward-only, camstudy (serial and overlapped),
#    pytorch-grad-cam and the peak GPU memory of each
for arch in resnet50 resnet18; do
    for batch in 32 64; do
        echo "== $arch batch $batch" | tee -a "$OUT/bench.txt"
        timeout 150 python3 benchmarks/generator_bench.py --device cuda --arch "$arch" --batch "$batch" \
            --pairs 256 --workers 0 1 2 --repeats 3 2>&1 | tee -a "$OUT/bench.txt" || status=1
    done
done
exit $status
