#include "tflm_engine.h"

#include "tensorflow/lite/schema/schema_generated.h"
#include "tensorflow/lite/schema/schema_utils.h"

namespace tmh {
namespace {

#define TMH_OP_NAME(name, method) #name,
constexpr const char* kRegisteredOps[] = {TMH_FOR_EACH_REGISTERED_OP(TMH_OP_NAME)};
#undef TMH_OP_NAME

const char* type_name(TfLiteType t) {
  switch (t) {
    case kTfLiteInt8: return "int8";
    case kTfLiteUInt8: return "uint8";
    case kTfLiteInt16: return "int16";
    case kTfLiteInt32: return "int32";
    case kTfLiteFloat32: return "float32";
    default: return "other";
  }
}

size_t rank(const TfLiteTensor* t) { return t->dims != nullptr ? static_cast<size_t>(t->dims->size) : 0; }

TensorInfo describe(const TfLiteTensor* t) {
  TensorInfo info;
  info.dtype = type_name(t->type);
  info.shape.rank = rank(t);  // load() refused more than kMaxTensorDims
  for (size_t i = 0; i < info.shape.rank; ++i) info.shape.dims[i] = t->dims->data[i];
  info.nbytes = t->bytes;
  info.scale = t->params.scale;
  info.zero_point = t->params.zero_point;
  return info;
}

}  // namespace

TflmEngine::TflmEngine(Clock& clock, uint8_t* arena, size_t arena_size, bool esp_nn)
    : arena_(arena), arena_size_(arena_size), esp_nn_(esp_nn), profiler_(clock) {
  // Generated from registered_ops.txt: resolver_.AddConv2D(); ... in file order.
#define TMH_ADD_OP(name, method) resolver_.method();
  TMH_FOR_EACH_REGISTERED_OP(TMH_ADD_OP)
#undef TMH_ADD_OP
}

std::vector<std::string> TflmEngine::ops() const {
  return std::vector<std::string>(std::begin(kRegisteredOps), std::end(kRegisteredOps));
}

EngineResult TflmEngine::verify(const uint8_t* model, size_t size) {
  // The verifier first: GetModel on unverified bytes would read out of bounds.
  flatbuffers::Verifier verifier(model, size);
  if (!tflite::VerifyModelBuffer(verifier)) return {Error::kModel, "flatbuffer verification failed"};
  const tflite::Model* m = tflite::GetModel(model);
  if (m->version() != TFLITE_SCHEMA_VERSION) return {Error::kModel, "schema version is not 3"};
  if (m->subgraphs() == nullptr || m->subgraphs()->size() == 0) {
    return {Error::kModel, "model has no subgraph"};
  }
  if (m->operator_codes() != nullptr) {
    for (const tflite::OperatorCode* code : *m->operator_codes()) {
      const tflite::BuiltinOperator op = tflite::GetBuiltinCode(code);
      if (op == tflite::BuiltinOperator_CUSTOM) {
        const char* custom = code->custom_code() ? code->custom_code()->c_str() : "CUSTOM";
        if (resolver_.FindOp(custom) == nullptr) return {Error::kOp, custom};
      } else if (resolver_.FindOp(op) == nullptr) {
        return {Error::kOp, tflite::EnumNameBuiltinOperator(op)};
      }
    }
  }
  return {};
}

EngineResult TflmEngine::load(const uint8_t* model, size_t size, size_t* arena_used) {
  (void)size;  // verified by verify(); the interpreter reads the flatbuffer in place
  interpreter_.reset();
  // heap_new (malloc), not new: a failed new aborts on ESP-IDF (core/heap.h).
  interpreter_ = heap_new<tflite::MicroInterpreter>(tflite::GetModel(model), resolver_, arena_,
                                                    arena_size_, nullptr, &profiler_);
  if (!interpreter_) return {Error::kAlloc, "no heap for the interpreter"};
  if (interpreter_->AllocateTensors() != kTfLiteOk) {
    interpreter_.reset();
    return {Error::kAlloc, "AllocateTensors failed: arena too small"};
  }
  if (interpreter_->inputs_size() != 1 || interpreter_->outputs_size() != 1) {
    interpreter_.reset();
    return {Error::kModel, "the protocol carries models with one input and one output"};
  }
  if (rank(interpreter_->input(0)) > kMaxTensorDims || rank(interpreter_->output(0)) > kMaxTensorDims) {
    interpreter_.reset();
    static_assert(kMaxTensorDims == 8, "the reason below names the limit");
    return {Error::kModel, "input or output tensor has more than 8 dimensions"};
  }
  *arena_used = interpreter_->arena_used_bytes();
  return {};
}

TensorInfo TflmEngine::input_info() const { return describe(interpreter_->input(0)); }
TensorInfo TflmEngine::output_info() const { return describe(interpreter_->output(0)); }
uint8_t* TflmEngine::input_data() { return interpreter_->input(0)->data.uint8; }
const uint8_t* TflmEngine::output_data() { return interpreter_->output(0)->data.uint8; }

EngineResult TflmEngine::invoke() {
  // TFLM prints the kernel's own reason through MicroPrintf (the console, routed through
  // the driver); the reply carries the status.
  switch (interpreter_->Invoke()) {
    case kTfLiteOk: return {};
    case kTfLiteError: return {Error::kInvoke, "Invoke failed (kTfLiteError; kernel message in the log)"};
    case kTfLiteDelegateError: return {Error::kInvoke, "Invoke failed (kTfLiteDelegateError)"};
    case kTfLiteApplicationError: return {Error::kInvoke, "Invoke failed (kTfLiteApplicationError)"};
    default: return {Error::kInvoke, "Invoke failed (TfLiteStatus not kTfLiteOk)"};
  }
}

EngineResult TflmEngine::profile(const OpTiming** ops, size_t* count, size_t* dropped) {
  return profiler_.recorder().record_invoke(*this, ops, count, dropped);
}

}  // namespace tmh
