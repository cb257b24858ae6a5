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
// A corrupt or unreadable file is ignored (and rewritten): the cache only saves time.
#pragma once

#include <string>

namespace inception::cuda {

// CachedAlgo.algo of an entry that records "no algorithm writes this strided output view"
// (the conv then goes straight to its packed scratch output).
inline constexpr int kNoAlgorithmForView = -1;

struct CachedAlgo {
  int algo = 0;
  int math_type = 0;
  // A whole timed decision (four values on disk): the execution path below is meaningful.
  bool has_path = false;
  bool split = false;
  bool via_scratch = false;
};

bool LookupCachedAlgo(const std::string& key, CachedAlgo* out);
void StoreCachedAlgo(const std::string& key, const CachedAlgo& value);
// Writes the file if anything was stored since the last save (errors are ignored).
void SaveAlgoCache();
// The file in use ("" when disabled).
std::string AlgoCachePath();

}  // namespace inception::cuda
