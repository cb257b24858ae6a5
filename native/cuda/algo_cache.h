// On-disk cache of chosen convolution algorithms, shared by every program in the process.
// File: $INCEPTION_CUDNN_ALGO_CACHE, else $XDG_CACHE_HOME/inception-cudnn/algos.json, else
// ~/.cache/inception-cudnn/algos.json; INCEPTION_CUDNN_ALGO_CACHE=off disables it.
// Format: {"version":2,"entries":{"<key>":[algo,mathType] or [algo,mathType,split,viaScratch],...}}.
// Two values (version 1 and the heuristic mode): the algorithm only (algo -1: no algorithm writes
// the strided output view, use the scratch path). Four values (mode "timed", benchmark: true): the
// whole timed decision for the step's real output view. A version-1 file loads as is; its entries
// have other keys ("find") than timed decisions, so they are simply not used for them. The key
// names the GPU, the cuDNN version, the precision, the search mode and every shape/stride of the
// convolution.
// Five values (mode "timed" with the graph API, on unless INCEPTION_CUDA_GRAPH_API=0; keys end in
// "|graph-api"): a graph-API decision [engineId, -2, 0, 0, configIndex]: -2 (kGraphEngineMarker)
// in the math-type slot marks it, so it can never be read as a legacy algorithm number; the
// engine's global index and its position in the heuristics' list (mode A, then FALLBACK) re-find
// the same engine config. Legacy decisions under those keys keep the four-value form.
// A corrupt or unreadable file is ignored (and rewritten): the cache only saves time.
#pragma once

#include <string>

namespace inception::cuda {

// CachedAlgo.algo of an entry that records "no algorithm writes this strided output view"
// (the conv then goes straight to its packed scratch output).
inline constexpr int kNoAlgorithmForView = -1;
// CachedAlgo.math_type of a graph-API decision (its algo is then the engine's global index).
inline constexpr int kGraphEngineMarker = -2;

struct CachedAlgo {
  int algo = 0;
  int math_type = 0;
  // A whole timed decision (four values on disk): the execution path below is meaningful.
  bool has_path = false;
  bool split = false;
  bool via_scratch = false;
  // A graph-API decision (five values on disk): algo = the engine's global index, math_type =
  // kGraphEngineMarker, graph_config = its index in the heuristics' list.
  bool graph = false;
  int graph_config = 0;
};

bool LookupCachedAlgo(const std::string& key, CachedAlgo* out);
void StoreCachedAlgo(const std::string& key, const CachedAlgo& value);
// Writes the file if anything was stored since the last save (errors are ignored).
void SaveAlgoCache();
// The file in use ("" when disabled).
std::string AlgoCachePath();

}  // namespace inception::cuda
