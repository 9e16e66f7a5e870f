#pragma once
#include <cstdint>
#include "sim_wire.h"
inline int64_t esp_timer_get_time() { return sim::clock_ms() * 1000; }
