#include "line_reader.h"

namespace tmh {

LineReader::LineReader(size_t line_max)
    : line_max_(line_max < 2 ? 2 : line_max), buf_(line_max_, 0) {}

LineReader::Event LineReader::feed(uint8_t byte) {
  if (byte == '\n') {
    if (overflow_) {
      overflow_ = false;
      len_ = 0;
      return Event::kOverflow;
    }
    if (len_ > 0 && buf_[len_ - 1] == '\r') --len_;
    buf_[len_] = 0;
    // The content stays in buf_ until the next feed; the caller handles it before that.
    line_len_ = len_;
    len_ = 0;
    return Event::kLine;
  }
  if (overflow_) return Event::kNone;
  // line_max counts the newline, so at most line_max - 1 content bytes fit.
  if (len_ + 1 >= line_max_) {
    overflow_ = true;
    len_ = 0;
    return Event::kNone;
  }
  buf_[len_++] = byte;
  return Event::kNone;
}

}  // namespace tmh
