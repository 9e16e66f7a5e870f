// Summary statistics of the `time` command's timed runs (MLPerf Tiny reports the median).
// Members are named as protocol_vocabulary.def's TMH_TIMING_STAT words (device.cc relies on it).
#pragma once
#include <cstddef>
#include <cstdint>

namespace tmh {

struct Stats {
  double mean = 0;
  double min = 0;
  double max = 0;
  double std = 0;     // sample standard deviation (n - 1); 0 for a single run
  double median = 0;  // mean of the two middle values when n is even
};

// Sorts `values` in place (for the median). n >= 1.
Stats compute_stats(uint32_t* values, size_t n);

}  // namespace tmh
