// The TFLite Micro engine: verifier, schema check, generated op resolver, interpreter,
// per-op profiler. Thin on purpose: every decision is the core's (firmware/core).
#pragma once
#include <memory>
#include <vector>

#include "engine.h"
#include "heap.h"
#include "op_recorder.h"
#include "port.h"
#include "registered_ops.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/micro/micro_profiler_interface.h"

namespace tmh {

// TFLM's profiler interface on the core's OpRecorder: TFLM calls it around every op of
// every Invoke; it records (and reads the clocks) only while a `profile` run armed it.
class OpProfiler : public tflite::MicroProfilerInterface {
 public:
  explicit OpProfiler(Clock& clock) : recorder_(clock) {}
  uint32_t BeginEvent(const char* tag) override { return recorder_.begin(tag); }
  void EndEvent(uint32_t handle) override { recorder_.end(handle); }
  OpRecorder& recorder() { return recorder_; }

 private:
  OpRecorder recorder_;
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
