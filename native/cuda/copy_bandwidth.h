// The memory-bandwidth roof of one GPU: a device-to-device copy between two fresh buffers, timed
// with CUDA events on a stream of its own (the per-layer profile's "bytes/s against the roof").
#pragma once

#include <cstddef>

namespace inception::cuda {

struct CopyBandwidth {
  // Bytes one copy moves: what it reads plus what it writes (2 x the buffer).
  size_t bytes_per_copy = 0;
  // The best trial's time of one copy (each trial: `repeats` copies between two events).
  double best_ms = 0;
  int repeats = 0;
  int trials = 0;
};

// E_INVALID_ARGUMENT unless 1 MiB <= bytes <= 16 GiB, 1 <= repeats <= 1000, 1 <= trials <= 100.
void CheckCopyBandwidthArgs(size_t bytes, int repeats, int trials);

// Copies a `bytes` buffer (filled with a non-zero pattern) `repeats` times per trial, `trials`
// trials after two untimed copies. Allocates 2 x bytes of device memory for the call only.
// Throws inception::Error (E_INVALID_ARGUMENT for sizes out of range; E_NATIVE for CUDA failures).
CopyBandwidth MeasureCopyBandwidth(int device, size_t bytes, int repeats, int trials);

}  // namespace inception::cuda
