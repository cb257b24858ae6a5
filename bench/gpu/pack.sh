#!/usr/bin/env bash
# Prepares the GPU check ON THE BUILD MACHINE (npm run device-check): builds the native modules
# and the TS it needs, then assembles .device/ (git-ignored, <= 60 MiB) for bench/gpu/run.sh:
#   node.xz                      this machine's /usr/bin/node, xz-compressed
#   js/                          compiled JS: bench/gpu/device-suite.js and what it imports (src/, tests/gpu/)
#   js/node_modules/             prom-client and its dependencies (the serve stage's server; sharp is not needed)
#   build/Release/inception_cuda.node, build/Release/inception_cpu.node (for the cpu_vs_gpu stage)
#   lib/libdnnl.so.2.xz, lib/libgomp.so.1, lib/libOpenCL.so.1   what inception_cpu.node links
#   fixtures/{plain,dcfree}/*_out_f64.npy, fixtures/tolerances.json
#   bench/gpu/{run.sh,timm_compare.py,torch_bench.py}
#   native/cuda/{check_decls.cc,cudnn_api.h}
#   meta.json                    commit, dirty files, date, tool versions
# Then, on the GPU machine (carry .device):   bash .device/bench/gpu/run.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEV="$ROOT/.device"
FIXTURES="${INCEPTION_FIXTURES:-$ROOT/../shared/fixtures}"
[ -d "$FIXTURES" ] || FIXTURES=/work/shared/fixtures
LIMIT=$(( 60 * 1024 * 1024 ))
cd "$ROOT"

echo "== building native modules (cmake-js)"
npx cmake-js compile --out build >/tmp/inception-pack-build.log 2>&1 || { tail -40 /tmp/inception-pack-build.log; exit 1; }
[ -f build/Release/inception_cuda.node ] || { echo "build/Release/inception_cuda.node was not built (is nvcc installed?)"; tail -20 /tmp/inception-pack-build.log; exit 1; }

echo "== compiling the device suite (tsc -p bench/gpu/tsconfig.json)"
rm -rf "$DEV/js" "$DEV/build" "$DEV/fixtures" "$DEV/bench" "$DEV/native" "$DEV/out"
npx tsc -p bench/gpu/tsconfig.json

echo "== assembling $DEV"
mkdir -p "$DEV/build/Release" "$DEV/fixtures/plain" "$DEV/fixtures/dcfree" "$DEV/bench/gpu" "$DEV/native/cuda"
if [ ! -f "$DEV/node.xz" ] || [ /usr/bin/node -nt "$DEV/node.xz" ]; then
  echo "compressing /usr/bin/node (about a minute)"
  xz -T2 -6 -c /usr/bin/node > "$DEV/node.xz.tmp" && mv "$DEV/node.xz.tmp" "$DEV/node.xz"
fi
cp build/Release/inception_cuda.node "$DEV/build/Release/"
strip --strip-unneeded "$DEV/build/Release/inception_cuda.node" 2>/dev/null || true
# The CPU module and the shared libraries it links (not on the GPU machine), for cpu_vs_gpu.
mkdir -p "$DEV/lib"
if [ -f build/Release/inception_cpu.node ]; then
  cp build/Release/inception_cpu.node "$DEV/build/Release/"
  strip --strip-unneeded "$DEV/build/Release/inception_cpu.node" 2>/dev/null || true
  lib_of() { ldd build/Release/inception_cpu.node | awk -v n="$1" '$1 == n { print $3 }'; }
  DNNL="$(lib_of libdnnl.so.2)"
  if [ -z "$DNNL" ] || [ ! -f "$DNNL" ]; then echo "warning: libdnnl.so.2 not found by ldd; cpu_vs_gpu will report it"; else
    DNNL="$(readlink -f "$DNNL")"
    if [ ! -f "$DEV/lib/libdnnl.so.2.xz" ] || [ "$DNNL" -nt "$DEV/lib/libdnnl.so.2.xz" ]; then
      echo "compressing $DNNL (about 20 s)"
      xz -T2 -6 -c "$DNNL" > "$DEV/lib/libdnnl.so.2.xz.tmp" && mv "$DEV/lib/libdnnl.so.2.xz.tmp" "$DEV/lib/libdnnl.so.2.xz"
    fi
  fi
  for soname in libgomp.so.1 libOpenCL.so.1; do
    path="$(ldd build/Release/inception_cpu.node | awk -v n="$soname" '$1 == n { print $3 }')"
    if [ -n "$path" ] && [ -f "$path" ]; then cp -L "$path" "$DEV/lib/$soname"; else echo "warning: $soname not found by ldd"; fi
  done
