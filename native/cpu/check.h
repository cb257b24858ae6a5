// oneDNN failures -> inception::Error (never abort). Every oneDNN call on a path that can fail
// goes through DnnlCall so the error names the call, the status and (via WithStep) the step.
#pragma once

#include <dnnl.hpp>

#include <string>

#include "core/error.h"

namespace inception::cpu {

inline const char* DnnlStatusName(dnnl_status_t status) {
  switch (status) {
    case dnnl_success: return "DNNL_SUCCESS";
    case dnnl_out_of_memory: return "DNNL_OUT_OF_MEMORY";
    case dnnl_invalid_arguments: return "DNNL_INVALID_ARGUMENTS";
    case dnnl_unimplemented: return "DNNL_UNIMPLEMENTED";
    case dnnl_iterator_ends: return "DNNL_ITERATOR_ENDS";
    case dnnl_runtime_error: return "DNNL_RUNTIME_ERROR";
    case dnnl_not_required: return "DNNL_NOT_REQUIRED";
  }
  return "DNNL_UNKNOWN_STATUS";
}

// Runs fn(); a dnnl::error becomes inception::Error(E_NATIVE, "DNNL_...", message, call).
template <typename Fn>
auto DnnlCall(const char* call, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const dnnl::error& e) {
    throw Error(kCodeNative, DnnlStatusName(e.status), std::string("oneDNN failed: ") + e.what(), call);
  }
}

}  // namespace inception::cpu
