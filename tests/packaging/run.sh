#!/usr/bin/env bash
# The packaging test: what a user meets after `npm install inception-cudnn` on a machine that has
# only Node.js. It makes the prebuilds and the tarball, then installs the tarball with
# --ignore-scripts into an empty project inside a bare Debian bookworm root (debootstrap
# --variant=minbase, with only node and npm copied in: no compiler, no cmake, no python, no
# libdnnl, no libgomp) and there runs, as a user would:
#   1. the CLI's `predict` on the sample image: its output must equal the repository's;
#   2. an ES module that imports the package and runs a batch;
#   3. a TypeScript consumer (--strict, node16 resolution; ESM and CommonJS files) type-checked;
#   4. two worker_threads and the main thread running sessions at once, outputs bitwise equal;
#   5. 50 cycles of a worker that creates a session, runs it and exits: no program alive after each,
#      malloc in use flat (exact leak check), RSS within a coarse bound.
# Needs root (debootstrap, chroot, mounting /proc) and the Debian and npm registries. The bare root
# is cached in $INCEPTION_ROOT_CACHE (default /var/cache/inception-cudnn) and copied for each run.
# Usage: bash tests/packaging/run.sh [--keep]   (--keep leaves the work folder for inspection)
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)

say() { printf 'packaging: %s\n' "$*"; }
fail() { printf 'packaging: FAIL: %s\n' "$*" >&2; exit 1; }
keep=false
[ "${1:-}" = "--keep" ] && keep=true
t_start=$(date +%s)
elapsed() { echo "$(( $(date +%s) - t_start )) s"; }

[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, chroot, mount); run it as root or in CI"
if ! command -v debootstrap >/dev/null 2>&1; then
  say "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >/dev/null \
    || { DEBIAN_FRONTEND=noninteractive apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >/dev/null; }
fi

