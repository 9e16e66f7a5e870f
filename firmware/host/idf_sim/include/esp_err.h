#pragma once
#include <cstdlib>
typedef int esp_err_t;
#define ESP_OK 0
#define ESP_ERROR_CHECK(x) do { if ((x) != ESP_OK) std::abort(); } while (0)