else
  echo "warning: build/Release/inception_cpu.node was not built; the cpu_vs_gpu stage will report it"
  rm -f "$DEV/build/Release/inception_cpu.node"
fi
for p in plain dcfree; do cp "$FIXTURES/$p/"*_out_f64.npy "$DEV/fixtures/$p/"; done
cp "$FIXTURES/tolerances.json" "$DEV/fixtures/"
# The server's run-time packages: prom-client and its dependency tree, found the way Node resolves them.
node -e '
  const fs = require("fs"), path = require("path");
  const dirOf = (name, from) => { for (let d = from; ; d = path.dirname(d)) { const c = path.join(d, "node_modules", name); if (fs.existsSync(path.join(c, "package.json"))) return c; if (d === path.dirname(d)) throw new Error(`${name} not found from ${from}`); } };
  const seen = new Map(), todo = [["prom-client", process.cwd()]];
  while (todo.length) { const [name, from] = todo.pop(); const dir = dirOf(name, from); if (seen.has(name)) continue; seen.set(name, dir);
    for (const dep of Object.keys(require(path.join(dir, "package.json")).dependencies ?? {})) todo.push([dep, dir]); }
  for (const [name, dir] of seen) console.log(name + " " + dir);
' | while read -r name dir; do mkdir -p "$DEV/js/node_modules/$(dirname "$name")"; cp -r "$dir" "$DEV/js/node_modules/$name"; echo "packed $name"; done
cp bench/gpu/run.sh bench/gpu/timm_compare.py bench/gpu/torch_bench.py bench/gpu/torch_compile.py bench/gpu/torch_ir_v1.py "$DEV/bench/gpu/"
# The algorithm decisions a previous GPU call brought back ($OUT/algos.json, committed as
# bench/gpu/algos.json): run.sh seeds its cache with them, so setup re-trials each cached decision
# instead of searching (the graph API made first setups ~5x slower). Keys name the GPU, the cuDNN
# version and every shape, so a different card or cuDNN simply misses and searches.
rm -f "$DEV/algos.json"
if [ -f bench/gpu/algos.json ]; then cp bench/gpu/algos.json "$DEV/algos.json"; echo "packed bench/gpu/algos.json"; fi
cp native/cuda/check_decls.cc native/cuda/cudnn_api.h "$DEV/native/cuda/"
cat > "$DEV/meta.json" <<JSON
{"commit": "$(git rev-parse HEAD)", "dirtyFiles": $(git status --porcelain | wc -l), "packedAt": "$(date -u +%Y-%m-%dT%H:%M:%SZ)", "node": "$(node --version)", "nvcc": "$(/usr/local/cuda/bin/nvcc --version 2>/dev/null | tail -1 | sed 's/"/ /g')"}
JSON

SIZE=$(du -sb "$DEV" | cut -f1)
echo "== .device is $SIZE bytes ($(( SIZE / 1024 / 1024 )) MiB; limit 60 MiB)"
du -sh "$DEV"/* | sort -h
if [ "$SIZE" -gt "$LIMIT" ]; then echo "too big: the device tool carries at most 64 MiB"; exit 1; fi
echo "== ready. On the GPU machine: carry ['.device'], command: bash .device/bench/gpu/run.sh"
