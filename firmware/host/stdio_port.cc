#include "stdio_port.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

namespace tmh {
namespace {

// What an ESP32 prints when it comes out of reset (ROM bootloader), abridged.
constexpr char kBootNoise[] =
    "ets Jul 29 2019 12:21:46\r\n"
    "rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
    "I (31) boot: ESP-IDF v5.x 2nd stage bootloader (fw_host simulation)\r\n";
constexpr char kPanicNoise[] =
    "Guru Meditation Error: Core  0 panic'ed (LoadProhibited). Exception was unhandled.\r\n"
    "Backtrace: 0x400d1234:0x3ffb1230 0x400d5678:0x3ffb1250 (fw_host simulation)\r\n"
    "Rebooting...\r\n";

}  // namespace

StdioPort::StdioPort(const StdioPortOptions& options)
    : options_(options),
      rng_(options.seed != 0 ? options.seed : std::random_device{}()) {}

int StdioPort::read(uint8_t* buf, size_t max, uint32_t timeout_ms) {
  pollfd pfd{STDIN_FILENO, POLLIN, 0};
  const int ready = ::poll(&pfd, 1, static_cast<int>(timeout_ms));
  if (ready == 0) return 0;
  if (ready < 0) return errno == EINTR ? 0 : -1;
  const ssize_t n = ::read(STDIN_FILENO, buf, max);
  if (n <= 0) return (n < 0 && errno == EINTR) ? 0 : -1;
  // Simulated faults: the byte ending the Nth line never reaches the core.
  for (ssize_t i = 0; i < n; ++i) {
    if (buf[i] != '\n') continue;
    ++lines_seen_;
    const bool reset = (lines_seen_ == options_.reset_after_lines);
    const bool panic = (lines_seen_ == options_.panic_after_lines);
    if (reset || panic) {
      if (panic) write_raw(kPanicNoise, sizeof kPanicNoise - 1);
      write_raw(kBootNoise, sizeof kBootNoise - 1);
      fault_ = true;
      return static_cast<int>(i);
    }
  }
  return static_cast<int>(n);
}

void StdioPort::write_raw(const char* data, size_t len) {
  while (len > 0) {
    const ssize_t n = ::write(STDOUT_FILENO, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // the host closed the pipe; nothing left to tell it
    }
    data += n;
    len -= static_cast<size_t>(n);
  }
}

void StdioPort::write(const char* data, size_t len) {
  if (options_.noise) {
    char line[96];
    const int n = std::snprintf(line, sizeof line,
                                "I (%llu) fw_host: log noise \xff\xfe not UTF-8\r\n",
                                static_cast<unsigned long long>(++noise_count_));
    write_raw(line, static_cast<size_t>(n));
  }
  write_raw(data, len);
}

uint64_t StdioPort::ScriptedClock::read(const std::vector<uint32_t>& script, uint64_t per_us) {
  if (reads % 2 == 1) now += per_us * script[(reads / 2) % script.size()];  // an end read
  ++reads;
  return now;
}

int64_t StdioPort::micros() {
  if (!options_.clock_script_us.empty()) {
    return static_cast<int64_t>(scripted_us_.read(options_.clock_script_us, 1));
  }
  using namespace std::chrono;
  return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
}

uint32_t StdioPort::cycles() {
  if (!options_.clock_script_us.empty()) {
    return static_cast<uint32_t>(scripted_cycles_.read(options_.clock_script_us, 1000));
  }
  using namespace std::chrono;
  return static_cast<uint32_t>(
      duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count());
}

bool StdioPort::take_fault() {
  const bool f = fault_;
  fault_ = false;
  return f;
}

bool StdioPort::take_restart() {
  const bool r = restart_;
  restart_ = false;
  return r;
}

}  // namespace tmh
