// What the core needs from an inference engine: verify and load a model, describe its
// tensors, run it, time each op. The chip's engine is TFLite Micro (main/tflm_engine.cc);
// the host build's is a deterministic fake (host/fake_engine.cc).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "error_codes.h"

namespace tmh {

// Dimensions a TensorInfo holds. TFLite Micro's kernels take at most 6 (its RuntimeShape);
// an engine refuses a model whose input or output has more than this (E_MODEL).
constexpr size_t kMaxTensorDims = 8;

// A tensor's dimensions, held in place: describing a model after its arena took the heap
// allocates nothing (a failed `new` aborts on ESP-IDF: core/heap.h).
struct TensorShape {
  int dims[kMaxTensorDims] = {};
  size_t rank = 0;
};

// Members named as protocol_vocabulary.def's TMH_TENSOR_FIELD words (device.cc's write_tensor).
struct TensorInfo {
  const char* dtype = "";   // "int8", "float32", ... (TfLiteType name, lower case; static text)
  TensorShape shape;
  size_t nbytes = 0;
  double scale = 0;         // 0 when not quantized
  int64_t zero_point = 0;
};

// Members named as protocol_vocabulary.def's TMH_TIMING_UNIT words (device.cc's `profile`).
struct OpTiming {
  const char* op = "?";  // builtin operator name, e.g. "CONV_2D"; static or model-owned text
  uint32_t us = 0;
  uint32_t cycles = 0;
};

// Ops one `profile` records at most: the engine's table is this size, allocated at boot
// (as tflite-micro's MicroProfiler sizes its arrays at construction), never in Invoke.
constexpr size_t kMaxProfiledOps = 256;

struct EngineResult {
  Error code = Error::kOk;
  std::string detail;  // E_OP: the op's name; otherwise a short reason for "msg"
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual const char* name() const = 0;            // banner "engine"
  virtual size_t arena_capacity() const = 0;
  virtual std::vector<std::string> ops() const = 0;  // registered ops, banner "ops"
  virtual bool esp_nn() const = 0;

  // Structure checks only (flatbuffer verifier, schema version, op coverage):
  // kModel or kOp (detail = op name). Model bytes must outlive a later load().
  virtual EngineResult verify(const uint8_t* model, size_t size) = 0;
  // Builds the interpreter and allocates tensors: kAlloc on failure (no model loaded).
  virtual EngineResult load(const uint8_t* model, size_t size, size_t* arena_used) = 0;
  virtual void unload() = 0;
  virtual bool loaded() const = 0;

  // Full descriptions, for upload_end replies; the per-infer path uses the byte counts.
  virtual TensorInfo input_info() const = 0;
  virtual TensorInfo output_info() const = 0;
  virtual size_t input_bytes() const = 0;
  virtual size_t output_bytes() const = 0;
  virtual uint8_t* input_data() = 0;         // input_bytes() writable bytes
  virtual const uint8_t* output_data() = 0;  // output_bytes() bytes
  // kOk, or kInvoke with the engine's reason (TFLM: its status, e.g. "Invoke failed (kTfLiteError)").
  virtual EngineResult invoke() = 0;
  // One invoke with per-op timing into the engine's table (kMaxProfiledOps entries, set
  // up at boot): *ops points at it, *count entries were recorded, *dropped did not fit.
  virtual EngineResult profile(const OpTiming** ops, size_t* count, size_t* dropped) = 0;
};

}  // namespace tmh
