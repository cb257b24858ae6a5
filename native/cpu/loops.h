// Plain OpenMP loops for the cheap, memory-bound steps (they work on any layout and on views).
// Each writes zeros into the padded channels of its output buffer's last block when the output
// reaches the end of the buffer, as oneDNN primitives do, so no garbage is ever read as data.
#pragma once

#include <vector>

#include "cpu/layout.h"

namespace inception::cpu {

void ReluLoop(const TensorAccess& in, const TensorAccess& out);
// out = act(a + scale * b)
void ResidualAddLoop(const TensorAccess& a, const TensorAccess& b, const TensorAccess& out, float scale, bool relu);
// out = act(in * scale[c] + shift[c])
void AffineLoop(const TensorAccess& in, const TensorAccess& out, const float* scale, const float* shift, bool relu);
// Copies the inputs into consecutive channel slices of out.
void ConcatLoop(const std::vector<TensorAccess>& inputs, const TensorAccess& out);
// Per (image, position): out = x / max(||x||_2 over channels, eps)   (torch.nn.functional.normalize)
void L2NormLoop(const TensorAccess& in, const TensorAccess& out, float eps);
// Per (image, position): softmax over channels.
void SoftmaxLoop(const TensorAccess& in, const TensorAccess& out);

}  // namespace inception::cpu
