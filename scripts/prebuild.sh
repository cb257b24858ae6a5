#!/usr/bin/env bash
# npm run prebuild (npm also runs it before `npm run build`): builds the native modules into
# build/Release, then writes their packaged layout, prebuilds/linux-x64/:
#   inception_cpu.node, inception_cuda.node   Node-API modules (one binary for Node 20, 22, 24)
#   libdnnl.so.2, libgomp.so.1, ...            every library the CPU module needs beyond glibc,
#                                              libstdc++ and libgcc, found through its $ORIGIN run path
#   licenses/<debian-package>.copyright        the bundled libraries' licenses
#   manifest.json                              what was bundled, from which package version
# The CUDA module links the CUDA runtime statically and opens cuDNN at run time: nothing is
# bundled for it (cuDNN never is). Needs a source build's tools (scripts/setup.sh) and patchelf.
# Where nvcc is missing the layout holds the CPU module only, and says so; a machine with nvcc
# that fails to build the CUDA module fails here. The packaged tarball needs both (the packaging
# test, tests/packaging/run.sh, checks it).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'prebuild: %s\n' "$*"; }
fail() { printf 'prebuild: error: %s\n' "$*" >&2; exit 1; }

[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || fail "prebuilds are made on linux-x64 only (this is $(uname -s)-$(uname -m))"
for tool in ldd readelf strip patchelf dpkg-query; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing (Debian: apt-get install binutils patchelf)"
done

npm run build:native
out=prebuilds/linux-x64
modules=(inception_cpu)
[ -f build/Release/inception_cpu.node ] || fail "build/Release/inception_cpu.node was not built (see the cmake output above; oneDNN headers: apt-get install libdnnl-dev)"
if [ -f build/Release/inception_cuda.node ]; then
  modules+=(inception_cuda)
elif command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ] || [ -n "${CUDACXX:-}" ]; then
  fail "nvcc is installed but build/Release/inception_cuda.node was not built (see the cmake output above)"
else
  printf 'prebuild: WARNING: no nvcc here, so %s holds the CPU module only; a package made from it has no CUDA backend\n' "$out" >&2
fi

rm -rf "$out"
mkdir -p "$out/licenses"
for m in "${modules[@]}"; do
  cp "build/Release/$m.node" "$out/$m.node"
  strip --strip-unneeded "$out/$m.node"
done

# Libraries that every supported Linux has; everything else the modules load travels with them.
system_lib() {
  case "$1" in
    linux-vdso.so.* | ld-linux-x86-64.so.* | libc.so.* | libm.so.* | libdl.so.* | libpthread.so.* | librt.so.* | libstdc++.so.* | libgcc_s.so.*) return 0 ;;
    *) return 1 ;;
  esac
}

# ldd lists the whole dependency tree; resolve against the build tree's view (system paths).
manifest_libs=()
while read -r soname path; do
  system_lib "$soname" && continue
  [ -f "$path" ] || fail "$soname is needed by the CPU module but ldd did not resolve it ($path)"
  cp -L "$path" "$out/$soname"
  chmod 0755 "$out/$soname"
  # Bundled libraries find each other in the same folder too (libdnnl.so.2 needs libgomp.so.1 and
  # libOpenCL.so.1 even when something other than our module loads it first).
  patchelf --set-rpath '$ORIGIN' "$out/$soname"
  real=$(readlink -f "$path")
  package=$(dpkg-query -S "$real" 2>/dev/null | head -1 | cut -d: -f1) || true
  [ -n "$package" ] || package=$(dpkg-query -S "$path" 2>/dev/null | head -1 | cut -d: -f1) || true
  [ -n "$package" ] || fail "cannot tell which Debian package holds $path, so its license cannot be bundled"
  version=$(dpkg-query -W -f '${Version}' "$package")
  copyright="/usr/share/doc/$package/copyright"
  [ -f "$copyright" ] || fail "$copyright is missing: the license of $soname cannot be bundled"
  cp -L "$copyright" "$out/licenses/$package.copyright"
  manifest_libs+=("{\"soname\":\"$soname\",\"package\":\"$package\",\"version\":\"$version\",\"license\":\"licenses/$package.copyright\"}")
  say "bundled $soname from $package $version"
done < <(ldd build/Release/inception_cpu.node | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }')

# The run path and the resolution, checked here rather than on a user's machine.
readelf -d "$out/inception_cpu.node" | grep -E 'R(UN)?PATH' | grep -q '\$ORIGIN' || fail "$out/inception_cpu.node has no \$ORIGIN run path (native/cpu/CMakeLists.txt)"
while read -r soname where; do
  system_lib "$soname" && continue
  [ "$(dirname "$(readlink -f "$where")")" = "$(readlink -f "$out")" ] || fail "$soname resolves to $where, not inside $out"
done < <(ldd "$out/inception_cpu.node" | awk '$2 == "=>" { print $1, $3 }')
if [ -f "$out/inception_cuda.node" ]; then
  for soname in $(ldd "$out/inception_cuda.node" | awk '$2 == "=>" { print $1 }'); do
    system_lib "$soname" || fail "inception_cuda.node needs $soname, which is not bundled (the CUDA runtime must be static)"
  done
fi

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
libs_json=$(IFS=,; echo "${manifest_libs[*]}")
cat > "$out/manifest.json" <<EOF
{
  "platform": "linux-x64",
  "libc": "glibc",
  "napiVersion": 8,
  "modules": [$(printf '"%s.node",' "${modules[@]}" | sed 's/,$//')],
  "bundledLibraries": [$libs_json],
  "builtFrom": "$commit",
  "builtOn": "$(. /etc/os-release && echo "$PRETTY_NAME"), glibc $(ldd --version | head -1 | awk '{ print $NF }')"
}
EOF
node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$out/manifest.json" || fail "manifest.json is not valid JSON"
du -sh "$out" | awk '{ print "prebuild: " $1 " in '"$out"'" }'
ls -l "$out"
