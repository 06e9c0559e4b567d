#!/usr/bin/env bash
# scripts/gpu_check.sh refuses bad arguments before it builds anything (exit 2, one line naming
# the bad value), and scripts/gpu_summary.py states the figures it is given (ratios computed,
# skipped peers named, a missing input shown as missing). The GPU run itself needs a GPU.
set -u
src=${1:?source dir}
fails=0
check() {  # check NAME EXPECTED_EXIT PATTERN CMD...
  local name=$1 want=$2 pattern=$3; shift 3
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [[ $rc -ne $want ]]; then echo "FAIL $name: exit $rc, wanted $want: $out"; fails=$((fails + 1)); return; fi
  if ! grep -qE -- "$pattern" <<<"$out"; then echo "FAIL $name: output lacks /$pattern/: $out"; fails=$((fails + 1)); return; fi
  echo "ok   $name"
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
g="$src/scripts/gpu_check.sh"
check help 0 'gpu_check.sh --out DIR' bash "$g" --help
check no_out 2 'error: --out DIR is required' bash "$g" --device cpu
check bad_device 2 "--device must be cuda or cpu, got 'tpu'" bash "$g" --device tpu --out "$tmp/o"
check bad_jobs 2 "--jobs must be a positive integer, got '0'" bash "$g" --out "$tmp/o" --jobs 0
check unknown_arg 2 "unknown argument '--fast'" bash "$g" --fast
check missing_value 2 '--device needs a value' bash "$g" --device
check no_deps 2 "'$tmp/none' does not hold the packed dependencies; run scripts/pack_gpu_deps.sh" \
  bash "$g" --out "$tmp/o" --deps "$tmp/none"
check pack_help 0 'pack_gpu_deps.sh \[DIR\]' bash "$src/scripts/pack_gpu_deps.sh" --help
[[ ! -e $tmp/o ]] || { echo "FAIL: a refused call created its --out folder"; fails=$((fails + 1)); }

# The summary of a made-up run: figures come from the files, ratios from the figures.
o="$tmp/run"; mkdir -p "$o"
printf 'env\t0\t1\nbuild\t0\t100\nstep\t0\t5\ntrain\t1\t3\n' >"$o/stages.tsv"
echo '[{"optimizer":"adamw","seconds":0.01,"bandwidth_bound_seconds":0.002,"gemm_bound_seconds":null,"peak_extra_bytes":3000000},
  {"optimizer":"torch_adamw","seconds":0.04},{"optimizer":"reference_muon","seconds":0.12},
  {"optimizer":"muon","seconds":0.03,"bandwidth_bound_seconds":0.003,"gemm_bound_seconds":0.02}]' >"$o/step.json"
echo '{"records":[{"optimizer":"torch_muon","seconds":0.06},{"optimizer":"torch_adamw_fused","seconds":0.02},
  {"optimizer":"reference_muon","skipped":"no bf16 here"}]}' >"$o/peers.json"
echo '[{"op":"polar","method":"newton_schulz:jordan+bf16","shape":"4096x4096","seconds":0.002,
  "gflops":700000,"gemm_gflops":800000,"rel_err":0.01}]' >"$o/matfun.json"
py=$(command -v python3 || echo /usr/bin/python3)
check summary 0 'muon/torch_muon=0.5' "$py" "$src/scripts/gpu_summary.py" "$o"
check summary_text 0 'train: missing' cat "$o/summary.txt"
check summary_skip 0 'peer reference_muon skipped: no bf16 here' cat "$o/summary.txt"
check summary_frac 0 '"fraction_of_gemm": 0.875' cat "$o/summary.json"
check summary_stage 0 'train=FAIL' cat "$o/summary.txt"
# bench step's own reference_muon and the Python one are different rows.
check summary_cpp_peers 0 'muon/reference_muon=0.25, adamw/torch_adamw=0.25' cat "$o/summary.txt"
check summary_floors 0 'adamw: 5.0x bandwidth bound, peak extra 3.0 MB' cat "$o/summary.txt"
check summary_gemm 0 'muon: 10.0x bandwidth bound, 1.5x GEMM bound' cat "$o/summary.txt"
echo "$fails failed"
exit $((fails > 0))
