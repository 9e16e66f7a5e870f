// The TFLite Micro engine: verifier, schema check, generated op resolver, interpreter,
// per-op profiler. Thin on purpose: every decision is the core's (firmware/core).
#pragma once
#include <memory>
#include <vector>

#include "engine.h"
#include "port.h"
#include "registered_ops.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/micro/micro_profiler_interface.h"

namespace tmh {

// Records one invoke's ops when armed; TFLM tags each op event with its name.
class OpProfiler : public tflite::MicroProfilerInterface {
 public:
  explicit OpProfiler(Clock& clock) : clock_(clock) {}
  void arm(std::vector<OpTiming>* out) {
    out_ = out;
    starts_.clear();
  }
  void disarm() { out_ = nullptr; }
  uint32_t BeginEvent(const char* tag) override;
  void EndEvent(uint32_t handle) override;

 private:
  struct Start {
    int64_t us;
    uint32_t cycles;
  };
  Clock& clock_;
  std::vector<OpTiming>* out_ = nullptr;
  std::vector<Start> starts_;
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
  uint8_t* input_data() override;
  const uint8_t* output_data() override;
  bool invoke() override;
  bool profile(std::vector<OpTiming>* ops) override;

 private:
  uint8_t* arena_;
  size_t arena_size_;
  bool esp_nn_;
  tflite::MicroMutableOpResolver<TMH_REGISTERED_OP_COUNT> resolver_;
  OpProfiler profiler_;
  std::unique_ptr<tflite::MicroInterpreter> interpreter_;
};

}  // namespace tmh
