// One native thread for all oneDNN work of the process (compile, run, profile, peak).
//
// libgomp gives every thread that starts a parallel region its own pool of worker threads. Run
// from the libuv thread pool, each of its (default 4) threads became an OpenMP master with its
// own pool, so the process held more OpenMP threads than cores and libgomp switched to
// throttled spinning: workers slept between the ~200 short primitives of a run and paid a
// futex wake-up each time (IR-v1 160 batch 1: 23-28 ms per run; 17 ms with one master).
// Funnelling the work through one thread keeps one pool whose workers spin through the gaps
// between primitives and sleep ~3 ms after a run (libgomp's default spin count). Runs of
// different programs are serialised, as they would contend for the same cores anyway.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace inception::cpu {

class ComputeThread {
 public:
  // The process-wide instance, started on first use and never stopped (it waits on a condition
  // variable while idle; the process may exit with it blocked there).
  static ComputeThread& Instance();

  // Runs fn on the compute thread and waits for it; rethrows whatever fn throws. Must not be
  // called from the compute thread itself.
  void Run(const std::function<void()>& fn);

 private:
  ComputeThread();
  void Loop();

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::packaged_task<void()>> queue_;
  std::thread thread_;
};

}  // namespace inception::cpu
