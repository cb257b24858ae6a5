#!/usr/bin/env bash
# One-time setup of a fresh clone: system packages (oneDNN, a C++ toolchain), npm dependencies,
# then the native modules and the TypeScript build. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }
fail() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# --- Node.js ---------------------------------------------------------------------------------
command -v node >/dev/null 2>&1 || fail "Node.js >= 20 is required: install it from https://nodejs.org or your package manager"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || fail "Node.js >= 20 is required, found $(node --version)"

# --- system packages -------------------------------------------------------------------------
missing=()
if [ ! -f /usr/include/dnnl.hpp ] && [ ! -f /usr/include/oneapi/dnnl/dnnl.hpp ]; then missing+=(libdnnl-dev); fi
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
if ! command -v make >/dev/null 2>&1 && ! command -v ninja >/dev/null 2>&1; then missing+=(make); fi
# npm run build also writes the packaged layout (scripts/prebuild.sh), which sets the bundled
# libraries' run path with patchelf.
command -v patchelf >/dev/null 2>&1 || missing+=(patchelf)

if [ "${#missing[@]}" -gt 0 ]; then
  install_cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    fail "missing system packages: ${missing[*]}. Install them (as root), then re-run this script:
    sudo sh -c '$install_cmd'"
  fi
  say "installing ${missing[*]} with apt-get"
  if ! { DEBIAN_FRONTEND=noninteractive apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; }; then
    fail "apt-get could not install ${missing[*]}. Install them by hand, then re-run this script:
    sudo sh -c '$install_cmd'"
  fi
else
  say "system packages present (oneDNN headers, cmake, g++, patchelf)"
fi

# --- npm dependencies ------------------------------------------------------------------------
# onnxruntime-node (tests and the CPU benchmark's peer) ships its CPU binaries inside the npm
# package; its postinstall would try to download GPU binaries from the network, so skip it.
export ONNXRUNTIME_NODE_INSTALL=skip
if [ -f package-lock.json ]; then
  if [ -f node_modules/.package-lock.json ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
    say "node_modules is up to date with package-lock.json"
  else
    say "npm ci"
    npm ci
  fi
else
  say "npm install (no package-lock.json)"
  npm install
fi

# --- build -----------------------------------------------------------------------------------
say "npm run build (native modules into build/Release and their packaged layout in prebuilds/linux-x64, then TypeScript into lib/)"
npm run build
[ -f build/Release/inception_cpu.node ] || fail "build/Release/inception_cpu.node was not built; see the cmake output above"
if [ -f build/Release/inception_cuda.node ]; then
  say "built the CPU (oneDNN) and CUDA (cuDNN) modules"
else
  say "built the CPU (oneDNN) module; the CUDA module was not built (no nvcc): the cpu device works, cuda does not"
fi
say "done. Try: node lib/cli.js info"
