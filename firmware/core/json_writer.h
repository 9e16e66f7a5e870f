// Builds one compact JSON object (the body of a "@@TMH " line). Only what replies need:
// strings, integers, doubles, booleans, arrays, nested objects. Keys are written as given
// (callers pass literals); string values are escaped.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tmh {

class JsonWriter {
 public:
  JsonWriter() { out_.push_back('{'); first_.push_back(true); }

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
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& begin_object();
  JsonWriter& end_object();

  // Closes the outer object; returns the finished text. Call once.
  const std::string& finish();

  // Appends a quoted, escaped string to out (public for base64 payloads appended in place).
  static void append_quoted(const char* s, std::string* out);

 private:
  void value_prefix();
  std::string out_;
  std::vector<bool> first_;    // one entry per open container: no element written yet
  bool after_key_ = false;
};

}  // namespace tmh
