// A deterministic stand-in for TFLite Micro, so the host build of the core can be driven
// through every protocol path, including the engine's failures, by model content alone.
//
// Fake model format (all integers little-endian):
//   0  "TMHF"                 magic
//   4  u8  version            1
//   5  u8  dtype              0 = int8, 1 = float32 (input and output)
//   6  u8  flags              bit 0: every invoke fails (E_INVOKE)
//   7  u8  reserved           0
//   8  u16 input elements     >= 1 (tensor shape [1, n])
//   10 u16 output elements    >= 1
//   12 u32 arena bytes        reported as arena_used_bytes; above arena capacity: E_ALLOC
//   16 op names, ASCII, comma separated, ending at a NUL byte or the end of the model;
//      any bytes after the NUL are padding (lets tests upload models of any size).
// Anything else is E_MODEL; an op the firmware does not register is E_OP.
// Output element j = f(input[j % n_in], j): int8 -> (int8)(3 * x + j) (wrapping),
// float32 -> 2 * x + j. tests_host/fw_host_process.py holds the Python twin (fake_model,
// fake_output).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine.h"
#include "op_recorder.h"
#include "port.h"

namespace tmh {

class FakeEngine : public Engine {
 public:
  FakeEngine(Clock& clock, size_t arena_capacity);

  const char* name() const override { return "fake"; }
  size_t arena_capacity() const override { return arena_capacity_; }
  std::vector<std::string> ops() const override;
  bool esp_nn() const override { return false; }

  EngineResult verify(const uint8_t* model, size_t size) override;
  EngineResult load(const uint8_t* model, size_t size, size_t* arena_used) override;
  void unload() override;
  bool loaded() const override { return loaded_; }

  TensorInfo input_info() const override { return tensor_info(n_in_); }
  TensorInfo output_info() const override { return tensor_info(n_out_); }
  size_t input_bytes() const override { return n_in_ * elem_size(); }
  size_t output_bytes() const override { return n_out_ * elem_size(); }
  uint8_t* input_data() override { return input_.data(); }
  const uint8_t* output_data() override { return output_.data(); }
  EngineResult invoke() override;
  EngineResult profile(const OpTiming** ops, size_t* count, size_t* dropped) override;

 private:
  struct Header {
    uint8_t dtype = 0;
    uint8_t flags = 0;
    uint16_t n_in = 0;
    uint16_t n_out = 0;
    uint32_t arena = 0;
    std::vector<std::string> ops;
  };
  EngineResult parse(const uint8_t* model, size_t size, Header* h) const;
  TensorInfo tensor_info(size_t n) const;
  void compute();
  size_t elem_size() const { return dtype_ == 1 ? 4 : 1; }

  // Wraps every op of every invoke, as TFLM's ScopedMicroProfiler does on the chip.
  OpRecorder recorder_;
  size_t arena_capacity_;
  bool loaded_ = false;
  uint8_t dtype_ = 0;
  uint8_t flags_ = 0;
  size_t n_in_ = 0;
  size_t n_out_ = 0;
  std::vector<std::string> model_ops_;
  std::vector<uint8_t> input_;
  std::vector<uint8_t> output_;
};

}  // namespace tmh
