#!/usr/bin/env bash
# The GPU check, ON THE GPU MACHINE (no network, no Node: it unpacks the node binary that
# pack.sh put in .device/). Every stage logs, runs under its own timeout inside one overall
# budget, and the next stage runs even when one fails. Writes at most 5 files into $OUT:
# results.json, results.md, run.log, (when the bench/torch_bench stages ran) results.svg, and
# algos.json (the algorithm cache, to commit as bench/gpu/algos.json for the next call).
#
#   bash .device/bench/gpu/run.sh [stage ...]     (default: all stages, in this order)
#   stages: node smi decls info_scan info session algo_cache cpu_vs_gpu ops networks graphs profile_streams timm bench serve torch_bench
#           overlap layer_profile sibling_merge torch_compile report
#   presets: perf = node info torch_bench bench report   (the performance goals of issue #5 only)
#            issue18 = node info bench torch_bench overlap layer_profile sibling_merge torch_compile report
#
# Issue 18 in ONE device call (every network, fp16 and fp32, batch 1/8/64/256 against PyTorch
# eager and CUDA graphs, goal rows first; overlapped transfers; the batch-256 fp16 per-layer
# profile; the sibling-conv merge; torch.compile if time is left). Here `npm run device-check`,
# then on the device, carrying .device, with a 560 s call limit:
#   INCEPTION_GPU_BUDGET_S=500 bash .device/bench/gpu/run.sh issue18
# The preset's stage limits (INCEPTION_STAGE_LIMITS entries given on the command line win):
# bench 200 (no new row after 165 s), torch_bench 150 (no new row after 105 s; rows ours skipped
# are skipped), overlap 45, layer_profile 55, sibling_merge 45, torch_compile 200 (starts its
# compile only with 150 s left), each cut to the budget left. Expected on an H100 with no carried
# algorithm cache (2026-11-27 logs): ~480-500 s; see bench/gpu/README.md. $OUT gets
# results.{json,md,svg}, run.log, algos.json and layer-profile.md (6 files).
#
# Perf only, in ONE device call (see bench/gpu/README.md): here `npm run device-check`, then on the
# device, carrying .device, with a 480 s call limit:
#   INCEPTION_GPU_BUDGET_S=420 bash .device/bench/gpu/run.sh perf
# Expected (H100/H200): node ~2 s, info ~1 s, torch_bench ~90-130 s (stops starting rows at its
# stage timeout - 45 s), bench ~80-120 s (stops at its stage timeout - 35 s), report ~1 s: ~180-250 s.
# Env: OUT (default .device/out), INCEPTION_GPU_WORK (default /tmp/inception-gpu),
#      INCEPTION_GPU_BUDGET_S (default 480), INCEPTION_PYTHON (default /opt/torch/.venv/bin/python3),
#      INCEPTION_PERF_TIMED_S (default 0.5: timed seconds per row and mode in bench and torch_bench),
#      INCEPTION_PERF_PRECISIONS (e.g. "fp16": bench and torch_bench measure those precisions only),
#      INCEPTION_STAGE_LIMITS (e.g. "torch_bench=150 bench=140": replaces those stages' own limits, to fit
#      several stages into one short device call).
set -u

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -f "$SCRIPT_DIR/../../node.xz" ]; then DEV="$(cd "$SCRIPT_DIR/../.." && pwd)"
elif [ -f "$SCRIPT_DIR/../../.device/node.xz" ]; then DEV="$(cd "$SCRIPT_DIR/../../.device" && pwd)"
else echo "run.sh: cannot find the packed .device folder (node.xz); run bench/gpu/pack.sh on the build machine first" >&2; exit 2; fi

