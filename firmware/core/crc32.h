// CRC-32/IEEE (reflected, poly 0xEDB88320), identical to Python's zlib.crc32.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tmh {

// Continue a running CRC: crc32_update(0, a) then crc32_update(that, b) == crc of a+b.
uint32_t crc32_update(uint32_t crc, const uint8_t* data, size_t len);

}  // namespace tmh
