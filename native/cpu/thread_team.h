// The OpenMP team that runs oneDNN's primitives, sized per program and pinned to distinct CPUs.
//
// Why pin. Every oneDNN primitive here splits its work statically over the team, so a run is as
// slow as its latest thread. On the Firecracker VMs this project benchmarks on (guest kernel
// `sched_vcpu_pack`), a woken thread is packed onto an already busy vCPU: after a run, libgomp's
// worker spins ~15 ms and then sleeps; the next run's first region wakes it onto the master's
// vCPU, where it waits until the master's own barrier spin gives the vCPU up. Measured (IR-v1 160
// batch 1, 2 threads, 50 ms idle before each run): p50 16.4-23 ms and p90 27-33 ms unpinned
// against 13.6-14.6 / 16-17.5 ms pinned; back to back both ~12.5-13 ms. An empty 2-thread
// region after 50 ms idle: 5.8 ms unpinned, 0.07 ms pinned.
//
// The rule. Team thread i (0 is the compute thread itself) is pinned to the i-th CPU the
// process may run on (its affinity mask when the team is first set up), when the team has at
// most that many threads and INCEPTION_CPU_PIN_THREADS is not "0". A bigger team is left to the
// scheduler (pinning it would stack threads on one CPU). Failing to pin is not an error: the
// team runs unpinned and Pinning() says why.
//
// Everything here except Pinning() must be called on the compute thread (compute_thread.h),
// the only OpenMP master of the process.
#pragma once

#include <cstdint>
#include <string>

namespace inception::cpu {

// Sets the team size for the next oneDNN calls (omp_set_num_threads) and pins it as above.
void UseThreads(int32_t threads);

// What the last UseThreads did, for info() and benchmark records, e.g.
// "2 threads pinned to CPUs 0,1" or "off: INCEPTION_CPU_PIN_THREADS=0". Any thread.
std::string Pinning();

}  // namespace inception::cpu
