#include "device.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include "base64.h"
#include "heap.h"
#include "timing_stats.h"

namespace tmh {
namespace {

constexpr size_t kMaxArgs = 3;
// An invoke reply besides its output: prefix, ok, cmd, idx and the timing units.
constexpr size_t kInvokeReplyOverhead = 256;

// Strict unsigned decimal: digits only, fits in 32 bits.
bool parse_u32(const char* s, uint32_t* out) {
  if (*s == 0) return false;
  uint64_t v = 0;
  for (const char* p = s; *p; ++p) {
    if (*p < '0' || *p > '9') return false;
    v = v * 10 + static_cast<uint64_t>(*p - '0');
    if (v > 0xFFFFFFFFull) return false;
  }
  *out = static_cast<uint32_t>(v);
  return true;
}

// Exactly 8 hex digits (either case).
bool parse_crc(const char* s, uint32_t* out) {
  if (std::strlen(s) != 8) return false;
  uint32_t v = 0;
  for (int i = 0; i < 8; ++i) {
    const char c = s[i];
    uint32_t d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return false;
    v = (v << 4) | d;
  }
  *out = v;
  return true;
}

bool printable_ascii(const char* s, size_t len) {
  for (size_t i = 0; i < len; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

// The command table, from protocol_vocabulary.def. A command added there and not handled in
// Device::handle_line's switch is a compile error (-Wswitch, -Werror).
enum class Command {
#define TMH_COMMAND(name, nargs, arg_names) name,
#include "protocol_vocabulary.def"
};

struct CommandSpec {
  const char* name;
  size_t nargs;
  Command id;
};

constexpr CommandSpec kCommands[] = {
#define TMH_COMMAND(name, nargs, arg_names) {#name, nargs, Command::name},
#include "protocol_vocabulary.def"
};

// One `time` reply field per unit and statistic: "<stat>_<unit>" (mean_us, ..., median_cycles).
void write_stats(JsonWriter& w, const char* unit, const Stats& s) {
  char key[32];
#define TMH_TIMING_STAT(stat)                                 \
  std::snprintf(key, sizeof key, "%s_%s", #stat, unit); \
  w.key(key).num(s.stat);
#include "protocol_vocabulary.def"
}

// The header of every reply: ok, then the command's name.
JsonWriter& start_reply(JsonWriter& w, bool ok, const char* cmd) {
  return w.key("ok").boolean(ok).key("cmd").str(cmd);
}

// A tensor description's values, by type (write_tensor writes the keys from the vocabulary).
void write_value(JsonWriter& w, const char* v) { w.str(v); }
void write_value(JsonWriter& w, size_t v) { w.u64(v); }
void write_value(JsonWriter& w, double v) { w.num(v); }
void write_value(JsonWriter& w, int64_t v) { w.i64(v); }
void write_value(JsonWriter& w, const TensorShape& v) {
  w.begin_array();
  for (size_t i = 0; i < v.rank; ++i) w.i64(v.dims[i]);
  w.end_array();
}

}  // namespace

Device::Device(Port& port, Engine& engine, const DeviceConfig& config)
    : port_(port),
      engine_(engine),
      config_(config),
      reader_(config.line_max),
      upload_(config.model_buffer, config.max_model_bytes, config.chunk_max),
      words_(config.line_max + 1, 0) {
  // Every reply line fits here unless an output tensor is larger than a host line; only
  // then does the buffer grow (once: it keeps its capacity).
  reply_buffer_.reserve(2 * config.line_max + 512);
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(port.random32()));
  nonce_ = buf;
}

void Device::boot() {
  engine_.unload();
  if (config_.embedded_model != nullptr && config_.embedded_model_bytes > 0) {
    JsonWriter w;
    const Error e = load_model(config_.embedded_model, config_.embedded_model_bytes, w);
    w.key("ok").boolean(e == Error::kOk);
    embedded_result_ = w.finish();
  }
  JsonWriter w(&reply_buffer_);
  write_banner_fields(w, vocab::BOOT_BANNER);
  reply(w);
}

size_t Device::feed(const uint8_t* data, size_t len) {
  for (size_t i = 0; i < len; ++i) {
    if (restart_requested_) return i;
    switch (reader_.feed(data[i])) {
      case LineReader::Event::kNone:
        break;
      case LineReader::Event::kLine:
        handle_line(reader_.line(), reader_.line_len());
        break;
      case LineReader::Event::kOverflow: {
        JsonWriter extra;
        extra.key("line_max").u64(reader_.line_max());
        reply_errorf(vocab::UNKNOWN_COMMAND, Error::kLine, &extra, "line longer than line_max=%u",
                     static_cast<unsigned>(reader_.line_max()));
        break;
      }
    }
  }
  return len;
}

bool Device::poll(uint32_t timeout_ms) {
  uint8_t buf[256];
  const int n = port_.read(buf, sizeof buf, timeout_ms);
  if (n < 0) return false;
  feed(buf, static_cast<size_t>(n));
  return !restart_requested_;
}

void Device::reply(JsonWriter& w) {
  const std::string& line = w.finish_line(vocab::REPLY_PREFIX);
  port_.write(line.data(), line.size());
}

template <typename Fields>
void Device::reply_ok(const char* cmd, Fields&& fields) {
  JsonWriter w(&reply_buffer_);
  fields(start_reply(w, true, cmd));
  reply(w);
}

void Device::reply_error(const char* cmd, Error code, const char* msg, JsonWriter* extra) {
  // Extra fields are built by the caller in their own writer and spliced in here, so
  // ok/cmd/code/msg always come first.
  JsonWriter w(&reply_buffer_);
  start_reply(w, false, cmd).key("code").str(error_name(code)).key("msg").str(msg);
  if (extra != nullptr) w.merge(extra->finish());
  reply(w);
}

void Device::reply_errorf(const char* cmd, Error code, JsonWriter* extra, const char* format, ...) {
  char msg[128];
  va_list args;
  va_start(args, format);
  std::vsnprintf(msg, sizeof msg, format, args);
  va_end(args);
  reply_error(cmd, code, msg, extra);
}

bool Device::reserve_reply(size_t bytes) {
  if (reply_buffer_.capacity() >= bytes) return true;
  // std::string grows to at least twice its capacity: ask for what it will take (+1: its NUL).
  const size_t want = bytes > 2 * reply_buffer_.capacity() ? bytes : 2 * reply_buffer_.capacity();
  void* probe = heap_alloc(want + 1);
  if (probe == nullptr) return false;
  heap_free(probe);
  reply_buffer_.reserve(want);  // what malloc just served: `new` gets it too (one task, nothing in between)
  return true;
}

bool Device::require_model(const char* cmd, JsonWriter* extra) {
  if (engine_.loaded()) return true;
  reply_error(cmd, Error::kState, "no model loaded", extra);
  return false;
}

void Device::handle_line(const char* line, size_t len) {
  if (!printable_ascii(line, len)) {
    reply_error(vocab::UNKNOWN_COMMAND, Error::kParse, "line has bytes that are not printable ASCII");
    return;
  }
  if (len == 0) {
    reply_error(vocab::UNKNOWN_COMMAND, Error::kParse, "empty line");
    return;
  }
  // Tokenize in a copy (a buffer sized at boot): words separated by single spaces.
  if (len >= words_.size()) len = words_.size() - 1;  // LineReader never hands more
  std::memcpy(words_.data(), line, len);
  words_[len] = 0;
  const char* words[kMaxArgs + 2] = {};
  size_t nwords = 0;
  bool bad_spacing = false;
  char* p = words_.data();
  while (true) {
    char* space = std::strchr(p, ' ');
    if (space != nullptr) *space = 0;
    if (*p == 0) bad_spacing = true;
    if (nwords < kMaxArgs + 2) words[nwords] = p;
    ++nwords;
    if (space == nullptr) break;
    p = space + 1;
  }
  const CommandSpec* spec = nullptr;
  for (const CommandSpec& c : kCommands) {
    if (std::strcmp(words[0], c.name) == 0) spec = &c;
  }
  if (spec == nullptr) {
    reply_error(vocab::UNKNOWN_COMMAND, Error::kParse, "unknown command");
    return;
  }
  const char* cmd = spec->name;  // handlers reply with the table's spelling
  if (bad_spacing) {
    reply_error(cmd, Error::kParse, "words must be separated by single spaces");
    return;
  }
  if (nwords - 1 != spec->nargs) {
    reply_errorf(cmd, Error::kParse, nullptr, "expected %u argument(s), got %u",
                 static_cast<unsigned>(spec->nargs), static_cast<unsigned>(nwords - 1));
    return;
  }
  const char* const* args = words + 1;
  switch (spec->id) {
    case Command::identify: cmd_identify(cmd); break;
    case Command::upload_begin: cmd_upload_begin(cmd, args); break;
    case Command::upload_chunk: cmd_upload_chunk(cmd, args); break;
    case Command::upload_end: cmd_upload_end(cmd); break;
    case Command::set_input: cmd_set_input(cmd, args); break;
    case Command::input_chunk: cmd_input_chunk(cmd, args); break;
    case Command::invoke: cmd_invoke(cmd, false, 0); break;
    case Command::infer: cmd_infer(cmd, args); break;
    case Command::time: cmd_time(cmd, args); break;
    case Command::profile: cmd_profile(cmd); break;
    case Command::reset: cmd_reset(cmd); break;
  }
}

void Device::write_banner_fields(JsonWriter& w, const char* cmd) {
  start_reply(w, true, cmd);
  w.key("proto").i64(vocab::PROTOCOL_VERSION);
  w.key("fw").str(config_.fw_version);
  w.key("target").str(config_.target);
  w.key("platform").str(config_.platform);
  w.key("clock_mhz").i64(config_.clock_mhz);
  w.key("console").str(config_.console);
  w.key("arena_capacity").u64(engine_.arena_capacity());
  w.key("max_model_bytes").u64(config_.max_model_bytes);
  w.key("line_max").u64(config_.line_max);
  w.key("chunk_max").u64(config_.chunk_max);
  w.key("input_chunk_max").u64(config_.chunk_max);
  w.key("free_heap").u64(port_.free_heap());
  w.key("min_free_heap").u64(port_.min_free_heap());
  w.key("nonce").str(nonce_);
  w.key("engine").str(engine_.name());
  w.key("esp_nn").boolean(engine_.esp_nn());
  w.key("tflm_version");
  if (config_.tflm_version != nullptr) w.str(config_.tflm_version); else w.raw("null");
  w.key("esp_nn_version");
  if (config_.esp_nn_version != nullptr) w.str(config_.esp_nn_version); else w.raw("null");
  w.key("ops").begin_array();
  for (const std::string& op : engine_.ops()) w.str(op);
  w.end_array();
  w.key("model_loaded").boolean(engine_.loaded());
  w.key("model_bytes").u64(engine_.loaded() ? model_bytes_ : 0);
  if (!embedded_result_.empty()) w.key("embedded_model").raw(embedded_result_);
}

// One key per TMH_TENSOR_FIELD, in the vocabulary's order; TensorInfo's members bear its names.
void Device::write_tensor(JsonWriter& w, const char* key, const TensorInfo& t) {
  w.key(key).begin_object();
#define TMH_TENSOR_FIELD(field) write_value(w.key(#field), t.field);
#include "protocol_vocabulary.def"
  w.end_object();
}

void Device::cmd_identify(const char* cmd) {
  JsonWriter w(&reply_buffer_);
  write_banner_fields(w, cmd);
  reply(w);
}

void Device::cmd_upload_begin(const char* cmd, const char* const* args) {
  uint32_t size = 0, crc = 0;
  if (!parse_u32(args[0], &size)) {
    reply_error(cmd, Error::kParse, "size is not a decimal number");
    return;
  }
  if (!parse_crc(args[1], &crc)) {
    reply_error(cmd, Error::kParse, "crc32 must be 8 hex digits");
    return;
  }
  // A new upload replaces whatever was there, even if it is then refused.
  engine_.unload();
  model_bytes_ = 0;
  staged_input_ = 0;
  const Error e = upload_.begin(size, crc);
  if (e == Error::kTooLarge) {
    JsonWriter extra;
    extra.key("max_model_bytes").u64(config_.max_model_bytes);
    reply_errorf(cmd, e, &extra, "size %u above max_model_bytes %u", static_cast<unsigned>(size),
                 static_cast<unsigned>(config_.max_model_bytes));
    return;
  }
  if (e != Error::kOk) {
    reply_error(cmd, e, "size must be at least 1");
    return;
  }
  reply_ok(cmd, [&](JsonWriter& w) {
    w.key("size").u64(size).key("chunk_max").u64(config_.chunk_max);
  });
}

void Device::cmd_upload_chunk(const char* cmd, const char* const* args) {
  uint32_t seq = 0;
  if (!parse_u32(args[0], &seq)) {
    reply_error(cmd, Error::kParse, "seq is not a decimal number");
    return;
  }
  const Error e = upload_.chunk(seq, args[1], std::strlen(args[1]));
  JsonWriter extra;
  extra.key("seq").u64(seq);
  switch (e) {
    case Error::kOk:
      reply_ok(cmd, [&](JsonWriter& w) {
        w.key("seq").u64(seq).key("received").u64(upload_.received());
      });
      return;
    case Error::kState:
      reply_error(cmd, e, "no upload in progress (upload_begin first)", &extra);
      return;
    case Error::kSeq:
      extra.key("expected").u64(upload_.expected());
      reply_errorf(cmd, e, &extra, "expected seq %u", static_cast<unsigned>(upload_.expected()));
      return;
    case Error::kBase64:
      reply_error(cmd, e, "payload is not valid base64", &extra);
      return;
    default:
      reply_errorf(cmd, e, &extra, "chunk above chunk_max %u or past the announced size %u",
                   static_cast<unsigned>(config_.chunk_max), static_cast<unsigned>(upload_.size()));
      return;
  }
}

Error Device::load_model(const uint8_t* model, size_t size, JsonWriter& w) {
  EngineResult r = engine_.verify(model, size);
  size_t arena_used = 0;
  if (r.code == Error::kOk) r = engine_.load(model, size, &arena_used);
  if (r.code != Error::kOk) {
    engine_.unload();
    model_bytes_ = 0;
    w.key("code").str(error_name(r.code)).key("msg").str(r.detail);
    if (r.code == Error::kOp) w.key("op").str(r.detail);
    if (r.code == Error::kAlloc) w.key("arena_capacity").u64(engine_.arena_capacity());
    return r.code;
  }
  model_bytes_ = size;
  w.key("model_bytes").u64(size);
  w.key("arena_used_bytes").u64(arena_used);
  w.key("free_heap").u64(port_.free_heap());
  write_tensor(w, "input", engine_.input_info());
  write_tensor(w, "output", engine_.output_info());
  return Error::kOk;
}

void Device::cmd_upload_end(const char* cmd) {
  const Error e = upload_.finish();
  if (e == Error::kState) {
    reply_error(cmd, e, "no upload in progress (upload_begin first)");
    return;
  }
  if (e == Error::kSize) {
    JsonWriter extra;
    extra.key("received").u64(upload_.received()).key("expected").u64(upload_.expected());
    reply_errorf(cmd, e, &extra, "received %u of %u bytes", static_cast<unsigned>(upload_.received()),
                 static_cast<unsigned>(upload_.size()));
    return;
  }
  if (e == Error::kCrc) {
    reply_errorf(cmd, e, nullptr, "crc32 of received bytes is %08x, announced %08x",
                 static_cast<unsigned>(upload_.crc_received()), static_cast<unsigned>(upload_.crc()));
    return;
  }
  // load_model writes the upload_end fields, or code/msg/...: after ok/cmd, like every reply.
  JsonWriter body;
  const Error le = load_model(upload_.data(), upload_.size(), body);
  JsonWriter w(&reply_buffer_);
  start_reply(w, le == Error::kOk, cmd).merge(body.finish());
  reply(w);
}

bool Device::write_input(const char* cmd, const char* b64) {
  if (!require_model(cmd)) return false;
  const size_t len = std::strlen(b64);
  size_t n = 0;
  if (!base64_decoded_length(b64, len, &n)) {
    reply_error(cmd, Error::kBase64, "payload is not valid base64");
    return false;
  }
  const size_t want = engine_.input_bytes();
  if (n != want) {
    JsonWriter extra;
    extra.key("bytes").u64(n).key("expected").u64(want);
    reply_errorf(cmd, Error::kInput, &extra, "input is %u bytes, tensor takes %u",
                 static_cast<unsigned>(n), static_cast<unsigned>(want));
    return false;
  }
  size_t written = 0;
  base64_decode(b64, len, engine_.input_data(), want, &written);
  staged_input_ = 0;
  return true;
}

void Device::cmd_input_chunk(const char* cmd, const char* const* args) {
  uint32_t offset = 0;
  if (!parse_u32(args[0], &offset)) {
    reply_error(cmd, Error::kParse, "offset is not a decimal number");
    return;
  }
  JsonWriter extra;
  extra.key("offset").u64(offset);
  if (!require_model(cmd, &extra)) return;
  const char* b64 = args[1];
  const size_t len = std::strlen(b64);
  size_t n = 0;
  if (!base64_decoded_length(b64, len, &n)) {
    reply_error(cmd, Error::kBase64, "payload is not valid base64", &extra);
    return;
  }
  if (n > config_.chunk_max) {
    reply_errorf(cmd, Error::kTooLarge, &extra, "chunk above input_chunk_max %u",
                 static_cast<unsigned>(config_.chunk_max));
    return;
  }
  // Chunks arrive in order; offset 0 starts the input over (a host that lost track).
  if (offset != 0 && offset != staged_input_) {
    extra.key("expected").u64(staged_input_);
    reply_errorf(cmd, Error::kSeq, &extra, "expected offset %u", static_cast<unsigned>(staged_input_));
    return;
  }
  const size_t want = engine_.input_bytes();
  if (offset + n > want) {
    extra.key("bytes").u64(offset + n).key("expected").u64(want);
    reply_errorf(cmd, Error::kInput, &extra, "chunk ends at byte %u, tensor takes %u",
                 static_cast<unsigned>(offset + n), static_cast<unsigned>(want));
    return;
  }
  size_t written = 0;
  base64_decode(b64, len, engine_.input_data() + offset, want - offset, &written);
  staged_input_ = offset + n;
  reply_ok(cmd, [&](JsonWriter& w) { w.key("offset").u64(offset).key("received").u64(staged_input_); });
}

void Device::cmd_set_input(const char* cmd, const char* const* args) {
  if (!write_input(cmd, args[0])) return;
  reply_ok(cmd, [&](JsonWriter& w) { w.key("bytes").u64(engine_.input_bytes()); });
}

void Device::cmd_invoke(const char* cmd, bool has_idx, uint32_t idx) {
  if (!require_model(cmd)) return;
  const int64_t t0 = port_.micros();
  const uint32_t c0 = port_.cycles();
  const EngineResult r = engine_.invoke();
  const uint32_t c1 = port_.cycles();
  const int64_t t1 = port_.micros();
  if (r.code != Error::kOk) {
    reply_error(cmd, Error::kInvoke, r.detail.c_str());
    return;
  }
  // An output larger than a host line outgrows the buffer reserved at boot; the board answers
  // E_ALLOC and keeps its model when the heap cannot hold the reply (instead of aborting).
  const size_t reply_bytes = base64_encoded_length(engine_.output_bytes()) + kInvokeReplyOverhead;
  if (!reserve_reply(reply_bytes)) {
    JsonWriter extra;
    extra.key("bytes").u64(reply_bytes);
    reply_errorf(cmd, Error::kAlloc, &extra, "not enough heap for the reply (%u B of output)",
                 static_cast<unsigned>(engine_.output_bytes()));
    return;
  }
  // The run's time in each of the vocabulary's units, as `time` names them.
  const int64_t us = t1 - t0;
  const uint32_t cycles = c1 - c0;
  reply_ok(cmd, [&](JsonWriter& w) {
    if (has_idx) w.key("idx").u64(idx);
    w.key("output").base64(engine_.output_data(), engine_.output_bytes());
#define TMH_TIMING_UNIT(unit) w.key(#unit).i64(unit);
#include "protocol_vocabulary.def"
  });
}

void Device::cmd_infer(const char* cmd, const char* const* args) {
  uint32_t idx = 0;
  if (!parse_u32(args[0], &idx)) {
    reply_error(cmd, Error::kParse, "idx is not a decimal number");
    return;
  }
  if (std::strcmp(args[1], vocab::STAGED_INPUT) == 0) {
    if (!require_model(cmd)) return;
    const size_t want = engine_.input_bytes();
    if (staged_input_ != want) {
      JsonWriter extra;
      extra.key("bytes").u64(staged_input_).key("expected").u64(want);
      reply_errorf(cmd, Error::kInput, &extra, "input_chunk staged %u of %u bytes",
                   static_cast<unsigned>(staged_input_), static_cast<unsigned>(want));
      return;
    }
    staged_input_ = 0;  // each staged input runs once
  } else if (!write_input(cmd, args[1])) {
    return;
  }
  cmd_invoke(cmd, true, idx);
}

void Device::cmd_time(const char* cmd, const char* const* args) {
  uint32_t runs = 0, warmup = 0;
  if (!parse_u32(args[0], &runs) || !parse_u32(args[1], &warmup)) {
    reply_error(cmd, Error::kParse, "runs and warmup must be decimal numbers");
    return;
  }
  if (runs < 1 || runs > vocab::TIME_MAX_RUNS || warmup > vocab::TIME_MAX_WARMUP) {
    reply_errorf(cmd, Error::kRange, nullptr, "runs must be 1..%u and warmup 0..%u",
                 static_cast<unsigned>(vocab::TIME_MAX_RUNS),
                 static_cast<unsigned>(vocab::TIME_MAX_WARMUP));
    return;
  }
  if (!require_model(cmd)) return;
  // The median needs every sample: 8 bytes per run, asked for only now, freed after.
  // malloc, not new: a failed new aborts on ESP-IDF (heap.h) and the board would reboot.
  const auto us = heap_array<uint32_t>(runs);
  const auto cycles = heap_array<uint32_t>(runs);
  if (!us || !cycles) {
    reply_error(cmd, Error::kAlloc, "not enough heap for the run samples; use fewer runs");
    return;
  }
  for (uint32_t i = 0; i < warmup; ++i) {
    const EngineResult r = engine_.invoke();
    if (r.code != Error::kOk) {
      reply_error(cmd, Error::kInvoke, r.detail.c_str());
      return;
    }
  }
  for (uint32_t i = 0; i < runs; ++i) {
    const int64_t t0 = port_.micros();
    const uint32_t c0 = port_.cycles();
    const EngineResult r = engine_.invoke();
    const uint32_t c1 = port_.cycles();
    const int64_t t1 = port_.micros();
    if (r.code != Error::kOk) {
      reply_error(cmd, Error::kInvoke, r.detail.c_str());
      return;
    }
    us[i] = static_cast<uint32_t>(t1 - t0);
    cycles[i] = c1 - c0;
  }
  // Named as the vocabulary's units: TMH_TIMING_UNIT(us) reads us_stats.
  const Stats us_stats = compute_stats(us.get(), runs);
  const Stats cycles_stats = compute_stats(cycles.get(), runs);
  reply_ok(cmd, [&](JsonWriter& w) {
    w.key("runs").u64(runs).key("warmup").u64(warmup);
#define TMH_TIMING_UNIT(unit) write_stats(w, #unit, unit##_stats);
#include "protocol_vocabulary.def"
  });
}

void Device::cmd_profile(const char* cmd) {
  if (!require_model(cmd)) return;
  const OpTiming* ops = nullptr;
  size_t count = 0, dropped = 0;
  const EngineResult r = engine_.profile(&ops, &count, &dropped);
  if (r.code != Error::kOk) {
    reply_error(cmd, Error::kInvoke, r.detail.c_str());
    return;
  }
  reply_ok(cmd, [&](JsonWriter& w) {
    if (dropped > 0) w.key("ops_dropped").u64(dropped);
    w.key("ops").begin_array();
    for (size_t i = 0; i < count; ++i) {
      w.begin_object();
      w.key("index").u64(i).key("op").str(ops[i].op);
#define TMH_TIMING_UNIT(unit) w.key(#unit).u64(ops[i].unit);
#include "protocol_vocabulary.def"
      w.end_object();
    }
    w.end_array();
  });
}

void Device::cmd_reset(const char* cmd) {
  reply_ok(cmd, [](JsonWriter&) {});
  restart_requested_ = true;
  port_.restart();
}

}  // namespace tmh
