#include "json_writer.h"

#include "base64.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>

namespace tmh {

void JsonWriter::append_quoted(const char* s, std::string* out) {
  out->push_back('"');
  for (const char* p = s; *p; ++p) {
    const unsigned char c = static_cast<unsigned char>(*p);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c < 0x20 || c >= 0x7F) {
      // Replies stay printable ASCII: anything else is escaped as a code unit.
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out->append(buf);
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
  out->push_back('"');
}

bool JsonWriter::take_first() {
  const uint32_t bit = 1u << (depth_ & 31);
  const bool first = (has_element_ & bit) == 0;
  has_element_ |= bit;
  return first;
}

void JsonWriter::value_prefix() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!take_first()) out_.push_back(',');
}

JsonWriter& JsonWriter::key(const char* k) {
  if (!take_first()) out_.push_back(',');
  append_quoted(k, &out_);
  out_.push_back(':');
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::str(const char* v) {
  value_prefix();
  append_quoted(v, &out_);
  return *this;
}

JsonWriter& JsonWriter::raw(const std::string& literal) {
  value_prefix();
  out_.append(literal);
  return *this;
}

JsonWriter& JsonWriter::merge(const std::string& object_text) {
  if (object_text.size() <= 2) return *this;  // "{}"
  if (!take_first()) out_.push_back(',');
  out_.append(object_text, 1, object_text.size() - 2);
  return *this;
}

JsonWriter& JsonWriter::i64(int64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%" PRId64, v);
  return raw(buf);
}

JsonWriter& JsonWriter::u64(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%" PRIu64, v);
  return raw(buf);
}

JsonWriter& JsonWriter::num(double v) {
  if (!std::isfinite(v)) return raw("null");
  char buf[32];
  // 9 significant digits round-trip a float32 (tensor scales) exactly.
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return raw(buf);
}

JsonWriter& JsonWriter::boolean(bool v) { return raw(v ? "true" : "false"); }

JsonWriter& JsonWriter::begin_array() {
  value_prefix();
  out_.push_back('[');
  ++depth_;
  has_element_ &= ~(1u << (depth_ & 31));
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  out_.push_back(']');
  --depth_;
  return *this;
}

JsonWriter& JsonWriter::begin_object() {
  value_prefix();
  out_.push_back('{');
  ++depth_;
  has_element_ &= ~(1u << (depth_ & 31));
  return *this;
}

JsonWriter& JsonWriter::end_object() {
  out_.push_back('}');
  --depth_;
  return *this;
}

const std::string& JsonWriter::finish() {
  out_.push_back('}');
  return out_;
}

const std::string& JsonWriter::finish_line(const char* prefix) {
  out_.push_back('}');
  out_.insert(0, prefix);  // in place: the reserved capacity holds it
  out_.push_back('\n');
  return out_;
}

JsonWriter& JsonWriter::base64(const uint8_t* data, size_t len) {
  value_prefix();
  out_.push_back('"');
  base64_encode_append(data, len, &out_);
  out_.push_back('"');
  return *this;
}

}  // namespace tmh
