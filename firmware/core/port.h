// What the core needs from a board (MLPerf Tiny's "submitter_implemented" role): a byte
// stream, a clock, heap figures and a restart. The ESP port is esp_port.cc; the host
// build's is host/stdio_port.cc.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tmh {

// The timing half of Port; engines take only this (the profiler needs a clock).
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t micros() = 0;    // monotonic microseconds
  virtual uint32_t cycles() = 0;   // CPU cycle counter; wraps (differences stay valid)
};

class Port : public Clock {
 public:
  // Reads up to max bytes, waiting at most timeout_ms for the first. Returns the count
  // (0 on timeout) or -1 when the stream ended for good (host build: stdin closed).
  virtual int read(uint8_t* buf, size_t max, uint32_t timeout_ms) = 0;
  virtual void write(const char* data, size_t len) = 0;
  virtual size_t free_heap() = 0;
  virtual size_t min_free_heap() = 0;
  virtual uint32_t random32() = 0;  // boot nonce
  // Restarts the board. On the chip this does not return; the host build returns and its
  // main loop boots a fresh core (new nonce, no model), which is what a host sees.
  virtual void restart() = 0;
};

}  // namespace tmh
