// Per-environment state (no globals): the Program constructor and every live program, so the
// environment cleanup hook can free their arenas when a worker thread or the process shuts down.
#pragma once

#include <napi.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "cpu/program.h"

namespace inception::cpu {

class AddonData {
 public:
  Napi::FunctionReference program_constructor;

  void Register(const std::shared_ptr<CpuProgram>& program) {
    programs_.erase(std::remove_if(programs_.begin(), programs_.end(), [](const auto& p) { return p.expired(); }),
                    programs_.end());
    programs_.push_back(program);
  }
  void ReleaseAll() {
    for (auto& weak : programs_) {
      if (auto p = weak.lock()) p->Release();
    }
    programs_.clear();
  }

 private:
  std::vector<std::weak_ptr<CpuProgram>> programs_;
};

}  // namespace inception::cpu
