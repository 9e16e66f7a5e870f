// Assembles host lines byte by byte into a fixed buffer of line_max bytes (the newline
// included), so a runaway sender can never make the device allocate.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tmh {

class LineReader {
 public:
  enum class Event { kNone, kLine, kOverflow };

  explicit LineReader(size_t line_max);

  // Feeds one byte. kLine: line() holds the line without "\n" and without a trailing
  // "\r". kOverflow: a line longer than line_max ended (its bytes were discarded);
  // reported once, at its newline, so every host line gets exactly one answer.
  Event feed(uint8_t byte);

  const char* line() const { return reinterpret_cast<const char*>(buf_.data()); }
  size_t line_len() const { return line_len_; }
  size_t line_max() const { return line_max_; }

 private:
  size_t line_max_;
  std::vector<uint8_t> buf_;  // line_max bytes: line_max - 1 content bytes + NUL
  size_t len_ = 0;       // bytes of the line being assembled
  size_t line_len_ = 0;  // length of the last complete line
  bool overflow_ = false;
};

}  // namespace tmh
