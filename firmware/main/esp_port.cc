#include "esp_port.h"

#include "esp_cpu.h"
#include "esp_heap_caps.h"
#include "esp_random.h"
#include "esp_system.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "sdkconfig.h"

#if CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG
#include "driver/usb_serial_jtag.h"
#elif CONFIG_ESP_CONSOLE_UART
#include "driver/uart.h"
#else
#error "The protocol runs on the console: choose a UART or USB-Serial-JTAG console in menuconfig"
#endif

namespace tmh {
namespace {

// Room for a whole command line plus the next one arriving while we work on it.
constexpr int kRxBuffer = 2 * CONFIG_TMH_LINE_MAX;
constexpr int kTxBuffer = 4096;

#if !CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG
constexpr uart_port_t kUart = static_cast<uart_port_t>(CONFIG_ESP_CONSOLE_UART_NUM);
#endif

}  // namespace

void EspPort::begin() {
#if CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG
  usb_serial_jtag_driver_config_t cfg = USB_SERIAL_JTAG_DRIVER_CONFIG_DEFAULT();
  cfg.rx_buffer_size = kRxBuffer;
  cfg.tx_buffer_size = kTxBuffer;
  ESP_ERROR_CHECK(usb_serial_jtag_driver_install(&cfg));
#else
  ESP_ERROR_CHECK(uart_driver_install(kUart, kRxBuffer, kTxBuffer, 0, nullptr, 0));
  ESP_ERROR_CHECK(uart_set_baudrate(kUart, CONFIG_TMH_SERIAL_BAUD));
#endif
}

int EspPort::read(uint8_t* buf, size_t max, uint32_t timeout_ms) {
#if CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG
  const int n = usb_serial_jtag_read_bytes(buf, max, pdMS_TO_TICKS(timeout_ms));
#else
  const int n = uart_read_bytes(kUart, buf, max, pdMS_TO_TICKS(timeout_ms));
#endif
  return n < 0 ? 0 : n;  // a driver error is not the end of the stream on a chip
}

void EspPort::write(const char* data, size_t len) {
#if CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG
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
#if !CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG
  uart_wait_tx_done(kUart, pdMS_TO_TICKS(100));
#else
  vTaskDelay(pdMS_TO_TICKS(50));
#endif
  esp_restart();
}

int esp_cpu_mhz() { return CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ; }

}  // namespace tmh
