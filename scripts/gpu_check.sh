#!/usr/bin/env bash
# One prepared command that proves specopt on a GPU machine (CUDA, PyTorch >= 2.x, a compiler,
# no package registry): builds the library, CLI and tests against that machine's PyTorch with
# nothing but what travels with the checkout (scripts/pack_gpu_deps.sh packs the header-only
# dependencies, GoogleTest's sources and the Brown corpus first), then
#   1. runs the CUDA and NCCL tests (gtest JSON per binary),
#   2. bench matfun --device cuda: every polar/power method on 4096², 1024×4096, 768×3072 and a
#      batch of 64 × 128² matrices, bf16 Newton–Schulz against the same run's bf16 GEMM,
#   3. bench step --device cuda on the GPT-small parameter set,
#   4. the same parameters stepped by torch.optim.AdamW(fused=True), torch.optim.Muon and a
#      reference Muon in that machine's Python (scripts/peer_step.py),
#   5. a short `specopt train` of the example GPT on CUDA (tokens/s, optimizer share),
# and writes OUT/summary.json + OUT/summary.txt (scripts/gpu_summary.py) beside each stage's
# log and JSON. A stage that fails is recorded and the next one still runs; the exit status
# is 0 only when every stage passed.
#
#   scripts/pack_gpu_deps.sh                       # here, once
#   scripts/gpu_check.sh --out DIR                 # on the GPU machine (≈ 8 min on an H100/H200)
#   scripts/gpu_check.sh --device cpu --out DIR    # rehearsal: the same build, tiny sizes
#
# Options: --device cuda|cpu (default cuda), --out DIR (required), --jobs N (default: cores),
# --deps DIR (default .device-carry), --build DIR (default build-gpu-check), --python PY,
# --tests-only (build and tests; no benchmarks, peers or training).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

usage() { awk 'NR > 1 && /^set -uo/ {exit} NR > 1' "$0" | sed 's/^# \{0,1\}//'; }
die() { printf 'gpu_check: error: %s\n' "$*" >&2; exit 2; }

