#!/usr/bin/env bash
# The paper's 10-run sweep as ONE CUDA simulation (10 replicas), for a machine with a GPU.
#
#   bash benchmarks/gpu_check.sh            # the paper job's size: 6,000 Fashion-MNIST images
#   bash benchmarks/gpu_check.sh --quick    # a few minutes: 150 digits images
#
# brian2cuda pins its own brian2, so this runs in nox's `cuda` environment (created on first use,
# as CI creates it). It prints the wall and simulation time of the batch, its synaptic events
# counted from the runs' spikes (record["energy"]) and, last, `events/s: X`.
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi -L >/dev/null 2>&1 || { echo "gpu_check.sh: no GPU visible (nvidia-smi -L failed)" >&2; exit 2; }
python -m pip install -q nox
python -m nox -s cuda --install-only >/dev/null
py=.nox/cuda/bin/python
if [ "${1:-}" = "--quick" ]; then
    args=(--quick --dataset digits)
else
    args=(--dataset fashion-mnist --n-train 6000 --n-fit 2000 --n-test 1000 --presentation 1000 --wake-block 35)
fi
exec "$py" benchmarks/replicas.py --device cuda_standalone --replicas-only --runs 10 --replicas 10 --model authors "${args[@]}"