OUT="${OUT:-$DEV/out}"
WORK="${INCEPTION_GPU_WORK:-/tmp/inception-gpu}"
BUDGET="${INCEPTION_GPU_BUDGET_S:-480}"
PY="${INCEPTION_PYTHON:-/opt/torch/.venv/bin/python3}"
[ -x "$PY" ] || PY="$(command -v python3 || echo python3)"
# Each invocation reports only the stages it ran: a second run.sh in the same call (e.g. with
# INCEPTION_CUDA_GRAPH_API=0 to compare) would otherwise merge the first one's stage results into
# its report. The algorithm cache ($WORK/algos.json) and the unpacked node binary are kept.
rm -rf "$WORK/results"
mkdir -p "$OUT" "$WORK/results"
exec > >(tee -a "$OUT/run.log") 2>&1
START=$(date +%s)
NODE="$WORK/node"
export INCEPTION_CUDA_PREBUILD="$DEV/build/Release/inception_cuda.node"
export INCEPTION_CUDNN_ALGO_CACHE="$WORK/algos.json"
# Seed the algorithm cache with what an earlier call brought back (pack.sh: bench/gpu/algos.json),
# unless INCEPTION_GPU_FRESH_ALGOS=1 (then every decision is searched and timed again).
if [ "${INCEPTION_GPU_FRESH_ALGOS:-0}" != 1 ] && [ -f "$DEV/algos.json" ] && [ ! -f "$WORK/algos.json" ]; then
  cp "$DEV/algos.json" "$WORK/algos.json"
fi
SUITE="$DEV/js/bench/gpu/device-suite.js"

declare -a SUMMARY=()
elapsed() { echo $(( $(date +%s) - START )); }

