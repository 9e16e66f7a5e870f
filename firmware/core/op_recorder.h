// Per-op timings of one `profile` run, for engines that wrap every op in begin()/end():
// TFLM's ScopedMicroProfiler does so for every op of every Invoke once the interpreter has a
// profiler, `time`, `infer` and `invoke` included. Disarmed, begin() and end() return before
// reading a clock, so those figures time the model and not the profiler. Fixed tables
// (kMaxProfiledOps entries, built at boot with the engine): nothing is allocated in Invoke.
#pragma once
#include <cstddef>
#include <cstdint>

#include "engine.h"
#include "port.h"

namespace tmh {

class OpRecorder {
 public:
  static constexpr uint32_t kNoEvent = 0xFFFFFFFFu;

  explicit OpRecorder(Clock& clock) : clock_(clock) {}
  // Starts recording (one profile run): the table empties.
  void arm() {
    armed_ = true;
    count_ = 0;
    dropped_ = 0;
  }
  void disarm() { armed_ = false; }
  bool armed() const { return armed_; }

  // An op starts; `tag` is its static name. kNoEvent when disarmed or the table is full.
  uint32_t begin(const char* tag);
  // The op `handle` ended. Reads the clocks only for an event begin() recorded.
  void end(uint32_t handle);

  // One profile run: armed around engine.invoke(), the table handed out (Engine::profile).
  EngineResult record_invoke(Engine& engine, const OpTiming** ops, size_t* count, size_t* dropped);

  const OpTiming* timings() const { return timings_; }
  size_t count() const { return count_; }
  size_t dropped() const { return dropped_; }

 private:
  Clock& clock_;
  bool armed_ = false;
  size_t count_ = 0;
  size_t dropped_ = 0;
  OpTiming timings_[kMaxProfiledOps];
  int64_t start_us_[kMaxProfiledOps] = {};
  uint32_t start_cycles_[kMaxProfiledOps] = {};
};

}  // namespace tmh
