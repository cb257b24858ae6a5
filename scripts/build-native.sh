#!/usr/bin/env bash
# npm run build:native: configure, then build, the native modules (build/Release/*.node).
#   bash scripts/build-native.sh [--out DIR] [--configure-only] [cmake-js options, e.g. --CDNAME=VALUE]
# It configures every time (a few seconds): CMake then searches again for what it did not find
# the last time (oneDNN, nvcc), so a build folder made before `apt-get install libdnnl-dev` picks
# the library up. `cmake-js compile` alone only rebuilt the stale configuration, which had left
# the CPU module out, until build/ was deleted by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build
configure_only=false
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --configure-only) configure_only=true; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
npx --no-install cmake-js configure --out "$out" ${args[@]+"${args[@]}"}
[ "$configure_only" = true ] && exit 0
npx --no-install cmake-js build --out "$out"
