#include "ancient/internal/mark_context.h"

#include <mutex>

namespace ancient::internal {

std::uint64_t MarkContext::RegisterTask(TaskFn fn, PrefetchFn pf) {
  static std::mutex mu;
  static std::uint64_t count = 0;
  std::lock_guard<std::mutex> lock(mu);
  if (count > kTaskMask) Fatal("ancient: more than 65536 kinds of task");
  task_fns[count] = fn;
  prefetch_fns[count] = pf;
  return count++;
}

}  // namespace ancient::internal
