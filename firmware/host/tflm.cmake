# TFLite Micro for the host build (FW_ENGINE=tflm): a static library `tmh_tflm` compiled
# from the sources in TFLM_SOURCE_DIR, with reference kernels (no esp-nn) and the chip's
# C++ rules (-fno-exceptions -fno-rtti), so fw_host runs main/tflm_engine.cc exactly as the
# firmware does, minus the optimized kernels.
#
# TFLM_SOURCE_DIR is an espressif/esp-tflite-micro checkout or the managed component that
# a firmware build (idf-build-apps build) puts in firmware/managed_components/espressif__esp-tflite-micro:
# both carry TFLM with its third-party headers (flatbuffers, gemmlowp, ruy, kissfft). The
# sources are never part of this repository; CI has none, and builds the fake engine only.
#
#   tmh_add_tflm(<source_dir>)   -> target tmh_tflm (PUBLIC: include dirs, defines)

function(tmh_add_tflm dir)
  # One message per missing piece, naming the directory and what a valid one looks like.
  set(required
      "tensorflow/lite/micro/micro_interpreter.h"
      "tensorflow/lite/micro/kernels/conv.cc"
      "third_party/flatbuffers/include/flatbuffers/flatbuffers.h"
      "third_party/gemmlowp/fixedpoint/fixedpoint.h"
      "third_party/ruy/ruy/profiler/instrumentation.h")
  foreach(file IN LISTS required)
    if(NOT EXISTS "${dir}/${file}")
      message(FATAL_ERROR
        "TFLM_SOURCE_DIR=${dir} is not a TFLite Micro source tree with its third-party "
        "headers: ${file} is missing. Give an espressif/esp-tflite-micro checkout or "
        "firmware/managed_components/espressif__esp-tflite-micro (after a firmware build).")
    endif()
  endforeach()

  set(micro "${dir}/tensorflow/lite/micro")
  # The library proper; *test_helper*, fake/mock graphs and the kernel runner are test
  # support (they pull in the unit-test framework), esp/ is the ESP-IDF timer port.
  file(GLOB srcs
       "${micro}/*.cc"
       "${micro}/arena_allocator/*.cc"
       "${micro}/memory_planner/*.cc"
       "${micro}/tflite_bridge/*.cc"
       "${micro}/kernels/*.cc"
       "${dir}/tensorflow/lite/core/c/*.cc"
       "${dir}/tensorflow/lite/core/api/*.cc"
       "${dir}/tensorflow/lite/kernels/*.cc"
       "${dir}/tensorflow/lite/kernels/internal/*.cc"
       "${dir}/tensorflow/lite/kernels/internal/reference/*.cc"
       "${dir}/tensorflow/compiler/mlir/lite/core/api/*.cc"
       "${dir}/tensorflow/compiler/mlir/lite/schema/*.cc")
  list(FILTER srcs EXCLUDE REGEX
       "(_test|test_helpers?|test_helper_custom_ops|fake_micro_context|mock_micro_graph|kernel_runner)\\.cc$")

  add_library(tmh_tflm STATIC ${srcs})
  # SYSTEM: TFLM's headers are not held to the core's -Wconversion/-Wshadow -Werror.
  target_include_directories(tmh_tflm SYSTEM PUBLIC
      "${dir}" "${dir}/third_party/flatbuffers/include" "${dir}/third_party/gemmlowp"
      "${dir}/third_party/ruy" "${dir}/third_party/kissfft")
  # TF_LITE_STATIC_MEMORY changes TfLiteTensor's layout: every user of the headers needs it
  # (PUBLIC), as esp-tflite-micro's component sets it on its INTERFACE.
  target_compile_definitions(tmh_tflm PUBLIC TF_LITE_STATIC_MEMORY TF_LITE_DISABLE_X86_NEON)
  target_compile_options(tmh_tflm PRIVATE -O2 -w -fno-exceptions -fno-rtti -fno-threadsafe-statics
                                          -ffunction-sections -fdata-sections)
endfunction()
