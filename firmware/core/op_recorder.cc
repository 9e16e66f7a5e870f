#include "op_recorder.h"

namespace tmh {

uint32_t OpRecorder::begin(const char* tag) {
  if (!armed_) return kNoEvent;
  if (count_ == kMaxProfiledOps) {
    ++dropped_;
    return kNoEvent;
  }
  const size_t i = count_++;
  timings_[i] = OpTiming{tag != nullptr ? tag : "?", 0, 0};
  start_us_[i] = clock_.micros();
  start_cycles_[i] = clock_.cycles();
  return static_cast<uint32_t>(i);
}

void OpRecorder::end(uint32_t handle) {
  // Checked before any clock read: disarmed, this is every op of every timed invoke.
  if (!armed_ || handle == kNoEvent || handle >= count_) return;
  const uint32_t c = clock_.cycles();
  const int64_t us = clock_.micros();
  timings_[handle].us = static_cast<uint32_t>(us - start_us_[handle]);
  timings_[handle].cycles = c - start_cycles_[handle];
}

EngineResult OpRecorder::record_invoke(Engine& engine, const OpTiming** ops, size_t* count,
                                       size_t* dropped) {
  arm();
  const EngineResult r = engine.invoke();
  disarm();
  *ops = timings_;
  *count = count_;
  *dropped = dropped_;
  return r;
}

}  // namespace tmh
