// The host build's Port: stdin/stdout pipes, a steady clock, and switches that make the
// "board" misbehave the way real ones do (spontaneous reset, panic, log noise), so the
// host client's recovery paths are tested against the real core.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "port.h"

namespace tmh {

struct StdioPortOptions {
  uint64_t seed = 0;              // nonce sequence; 0: from std::random_device
  long reset_after_lines = -1;    // the Nth host line is lost to a power-on reset
  long panic_after_lines = -1;    // the Nth host line is lost to a Guru Meditation panic
  bool noise = false;             // an ESP-IDF-style log line and stray bytes before replies
  // A scripted clock instead of the steady one (--scripted-clock): reads of micros() come in
  // (start, end) pairs, as the core's timing takes them, and the k-th pair spans
  // clock_script_us[k % size] microseconds; cycles() likewise, times clock_mhz 1000. Known
  // samples for the `time` statistics. The engine's profiler reads the same clock.
  std::vector<uint32_t> clock_script_us;
};

class StdioPort : public Port {
 public:
  explicit StdioPort(const StdioPortOptions& options);

  int read(uint8_t* buf, size_t max, uint32_t timeout_ms) override;
  void write(const char* data, size_t len) override;
  int64_t micros() override;
  uint32_t cycles() override;  // host: nanoseconds of the steady clock (clock_mhz 1000)
  // The most a scripted interval may last: its cycles (x1000) fit a 32-bit difference.
  static constexpr uint32_t kMaxScriptedUs = 4000000;
  size_t free_heap() override { return 0; }      // no heap figure on the host: 0
  size_t min_free_heap() override { return 0; }
  uint32_t random32() override { return static_cast<uint32_t>(rng_()); }
  void restart() override { restart_ = true; }

  // True once if a simulated fault (reset or panic) cut the input; its boot noise has
  // been written, the caller boots a fresh core.
  bool take_fault();
  bool take_restart();

 private:
  void write_raw(const char* data, size_t len);
  StdioPortOptions options_;
  std::mt19937_64 rng_;
  long lines_seen_ = 0;
  bool fault_ = false;
  bool restart_ = false;
  uint64_t noise_count_ = 0;

  // One scripted clock (micros or cycles): stands still between the pairs of reads.
  struct ScriptedClock {
    uint64_t now;
    size_t reads = 0;
    uint64_t read(const std::vector<uint32_t>& script, uint64_t per_us);
  };
  ScriptedClock scripted_us_{0};
  // Starts just below the 32-bit wrap: every scripted `time` run crosses it at first.
  ScriptedClock scripted_cycles_{0xFFFFFFFFull - 1000};
};

}  // namespace tmh
