// The chunked upload state machine: begin(size, crc) -> chunk(seq, base64)... -> finish().
// Bytes land directly in the model buffer (no second copy: RAM is the scarce resource),
// and the CRC runs as chunks arrive.
#pragma once
#include <cstddef>
#include <cstdint>

#include "error_codes.h"

namespace tmh {

class Upload {
 public:
  Upload(uint8_t* buffer, size_t capacity, size_t chunk_max)
      : buf_(buffer), cap_(capacity), chunk_max_(chunk_max) {}

  // kTooLarge above capacity, kRange for size 0. Any upload in progress is discarded.
  Error begin(uint32_t size, uint32_t crc);
  // kState without begin; kSeq if seq != expected() (chunk dropped, upload stays open);
  // kBase64; kTooLarge if the chunk exceeds chunk_max or the announced size.
  Error chunk(uint32_t seq, const char* b64, size_t b64_len);
  // kState without begin; kSize if bytes are missing (upload stays open so the host can
  // send them); kCrc on mismatch (upload discarded). kOk: the model is data()/size().
  Error finish();
  uint32_t expected() const { return next_seq_; }
  size_t received() const { return received_; }
  uint32_t size() const { return size_; }
  uint32_t crc() const { return crc_expected_; }
  uint32_t crc_received() const { return crc_running_; }
  const uint8_t* data() const { return buf_; }

 private:
  uint8_t* buf_;
  size_t cap_;
  size_t chunk_max_;
  bool active_ = false;
  uint32_t size_ = 0;
  uint32_t crc_expected_ = 0;
  uint32_t crc_running_ = 0;
  uint32_t next_seq_ = 0;
  size_t received_ = 0;
};

}  // namespace tmh
