// fw_host: the firmware's portable core on stdin/stdout with the fake engine, so the host
// client, the virtual board and the core are tested against each other without a chip.
// Built with FW_ENGINE=tflm it runs main/tflm_engine.cc instead (TFLite Micro, reference
// kernels): the chip's own code path, minus esp-nn and the ESP port.
//
//   fw_host [--arena N] [--max-model N] [--line-max N] [--chunk-max N] [--target NAME]
//           [--seed N] [--embed FILE] [--reset-after-lines N] [--panic-after-lines N]
//           [--noise] [--alloc-limit N] [--count-engine-clock] [--scripted-clock US,US,...]
//   --scripted-clock: the port's clock is scripted instead of steady (StdioPortOptions::
//   clock_script_us): the k-th timed interval (`time` run, `invoke`, `infer`) lasts the k-th
//   listed number of microseconds (cycling through the list), and as many thousand cycles.
//   --count-engine-clock: on exit, print to stderr how often the engine read its clock
//   (the profiler's reads; the core's own `time` / `invoke` timing reads the port's clock).
//   --alloc-limit N: a heap that cannot serve more than N bytes at once, as a chip's full
//   heap: heap_alloc (core/heap.h, malloc) returns nullptr, and C++ `new` aborts, as it does
//   on ESP-IDF with exceptions off (`new (std::nothrow)` too: libstdc++'s wraps the
//   throwing one, whose failure reaches IDF's exception stubs, which abort).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "device.h"
#include "heap.h"
#include "stdio_port.h"
#if defined(TMH_HOST_ENGINE_TFLM)
#include "tflm_engine.h"
#else
#include "fake_engine.h"
#endif

namespace {

size_t g_alloc_limit = static_cast<size_t>(-1);

void* limited_alloc(size_t bytes) { return bytes > g_alloc_limit ? nullptr : std::malloc(bytes); }

// The engine's clock: the port's, counting reads (--count-engine-clock).
class CountingClock : public tmh::Clock {
 public:
  explicit CountingClock(tmh::Clock& inner) : inner_(inner) {}
  int64_t micros() override {
    ++reads_;
    return inner_.micros();
  }
  uint32_t cycles() override {
    ++reads_;
    return inner_.cycles();
  }
  unsigned long long reads() const { return reads_; }

 private:
  tmh::Clock& inner_;
  unsigned long long reads_ = 0;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "fw_host: %s\n", why);
  std::fprintf(stderr,
               "usage: fw_host [--arena N] [--max-model N] [--line-max N] [--chunk-max N]\n"
               "               [--target NAME] [--seed N] [--embed FILE]\n"
               "               [--reset-after-lines N] [--panic-after-lines N] [--noise]\n"
               "               [--alloc-limit N] [--count-engine-clock]\n"
               "               [--scripted-clock US,US,...]\n");
  std::exit(2);
}

long parse_long(const char* flag, const char* text) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (end == text || *end != 0 || v < 0) usage((std::string(flag) + " needs a number").c_str());
  return v;
}

// "5,1,4": intervals of 1..kMaxScriptedUs microseconds.
std::vector<uint32_t> parse_clock_script(const char* flag, const char* text) {
  std::vector<uint32_t> out;
  const char* p = text;
  for (;;) {
    char* end = nullptr;
    const unsigned long v = std::strtoul(p, &end, 10);
    if (end == p || v < 1 || v > tmh::StdioPort::kMaxScriptedUs || (*end != ',' && *end != 0)) {
      usage((std::string(flag) + " needs a comma-separated list of 1.." +
             std::to_string(tmh::StdioPort::kMaxScriptedUs) + " microseconds").c_str());
    }
    out.push_back(static_cast<uint32_t>(v));
    if (*end == 0) return out;
    p = end + 1;
  }
}

}  // namespace

