// The process's resident memory, read from /proc/self/status, for the
// benchmarks that report memory beside time.

#ifndef ANCIENT_BENCH_MEM_STATS_H_
#define ANCIENT_BENCH_MEM_STATS_H_

#include <fstream>
#include <string>

namespace ancient_bench {

// A line of /proc/self/status, in MiB ("VmRSS", "VmHWM"); 0 when absent.
inline double StatusMb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      return std::stod(line.substr(field.size() + 1)) / 1024.0;
    }
  }
  return 0;
}

// Resets VmHWM (the peak resident memory) to the current VmRSS.
inline void ResetPeakRss() { std::ofstream("/proc/self/clear_refs") << "5"; }

}  // namespace ancient_bench

#endif  // ANCIENT_BENCH_MEM_STATS_H_
