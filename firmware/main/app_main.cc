// Firmware entry: wires the ESP port and the TFLM engine to the portable core and serves
// the protocol on the console forever. Flash once; models arrive over serial.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "device.h"
#include "esp_heap_caps.h"
#include "esp_idf_version.h"
#include "esp_port.h"
#include "sdkconfig.h"
#include "tflm_engine.h"

#if defined(CONFIG_TMH_EMBEDDED_MODEL)
#include "embedded_model.h"
#endif

namespace {

constexpr const char* kFirmwareVersion = "0.1.0";
// A Kconfig bool set to n is absent from sdkconfig.h: test it with defined(), never as a value.
#if defined(CONFIG_TMH_ESP_NN)
constexpr bool kEspNn = true;
#else
constexpr bool kEspNn = false;
#endif
static_assert(CONFIG_TMH_LINE_MAX >= 4 * CONFIG_TMH_CHUNK_MAX / 3 + 32,
              "TMH_LINE_MAX cannot hold one base64 upload chunk of TMH_CHUNK_MAX bytes");

// Both big buffers come from the heap, not .bss: on the ESP32 the heap spans DRAM regions
// a static array cannot, and a failure is reported instead of failing the link.
uint8_t* alloc_or_abort(size_t bytes, const char* what) {
  if (bytes == 0) return nullptr;
  auto* p = static_cast<uint8_t*>(heap_caps_aligned_alloc(16, bytes, MALLOC_CAP_8BIT));
  if (p == nullptr) {
    std::printf("tmh: cannot allocate %u bytes for the %s (free %u, largest block %u); "
                "lower it in menuconfig\n",
                static_cast<unsigned>(bytes), what,
                static_cast<unsigned>(heap_caps_get_free_size(MALLOC_CAP_8BIT)),
                static_cast<unsigned>(heap_caps_get_largest_free_block(MALLOC_CAP_8BIT)));
    std::abort();  // "abort()" is a marker the host reports
  }
  return p;
}

}  // namespace

extern "C" void app_main(void) {
  static tmh::EspPort port;
  port.begin();

  uint8_t* arena = alloc_or_abort(CONFIG_TMH_ARENA_SIZE, "tensor arena");
  static tmh::TflmEngine engine(port, arena, CONFIG_TMH_ARENA_SIZE, kEspNn);

  tmh::DeviceConfig config;
  config.fw_version = kFirmwareVersion;
  config.target = CONFIG_IDF_TARGET;
  static std::string platform = std::string("ESP-IDF ") + esp_get_idf_version();
  config.platform = platform.c_str();
  config.clock_mhz = tmh::esp_cpu_mhz();
  config.tflm_version = TMH_TFLM_VERSION;      // main/CMakeLists.txt, from the managed components
  config.esp_nn_version = TMH_ESP_NN_VERSION;
  config.console = tmh::esp_console_name();
  config.line_max = CONFIG_TMH_LINE_MAX;
  config.chunk_max = CONFIG_TMH_CHUNK_MAX;
  config.max_model_bytes = CONFIG_TMH_MAX_MODEL_BYTES;
  config.model_buffer = alloc_or_abort(CONFIG_TMH_MAX_MODEL_BYTES, "model buffer");
#if defined(CONFIG_TMH_EMBEDDED_MODEL)
  config.embedded_model = g_embedded_model;
  config.embedded_model_bytes = g_embedded_model_len;
#endif

  // `reset` ends in esp_restart(), so one boot of the core per boot of the chip.
  tmh::Device device(port, engine, config);
  device.boot();
  while (device.poll(1000)) {
  }
}