#if !defined(__SANITIZE_ADDRESS__)  // ASan brings its own operator new
// ESP-IDF's behaviour for a `new` the heap cannot serve (see --alloc-limit). The array and
// nothrow forms of libstdc++ call this one.
void* operator new(std::size_t bytes) {
  void* p = bytes > g_alloc_limit ? nullptr : std::malloc(bytes != 0 ? bytes : 1);
  if (p == nullptr) {
    std::fprintf(stderr, "fw_host: operator new(%zu) failed: abort() (as on ESP-IDF)\n", bytes);
    std::abort();
  }
  return p;
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif

int main(int argc, char** argv) {
  size_t arena = 64 * 1024;
  tmh::DeviceConfig config;
  config.max_model_bytes = 128 * 1024;
  config.clock_mhz = 1000;  // host "cycles" are steady-clock nanoseconds
  std::string target = "host";
  std::string embed_path;
  tmh::StdioPortOptions port_options;
  bool count_engine_clock = false;

  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--noise") {
      port_options.noise = true;
      continue;
    }
    if (flag == "--count-engine-clock") {
      count_engine_clock = true;
      continue;
    }
    if (i + 1 >= argc) usage(("missing value for " + flag).c_str());
    const char* value = argv[++i];
    if (flag == "--arena") arena = parse_long(argv[i - 1], value);
    else if (flag == "--max-model") config.max_model_bytes = parse_long(argv[i - 1], value);
    else if (flag == "--line-max") config.line_max = parse_long(argv[i - 1], value);
    else if (flag == "--chunk-max") config.chunk_max = parse_long(argv[i - 1], value);
    else if (flag == "--target") target = value;
    else if (flag == "--seed") port_options.seed = parse_long(argv[i - 1], value);
    else if (flag == "--embed") embed_path = value;
    else if (flag == "--reset-after-lines") port_options.reset_after_lines = parse_long(argv[i - 1], value);
    else if (flag == "--panic-after-lines") port_options.panic_after_lines = parse_long(argv[i - 1], value);
    else if (flag == "--scripted-clock") port_options.clock_script_us = parse_clock_script(argv[i - 1], value);
    else if (flag == "--alloc-limit") {
      g_alloc_limit = static_cast<size_t>(parse_long(argv[i - 1], value));
      tmh::set_heap_alloc(limited_alloc);
    }
    else usage(("unknown option " + flag).c_str());
  }
  if (config.line_max < 64) usage("--line-max must be at least 64");
  if (config.chunk_max < 1) usage("--chunk-max must be at least 1");
  config.target = target.c_str();

  // 16-byte aligned, as the chip's buffer: flatbuffer tables assume an aligned start.
  std::unique_ptr<uint8_t[], void (*)(void*)> model_buffer(
      static_cast<uint8_t*>(std::aligned_alloc(16, (config.max_model_bytes + 15) / 16 * 16 + 16)),
      std::free);
  config.model_buffer = model_buffer.get();

  std::vector<uint8_t> embedded;
  if (!embed_path.empty()) {
    std::ifstream f(embed_path, std::ios::binary);
    if (!f) usage(("cannot read --embed file " + embed_path).c_str());
    embedded.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    config.embedded_model = embedded.data();
    config.embedded_model_bytes = embedded.size();
  }

  tmh::StdioPort port(port_options);
  CountingClock engine_clock(port);
#if defined(TMH_HOST_ENGINE_TFLM)
  // As app_main.cc: a 16-byte aligned arena allocated once; the engine lives as long as
  // the process (static: its profiler tables are large). The kernels are the build's
  // (FW_KERNELS): esp_nn true for esp-nn's optimised flavours, as CONFIG_TMH_ESP_NN on a chip.
#if defined(TMH_HOST_ESP_NN)
  constexpr bool kEspNn = true;
#else
  constexpr bool kEspNn = false;
#endif
  static const std::string platform = std::string("host (TFLM ") + TMH_HOST_KERNELS + " kernels" +
                                      (std::string(TMH_HOST_ARCH) == "m32" ? ", 32-bit" : "") + ")";
  config.platform = platform.c_str();
  config.tflm_version = TMH_TFLM_VERSION;  // TFLM_SOURCE_DIR's idf_component.yml
  std::unique_ptr<uint8_t[], void (*)(void*)> arena_buffer(
      static_cast<uint8_t*>(std::aligned_alloc(16, (arena + 15) / 16 * 16)), std::free);
  static tmh::TflmEngine engine(engine_clock, arena_buffer.get(), arena, kEspNn);
#else
  tmh::FakeEngine engine(engine_clock, arena);
#endif
  uint8_t buf[4096];
  for (;;) {
    tmh::Device device(port, engine, config);
    device.boot();
    for (;;) {
      const int n = port.read(buf, sizeof buf, 1000);
      if (n < 0) {  // stdin closed: the host is done with us
        engine.unload();  // while the arena (freed when main returns) is still there
        if (count_engine_clock) std::fprintf(stderr, "engine clock reads: %llu\n", engine_clock.reads());
        return 0;
      }
      device.feed(buf, static_cast<size_t>(n));  // bytes after a `reset` are lost, as on a chip
      if (port.take_fault() || port.take_restart()) break;
    }
  }
}
