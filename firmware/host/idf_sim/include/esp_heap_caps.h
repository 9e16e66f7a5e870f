#pragma once
#include <cstddef>
#define MALLOC_CAP_8BIT 4
inline size_t heap_caps_get_free_size(unsigned) { return 100000; }
inline size_t heap_caps_get_minimum_free_size(unsigned) { return 90000; }
