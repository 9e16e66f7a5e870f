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
# With kernels other than "reference" (FW_KERNELS), the library is what esp-tflite-micro's
# own CMakeLists compiles: its esp_nn wrappers (tensorflow/lite/micro/kernels/esp_nn/*.cc)
# replace TFLM's add, conv, depthwise_conv, fully_connected, mul, pooling and softmax, with
# ESP_NN defined, on esp-nn (ESP_NN_SOURCE_DIR) as ESP-IDF selects it for a target:
#   esp_nn_ansi            CONFIG_NN_ANSI_C: esp-nn's ANSI C functions (a config without esp-nn)
#   esp_nn_generic         CONFIG_NN_OPTIMIZED on a chip without its own flavour (esp32,
#                          esp32c3, esp32c6...): esp-nn's *_opt.c, plain C, runs here
#   esp_nn_scratch_<chip>  CONFIG_NN_OPTIMIZED on <chip> (esp32s3, esp32p4): the chip's
#                          scratch sizes (esp-nn's src/*/*_<chip>.c), ANSI C kernels running
#                          (esp_nn_host/chip_scratch/esp_nn.h); fails to compile when the
#                          files that size the scratch also hold the chip's inline assembly
#
#   tmh_add_tflm(<source_dir> [<kernels> <esp_nn_dir>])   -> target tmh_tflm (PUBLIC: include dirs, defines)

function(tmh_add_esp_nn nn kernels)
  foreach(file "include/esp_nn.h" "include/esp_nn_ansi_headers.h" "src/common/common_functions.h")
    if(NOT EXISTS "${nn}/${file}")
      message(FATAL_ERROR "ESP_NN_SOURCE_DIR=${nn} is not an espressif/esp-nn source tree: ${file} "
                          "is missing. Give an esp-nn checkout or firmware/managed_components/espressif__esp-nn")
    endif()
  endforeach()
  # The portable C every target compiles (esp-nn's CMakeLists: *_ansi.c and *_opt.c).
  file(GLOB nn_srcs "${nn}/src/*/*_ansi.c" "${nn}/src/*/*_opt.c")
  set(nn_defs "")
  if(kernels STREQUAL "esp_nn_generic")
    set(nn_defs CONFIG_NN_OPTIMIZED=1)
  elseif(kernels MATCHES "^esp_nn_scratch_(.+)$")
    set(chip "${CMAKE_MATCH_1}")
    # Only the chip's files that size a scratch buffer (the rest is SIMD code); what else
    # these define is never called here and --gc-sections drops it.
    file(GLOB candidates "${nn}/src/*/*_${chip}.c")
    set(chip_srcs "")
    foreach(src IN LISTS candidates)
      file(READ "${src}" text)
      string(FIND "${text}" "_scratch_size_${chip}(" at)
      if(at GREATER -1)
        list(APPEND chip_srcs "${src}")
      endif()
    endforeach()
    if(NOT chip_srcs)
      message(FATAL_ERROR "FW_KERNELS=${kernels}: esp-nn in ${nn} has no C source for ${chip} that "
                          "defines a *_scratch_size_${chip} function (src/*/*_${chip}.c)")
    endif()
    list(APPEND nn_srcs ${chip_srcs})
    set(nn_defs CONFIG_NN_OPTIMIZED=1)
  endif()
  add_library(tmh_esp_nn STATIC ${nn_srcs})
  target_include_directories(tmh_esp_nn PRIVATE "${nn}/include" "${nn}/src/common")
  target_compile_definitions(tmh_esp_nn PRIVATE ${nn_defs})
  target_compile_options(tmh_esp_nn PRIVATE -O2 -w -ffunction-sections -fdata-sections)
endfunction()

function(tmh_add_tflm dir)
  set(kernels "reference")
  if(ARGC GREATER 1 AND NOT "${ARGV1}" STREQUAL "")
    set(kernels "${ARGV1}")
  endif()
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
  if(NOT kernels STREQUAL "reference")
    if(NOT EXISTS "${micro}/kernels/esp_nn/conv.cc")
      message(FATAL_ERROR "FW_KERNELS=${kernels}: TFLM_SOURCE_DIR=${dir} has no esp_nn kernels "
                          "(tensorflow/lite/micro/kernels/esp_nn/conv.cc): give an espressif/esp-tflite-micro checkout")
    endif()
    # As esp-tflite-micro's CMakeLists: these seven come from the esp_nn wrappers.
    foreach(op add conv depthwise_conv fully_connected mul pooling softmax)
      list(REMOVE_ITEM srcs "${micro}/kernels/${op}.cc")
    endforeach()
    file(GLOB wrappers "${micro}/kernels/esp_nn/*.cc")
    list(APPEND srcs ${wrappers})
  endif()

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
  if(NOT kernels STREQUAL "reference")
    # The flavour's settings on the seven wrappers only: every other TFLM object is
    # compiled with the same flags in every flavour (one compile, with a compiler cache).
    tmh_add_esp_nn("${ARGV2}" "${kernels}")
    set(host_dir "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/esp_nn_host")
    set(defs ESP_NN=1)
    set(incs "${host_dir}" "${ARGV2}/include")  # esp_timer.h, then esp-nn's headers
    if(kernels MATCHES "^esp_nn_scratch_(.+)$")
      # First on the path: the wrappers' esp_nn.h is the chip-scratch one.
      list(PREPEND incs "${host_dir}/chip_scratch")
      list(APPEND defs TMH_ESP_NN_CHIP=${CMAKE_MATCH_1})
    elseif(kernels STREQUAL "esp_nn_generic")
      list(APPEND defs CONFIG_NN_OPTIMIZED=1)
    endif()
    set_source_files_properties(${wrappers} PROPERTIES
                                COMPILE_DEFINITIONS "${defs}" INCLUDE_DIRECTORIES "${incs}")
    target_link_libraries(tmh_tflm PUBLIC tmh_esp_nn)
  endif()
endfunction()
