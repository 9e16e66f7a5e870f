// Heap allocation without C++'s operator new, for what the core and the engine ask for
// after boot. On ESP-IDF with exceptions off, a failed `new`, `new (std::nothrow)`
// included, ends in abort(): libstdc++'s nothrow new only wraps the throwing one, and
// IDF's exception stubs (components/cxx) abort (nvs_flash's nvs_memory_management.hpp
// avoids it for the same reason). malloc returns nullptr, which the core answers E_ALLOC.
#pragma once
#include <cstddef>
#include <memory>
#include <new>
#include <utility>

namespace tmh {

using HeapAllocFunction = void* (*)(size_t bytes);

// malloc, or the allocator a host test installed; nullptr when the heap cannot give it.
void* heap_alloc(size_t bytes);
void heap_free(void* p);
// Host builds and tests only: every heap_alloc goes through `fn` (nullptr: malloc again).
void set_heap_alloc(HeapAllocFunction fn);

struct HeapFree {
  void operator()(void* p) const { heap_free(p); }
};

// `count` trivially constructible T on the heap, or an empty pointer.
template <typename T>
std::unique_ptr<T[], HeapFree> heap_array(size_t count) {
  return std::unique_ptr<T[], HeapFree>(static_cast<T*>(heap_alloc(count * sizeof(T))));
}

// Destroys and frees what heap_new built.
template <typename T>
struct HeapDelete {
  void operator()(T* p) const {
    if (p == nullptr) return;
    p->~T();
    heap_free(p);
  }
};

template <typename T>
using HeapPtr = std::unique_ptr<T, HeapDelete<T>>;

// A T built in heap_alloc'd memory, or an empty pointer when there is none.
template <typename T, typename... Args>
HeapPtr<T> heap_new(Args&&... args) {
  void* p = heap_alloc(sizeof(T));
  if (p == nullptr) return HeapPtr<T>();
  return HeapPtr<T>(new (p) T(std::forward<Args>(args)...));
}

}  // namespace tmh
