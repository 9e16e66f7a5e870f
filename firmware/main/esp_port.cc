#include "esp_port.h"

#include <cstdio>

#include "esp_cpu.h"
#include "esp_heap_caps.h"
#include "esp_idf_version.h"
#include "esp_random.h"
#include "esp_system.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "sdkconfig.h"

// The protocol is served on the console ESP-IDF is configured for (sdkconfig.defaults.<target>):
// USB-Serial-JTAG where the target has one and our defaults choose it, else the UART.
// printf (TFLM's DebugLog, IDF warnings) is routed through the same driver, so it queues
// behind a reply instead of writing into the FIFO under it.
#if defined(CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG)
#include "driver/usb_serial_jtag.h"
#if ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 3, 0)
#include "driver/usb_serial_jtag_vfs.h"
#define TMH_CONSOLE_VFS_USE_DRIVER() usb_serial_jtag_vfs_use_driver()
#else
#include "esp_vfs_dev.h"  // v5.1/v5.2 names
#define TMH_CONSOLE_VFS_USE_DRIVER() esp_vfs_usb_serial_jtag_use_driver()
#endif
#elif defined(CONFIG_ESP_CONSOLE_UART)
#include "driver/uart.h"
#if ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 3, 0)
#include "driver/uart_vfs.h"
#define TMH_CONSOLE_VFS_USE_DRIVER() uart_vfs_dev_use_driver(CONFIG_ESP_CONSOLE_UART_NUM)
#else
#include "esp_vfs_dev.h"  // v5.1/v5.2 names
#define TMH_CONSOLE_VFS_USE_DRIVER() esp_vfs_dev_uart_use_driver(CONFIG_ESP_CONSOLE_UART_NUM)
#endif
#else
#error "The protocol runs on the console: choose a UART or USB-Serial-JTAG console in menuconfig"
#endif

namespace tmh {
namespace {

// Room for a whole command line plus the next one arriving while we work on it.
constexpr int kRxBuffer = 2 * CONFIG_TMH_LINE_MAX;
constexpr int kTxBuffer = 4096;

#if defined(CONFIG_ESP_CONSOLE_UART)
constexpr uart_port_t kUart = static_cast<uart_port_t>(CONFIG_ESP_CONSOLE_UART_NUM);
#endif

}  // namespace

void EspPort::begin() {
  std::fflush(stdout);
#if defined(CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG)
  usb_serial_jtag_driver_config_t cfg = USB_SERIAL_JTAG_DRIVER_CONFIG_DEFAULT();
  cfg.rx_buffer_size = kRxBuffer;
  cfg.tx_buffer_size = kTxBuffer;
  ESP_ERROR_CHECK(usb_serial_jtag_driver_install(&cfg));
#else
  ESP_ERROR_CHECK(uart_driver_install(kUart, kRxBuffer, kTxBuffer, 0, nullptr, 0));
  ESP_ERROR_CHECK(uart_set_baudrate(kUart, CONFIG_TMH_SERIAL_BAUD));
#endif
  TMH_CONSOLE_VFS_USE_DRIVER();
}

int EspPort::read(uint8_t* buf, size_t max, uint32_t timeout_ms) {
  if (max == 0) return 0;
#if defined(CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG)
  // One ring-buffer receive: returns whatever arrived as soon as anything has.
  const int n = usb_serial_jtag_read_bytes(buf, static_cast<uint32_t>(max), pdMS_TO_TICKS(timeout_ms));
  return n < 0 ? 0 : n;  // a driver error is not the end of the stream on a chip
#else
  // uart_read_bytes returns only once `max` bytes arrived or the wait ran out, so a short
  // command would sit until the timeout. Wait for one byte, then take what is buffered.
  int n = uart_read_bytes(kUart, buf, 1, pdMS_TO_TICKS(timeout_ms));
  if (n <= 0) return 0;
  size_t buffered = 0;
  if (uart_get_buffered_data_len(kUart, &buffered) == ESP_OK && buffered > 0) {
    if (buffered > max - 1) buffered = max - 1;
    const int more = uart_read_bytes(kUart, buf + 1, static_cast<uint32_t>(buffered), 0);
    if (more > 0) n += more;
  }
  return n;
#endif
}

void EspPort::write(const char* data, size_t len) {
  // Anything printf still holds goes out first, so it can never split a reply line.
  std::fflush(stdout);
#if defined(CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG)
  while (len > 0) {
    const int n = usb_serial_jtag_write_bytes(data, len, portMAX_DELAY);
    if (n <= 0) return;
    data += n;
    len -= static_cast<size_t>(n);
  }
#else
  uart_write_bytes(kUart, data, len);
#endif
}

int64_t EspPort::micros() { return esp_timer_get_time(); }

uint32_t EspPort::cycles() { return static_cast<uint32_t>(esp_cpu_get_cycle_count()); }

size_t EspPort::free_heap() { return heap_caps_get_free_size(MALLOC_CAP_8BIT); }

size_t EspPort::min_free_heap() { return heap_caps_get_minimum_free_size(MALLOC_CAP_8BIT); }

uint32_t EspPort::random32() { return esp_random(); }

void EspPort::restart() {
  // Let the `reset` reply leave the FIFO before the chip goes down.
#if defined(CONFIG_ESP_CONSOLE_UART)
  uart_wait_tx_done(kUart, pdMS_TO_TICKS(100));
#else
  vTaskDelay(pdMS_TO_TICKS(50));
#endif
  esp_restart();
}

int esp_cpu_mhz() { return CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ; }

const char* esp_console_name() {
#if defined(CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG)
  return "usb_serial_jtag";
#else
  return "uart";
#endif
}

}  // namespace tmh
