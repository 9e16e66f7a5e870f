#include "timing_stats.h"

#include <algorithm>
#include <cmath>

namespace tmh {

Stats compute_stats(uint32_t* values, size_t n) {
  Stats s;
  if (n == 0) return s;
  // Welford: stable for 10000 runs of similar magnitude.
  double mean = 0, m2 = 0;
  for (size_t i = 0; i < n; ++i) {
    const double x = values[i];
    const double delta = x - mean;
    mean += delta / static_cast<double>(i + 1);
    m2 += delta * (x - mean);
  }
  std::sort(values, values + n);
  s.mean = mean;
  s.min = values[0];
  s.max = values[n - 1];
  s.std = n > 1 ? std::sqrt(m2 / static_cast<double>(n - 1)) : 0.0;
  s.median = (n % 2 == 1) ? values[n / 2]
                          : (static_cast<double>(values[n / 2 - 1]) + values[n / 2]) / 2.0;
  return s;
}

}  // namespace tmh
