// esp_port_sim: main/esp_port.cc and the portable core on the simulated console (idf_sim).
//
//   esp_port_sim AT_MS:TEXT ...     TEXT with \n escapes, arriving at AT_MS (virtual ms)
//
// Boots the core as app_main does, serves the protocol until virtual time passes the last
// arrival + 3000 ms, and prints one JSON object: each reply line with the virtual time it
// was written, and the console driver printf was routed through.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "device.h"
#include "esp_port.h"
#include "fake_engine.h"
#include "sim_wire.h"

int main(int argc, char** argv) {
  int64_t last = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t colon = arg.find(':');
    if (colon == std::string::npos) return 2;
    std::string text;
    for (size_t j = colon + 1; j < arg.size(); ++j) {
      if (arg[j] == '\\' && j + 1 < arg.size() && arg[j + 1] == 'n') {
        text.push_back('\n');
        ++j;
      } else {
        text.push_back(arg[j]);
      }
    }
    last = std::atoll(arg.substr(0, colon).c_str());
    sim::send(last, text);
  }
  static tmh::EspPort port;
  port.begin();
  static tmh::FakeEngine engine(port, 4096);
  tmh::DeviceConfig config;
  config.line_max = 4096;
  tmh::Device device(port, engine, config);
  device.boot();
  std::printf("{\"vfs\":\"%s\",\"replies\":[", sim::vfs_driver().c_str());
  size_t seen = 0;
  size_t line_index = 0;
  bool first = true;
  while (sim::clock_ms() <= last + 3000) {
    device.poll(1000);
    const std::string& w = sim::written();
    size_t nl;
    while ((nl = w.find('\n', seen)) != std::string::npos) {
      std::string line = w.substr(seen, nl - seen);
      seen = nl + 1;
      const size_t c = line.find("\"cmd\":\"");
      const std::string cmd = c == std::string::npos ? "" : line.substr(c + 7, line.find('"', c + 7) - c - 7);
      std::printf("%s{\"ms\":%lld,\"cmd\":\"%s\"}", first ? "" : ",",
                  static_cast<long long>(sim::line_ms()[line_index++]), cmd.c_str());
      first = false;
    }
  }
  std::printf("]}\n");
  return 0;
}