device=cuda out="" jobs="" deps=.device-carry build=build-gpu-check python="" tests_only=0
while (($#)); do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --device) [[ $# -ge 2 ]] || die "--device needs a value (cuda or cpu)"; device=$2; shift 2 ;;
    --out) [[ $# -ge 2 ]] || die "--out needs a directory"; out=$2; shift 2 ;;
    --jobs) [[ $# -ge 2 ]] || die "--jobs needs a number"; jobs=$2; shift 2 ;;
    --deps) [[ $# -ge 2 ]] || die "--deps needs a directory"; deps=$2; shift 2 ;;
    --build) [[ $# -ge 2 ]] || die "--build needs a directory"; build=$2; shift 2 ;;
    --python) [[ $# -ge 2 ]] || die "--python needs an interpreter"; python=$2; shift 2 ;;
    --tests-only) tests_only=1; shift ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ $device == cuda || $device == cpu ]] || die "--device must be cuda or cpu, got '$device'"
[[ -n $out ]] || die "--out DIR is required (where the summary and logs go)"
if [[ -n $jobs ]]; then
  [[ $jobs =~ ^[1-9][0-9]{0,3}$ ]] || die "--jobs must be a positive integer, got '$jobs'"
else
  jobs=$(nproc)
fi
[[ -d $deps/include && -d $deps/src/googletest ]] ||
  die "'$deps' does not hold the packed dependencies; run scripts/pack_gpu_deps.sh first"
deps=$(cd "$deps" && pwd)

# The Python that has torch: --python, else python3, else Debian's.
if [[ -z $python ]]; then
  for p in python3 /usr/bin/python3; do
    if "$p" -c 'import torch' >/dev/null 2>&1; then python=$p; break; fi
  done
fi
[[ -n $python ]] || die "no Python with torch found (give --python)"
mkdir -p "$out" || die "cannot create --out '$out'"
out=$(cd "$out" && pwd)
case "$build" in /*) ;; *) build=$root/$build ;; esac

stages="$out/stages.tsv"
: >"$stages"
# stage NAME CMD...: runs CMD with its output in OUT/NAME.log, records status and seconds.
stage() {
  local name=$1; shift
  local t0=$SECONDS rc
  printf 'gpu_check: %-10s ... ' "$name"
  "$@" >"$out/$name.log" 2>&1
  rc=$?
  printf '%s\t%d\t%d\n' "$name" "$rc" "$((SECONDS - t0))" >>"$stages"
  if ((rc == 0)); then echo "ok ($((SECONDS - t0)) s)"; else echo "FAILED (exit $rc, $((SECONDS - t0)) s; $out/$name.log)"; tail -n 15 "$out/$name.log"; fi
  return $rc
}

# --- environment ---------------------------------------------------------------------------
env_info() {
  "$python" - "$out/env.json" <<'EOF'
import json, os, platform, subprocess, sys
import torch
info = dict(torch=torch.__version__, cuda=torch.version.cuda, python=platform.python_version(),
            cmake_prefix=torch.utils.cmake_prefix_path, cuda_available=torch.cuda.is_available(),
            cores=os.cpu_count())
if torch.cuda.is_available():
    info["gpu"] = torch.cuda.get_device_name(0)
    info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
try:
    info["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                    capture_output=True, text=True).stdout.strip() or None
except OSError:
    info["driver"] = None
try:
    import nvidia.nccl
    info["nccl_include"] = os.path.join(list(nvidia.nccl.__path__)[0], "include")
except Exception:
    info["nccl_include"] = None
json.dump(info, open(sys.argv[1], "w"), indent=2)
print(json.dumps(info, indent=2))
EOF
}
stage env env_info
torch_prefix=$("$python" -c 'import torch, os; p = torch.utils.cmake_prefix_path; print(p if os.path.isdir(os.path.join(p, "Torch")) else "")')
nccl_include=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("nccl_include") or "")' "$out/env.json" 2>/dev/null)

# --- build ---------------------------------------------------------------------------------
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# CUDA's toolkit where the image keeps it (Torch's CMake config looks for it when its LibTorch
# has CUDA).
cuda_args=()
if [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH=$PATH:/usr/local/cuda/bin
  cuda_args=(-DCUDAToolkit_ROOT=/usr/local/cuda -DCUDA_TOOLKIT_ROOT_DIR=/usr/local/cuda)
fi
offline=()
for pkg in fmt nlohmann_json CLI11 xtensor tomlplusplus ZLIB GTest; do
  offline+=("-D${pkg}_DIR=$root/cmake/offline")
done
configure() {  # configure [extra cmake args]
  local nccl_args=()
  [[ -n $nccl_include && -f $nccl_include/nccl.h ]] && nccl_args=(-DNCCL_INCLUDE_DIR="$nccl_include")
  # A PyTorch wheel's LibTorch where it has one (its cmake folder); the system's otherwise.
  local prefix=()
  [[ -n $torch_prefix ]] && prefix=(-DCMAKE_PREFIX_PATH="$torch_prefix")
  TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} cmake -S "$root" -B "$build" "${generator[@]}" "${launcher[@]}" \
    -DCMAKE_BUILD_TYPE=Release -DSPECOPT_BUILD_BENCH=OFF \
    -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON -DSPECOPT_DEPS_DIR="$deps" "${offline[@]}" \
    "${prefix[@]}" "${nccl_args[@]}" "${cuda_args[@]}" "$@"
}
targets=(specopt_cli specopt_matfun_tests specopt_optim_tests specopt_dist_tests)
# Keep going past a failed file, so that one error shows every other one and a second try
# rebuilds only what failed.
keep_going=(-k)
[[ ${#generator[@]} -gt 0 ]] && keep_going=(-k 0)
compile() { cmake --build "$build" -j "$jobs" --target "${targets[@]}" -- "${keep_going[@]}"; }
nccl_note="as configured"
if ! { stage configure configure && stage build compile; }; then
  # Second try, chosen from the first one's log: a LibTorch whose headers want C++20 gets it;
  # otherwise the NCCL process group, the part most tied to the machine's CUDA/NCCL, is left
  # out rather than losing every other figure (the summary says which).
  retry=(-DSPECOPT_NCCL=OFF)
  nccl_note="built with SPECOPT_NCCL=OFF after the first build failed (see build.log)"
  if grep -qi 'c++20' "$out/configure.log" "$out/build.log" 2>/dev/null; then
    retry=(-DCMAKE_CXX_STANDARD=20)
    nccl_note="built as C++20 after the C++17 build failed (see build.log)"
  fi
  stage configure2 configure "${retry[@]}" && stage build2 compile
fi
nccl_built=$(grep -ho 'specopt: NCCL backend [A-Z]*' "$out"/configure*.log | tail -n 1)
echo "${nccl_built:-NCCL backend unknown}; $nccl_note" >"$out/nccl_note.txt"
cli=$build/apps/specopt/specopt

# --- tests ---------------------------------------------------------------------------------
t=$build/tests
stage test_matfun timeout 300 "$t/specopt_matfun_tests" --gtest_filter='Cuda*' --gtest_output="json:$out/tests_matfun.json"
stage test_optim timeout 300 "$t/specopt_optim_tests" --gtest_filter='*Cuda*:*Batch*' --gtest_output="json:$out/tests_optim.json"
stage test_dist timeout 120 "$t/specopt_dist_tests" --gtest_filter='Nccl*:Backend*' --gtest_output="json:$out/tests_dist.json"

# --- benchmarks ----------------------------------------------------------------------------
if ((tests_only == 0)); then
# Each stage has a time limit, so one that hangs cannot take the others' time.
if [[ $device == cuda ]]; then
  # 4096²: the Newton–Schulz paths against the GEMM bound (an SVD of that size would take most
  # of the budget and says nothing about Newton–Schulz); every method on the other shapes.
  big_args=(--device cuda --shapes 4096x4096 --ops polar --repeats 10 --warmup 3
            --methods reference_ns5,reference_ns5+bf16,newton_schulz:jordan,newton_schulz:jordan+bf16,newton_schulz:polar_express,newton_schulz:polar_express+bf16,gram_eigh,auto)
  matfun_args=(--device cuda --shapes 1024x4096,768x3072,64x128x128 --repeats 5 --warmup 2)
  step_args=(--device cuda --repeats 10 --warmup 3)
  peer_args=(--device cuda --repeats 10 --warmup 3)
  train_set=(--set train.device=cuda --set train.steps=300 --set train.eval_interval=100 --set train.log_interval=50)
else
  # One intra-op thread: on a small machine busy with other work, OpenMP threads that
  # outnumber the free cores spin against each other and a tiny step takes seconds.
  big_args=(--device cpu --shapes 96x128 --ops polar --repeats 1 --warmup 0 --threads 1
            --methods reference_ns5,newton_schulz:jordan,gram_eigh)
  matfun_args=(--device cpu --shapes 64x96,4x16x16 --repeats 1 --warmup 0 --powers 0.5 --threads 1)
  step_args=(--device cpu --blocks 1 --width 64 --vocab 100 --repeats 1 --warmup 0 --threads 1)
  peer_args=(--device cpu --blocks 1 --width 64 --vocab 100 --repeats 1 --warmup 0)
  train_set=(--set train.device=cpu --set train.steps=4 --set train.eval_interval=2 --set train.log_interval=2
             --set model.n_layer=1 --set model.d_model=32 --set model.context=16 --set data.eval_batches=1)
fi
stage matfun_big timeout 240 "$cli" bench matfun "${big_args[@]}" --quiet --json "$out/matfun_big.json"
stage matfun timeout 300 "$cli" bench matfun "${matfun_args[@]}" --quiet --json "$out/matfun.json"
stage step timeout 240 "$cli" bench step "${step_args[@]}" --quiet --json "$out/step.json"
stage peers timeout 180 "$python" scripts/peer_step.py "${peer_args[@]}" --json "$out/peers.json"
rm -rf "$build/train_run"
stage train timeout 240 env SPECOPT_DATA="$deps/data" "$cli" train --config examples/train/gpt_brown_muon.toml \
  "${train_set[@]}" --set schedule.warmup=2 --set train.checkpoint_interval=0 \
  --set train.out_dir="$build/train_run" --plain
[[ -f $build/train_run/summary.json ]] && cp "$build/train_run/summary.json" "$out/train_summary.json"
fi

# --- summary -------------------------------------------------------------------------------
"$python" scripts/gpu_summary.py "$out" --device "$device"
summary_rc=$?
failed=$(awk -F'\t' '$2 != 0 && $1 != "configure" && $1 != "build" {print $1}' "$stages" | tr '\n' ' ')
# A first build that failed but whose fallback passed is recorded, not fatal.
if grep -q '^build2' "$stages" && ! grep -qP '^build2\t0\t' "$stages"; then failed+="build2 "; fi
if ! grep -q '^build2' "$stages" && ! grep -qP '^build\t0\t' "$stages"; then failed+="build "; fi
if [[ -n $failed || $summary_rc -ne 0 ]]; then
  echo "gpu_check: FAILED stages: ${failed:-summary}"
  exit 1
fi
echo "gpu_check: every stage passed; $out/summary.txt"