# stage NAME LIMIT_S COMMAND...: runs with min(LIMIT, remaining budget - 15 s).
stage() {
  local name="$1" limit="$2"; shift 2
  local override
  for override in ${INCEPTION_STAGE_LIMITS:-}; do
    [ "${override%%=*}" = "$name" ] && limit="${override#*=}"
  done
  local remaining=$(( BUDGET - $(elapsed) ))
  local t=$(( limit < remaining - 15 ? limit : remaining - 15 ))
  if [ "$t" -lt 10 ]; then
    echo "=== $name: SKIPPED (overall budget ${BUDGET}s nearly spent)"
    SUMMARY+=("$(printf '%-14s %-8s %5s' "$name" skipped -)")
    return
  fi
  echo "=== $name (timeout ${t}s, t=$(elapsed)s)"
  local s=$(date +%s)
  INCEPTION_STAGE_TIMEOUT_S="$t" timeout -k 5 "$t" bash -c '"$@"' _ "$@"
  local rc=$?
  local status=ok
  [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && status=timeout
  [ "$rc" -ne 0 ] && [ "$status" = ok ] && status="rc=$rc"
  echo "=== $name: $status in $(( $(date +%s) - s ))s"
  SUMMARY+=("$(printf '%-14s %-8s %5ss' "$name" "$status" "$(( $(date +%s) - s ))")")
}

SITE="$("$PY" -c 'import site; print(site.getsitepackages()[0])' 2>/dev/null || true)"
NV_LIBS=""
for d in "$SITE"/nvidia/*/lib; do [ -d "$d" ] && NV_LIBS="${NV_LIBS:+$NV_LIBS:}$d"; done
NV_INCLUDES=""
for d in "$SITE"/nvidia/*/include /usr/local/cuda/include; do [ -d "$d" ] && NV_INCLUDES="$NV_INCLUDES -I$d"; done

do_node() {
  if [ -x "$NODE" ] && "$NODE" --version >/dev/null 2>&1; then echo "node already unpacked"; else
    if command -v xz >/dev/null; then xz -dc "$DEV/node.xz" > "$NODE"
    else "$PY" -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],"wb"))' "$DEV/node.xz" "$NODE"; fi
    chmod +x "$NODE"
  fi
  "$NODE" --version && ldd --version 2>&1 | head -1
}
do_smi() {
  nvidia-smi --query-gpu=index,name,driver_version,memory.total,memory.used,utilization.gpu,compute_cap --format=csv || true
  nvidia-smi | head -15 || true
  echo "python: $PY  site-packages: $SITE"
  echo "nvidia libs: $NV_LIBS"
  ls "$SITE"/nvidia/cudnn/lib 2>/dev/null
  "$PY" -c 'import torch, timm; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "timm", timm.__version__)' 2>&1 | tail -1
}
do_decls() {
  local cxx; cxx="$(command -v g++ || command -v c++ || command -v clang++ || true)"
  local src="$DEV/native/cuda/check_decls.cc"
  if [ ! -f "$SITE/nvidia/cudnn/include/cudnn.h" ]; then echo "decls: no cudnn.h under $SITE/nvidia/cudnn/include"; return 3; fi
  grep -h "define CUDNN_M[AI][JN]OR\|define CUDNN_PATCHLEVEL" "$SITE"/nvidia/cudnn/include/cudnn_version*.h
  if [ -n "$cxx" ]; then
    "$cxx" -std=c++17 -fsyntax-only -Wno-deprecated-declarations $NV_INCLUDES -I"$DEV/native" "$src"
  elif [ -x /usr/local/cuda/bin/nvcc ]; then
    /usr/local/cuda/bin/nvcc -std=c++17 -x cu -c $NV_INCLUDES -I"$DEV/native" "$src" -o /dev/null
  else echo "decls: no C++ compiler (g++, c++, clang++ or nvcc) on this machine"; return 3; fi
  local rc=$?
  [ $rc -eq 0 ] && echo "decls: our cuDNN declarations match the real headers"
  return $rc
}
suite() { INCEPTION_STAGE_NAME="$1" LD_LIBRARY_PATH="$NV_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$NODE" "$SUITE" "$1" --work "$WORK" --fixtures "$DEV/fixtures" --out "$OUT"; }
# cpu_vs_gpu: the CPU module needs the packed oneDNN (+ libgomp, libOpenCL): unpacked into $WORK/lib,
# which goes on LD_LIBRARY_PATH for this stage only.
do_cpu_vs_gpu() {
  local lib="$WORK/lib" f out
  mkdir -p "$lib"
  for f in "$DEV"/lib/*; do
    [ -f "$f" ] || continue
    case "$f" in
      *.xz) out="$lib/$(basename "${f%.xz}")"
        if [ ! -s "$out" ]; then
          if command -v xz >/dev/null; then xz -dc "$f" > "$out.tmp"
          else "$PY" -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],"wb"))' "$f" "$out.tmp"; fi
          mv "$out.tmp" "$out"
        fi ;;
      *) cp -f "$f" "$lib/" ;;
    esac
  done
  ls -la "$lib"
  INCEPTION_CPU_PREBUILD="$DEV/build/Release/inception_cpu.node" LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" suite cpu_vs_gpu
}
# bench (ours) and torch_bench (PyTorch): the performance rows of bench/gpu/perf-rows.ts. Each stops
# starting new rows early enough to finish inside its stage timeout, and saves after every row;
# torch_bench skips the rows bench skipped (no ratio to make).
do_bench() { INCEPTION_PERF_BUDGET_S="$(( INCEPTION_STAGE_TIMEOUT_S > 60 ? INCEPTION_STAGE_TIMEOUT_S - 35 : 25 ))" suite bench; }
do_torch_bench() {
  "$PY" "$DEV/bench/gpu/torch_bench.py" "$WORK" --budget-s "$(( INCEPTION_STAGE_TIMEOUT_S > 70 ? INCEPTION_STAGE_TIMEOUT_S - 45 : 25 ))" --timed-s "${INCEPTION_PERF_TIMED_S:-0.5}" --ours "$WORK/results/bench.json"
}
# torch_compile: inductor, default mode, inception_v4 fp16 batch 256; starts the compile only with
# INCEPTION_COMPILE_MIN_S (150) of its stage timeout left, else records why it skipped.
do_torch_compile() {
  "$PY" "$DEV/bench/gpu/torch_compile.py" "$WORK" --budget-s "$INCEPTION_STAGE_TIMEOUT_S" --timed-s "${INCEPTION_PERF_TIMED_S:-0.5}"
}
# info_scan: no LD_LIBRARY_PATH, so the loader must find the wheel by scanning site-packages itself.
info_scan() { INCEPTION_STAGE_NAME=info_scan env -u LD_LIBRARY_PATH VIRTUAL_ENV="$(dirname "$(dirname "$PY")")" "$NODE" "$SUITE" info --work "$WORK" --fixtures "$DEV/fixtures"; }

export DEV OUT WORK PY NODE SUITE SITE NV_LIBS NV_INCLUDES
export -f do_node do_smi do_decls suite info_scan do_cpu_vs_gpu do_bench do_torch_bench do_torch_compile

STAGES=("$@")
[ "${STAGES[*]}" = perf ] && STAGES=(node info torch_bench bench report)
if [ "${STAGES[*]}" = issue18 ]; then
  STAGES=(node info bench torch_bench overlap layer_profile sibling_merge torch_compile report)
  # The preset's limits first, so entries given in INCEPTION_STAGE_LIMITS (read later, last wins) replace them.
  INCEPTION_STAGE_LIMITS="bench=200 torch_bench=150 overlap=45 layer_profile=55 sibling_merge=45 torch_compile=200 ${INCEPTION_STAGE_LIMITS:-}"
fi
[ ${#STAGES[@]} -eq 0 ] && STAGES=(node smi decls info_scan info session algo_cache cpu_vs_gpu ops networks graphs profile_streams timm bench serve torch_bench report)
echo "GPU check: device dir $DEV, out $OUT, work $WORK, budget ${BUDGET}s, stages: ${STAGES[*]}"
cat "$DEV/meta.json" 2>/dev/null; echo
for s in "${STAGES[@]}"; do
  case "$s" in
    node) stage node 60 do_node ;;
    smi) stage smi 30 do_smi ;;
    decls) stage decls 60 do_decls ;;
    info_scan) stage info_scan 60 info_scan ;;
    info) stage info 60 suite info ;;
    session) stage session 75 suite session ;;
    algo_cache) stage algo_cache 60 suite algo_cache ;;
    cpu_vs_gpu) stage cpu_vs_gpu 75 do_cpu_vs_gpu ;;
    ops) stage ops 120 suite ops ;;
    networks) stage networks 180 suite networks ;;
    graphs) stage graphs 100 suite graphs ;;
    profile_streams) stage profile_streams 240 suite profile_streams ;;
    bench) stage bench 190 do_bench ;;
    serve) stage serve 75 bash -c 'INCEPTION_CPU_PREBUILD="$DEV/build/Release/inception_cpu.node" suite serve' ;;
    torch_bench) stage torch_bench 200 do_torch_bench ;;
    torch_compile) stage torch_compile 200 do_torch_compile ;;
    overlap) stage overlap 60 suite overlap ;;
    layer_profile) stage layer_profile 75 suite layer_profile ;;
    sibling_merge) stage sibling_merge 120 suite sibling_merge ;;
    timm) stage timm 80 "$PY" "$DEV/bench/gpu/timm_compare.py" "$WORK" "$DEV/fixtures" ;;
    report) BUDGET=$(( BUDGET + 15 )) stage report 30 suite report ;;
    *) echo "unknown stage '$s'"; SUMMARY+=("$(printf '%-14s %-8s %5s' "$s" unknown -)") ;;
  esac
done

# The decisions made in this call come back as a file of their own, to commit as bench/gpu/algos.json.
[ -f "$WORK/algos.json" ] && cp "$WORK/algos.json" "$OUT/algos.json"

echo
echo "=== summary ($(elapsed)s total)"
printf '%-14s %-8s %6s\n' stage status time
for line in "${SUMMARY[@]}"; do echo "$line"; done
ls -la "$OUT"
