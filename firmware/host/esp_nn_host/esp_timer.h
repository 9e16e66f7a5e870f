// esp-tflite-micro's esp_nn kernel wrappers time themselves with esp_timer_get_time();
// on the host that is the steady clock. Only the TFLM_FLAVOUR builds with esp-nn use it.
#pragma once
#include <chrono>
#include <cstdint>

inline int64_t esp_timer_get_time() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch()).count();
}
