#include "upload.h"

#include "base64.h"
#include "crc32.h"

namespace tmh {

Error Upload::begin(uint32_t size, uint32_t crc) {
  active_ = false;
  if (size == 0) return Error::kRange;
  if (size > cap_) return Error::kTooLarge;
  active_ = true;
  size_ = size;
  crc_expected_ = crc;
  crc_running_ = 0;
  next_seq_ = 0;
  received_ = 0;
  return Error::kOk;
}

Error Upload::chunk(uint32_t seq, const char* b64, size_t b64_len) {
  if (!active_) return Error::kState;
  if (seq != next_seq_) return Error::kSeq;
  size_t n = 0;
  if (!base64_decoded_length(b64, b64_len, &n)) return Error::kBase64;
  if (n > chunk_max_ || n > size_ - received_) return Error::kTooLarge;
  size_t written = 0;
  if (!base64_decode(b64, b64_len, buf_ + received_, n, &written) || written != n) {
    return Error::kBase64;  // unreachable after validation; kept as a guard
  }
  crc_running_ = crc32_update(crc_running_, buf_ + received_, n);
  received_ += n;
  ++next_seq_;
  return Error::kOk;
}

Error Upload::finish() {
  if (!active_) return Error::kState;
  if (received_ < size_) return Error::kSize;
  active_ = false;
  if (crc_running_ != crc_expected_) return Error::kCrc;
  return Error::kOk;
}

}  // namespace tmh
