// The simulated console wire and clock shared by the idf_sim headers (see README.md).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sim {

// Virtual milliseconds since boot; advances only while a driver call waits.
int64_t& clock_ms();
// Queues host bytes that arrive on the console at `at_ms`.
void send(int64_t at_ms, const std::string& bytes);
// Bytes that have arrived by now and were not yet read.
size_t available();
// Time of the next arrival after now, or -1 when nothing more is scheduled.
int64_t next_arrival_ms();
// Takes up to max arrived bytes.
size_t take(uint8_t* buf, size_t max);
// Everything the firmware wrote, and the virtual time of each write.
std::string& written();
void on_write(const char* data, size_t len);
// Virtual time at which each written line ended, in order.
const std::vector<int64_t>& line_ms();
// Which console driver the VFS (printf) was routed through: "", "uart0", "usb_serial_jtag".
std::string& vfs_driver();

}  // namespace sim
