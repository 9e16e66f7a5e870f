// Builds one compact JSON object (the body of a reply line). Only what replies need:
// strings, integers, doubles, booleans, arrays, nested objects. Keys are written as given
// (callers pass literals); string values are escaped.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace tmh {

class JsonWriter {
 public:
  // Writes into its own string (error paths, nested pieces).
  JsonWriter() : out_(own_) { out_.push_back('{'); }
  // Writes into *buffer, cleared first: a buffer reserved at boot and reused for every
  // reply keeps the per-line path free of heap allocation.
  explicit JsonWriter(std::string* buffer) : out_(*buffer) {
    out_.clear();
    out_.push_back('{');
  }
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  JsonWriter& key(const char* k);
  JsonWriter& str(const char* v);
  JsonWriter& str(const std::string& v) { return str(v.c_str()); }
  JsonWriter& raw(const std::string& literal);  // a value already in JSON form
  // Appends the members of another finished object ("{...}") to the open object.
  JsonWriter& merge(const std::string& object_text);
  JsonWriter& i64(int64_t v);
  JsonWriter& u64(uint64_t v);
  JsonWriter& num(double v);  // null for NaN/inf, which JSON cannot carry
  JsonWriter& boolean(bool v);
  // A base64 string of data, encoded straight into the output (no intermediate copy).
  JsonWriter& base64(const uint8_t* data, size_t len);
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& begin_object();
  JsonWriter& end_object();

  // Closes the outer object; returns the finished text. Call once.
  const std::string& finish();
  // Closes the outer object and frames it as one protocol line: prefix + object + "\n".
  const std::string& finish_line(const char* prefix);

  // Appends a quoted, escaped string to out (public for base64 payloads appended in place).
  static void append_quoted(const char* s, std::string* out);

 private:
  void value_prefix();
  bool take_first();  // true if the innermost open container had no element yet
  std::string own_;
  std::string& out_;
  // Bit d: container at depth d has an element already. Replies nest 3 deep at most.
  uint32_t has_element_ = 0;
  uint32_t depth_ = 0;
  bool after_key_ = false;
};

}  // namespace tmh
