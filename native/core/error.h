// The one error type native backends throw. Plain C++ only: no Napi, no oneDNN, no CUDA here.
// native/js/convert.h turns it into a JS Error with `code`, `nativeCode` and `step`.
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace inception {

// Error.code values the TS side maps to its typed errors (src/errors.ts).
inline constexpr const char* kCodePlan = "E_PLAN";                      // malformed plan (a planner bug)
inline constexpr const char* kCodeInvalidArgument = "E_INVALID_ARGUMENT";  // bad argument from JS
inline constexpr const char* kCodeInvalidInput = "E_INVALID_INPUT";        // bad input data (batch, length)
inline constexpr const char* kCodeDisposed = "E_DISPOSED";
inline constexpr const char* kCodeNative = "E_NATIVE";  // a library call failed: see native_code

class Error : public std::exception {
 public:
  // code: one of the kCode* values above.
  // native_code: the library status, e.g. "DNNL_INVALID_ARGUMENTS" ("" when not a library failure).
  // call: the failing statement or operation; step: the plan step name ("" outside steps).
  Error(std::string code, std::string native_code, std::string message, std::string call = "",
        std::string step = "")
      : code_(std::move(code)),
        native_code_(std::move(native_code)),
        message_(std::move(message)),
        call_(std::move(call)),
        step_(std::move(step)) {
    Compose();
  }

  const char* what() const noexcept override { return what_.c_str(); }
  const std::string& code() const noexcept { return code_; }
  const std::string& native_code() const noexcept { return native_code_; }
  const std::string& message() const noexcept { return message_; }
  const std::string& call() const noexcept { return call_; }
  const std::string& step() const noexcept { return step_; }
  const std::string& shapes() const noexcept { return shapes_; }

  // Adds context as the error travels up (only the first step name sticks: the innermost is exact).
  Error& WithStep(const std::string& step) {
    if (step_.empty()) step_ = step;
    Compose();
    return *this;
  }
  Error& WithShapes(const std::string& shapes) {
    shapes_ = shapes_.empty() ? shapes : shapes_ + "; " + shapes;
    Compose();
    return *this;
  }

 private:
  void Compose() {
    std::string s = message_;
    if (!call_.empty()) s += " (in " + call_ + ")";
    if (!step_.empty()) s += " at step '" + step_ + "'";
    if (!shapes_.empty()) s += " [" + shapes_ + "]";
    what_ = std::move(s);
  }

  std::string code_, native_code_, message_, call_, step_, shapes_, what_;
};

// "[2,64,35,35]"
inline std::string ShapeString(const std::vector<int64_t>& dims) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < dims.size(); ++i) os << (i ? "," : "") << dims[i];
  os << ']';
  return os.str();
}

// Streams its arguments into one string: Concat("conv ", 3, "x", 3).
template <typename... Args>
std::string Concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

}  // namespace inception

// Throws inception::Error(E_PLAN) naming the violated condition when `cond` is false.
#define INCEPTION_CHECK_PLAN(cond, ...)                                                         \
  do {                                                                                          \
    if (!(cond)) {                                                                              \
      throw ::inception::Error(::inception::kCodePlan, "", ::inception::Concat(__VA_ARGS__),    \
                               "check '" #cond "'");                                            \
    }                                                                                           \
  } while (0)

// Throws inception::Error with the given code when `cond` is false (argument/input/disposed checks).
#define INCEPTION_CHECK(cond, code, ...)                                                        \
  do {                                                                                          \
    if (!(cond)) {                                                                              \
      throw ::inception::Error((code), "", ::inception::Concat(__VA_ARGS__));                   \
    }                                                                                           \
  } while (0)
