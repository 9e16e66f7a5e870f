#pragma once
#define ESP_IDF_VERSION_VAL(major, minor, patch) (((major) << 16) | ((minor) << 8) | (patch))
#ifndef SIM_IDF_MINOR
#define SIM_IDF_MINOR 3
#endif
#define ESP_IDF_VERSION_MAJOR 5
#define ESP_IDF_VERSION_MINOR SIM_IDF_MINOR
#define ESP_IDF_VERSION_PATCH 0
#define ESP_IDF_VERSION ESP_IDF_VERSION_VAL(ESP_IDF_VERSION_MAJOR, ESP_IDF_VERSION_MINOR, 0)
inline const char* esp_get_idf_version() { return "sim"; }
