#!/usr/bin/env bash
# The GPU checks, run from carried binaries on a machine with an NVIDIA GPU: a CUDA 13 driver,
# Python with PyTorch, and possibly no Rust toolchain and no network.
#
# On the build machine, `scripts/build-cuda.sh --toolkit pypi --carry` builds the CUDA binary
# against CUDA 13 and puts it, stripped, with the device test binary into target/gpu-carry/.
# Copy the repository with that folder and the data folder to the GPU machine, then run from
# the repository root:
#
#     scripts/gpu-check.sh [OUT_DIR]
#
# It runs, each step logged to OUT_DIR (default gpu-results/, or $OUT/gpu-results):
#   1. nvidia-smi and the libraries the binary links, all of which must resolve;
#   2. `xtask devices`, which must list a CUDA device;
#   3. the fraud sweep on the GPU and on the CPU, timed, with their JSON summaries;
#   4. the device tests (tests/device.rs): the same checks on every device, and CPU and GPU
#      metrics of the fraud sweep within float tolerance;
#   5. training and scoring throughput on the GPU against PyTorch on the same GPU.
# It exits non-zero when a step fails and goes on with the others.
#
# The binary links the CUDA libraries of the toolkit it was built with (cuBLAS, cuBLASLt,
# cuRAND, NVRTC). The script finds them in the NVIDIA Python packages that PyTorch installs,
# or in the system's CUDA folders; set LD_LIBRARY_PATH to add others.
set -uo pipefail
cd "$(dirname "$0")/.."

out="${1:-${OUT:+$OUT/gpu-results}}"
out="${out:-gpu-results}"
mkdir -p "$out"
carry="${CARRY_DIR:-target/gpu-carry}"
xtask="$carry/xtask"
data="${ANOMALY_DATA_DIR:-../shared/data}"
if [ ! -d "$data" ] && [ -d shared/data ]; then
    data=shared/data
fi
export ANOMALY_DATA_DIR="$data"
python="${PYTHON:-python3}"

if [ ! -x "$xtask" ] && [ -f "$xtask.xz" ]; then
    # The carried folder may be read-only, so the binary is unpacked beside the results.
    xz -d -c "$xtask.xz" >"$out/xtask"
    chmod +x "$out/xtask"
    xtask="$out/xtask"
fi
if [ ! -x "$xtask" ]; then
    echo "error: $xtask is missing; build it with scripts/build-cuda.sh --toolkit pypi --carry" >&2
    exit 1
fi

# The CUDA libraries of PyTorch's NVIDIA packages and of the usual system folders.
cuda_dirs=$("$python" - <<'PY' 2>/dev/null
import glob, os, site
roots = site.getsitepackages() + [site.getusersitepackages()]
dirs = set()
for root in roots:
    for pattern in ("nvidia/*/lib", "nvidia/cu13/lib", "nvidia/cu13/lib64"):
        dirs.update(d for d in glob.glob(os.path.join(root, pattern)) if os.path.isdir(d))
print(":".join(sorted(dirs)))
PY
)
for dir in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
    [ -d "$dir" ] && cuda_dirs="${cuda_dirs:+$cuda_dirs:}$dir"
done
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$cuda_dirs"

failed=()
step() {
    local name=$1
    shift
    echo "== $name"
    local started=$SECONDS
    if "$@" >"$out/$name.log" 2>&1; then
        echo "   ok in $((SECONDS - started)) s"
    else
        echo "   FAILED in $((SECONDS - started)) s; the last lines of $out/$name.log:"
        tail -n 15 "$out/$name.log" | sed 's/^/   | /'
        failed+=("$name")
    fi
}

links_resolve() {
    ldd "$xtask"
    ! ldd "$xtask" | grep -q "not found"
}

lists_cuda() {
    "$xtask" devices --json | tee "$out/devices.json"
    grep -q '"cuda:0"' "$out/devices.json"
}

fraud_on() {
    local device=$1
    local work
    work=$(mktemp -d)
    "$xtask" experiment configs/fraud.toml --data-dir "$data" --runs-dir "$out/runs-$device" \
        --cache-dir "$work/cache" -S "experiment.device=\"$device\"" --json \
        >"$out/fraud-$device.json"
    local status=$?
    rm -rf "$work"
    return $status
}

step nvidia-smi nvidia-smi
step links links_resolve
step devices lists_cuda
step fraud-cuda fraud_on cuda
step fraud-cpu fraud_on cpu
step device-tests env XTASK_BIN="$xtask" XTASK_REPO="$PWD" "$carry/device-test" \
    --test-threads 1 --nocapture
step bench-gpu "$xtask" bench --only train,score --device cuda --python "$python" \
    --data-dir "$data"

echo
echo "results in $out/"
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed steps: ${failed[*]}"
    exit 1
fi
echo "every step passed"
