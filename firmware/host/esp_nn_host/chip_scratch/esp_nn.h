// The esp_nn.h that esp-tflite-micro's esp_nn kernel wrappers include, for a host build
// that allocates a chip's arena (FW_KERNELS=esp_nn_scratch_<chip>, firmware/host/tflm.cmake):
// the scratch-buffer sizes are the chip's own (esp-nn's get_*_scratch_size_<chip>, compiled
// from its C sources), the kernels that run are esp-nn's ANSI C ones (bit-exact with TFLM's
// reference kernels). So AllocateTensors plans what the chip plans, and the outputs can be
// compared. The chip's optimised kernels themselves (Xtensa / RISC-V SIMD) do not run here.
#pragma once

#ifdef __cplusplus
extern "C" {  // as esp-nn's own esp_nn.h: its headers declare C functions
#endif
#include "esp_nn_ansi_c.h"
#ifdef __cplusplus
}
#endif

#ifndef TMH_ESP_NN_CHIP
#error "TMH_ESP_NN_CHIP (e.g. esp32s3) must name the chip whose scratch sizes to use"
#endif

#define TMH_NN_PASTE2(name, chip) name##_##chip
#define TMH_NN_PASTE(name, chip) TMH_NN_PASTE2(name, chip)
#define TMH_NN_CHIP_FN(name) TMH_NN_PASTE(name, TMH_ESP_NN_CHIP)

// No longer the ANSI C names: declared below with the chip's suffix, then defined to them.
#undef esp_nn_get_conv_scratch_size
#undef esp_nn_get_depthwise_conv_scratch_size
#undef esp_nn_get_softmax_scratch_size

#ifdef __cplusplus
extern "C" {
#endif
int TMH_NN_CHIP_FN(esp_nn_get_conv_scratch_size)(const data_dims_t *input_dims,
                                                 const data_dims_t *filter_dims,
                                                 const data_dims_t *output_dims,
                                                 const conv_params_t *conv_params);
int TMH_NN_CHIP_FN(esp_nn_get_depthwise_conv_scratch_size)(const data_dims_t *input_dims,
                                                           const data_dims_t *filter_dims,
                                                           const data_dims_t *output_dims,
                                                           const dw_conv_params_t *conv_params);
int32_t TMH_NN_CHIP_FN(esp_nn_get_softmax_scratch_size)(const int32_t width, const int32_t height);
#ifdef __cplusplus
}
#endif

#define esp_nn_get_conv_scratch_size TMH_NN_CHIP_FN(esp_nn_get_conv_scratch_size)
#define esp_nn_get_depthwise_conv_scratch_size TMH_NN_CHIP_FN(esp_nn_get_depthwise_conv_scratch_size)
#define esp_nn_get_softmax_scratch_size TMH_NN_CHIP_FN(esp_nn_get_softmax_scratch_size)
