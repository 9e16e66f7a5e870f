// The simulated wire, clock and console drivers behind the idf_sim headers (README.md).
#include <algorithm>
#include <cstring>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "driver/uart.h"
#include "driver/usb_serial_jtag.h"
#include "sim_wire.h"

namespace sim {
namespace {
std::deque<std::pair<int64_t, std::string>> g_schedule;  // in arrival order
std::string g_arrived;
std::string g_written;
std::string g_vfs;
std::vector<int64_t> g_line_ms;

void deliver() {
  while (!g_schedule.empty() && g_schedule.front().first <= clock_ms()) {
    g_arrived += g_schedule.front().second;
    g_schedule.pop_front();
  }
}
}  // namespace

int64_t& clock_ms() {
  static int64_t now = 0;
  return now;
}
void send(int64_t at_ms, const std::string& bytes) { g_schedule.emplace_back(at_ms, bytes); }
size_t available() {
  deliver();
  return g_arrived.size();
}
int64_t next_arrival_ms() { return g_schedule.empty() ? -1 : g_schedule.front().first; }
size_t take(uint8_t* buf, size_t max) {
  deliver();
  const size_t n = std::min(max, g_arrived.size());
  std::memcpy(buf, g_arrived.data(), n);
  g_arrived.erase(0, n);
  return n;
}
std::string& written() { return g_written; }
void on_write(const char* data, size_t len) {
  g_written.append(data, len);
  for (size_t i = 0; i < len; ++i) {
    if (data[i] == '\n') g_line_ms.push_back(clock_ms());
  }
}
const std::vector<int64_t>& line_ms() { return g_line_ms; }
std::string& vfs_driver() { return g_vfs; }

// Waits (in virtual time) until a byte is there or `ms` passed; true if a byte is there.
bool wait_for_byte(int64_t ms) {
  const int64_t deadline = ms < 0 ? INT64_MAX : clock_ms() + ms;
  while (available() == 0) {
    const int64_t next = next_arrival_ms();
    if (next < 0 || next > deadline) {
      if (ms >= 0) clock_ms() = deadline;
      return false;
    }
    clock_ms() = std::max(clock_ms(), next);
  }
  return true;
}

}  // namespace sim

namespace {
int64_t ticks_ms(TickType_t ticks) {
  return ticks == portMAX_DELAY ? -1 : static_cast<int64_t>(ticks) * portTICK_PERIOD_MS;
}
}  // namespace

esp_err_t uart_driver_install(uart_port_t, int, int, int, void*, int) { return ESP_OK; }
esp_err_t uart_set_baudrate(uart_port_t, uint32_t) { return ESP_OK; }
int uart_read_bytes(uart_port_t, void* buf, uint32_t length, TickType_t ticks_to_wait) {
  auto* out = static_cast<uint8_t*>(buf);
  uint32_t copied = 0;
  while (copied < length) {
    if (!sim::wait_for_byte(ticks_ms(ticks_to_wait))) break;  // a wait found nothing
    copied += static_cast<uint32_t>(sim::take(out + copied, length - copied));
  }
  return static_cast<int>(copied);
}
int uart_write_bytes(uart_port_t, const void* src, size_t size) {
  sim::on_write(static_cast<const char*>(src), size);
  return static_cast<int>(size);
}
esp_err_t uart_wait_tx_done(uart_port_t, TickType_t) { return ESP_OK; }
esp_err_t uart_get_buffered_data_len(uart_port_t, size_t* size) {
  *size = sim::available();
  return ESP_OK;
}

esp_err_t usb_serial_jtag_driver_install(usb_serial_jtag_driver_config_t*) { return ESP_OK; }
int usb_serial_jtag_read_bytes(void* buf, uint32_t length, TickType_t ticks_to_wait) {
  if (!sim::wait_for_byte(ticks_ms(ticks_to_wait))) return 0;
  return static_cast<int>(sim::take(static_cast<uint8_t*>(buf), length));
}
int usb_serial_jtag_write_bytes(const void* src, size_t size, TickType_t) {
  sim::on_write(static_cast<const char*>(src), size);
  return static_cast<int>(size);
}

#if SIM_IDF_MINOR >= 3
void uart_vfs_dev_use_driver(int uart_num) { sim::vfs_driver() = "uart" + std::to_string(uart_num); }
void usb_serial_jtag_vfs_use_driver(void) { sim::vfs_driver() = "usb_serial_jtag"; }
#else
void esp_vfs_dev_uart_use_driver(int uart_num) { sim::vfs_driver() = "uart" + std::to_string(uart_num); }
void esp_vfs_usb_serial_jtag_use_driver(void) { sim::vfs_driver() = "usb_serial_jtag"; }
#endif
