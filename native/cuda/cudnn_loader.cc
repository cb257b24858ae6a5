#include "cuda/cudnn_loader.h"

#include <dlfcn.h>
#include <glob.h>
#include <sys/stat.h>

#include <cstdlib>
#include <mutex>

#include "cuda/cuda_error.h"

namespace inception::cuda {
namespace {

constexpr const char* kInstallHint =
    "install cuDNN 9 (e.g. `pip install nvidia-cudnn-cu13` in a Python virtual environment, "
    "then set VIRTUAL_ENV or INCEPTION_CUDNN_SEARCH to it) or set INCEPTION_CUDNN_PATH to libcudnn.so.9 "
    "or to the folder holding it";

std::mutex g_mutex;
cudnn::Api g_api;
bool g_loaded = false;
CudnnLoadInfo g_info;

bool IsFile(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
bool IsDir(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
std::string DirName(const std::string& p) {
  size_t slash = p.find_last_of('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}
std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}
std::vector<std::string> Glob(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g{};
  if (glob(pattern.c_str(), 0, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  }
  globfree(&g);
  return out;
}
std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}
std::string DlError() {
  const char* e = dlerror();
  return e ? e : "unknown dlopen error";
}

// Site-packages roots that may hold nvidia/cudnn/lib, most specific first.
std::vector<std::string> CandidateSitePackages() {
  std::vector<std::string> roots;
  auto add_env_root = [&](const std::string& root) {
    for (auto& p : Glob(root + "/lib/python3*/site-packages")) roots.push_back(p);
    for (auto& p : Glob(root + "/lib64/python3*/site-packages")) roots.push_back(p);
  };
  for (const auto& extra : Split(Env("INCEPTION_CUDNN_SEARCH"), ':')) {
    roots.push_back(extra);
    add_env_root(extra);
  }
  if (!Env("VIRTUAL_ENV").empty()) add_env_root(Env("VIRTUAL_ENV"));
  for (auto& venv : Glob("/opt/*/.venv")) add_env_root(venv);
  for (auto& opt : Glob("/opt/*")) add_env_root(opt);
  for (auto& p : Glob("/usr/local/lib/python3*/dist-packages")) roots.push_back(p);
  for (auto& p : Glob("/usr/local/lib/python3*/site-packages")) roots.push_back(p);
  for (auto& p : Glob("/usr/lib/python3*/dist-packages")) roots.push_back(p);
  if (!Env("HOME").empty()) {
    for (auto& p : Glob(Env("HOME") + "/.local/lib/python3*/site-packages")) roots.push_back(p);
  }
  return roots;
}

struct Located {
  std::string shim;            // absolute path of libcudnn.so.9, or "" when found by soname
  std::string site_packages;   // "" unless from a wheel
  std::string source;
};

// Returns the shim to open, or false with info.error set.
bool Locate(CudnnLoadInfo& info, Located& out) {
  const std::string explicit_path = Env("INCEPTION_CUDNN_PATH");
  if (!explicit_path.empty()) {
    out.source = "INCEPTION_CUDNN_PATH";
    info.searched.push_back(explicit_path);
    if (IsFile(explicit_path)) {
      out.shim = explicit_path;
      return true;
    }
    if (IsDir(explicit_path)) {
      for (const char* rel : {"/libcudnn.so.9", "/lib/libcudnn.so.9", "/lib64/libcudnn.so.9", "/nvidia/cudnn/lib/libcudnn.so.9"}) {
        std::string p = explicit_path + rel;
        info.searched.push_back(p);
        if (IsFile(p)) {
          out.shim = p;
          return true;
        }
      }
      info.error = "INCEPTION_CUDNN_PATH=" + explicit_path + " is a folder without libcudnn.so.9 (looked in it, lib/, lib64/ and nvidia/cudnn/lib/); point it at libcudnn.so.9 or unset it to search the usual places";
      return false;
    }
    info.error = "INCEPTION_CUDNN_PATH=" + explicit_path + " does not exist; point it at libcudnn.so.9 (or the folder holding it), or unset it to search the usual places";
    return false;
  }
  // The dynamic loader's own path (LD_LIBRARY_PATH, ld.so.cache).
  info.searched.push_back("libcudnn.so.9 (dynamic loader path)");
  if (void* h = dlopen("libcudnn.so.9", RTLD_NOW | RTLD_GLOBAL)) {
    void* sym = dlsym(h, "cudnnGetVersion");
    Dl_info dl{};
    if (sym && dladdr(sym, &dl) && dl.dli_fname) {
      out.shim = dl.dli_fname;
      out.source = "loader path";
      return true;
    }
  }
  for (const auto& root : CandidateSitePackages()) {
    std::string p = root + "/nvidia/cudnn/lib/libcudnn.so.9";
    info.searched.push_back(root + "/nvidia/cudnn/lib");
    if (IsFile(p)) {
      out.shim = p;
      out.site_packages = root;
      out.source = "python wheel";
      return true;
    }
  }
  info.error = "cuDNN 9 (libcudnn.so.9) was not found; " + std::string(kInstallHint);
  return false;
}

// dlopen by absolute path (or soname); records it. Returns "" or the error.
std::string Preload(CudnnLoadInfo& info, const std::string& path) {
  if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) return DlError();
  info.libraries.push_back(path);
  return "";
}

// The first candidate that opens; candidates without '/' are sonames for the loader path.
bool PreloadFirst(CudnnLoadInfo& info, const std::vector<std::string>& candidates, std::string& errors) {
  for (const auto& c : candidates) {
    if (c.find('/') != std::string::npos && !IsFile(c)) continue;
    std::string err = Preload(info, c);
    if (err.empty()) return true;
    errors += "\n  " + c + ": " + err;
  }
  return false;
}

bool PreloadDependencies(CudnnLoadInfo& info, const Located& where) {
  const std::string dir = DirName(where.shim);
  std::string sp = where.site_packages;
  if (sp.empty() && dir.size() > 17 && dir.compare(dir.size() - 17, 17, "/nvidia/cudnn/lib") == 0) {
    sp = dir.substr(0, dir.size() - 17);  // a wheel folder given explicitly
  }
  std::vector<std::string> cublas, nvrtc;
  if (!sp.empty()) {
    cublas = {sp + "/nvidia/cu13/lib/libcublasLt.so.13", sp + "/nvidia/cublas/lib/libcublasLt.so.13",
              sp + "/nvidia/cublas/lib/libcublasLt.so.12"};
    nvrtc = {sp + "/nvidia/cu13/lib/libnvrtc.so.13", sp + "/nvidia/cuda_nvrtc/lib/libnvrtc.so.13",
             sp + "/nvidia/cuda_nvrtc/lib/libnvrtc.so.12"};
    // Any other nvidia/*/lib folder of the same environment (wheel layouts change between CUDA versions).
    for (const char* so : {"libcublasLt.so.13", "libcublasLt.so.12"}) {
      for (auto& p : Glob(sp + "/nvidia/*/lib/" + so)) cublas.push_back(p);
    }
    for (const char* so : {"libnvrtc.so.13", "libnvrtc.so.12"}) {
      for (auto& p : Glob(sp + "/nvidia/*/lib/" + so)) nvrtc.push_back(p);
    }
  }
  for (const char* so : {"libcublasLt.so.13", "libcublasLt.so.12"}) {
    cublas.push_back(dir + "/" + so);
    cublas.push_back(so);
  }
  for (const char* so : {"libnvrtc.so.13", "libnvrtc.so.12"}) {
    nvrtc.push_back(dir + "/" + so);
    nvrtc.push_back(so);
  }
  std::string errors;
  if (!PreloadFirst(info, cublas, errors)) {
    info.error = "cuDNN was found at " + dir +
                 " but cuBLASLt (libcublasLt.so.13 or .12), which its convolutions need, was not: install "
                 "`pip install nvidia-cublas` (CUDA 13) or `nvidia-cublas-cu12` next to the cuDNN wheel, or add its "
                 "folder to LD_LIBRARY_PATH" + errors;
    return false;
  }
  std::string nvrtc_errors;
  const bool have_nvrtc = PreloadFirst(info, nvrtc, nvrtc_errors);
  struct Sub { const char* file; bool required; };
  const Sub subs[] = {{"libcudnn_graph.so.9", true},
                      {"libcudnn_ops.so.9", true},
                      {"libcudnn_heuristic.so.9", true},
                      {"libcudnn_engines_precompiled.so.9", true},
                      {"libcudnn_engines_runtime_compiled.so.9", false},
                      {"libcudnn_cnn.so.9", true}};
  for (const auto& sub : subs) {
    const std::string path = dir + "/" + sub.file;
    if (!IsFile(path)) {
      if (!sub.required) continue;
      info.error = "the cuDNN installation at " + dir + " is incomplete: " + sub.file +
                   " is missing; reinstall it (`pip install --force-reinstall nvidia-cudnn-cu13`)";
      return false;
    }
    if (!sub.required && !have_nvrtc) continue;  // runtime-compiled engines need nvrtc
    std::string err = Preload(info, path);
    if (!err.empty()) {
      if (!sub.required) continue;
      info.error = "cannot load " + path + ": " + err;
      return false;
    }
  }
  return true;
}

bool ResolveSymbols(CudnnLoadInfo& info, void* shim, cudnn::Api& api) {
#define INCEPTION_RESOLVE_REQUIRED(member, symbol, type)                                             \
  api.member = reinterpret_cast<cudnn::type>(dlsym(shim, #symbol));                                   \
  if (api.member == nullptr) {                                                                        \
    info.error = info.path + " does not export " #symbol "; this backend needs cuDNN 9.x";            \
    return false;                                                                                     \
  }
#define INCEPTION_RESOLVE_OPTIONAL(member, symbol, type) \
  api.member = reinterpret_cast<cudnn::type>(dlsym(shim, #symbol));
  CUDNN_REQUIRED_FUNCTIONS(INCEPTION_RESOLVE_REQUIRED)
  CUDNN_OPTIONAL_FUNCTIONS(INCEPTION_RESOLVE_OPTIONAL)
#undef INCEPTION_RESOLVE_REQUIRED
#undef INCEPTION_RESOLVE_OPTIONAL
  return true;
}

}  // namespace

std::string CudnnVersionString(size_t v) {
  if (v < 10000) return std::to_string(v);
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

CudnnLoadInfo LoadCudnn() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_loaded) return g_info;
  CudnnLoadInfo info;
  Located where;
  if (!Locate(info, where)) {
    g_info = info;
    return info;
  }
  info.path = where.shim;
  info.source = where.source;
  if (!PreloadDependencies(info, where)) {
    g_info = info;
    return info;
  }
  void* shim = dlopen(where.shim.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (shim == nullptr) {
    info.error = "cannot load " + where.shim + ": " + DlError();
    g_info = info;
    return info;
  }
  info.libraries.push_back(where.shim);
  cudnn::Api api;
  if (!ResolveSymbols(info, shim, api)) {
    g_info = info;
    return info;
  }
  info.version = api.GetVersion();
  info.cudart_version = api.GetCudartVersion();
  if (info.version < 90000 || info.version >= 100000) {
    info.error = where.shim + " is cuDNN " + CudnnVersionString(info.version) +
                 " (version number " + std::to_string(info.version) + "); this backend needs cuDNN 9.x: " + kInstallHint;
    g_info = info;
    return info;
  }
  if (info.version == 91000) {
    info.error = where.shim + " is cuDNN 9.10.0, which shipped reordered data-type values (fixed in 9.10.1); upgrade it";
    g_info = info;
    return info;
  }
  info.loaded = true;
  g_api = api;
  g_loaded = true;
  g_info = info;
  return info;
}

const cudnn::Api* LoadedCudnnApi() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_loaded ? &g_api : nullptr;
}

const cudnn::Api& RequireCudnn() {
  if (const cudnn::Api* api = LoadedCudnnApi()) return *api;
  CudnnLoadInfo info = LoadCudnn();
  if (!info.loaded) throw Error(kCodeBackendUnavailable, "", info.error, "LoadCudnn");
  return g_api;
}

}  // namespace inception::cuda
