#include "cuda/algo_cache.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

namespace inception::cuda {
namespace {

std::mutex g_mutex;
bool g_loaded = false;
bool g_dirty = false;
std::map<std::string, CachedAlgo> g_entries;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

void MakeDirs(const std::string& dir) {
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') mkdir(dir.substr(0, i).c_str(), 0755);
  }
}

// Parses the entries object; stops at the first thing it does not understand.
void Parse(const std::string& text) {
  size_t pos = text.find("\"entries\"");
  if (pos == std::string::npos) return;
  pos = text.find('{', pos);
  while (pos != std::string::npos) {
    size_t k0 = text.find('"', pos + 1);
    if (k0 == std::string::npos) return;
    size_t k1 = text.find('"', k0 + 1);
    size_t b0 = text.find('[', k1);
    size_t b1 = text.find(']', b0);
    if (k1 == std::string::npos || b0 == std::string::npos || b1 == std::string::npos) return;
    CachedAlgo v;
    int split = 0, via_scratch = 0, graph_config = 0;
    const int fields = std::sscanf(text.c_str() + b0, "[%d,%d,%d,%d,%d]", &v.algo, &v.math_type, &split,
                                   &via_scratch, &graph_config);
    if (fields != 2 && fields != 4 && fields != 5) return;
    // Five values are a graph-API decision only with its marker (anything else: not ours, stop).
    if (fields == 5 && (v.math_type != kGraphEngineMarker || graph_config < 0)) return;
    v.has_path = fields >= 4;
    v.graph = fields == 5;
    v.graph_config = v.graph ? graph_config : 0;
    v.split = split != 0;
    v.via_scratch = via_scratch != 0;
    g_entries[text.substr(k0 + 1, k1 - k0 - 1)] = v;
    pos = text.find(',', b1);
  }
}

void LoadLocked() {
  if (g_loaded) return;
  g_loaded = true;
  const std::string path = AlgoCachePath();
  if (path.empty()) return;
  std::ifstream in(path);
  if (!in) return;
  std::stringstream ss;
  ss << in.rdbuf();
  Parse(ss.str());
}

std::string Sanitize(const std::string& key) {
  std::string out;
  for (char ch : key) out += (ch == '"' || ch == '\\' || static_cast<unsigned char>(ch) < 32) ? '_' : ch;
  return out;
}

}  // namespace

std::string AlgoCachePath() {
  const std::string explicit_path = Env("INCEPTION_CUDNN_ALGO_CACHE");
  if (explicit_path == "off") return "";
  if (!explicit_path.empty()) return explicit_path;
  if (!Env("XDG_CACHE_HOME").empty()) return Env("XDG_CACHE_HOME") + "/inception-cudnn/algos.json";
  if (!Env("HOME").empty()) return Env("HOME") + "/.cache/inception-cudnn/algos.json";
  return "";
}

bool LookupCachedAlgo(const std::string& key, CachedAlgo* out) {
  std::lock_guard<std::mutex> lock(g_mutex);
  LoadLocked();
  auto it = g_entries.find(Sanitize(key));
  if (it == g_entries.end()) return false;
  *out = it->second;
  return true;
}

void StoreCachedAlgo(const std::string& key, const CachedAlgo& value) {
  std::lock_guard<std::mutex> lock(g_mutex);
  LoadLocked();
  CachedAlgo v = value;
  if (v.graph) {  // the on-disk form marks it; never readable as a legacy algorithm
    v.math_type = kGraphEngineMarker;
    v.has_path = true;
    v.split = v.via_scratch = false;
  }
  g_entries[Sanitize(key)] = v;
  g_dirty = true;
}

void SaveAlgoCache() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_dirty) return;
  const std::string path = AlgoCachePath();
  if (path.empty()) return;
  size_t slash = path.find_last_of('/');
  if (slash != std::string::npos) MakeDirs(path.substr(0, slash));
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp);
    if (!out) return;
    out << "{\"version\":2,\"entries\":{";
    bool first = true;
    for (const auto& [k, v] : g_entries) {
      out << (first ? "\n" : ",\n") << "\"" << k << "\":[" << v.algo << "," << v.math_type;
      if (v.graph) {
        out << ",0,0," << v.graph_config;  // math_type is kGraphEngineMarker
      } else if (v.has_path) {
        out << "," << (v.split ? 1 : 0) << "," << (v.via_scratch ? 1 : 0);
      }
      out << "]";
      first = false;
    }
    out << "\n}}\n";
    if (!out) return;
  }
  if (std::rename(tmp.c_str(), path.c_str()) == 0) g_dirty = false;
  else std::remove(tmp.c_str());
}

}  // namespace inception::cuda
