#include "cpu/thread_team.h"

#include <omp.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "core/error.h"

namespace inception::cpu {
namespace {

struct TeamState {
  bool initialised = false;
  std::vector<int> allowed;  // the process's CPUs, ascending, captured before any pinning
  int32_t pinned_threads = 0;  // team size the pins were made for (0: none in place)
  int32_t threads = 0;  // team size of the last UseThreads
};

TeamState& State() {
  static TeamState state;
  return state;
}

std::mutex description_mutex;
std::string description = "not set up yet (no CPU program has run)";

void Describe(std::string text) {
  std::lock_guard<std::mutex> lock(description_mutex);
  description = std::move(text);
}

std::vector<int> AllowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

bool PinningDisabled() {
  const char* value = std::getenv("INCEPTION_CPU_PIN_THREADS");
  return value != nullptr && std::strcmp(value, "0") == 0;
}

// Sets the affinity of every thread of a team of `threads`: thread i gets mask_of(i).
// Returns "" or the first failure as "pthread_setaffinity_np(team thread i): <reason>".
template <typename MaskOf>
std::string ApplyToTeam(int32_t threads, MaskOf mask_of) {
  std::vector<int> failures(static_cast<size_t>(threads), 0);
#pragma omp parallel num_threads(threads)
  {
    const int i = omp_get_thread_num();
    const cpu_set_t set = mask_of(i);
    failures[static_cast<size_t>(i)] = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
  }
  for (int32_t i = 0; i < threads; ++i) {
    if (failures[static_cast<size_t>(i)] != 0) {
      return Concat("pthread_setaffinity_np(team thread ", i, "): ", std::strerror(failures[static_cast<size_t>(i)]));
    }
  }
  return "";
}

std::string CpuList(const std::vector<int>& cpus, int32_t count) {
  std::string list;
  for (int32_t i = 0; i < count; ++i) list += (i > 0 ? "," : "") + std::to_string(cpus[static_cast<size_t>(i)]);
  return list;
}

}  // namespace

void UseThreads(int32_t threads) {
  omp_set_num_threads(threads);
  TeamState& state = State();
  if (state.initialised && state.threads == threads) return;
  if (!state.initialised) {
    state.allowed = AllowedCpus();
    state.initialised = true;
  }
  state.threads = threads;
  const int32_t cpus = static_cast<int32_t>(state.allowed.size());
  const bool pin = !PinningDisabled() && cpus > 0 && threads <= cpus;
  if (!pin) {
    if (state.pinned_threads > 0) {
      // Undo earlier pins: every thread may run on all of the process's CPUs again.
      cpu_set_t all;
      CPU_ZERO(&all);
      for (int cpu : state.allowed) CPU_SET(cpu, &all);
      ApplyToTeam(std::max(threads, state.pinned_threads), [&](int) { return all; });
      state.pinned_threads = 0;
    }
    Describe(PinningDisabled() ? "off: INCEPTION_CPU_PIN_THREADS=0"
             : cpus == 0      ? "off: sched_getaffinity gave no CPUs"
                              : Concat("off: ", threads, " threads for ", cpus, " CPUs"));
    return;
  }
  const std::string failure = ApplyToTeam(threads, [&](int i) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(state.allowed[static_cast<size_t>(i)], &one);
    return one;
  });
  if (!failure.empty()) {
    state.pinned_threads = threads;  // some may be pinned: undo on the next change
    Describe("failed, running unpinned where it failed: " + failure);
    return;
  }
  state.pinned_threads = threads;
  Describe(Concat(threads, threads == 1 ? " thread" : " threads", " pinned to CPU", threads == 1 ? " " : "s ",
                  CpuList(state.allowed, threads)));
}

std::string Pinning() {
  std::lock_guard<std::mutex> lock(description_mutex);
  return description;
}

}  // namespace inception::cpu
