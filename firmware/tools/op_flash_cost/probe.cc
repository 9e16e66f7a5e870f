// One flash-cost probe: the firmware's generated resolver and a MicroInterpreter that loads
// the model named on the command line (so the linker must keep every registered kernel).
// Built only by firmware/tools/op_flash_cost/CMakeLists.txt; never part of the firmware.
#include <cstdio>
#include <cstdlib>

#include "registered_ops.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

namespace {
alignas(16) unsigned char g_model[1 << 20];
alignas(16) unsigned char g_arena[1 << 20];
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  FILE* f = std::fopen(argv[1], "rb");
  if (f == nullptr) return 2;
  const size_t n = std::fread(g_model, 1, sizeof g_model, f);
  std::fclose(f);
  if (n == 0) return 2;
  static tflite::MicroMutableOpResolver<TMH_REGISTERED_OP_COUNT> resolver;
#define TMH_ADD_OP(name, method) resolver.method();
  TMH_FOR_EACH_REGISTERED_OP(TMH_ADD_OP)
#undef TMH_ADD_OP
  tflite::MicroInterpreter interpreter(tflite::GetModel(g_model), resolver, g_arena, sizeof g_arena);
  if (interpreter.AllocateTensors() != kTfLiteOk || interpreter.Invoke() != kTfLiteOk) return 1;
  std::printf("arena %zu\n", interpreter.arena_used_bytes());
  return 0;
}
