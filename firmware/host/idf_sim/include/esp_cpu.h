#pragma once
#include <cstdint>
#include "sim_wire.h"
inline uint32_t esp_cpu_get_cycle_count() { return static_cast<uint32_t>(sim::clock_ms() * 160000); }
