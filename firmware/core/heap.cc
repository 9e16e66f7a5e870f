#include "heap.h"

#include <cstdlib>

namespace tmh {
namespace {

HeapAllocFunction g_alloc = nullptr;

}  // namespace

void* heap_alloc(size_t bytes) {
  return g_alloc != nullptr ? g_alloc(bytes) : std::malloc(bytes);
}

void heap_free(void* p) { std::free(p); }

void set_heap_alloc(HeapAllocFunction fn) { g_alloc = fn; }

}  // namespace tmh
