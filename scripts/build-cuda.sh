#!/usr/bin/env bash
# Builds the release binary with Candle's CUDA backend into target/cuda/release/xtask.
#
# Needs nvcc. Where it is missing on Debian 12, installs Debian's CUDA toolkit (CUDA 11.8)
# after adding the contrib and non-free components to apt's sources, which needs root.
# CUDA_COMPUTE_CAP picks the GPU generation the kernels are compiled for; it defaults to 90
# (Hopper: H100, H200), so that a machine without a GPU can build for one.
#
# Usage: scripts/build-cuda.sh [extra cargo build arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nvcc >/dev/null 2>&1; then
    sources=/etc/apt/sources.list.d/debian.sources
    if [ ! -f "$sources" ]; then
        echo "error: nvcc is missing and $sources does not exist; install a CUDA toolkit" \
            "(11.4 or newer) and put nvcc on PATH" >&2
        exit 1
    fi
    if ! grep -q "non-free" "$sources"; then
        sed -i 's/^Components: main$/Components: main contrib non-free non-free-firmware/' "$sources"
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends nvidia-cuda-toolkit
fi

export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
echo "building with $(nvcc --version | tail -1), compute capability $CUDA_COMPUTE_CAP"
cargo build --release --package xtask --features cuda --target-dir target/cuda "$@"
echo "built target/cuda/release/xtask"
