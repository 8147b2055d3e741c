#!/usr/bin/env bash
# GPU checks at the paper setting (issue 14, item 7), one short run (sized for < 5 min on one H200):
#   (a) DCN parity, torchvision on CUDA vs the grid_sample path (values and gradients, fp32, PASS/FAIL);
#   (b) fp16 extract throughput of the frozen HRNet-W48 at 384x288, batch 64;
#   (c) head-training step time on the feature cache vs with the backbone in the loop, ratio online / cached.
# Usage: bash benchmarks/gpu_check.sh [gpu_check.py options, e.g. --steps 20]
# The checkout's own code is used (PYTHONPATH), installed or not. Without a CUDA device it stops at once
# (exit 2); `python benchmarks/gpu_check.py --device cpu --quick` smoke-tests the Python part on a CPU.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
SECONDS=0

"$PYTHON" - <<'PY'
import sys

import torch

print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
if not torch.cuda.is_available():
    print("error: no CUDA device (torch.cuda.is_available() is False); gpu_check needs a GPU. "
          "CPU smoke test: python benchmarks/gpu_check.py --device cpu --quick", file=sys.stderr)
    sys.exit(2)
for i in range(torch.cuda.device_count()):
    print(f"GPU {i}: {torch.cuda.get_device_name(i)}")
PY
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,memory.total --format=csv
else
    echo "nvidia-smi: not found"
fi

status=0
"$PYTHON" "$REPO/benchmarks/gpu_check.py" "$@" || status=$?
echo "gpu_check.sh: exit $status after ${SECONDS} s"
exit "$status"
