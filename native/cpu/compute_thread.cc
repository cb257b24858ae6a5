#include "cpu/compute_thread.h"

#include <utility>

namespace inception::cpu {

ComputeThread& ComputeThread::Instance() {
  // Deliberately leaked: a static ComputeThread would be destroyed at exit with its thread
  // still joinable (std::terminate), or would have to wait for work in flight.
  static ComputeThread* instance = new ComputeThread();
  return *instance;
}

ComputeThread::ComputeThread() : thread_([this] { Loop(); }) { thread_.detach(); }

void ComputeThread::Run(const std::function<void()>& fn) {
  std::packaged_task<void()> task(fn);
  std::future<void> done = task.get_future();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(task));
  }
  ready_.notify_one();
  done.get();  // rethrows fn's exception
}

void ComputeThread::Loop() {
  for (;;) {
    std::packaged_task<void()> task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      ready_.wait(lock, [this] { return !queue_.empty(); });
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();  // exceptions are stored in the task's future
  }
}

}  // namespace inception::cpu
