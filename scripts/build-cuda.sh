#!/usr/bin/env bash
# Builds the release binary with Candle's CUDA backend.
#
#   scripts/build-cuda.sh [--toolkit debian|pypi] [--carry] [extra cargo build arguments]
#
# --toolkit debian (the default) uses nvcc from PATH, and where it is missing on Debian 12
#     installs Debian's CUDA toolkit (CUDA 11.8) after adding the contrib and non-free
#     components to apt's sources, which needs root. Output: target/cuda/release/xtask.
# --toolkit pypi installs NVIDIA's CUDA 13.0 compiler and libraries from PyPI into
#     target/cuda-venv (about 1.2 GB) and builds against them. A machine whose driver and
#     libraries are CUDA 13, such as one with a recent PyTorch, runs this binary without
#     CUDA 11 libraries. Output: target/cuda13/release/xtask.
# --carry strips the binary, packs it as xtask.xz and builds the device test binary beside
#     it, in target/gpu-carry/, which is what scripts/gpu-check.sh runs on a GPU machine.
#
# Linking needs libcuda.so, from an NVIDIA driver or Debian's libcuda1 package (installed
# with the Debian toolkit). CUDA_COMPUTE_CAP picks the GPU generation the kernels are
# compiled for, so that a machine without a GPU can build for one. It defaults to 90
# (Hopper: H100, H200) with CUDA 13, and to 89 with CUDA 11.8, which cannot compile for
# Hopper's sm_90a: the driver compiles the 8.9 PTX for a newer GPU when it loads it.
set -euo pipefail
cd "$(dirname "$0")/.."

toolkit=debian
carry=false
cargo_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --toolkit)
            toolkit="${2:?--toolkit needs debian or pypi}"
            shift 2
            ;;
        --toolkit=*)
            toolkit="${1#--toolkit=}"
            shift
            ;;
        --carry)
            carry=true
            shift
            ;;
        *)
            cargo_args+=("$1")
            shift
            ;;
    esac
done

install_debian_toolkit() {
    local sources=/etc/apt/sources.list.d/debian.sources
    if [ ! -f "$sources" ]; then
        echo "error: nvcc is missing and $sources does not exist; install a CUDA toolkit" \
            "(11.4 to 13.4) and put nvcc on PATH, or use --toolkit pypi" >&2
        exit 1
    fi
    if ! grep -q "non-free" "$sources"; then
        sed -i 's/^Components: main$/Components: main contrib non-free non-free-firmware/' "$sources"
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends nvidia-cuda-toolkit
}

use_pypi_toolkit() {
    local venv=target/cuda-venv
    if [ ! -x "$venv/bin/pip" ]; then
        python3 -m venv "$venv"
    fi
    # CUDA 13.0: the cudarc crate supports up to 13.4 (PyPI has 13.5), and a CUDA 13.0 build
    # runs with every CUDA 13 driver.
    # nvcc's own dependencies (nvvm, crt) are pinned too, so that pip does not pair nvcc 13.0
    # with a newer PTX generator whose output 13.0's ptxas rejects.
    "$venv/bin/pip" install --quiet "nvidia-cuda-nvcc==13.0.*" "nvidia-nvvm==13.0.*" \
        "nvidia-cuda-crt==13.0.*" "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-nvrtc==13.0.*" \
        "nvidia-cuda-cccl==13.0.*" "nvidia-cublas>=13.0,<13.1" "nvidia-curand>=10.4,<10.5"
    local root
    root=$(echo "$PWD/$venv"/lib/python3*/site-packages/nvidia/cu13)
    # The packages hold only versioned libraries; the linker looks for the plain names.
    local lib
    for lib in cublas cublasLt curand nvrtc cudart; do
        local versioned
        versioned=$(cd "$root/lib" && ls "lib$lib.so."* | grep -v alt | head -n 1)
        ln -sf "$versioned" "$root/lib/lib$lib.so"
    done
    if ! ldconfig -p | grep -q "libcuda.so " && [ -f /usr/lib/x86_64-linux-gnu/stubs/libcuda.so ]; then
        mkdir -p "$root/lib/stubs"
        ln -sf /usr/lib/x86_64-linux-gnu/stubs/libcuda.so "$root/lib/stubs/libcuda.so"
    fi
    export PATH="$root/bin:$PATH" CUDA_HOME="$root" CUDA_PATH="$root" CUDA_ROOT="$root"
}

case "$toolkit" in
    debian)
        command -v nvcc >/dev/null 2>&1 || install_debian_toolkit
        target_dir=target/cuda
        if nvcc --version | grep -q "release 11\."; then
            default_compute_cap=89
        fi
        ;;
    pypi)
        use_pypi_toolkit
        target_dir=target/cuda13
        ;;
    *)
        echo "error: unknown --toolkit $toolkit; use debian or pypi" >&2
        exit 2
        ;;
esac

export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-${default_compute_cap:-90}}"
echo "building with $(nvcc --version | tail -n 1), compute capability $CUDA_COMPUTE_CAP"
cargo build --release --package xtask --features cuda --target-dir "$target_dir" \
    ${cargo_args[@]+"${cargo_args[@]}"}
echo "built $target_dir/release/xtask"

if $carry; then
    mkdir -p target/gpu-carry
    strip -o target/gpu-carry/xtask "$target_dir/release/xtask"
    test_binary=$(cargo test --release --package xtask --features cuda --target-dir "$target_dir" \
        --test device --no-run --message-format=json \
        | python3 -c 'import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message.get("executable") \
            and message["target"]["name"] == "device":
        print(message["executable"])')
    strip -o target/gpu-carry/device-test "$test_binary"
    # The binary embeds every CUDA kernel as PTX text, which xz shrinks about sevenfold for
    # the copy to the GPU machine; scripts/gpu-check.sh unpacks it there.
    xz -T0 -6 -c target/gpu-carry/xtask >target/gpu-carry/xtask.xz
    ls -l target/gpu-carry
fi
