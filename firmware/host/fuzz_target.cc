// libFuzzer target over the line reader, command parser and dispatcher, with the fake
// engine. Besides ASan/UBSan findings it checks the protocol's invariants on every input:
// each host line gets exactly one reply, every reply is one prefixed printable line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "device.h"
#include "fake_engine.h"

namespace {

class MemoryPort : public tmh::Port {
 public:
  int read(uint8_t*, size_t, uint32_t) override { return -1; }
  void write(const char* data, size_t len) override { out.append(data, len); }
  int64_t micros() override { return ++t_us; }
  uint32_t cycles() override { return static_cast<uint32_t>(t_us * 240); }
  size_t free_heap() override { return 100000; }
  size_t min_free_heap() override { return 90000; }
  uint32_t random32() override { return 0x12345678u; }
  void restart() override {}
  std::string out;
  int64_t t_us = 0;
};

void check_replies(const std::string& out, size_t host_lines) {
  size_t replies = 0;
  size_t start = 0;
  while (start < out.size()) {
    const size_t end = out.find('\n', start);
    if (end == std::string::npos) std::abort();  // a reply without its newline
    const std::string line = out.substr(start, end - start);
    const std::string prefix = tmh::vocab::REPLY_PREFIX;
    if (line.compare(0, prefix.size(), prefix) != 0) std::abort();
    for (unsigned char c : line) {
      if (c < 0x20 || c > 0x7E) std::abort();
    }
    if (line.find("\"cmd\":\"boot\"") == std::string::npos) ++replies;
    start = end + 1;
  }
  if (replies != host_lines) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Small limits so the fuzzer reaches line overflow, full buffers and large chunks fast.
  alignas(16) static uint8_t model_buffer[2048];
  tmh::DeviceConfig config;
  config.line_max = 512;
  config.chunk_max = 96;
  config.model_buffer = model_buffer;
  config.max_model_bytes = sizeof model_buffer;
  MemoryPort port;
  tmh::FakeEngine engine(port, 4096);
  size_t host_lines = 0;
  for (size_t i = 0; i < size; ++i) host_lines += (data[i] == '\n');
  size_t done = 0;
  while (true) {
    tmh::Device device(port, engine, config);
    device.boot();
    done += device.feed(data + done, size - done);
    if (!device.restart_requested()) break;  // a `reset`: boot again with the rest
  }
  check_replies(port.out, host_lines);
  return 0;
}