# --- the package ---------------------------------------------------------------------------------
work=$(mktemp -d /tmp/inception-packaging.XXXXXX)
root="$work/root"
cleanup() {
  for m in proc sys dev/pts; do mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m" || true; done
  if [ "$keep" = true ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

say "npm run prebuild"
npm run --silent prebuild > "$work/prebuild.log" 2>&1 || { tail -40 "$work/prebuild.log"; fail "npm run prebuild failed"; }
npm run --silent build:ts > "$work/build-ts.log" 2>&1 || { tail -40 "$work/build-ts.log"; fail "npm run build:ts failed"; }
say "npm pack"
npm pack --json --pack-destination "$work" > "$work/pack.json" 2> "$work/pack.log" || { cat "$work/pack.log"; fail "npm pack failed"; }
tarball="$work/$(node -p 'require(process.argv[1])[0].filename' "$work/pack.json")"
node - "$work/pack.json" <<'EOF' || fail "the tarball's contents are wrong (see above)"
const [pack] = require(process.argv[2]);
const files = new Set(pack.files.map((f) => f.path));
const must = ['package.json', 'README.md', 'LICENSE', 'lib/index.js', 'lib/index.mjs', 'lib/index.d.ts', 'lib/index.d.mts', 'lib/cli.js',
  'prebuilds/linux-x64/inception_cpu.node', 'prebuilds/linux-x64/inception_cuda.node', 'prebuilds/linux-x64/libdnnl.so.2',
  'prebuilds/linux-x64/libgomp.so.1', 'prebuilds/linux-x64/manifest.json', 'CMakeLists.txt', 'native/cpu/CMakeLists.txt', 'data/samples/gradient.jpg',
  'data/grpc/open_inference_grpc.proto', 'data/grpc/inference_extensions.proto'];
const missing = must.filter((f) => !files.has(f));
const forbidden = [...files].filter((f) => /^(tests|bench\/results|src|scripts|build)\/|\.map$|\.tgz$/.test(f));
const licenses = [...files].filter((f) => f.startsWith('prebuilds/linux-x64/licenses/'));
console.log(`packaging: ${pack.filename}: ${(pack.size / 1e6).toFixed(1)} MB packed, ${(pack.unpackedSize / 1e6).toFixed(1)} MB unpacked, ${pack.entryCount} files, ${licenses.length} bundled licenses`);
if (missing.length > 0) console.error(`missing: ${missing.join(', ')}`);
if (forbidden.length > 0) console.error(`must not ship: ${forbidden.slice(0, 10).join(', ')}`);
if (licenses.length < 2) console.error('the bundled libraries carry no license files');
if (pack.size > 25e6) console.error(`the tarball is over the 25 MB budget: ${pack.size} bytes`);
process.exitCode = missing.length > 0 || forbidden.length > 0 || licenses.length < 2 || pack.size > 25e6 ? 1 : 0;
EOF

# --- the bare root -------------------------------------------------------------------------------
cache="${INCEPTION_ROOT_CACHE:-/var/cache/inception-cudnn}/bookworm-minbase"
if [ ! -f "$cache/.complete" ]; then
  say "debootstrap --variant=minbase bookworm into $cache (cached for later runs)"
  rm -rf "$cache"
  mkdir -p "$(dirname "$cache")"
  debootstrap --variant=minbase bookworm "$cache" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" > "$work/debootstrap.log" 2>&1 \
    || { tail -30 "$work/debootstrap.log"; rm -rf "$cache"; fail "debootstrap failed"; }
  rm -rf "$cache/var/cache/apt/archives/"*.deb
  touch "$cache/.complete"
else
  say "bare root from the cache $cache"
fi
cp -a "$cache" "$root"

node_bin=$(command -v node)
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
mkdir -p "$root/usr/local/bin" "$root/usr/local/lib/node_modules" "$root/etc/ssl/certs" "$root/work/app"
cp "$node_bin" "$root/usr/local/bin/node"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
[ -f /etc/hosts ] && cp -L /etc/hosts "$root/etc/hosts"
printf 'cafile=/etc/ssl/certs/ca-certificates.crt\nregistry=%s\nfund=false\naudit=false\nupdate-notifier=false\n' "$(npm config get registry)" > "$root/root/.npmrc"
cp "$tarball" "$root/work/"
cp tests/packaging/consumer/* "$root/work/app/"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys" 2>/dev/null || mount --bind /sys "$root/sys" 2>/dev/null || say "note: /sys is not mounted in the root"

in_root() { chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 /bin/sh -c "$1"; }

# Nothing but Node is there: the test is void if a compiler or a system oneDNN could rescue it.
absent=$(in_root 'for t in gcc cc g++ c++ cmake make python3 python; do command -v $t; done; ls /usr/lib/x86_64-linux-gnu/libdnnl.so* /usr/lib/x86_64-linux-gnu/libgomp.so* /usr/lib/x86_64-linux-gnu/libOpenCL.so* 2>/dev/null' || true)
[ -z "$absent" ] || fail "the bare root is not bare: $absent"
say "bare root ready ($(elapsed)): node $(in_root 'node --version'), npm $(in_root 'npm --version'); no compiler, cmake, python, libdnnl, libgomp"

# --- install as a user would ---------------------------------------------------------------------
in_root "cd /work/app && npm init -y >/dev/null && npm install --ignore-scripts --no-audit --no-fund /work/$(basename "$tarball") typescript@5 @types/node@20" > "$work/install.log" 2>&1 \
  || { tail -30 "$work/install.log"; fail "npm install of the tarball failed in the bare root"; }
say "installed the tarball with --ignore-scripts ($(elapsed))"
pkg=/work/app/node_modules/inception-cudnn
readelf -d "$root$pkg/prebuilds/linux-x64/inception_cpu.node" | grep -E 'NEEDED|RUNPATH|RPATH' | sed 's/^ */packaging:   readelf -d /'
ldd_out=$(in_root "ldd $pkg/prebuilds/linux-x64/inception_cpu.node")
printf '%s\n' "$ldd_out" | sed 's/^/packaging:   ldd /'
for lib in libdnnl.so.2 libgomp.so.1; do
  printf '%s\n' "$ldd_out" | grep -q "$lib => $pkg/prebuilds/linux-x64/$lib" || fail "$lib does not resolve inside the prebuild folder"
done
printf '%s\n' "$ldd_out" | grep -q 'not found' && fail "a library of the CPU module is not found in the bare root"

# 1. The CLI, against the repository's own output on the same image.
expected=$(node lib/cli.js predict --model inception_v4 --weights synthetic --no-benchmark data/samples/gradient.jpg 2>/dev/null)
in_root "mkdir -p /work/app/data/samples && cp $pkg/data/samples/gradient.jpg /work/app/data/samples/"
actual=$(in_root "cd /work/app && npx --no-install inception-cudnn predict --model inception_v4 --weights synthetic --no-benchmark data/samples/gradient.jpg" 2> "$work/predict.err") \
  || { cat "$work/predict.err"; fail "predict failed in the bare root"; }
[ "$actual" = "$expected" ] || fail "predict printed
  $actual
in the bare root but
  $expected
in the repository"
say "1/5 predict: same output as the repository: $(printf '%s' "$actual" | cut -c1-110)..."

# 2-5. The consumers.
in_root "cd /work/app && node esm-batch.mjs" | sed 's/^/packaging: 2\/5 /' || fail "the ESM consumer failed"
in_root "cd /work/app && npx --no-install tsc -p tsconfig.json" || fail "the TypeScript consumer does not type-check against the installed package"
say "3/5 TypeScript consumer (strict, node16; .mts and .cts) type-checks"
in_root "cd /work/app && node workers.mjs" | sed 's/^/packaging: 4\/5 /' || fail "the worker_threads check failed"
in_root "cd /work/app && node --expose-gc worker-cycles.mjs" | sed 's/^/packaging: 5\/5 /' || fail "the worker cycles check failed"

say "PASS in $(elapsed)"
