// The TFLite Micro engine: verifier, schema check, generated op resolver, interpreter,
// per-op profiler. Thin on purpose: every decision is the core's (firmware/core).
#pragma once
#include <memory>
#include <vector>

#include "engine.h"
#include "heap.h"
#include "port.h"
#include "registered_ops.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/micro/micro_profiler_interface.h"

namespace tmh {

// Records one invoke's ops when armed, into fixed tables (kMaxProfiledOps entries, part
// of the engine object built at boot), as tflite-micro's MicroProfiler does: nothing is
// allocated inside the timed Invoke. TFLM tags each op event with its (static) name.
class OpProfiler : public tflite::MicroProfilerInterface {
 public:
  explicit OpProfiler(Clock& clock) : clock_(clock) {}
  void arm() {
    armed_ = true;
    count_ = 0;
    dropped_ = 0;
  }
  void disarm() { armed_ = false; }
  uint32_t BeginEvent(const char* tag) override;
  void EndEvent(uint32_t handle) override;
  const OpTiming* timings() const { return timings_; }
  size_t count() const { return count_; }
  size_t dropped() const { return dropped_; }

 private:
  static constexpr uint32_t kDropped = 0xFFFFFFFFu;
  Clock& clock_;
  bool armed_ = false;
  size_t count_ = 0;
  size_t dropped_ = 0;
  OpTiming timings_[kMaxProfiledOps];
  int64_t start_us_[kMaxProfiledOps] = {};
  uint32_t start_cycles_[kMaxProfiledOps] = {};
};

class TflmEngine : public Engine {
 public:
  TflmEngine(Clock& clock, uint8_t* arena, size_t arena_size, bool esp_nn);

  const char* name() const override { return "tflm"; }
  size_t arena_capacity() const override { return arena_size_; }
  std::vector<std::string> ops() const override;
  bool esp_nn() const override { return esp_nn_; }

  EngineResult verify(const uint8_t* model, size_t size) override;
  EngineResult load(const uint8_t* model, size_t size, size_t* arena_used) override;
  void unload() override { interpreter_.reset(); }
  bool loaded() const override { return interpreter_ != nullptr; }

  TensorInfo input_info() const override;
  TensorInfo output_info() const override;
  size_t input_bytes() const override { return interpreter_->input(0)->bytes; }
  size_t output_bytes() const override { return interpreter_->output(0)->bytes; }
  uint8_t* input_data() override;
  const uint8_t* output_data() override;
  EngineResult invoke() override;
  EngineResult profile(const OpTiming** ops, size_t* count, size_t* dropped) override;

 private:
  uint8_t* arena_;
  size_t arena_size_;
  bool esp_nn_;
  tflite::MicroMutableOpResolver<TMH_REGISTERED_OP_COUNT> resolver_;
  OpProfiler profiler_;
  HeapPtr<tflite::MicroInterpreter> interpreter_;
};

}  // namespace tmh
