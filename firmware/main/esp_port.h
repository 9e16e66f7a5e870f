// The ESP-IDF Port: the console (UART or USB-Serial-JTAG) through its IDF driver,
// esp_timer, the CPU cycle counter, heap_caps figures, esp_random, esp_restart.
#pragma once
#include "port.h"

namespace tmh {

class EspPort : public Port {
 public:
  // Installs the console's driver (the protocol reads it byte-exact, no VFS line editing).
  void begin();

  int read(uint8_t* buf, size_t max, uint32_t timeout_ms) override;
  void write(const char* data, size_t len) override;
  int64_t micros() override;
  uint32_t cycles() override;
  size_t free_heap() override;
  size_t min_free_heap() override;
  uint32_t random32() override;
  void restart() override;
};

// CPU clock in MHz as configured (the firmware never changes it at run time).
int esp_cpu_mhz();

// The console the protocol is served on: "uart" or "usb_serial_jtag" (banner "console").
const char* esp_console_name();

}  // namespace tmh
