#include "fake_engine.h"

#include <cstring>

#include "registered_ops.h"

namespace tmh {
namespace {

constexpr size_t kHeaderBytes = 16;

#define TMH_OP_NAME(name, method) #name,
constexpr const char* kRegisteredOps[] = {TMH_FOR_EACH_REGISTERED_OP(TMH_OP_NAME)};
#undef TMH_OP_NAME

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

bool registered(const std::string& op) {
  for (const char* name : kRegisteredOps) {
    if (op == name) return true;
  }
  return false;
}

}  // namespace

FakeEngine::FakeEngine(Clock& clock, size_t arena_capacity)
    : recorder_(clock), arena_capacity_(arena_capacity) {}

std::vector<std::string> FakeEngine::ops() const {
  return std::vector<std::string>(std::begin(kRegisteredOps), std::end(kRegisteredOps));
}

EngineResult FakeEngine::parse(const uint8_t* model, size_t size, Header* h) const {
  if (size < kHeaderBytes || std::memcmp(model, "TMHF", 4) != 0) {
    return {Error::kModel, "not a fake model (no TMHF header)"};
  }
  if (model[4] != 1) return {Error::kModel, "fake model version is not 1"};
  h->dtype = model[5];
  if (h->dtype > 1) return {Error::kModel, "fake model dtype is not 0 (int8) or 1 (float32)"};
  h->flags = model[6];
  h->n_in = le16(model + 8);
  h->n_out = le16(model + 10);
  h->arena = le32(model + 12);
  if (h->n_in == 0 || h->n_out == 0) return {Error::kModel, "fake model has an empty tensor"};
  std::string word;
  for (size_t i = kHeaderBytes; i <= size; ++i) {
    const bool end = (i == size || model[i] == 0);
    const char c = end ? ',' : static_cast<char>(model[i]);
    if (c == ',') {
      if (word.empty()) return {Error::kModel, "fake model has an empty op name"};
      h->ops.push_back(word);
      word.clear();
      if (end) break;
      continue;
    }
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) {
      return {Error::kModel, "fake model op names must be A-Z, 0-9, _"};
    }
    word.push_back(c);
  }
  return {};
}

EngineResult FakeEngine::verify(const uint8_t* model, size_t size) {
  Header h;
  EngineResult r = parse(model, size, &h);
  if (r.code != Error::kOk) return r;
  for (const std::string& op : h.ops) {
    if (!registered(op)) return {Error::kOp, op};
  }
  return {};
}

EngineResult FakeEngine::load(const uint8_t* model, size_t size, size_t* arena_used) {
  unload();
  Header h;
  EngineResult r = parse(model, size, &h);
  if (r.code != Error::kOk) return r;
  if (h.arena > arena_capacity_) return {Error::kAlloc, "arena too small for the model"};
  dtype_ = h.dtype;
  flags_ = h.flags;
  n_in_ = h.n_in;
  n_out_ = h.n_out;
  model_ops_ = h.ops;
  input_.assign(n_in_ * elem_size(), 0);
  output_.assign(n_out_ * elem_size(), 0);
  *arena_used = h.arena;
  loaded_ = true;
  return {};
}

void FakeEngine::unload() {
  loaded_ = false;
  n_in_ = n_out_ = 0;
  model_ops_.clear();
  input_.clear();
  output_.clear();
}

TensorInfo FakeEngine::tensor_info(size_t n) const {
  TensorInfo t;
  t.dtype = dtype_ == 1 ? "float32" : "int8";
  t.shape.dims[0] = 1;
  t.shape.dims[1] = static_cast<int>(n);
  t.shape.rank = 2;
  t.nbytes = n * elem_size();
  t.scale = dtype_ == 1 ? 0.0 : 1.0 / 256.0;
  t.zero_point = dtype_ == 1 ? 0 : -128;
  return t;
}

EngineResult FakeEngine::invoke() {
  if (!loaded_) return {Error::kState, "no model loaded"};
  if (flags_ & 1) return {Error::kInvoke, "fake model flag: every invoke fails"};
  // The fake "runs" its ops one after another, each wrapped as TFLM wraps a kernel; the first
  // op computes the output, the others do nothing (a profile shows their bookkeeping).
  for (size_t i = 0; i < model_ops_.size(); ++i) {
    const uint32_t event = recorder_.begin(model_ops_[i].c_str());
    if (i == 0) compute();
    recorder_.end(event);
  }
  return {};
}

void FakeEngine::compute() {
  for (size_t j = 0; j < n_out_; ++j) {
    const size_t k = j % n_in_;
    if (dtype_ == 1) {
      float x;
      std::memcpy(&x, &input_[k * 4], 4);
      const float y = 2.0f * x + static_cast<float>(j);
      std::memcpy(&output_[j * 4], &y, 4);
    } else {
      const int x = static_cast<int8_t>(input_[k]);
      output_[j] = static_cast<uint8_t>((3 * x + static_cast<int>(j)) & 0xFF);
    }
  }
}

EngineResult FakeEngine::profile(const OpTiming** ops, size_t* count, size_t* dropped) {
  return recorder_.record_invoke(*this, ops, count, dropped);
}

}  // namespace tmh
