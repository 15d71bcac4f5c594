#!/usr/bin/env bash
# One prepared device check: EWS vs vanilla training throughput, ResNet-50 (CIFAR) at batch 256,
# bf16 autocast + channels_last, printing images/s for both and the ratio (under 5 minutes on a GPU).
# Without CUDA it runs the same measurement small (ResNet-20, batch 4 of 16x16 images, fp32) so the tests
# can smoke it.
# Usage, from the project root: bash benchmarks/gpu_check.sh [--json OUT.json]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
if "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  args=(--device cuda --precision bf16 --models resnet50 --batch 256 --steps 20 --warmup 5)
  "$PY" -c 'import torch; print("device:", torch.cuda.get_device_name(0), "| torch", torch.__version__)'
else
  # bf16 convolutions are emulated (slow) on CPUs without native bf16, so the smoke run stays in fp32
  echo "no CUDA device: running the small CPU version of the check (fp32)"
  args=(--device cpu --precision fp32 --models resnet20 --batch 4 --image-size 16 --steps 1 --warmup 1 --masked-steps 1 --flop-subnets 2)
fi
exec "$PY" benchmarks/step_time.py --sections subnet --channels-last "${args[@]}" "$@"
