#pragma once
#include <cstdint>
#include "sdkconfig.h"
#include "sim_wire.h"
typedef uint32_t TickType_t;
#define portMAX_DELAY 0xFFFFFFFFu
#define portTICK_PERIOD_MS (1000 / CONFIG_FREERTOS_HZ)
#define pdMS_TO_TICKS(ms) (static_cast<TickType_t>((static_cast<uint64_t>(ms) * CONFIG_FREERTOS_HZ) / 1000))
inline void vTaskDelay(TickType_t ticks) { sim::clock_ms() += ticks * portTICK_PERIOD_MS; }
