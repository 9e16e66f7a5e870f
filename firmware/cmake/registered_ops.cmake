# Generates the op-resolver header from firmware/main/registered_ops.txt, the one list of
# ops the firmware registers (targets/tflm/op_list.py reads the same file on the host).
#
#   tmh_generate_registered_ops(<ops_file> <out_header>)
#
# The header defines TMH_REGISTERED_OP_COUNT and TMH_FOR_EACH_REGISTERED_OP(X), which
# expands X(NAME, AddMethod) once per op, in file order; the TFLM engine expands it into
# resolver.AddConv2D() calls, the host build into its list of known op names. A name
# missing from the table below stops the configure step with the op's name.
# Used by the ESP-IDF component (main/CMakeLists.txt) and the host build alike.

# tflite::BuiltinOperator name -> tflite::MicroMutableOpResolver method: every builtin the
# resolver can add at esp-tflite-micro v1.3.8. Written out, not derived by a CamelCase rule,
# because several names break it (CONV_2D=AddConv2D, PADV2=AddPadV2, CUMSUM=AddCumSum,
# UNIDIRECTIONAL_SEQUENCE_LSTM=AddUnidirectionalSequenceLSTM). tests_host/test_fw_ops_resolver.py
# checks it against tests_host/data/tflm_resolver_methods.txt, extracted from the header.
set(TMH_OP_METHODS
  ABS=AddAbs ADD=AddAdd ADD_N=AddAddN ARG_MAX=AddArgMax ARG_MIN=AddArgMin
  ASSIGN_VARIABLE=AddAssignVariable AVERAGE_POOL_2D=AddAveragePool2D
  BATCH_MATMUL=AddBatchMatMul BATCH_TO_SPACE_ND=AddBatchToSpaceNd
  BROADCAST_ARGS=AddBroadcastArgs BROADCAST_TO=AddBroadcastTo CALL_ONCE=AddCallOnce
  CAST=AddCast CEIL=AddCeil CONCATENATION=AddConcatenation CONV_2D=AddConv2D COS=AddCos
  CUMSUM=AddCumSum DEPTH_TO_SPACE=AddDepthToSpace DEPTHWISE_CONV_2D=AddDepthwiseConv2D
  DEQUANTIZE=AddDequantize DIV=AddDiv DYNAMIC_UPDATE_SLICE=AddDynamicUpdateSlice ELU=AddElu
  EMBEDDING_LOOKUP=AddEmbeddingLookup EQUAL=AddEqual EXP=AddExp
  EXPAND_DIMS=AddExpandDims FILL=AddFill FLOOR=AddFloor FLOOR_DIV=AddFloorDiv
  FLOOR_MOD=AddFloorMod FULLY_CONNECTED=AddFullyConnected GATHER=AddGather
  GATHER_ND=AddGatherNd GREATER=AddGreater GREATER_EQUAL=AddGreaterEqual
  HARD_SWISH=AddHardSwish IF=AddIf L2_NORMALIZATION=AddL2Normalization
  L2_POOL_2D=AddL2Pool2D LEAKY_RELU=AddLeakyRelu LESS=AddLess LESS_EQUAL=AddLessEqual
  LOG=AddLog LOG_SOFTMAX=AddLogSoftmax LOGICAL_AND=AddLogicalAnd
  LOGICAL_NOT=AddLogicalNot LOGICAL_OR=AddLogicalOr LOGISTIC=AddLogistic
  MAX_POOL_2D=AddMaxPool2D MAXIMUM=AddMaximum MEAN=AddMean MINIMUM=AddMinimum
  MIRROR_PAD=AddMirrorPad MUL=AddMul NEG=AddNeg NOT_EQUAL=AddNotEqual PACK=AddPack
  PAD=AddPad PADV2=AddPadV2 PRELU=AddPrelu QUANTIZE=AddQuantize
  READ_VARIABLE=AddReadVariable REDUCE_ALL=AddReduceAll REDUCE_MAX=AddReduceMax
  REDUCE_MIN=AddReduceMin RELU=AddRelu RELU6=AddRelu6
  RESHAPE=AddReshape RESIZE_BILINEAR=AddResizeBilinear
  RESIZE_NEAREST_NEIGHBOR=AddResizeNearestNeighbor REVERSE_V2=AddReverseV2 ROUND=AddRound RSQRT=AddRsqrt
  SELECT_V2=AddSelectV2 SHAPE=AddShape SIN=AddSin SLICE=AddSlice SOFTMAX=AddSoftmax
  SPACE_TO_BATCH_ND=AddSpaceToBatchNd SPACE_TO_DEPTH=AddSpaceToDepth SPLIT=AddSplit
  SPLIT_V=AddSplitV SQRT=AddSqrt SQUARE=AddSquare SQUARED_DIFFERENCE=AddSquaredDifference
  SQUEEZE=AddSqueeze STRIDED_SLICE=AddStridedSlice SUB=AddSub SUM=AddSum SVDF=AddSvdf
  TANH=AddTanh TRANSPOSE=AddTranspose TRANSPOSE_CONV=AddTransposeConv
  UNIDIRECTIONAL_SEQUENCE_LSTM=AddUnidirectionalSequenceLSTM UNPACK=AddUnpack
  VAR_HANDLE=AddVarHandle WHILE=AddWhile ZEROS_LIKE=AddZerosLike
)

function(tmh_generate_registered_ops ops_file out_header)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${ops_file}")
  file(STRINGS "${ops_file}" lines)
  set(body "")
  set(seen "")
  set(count 0)
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "#.*$" "" name "${line}")
    string(STRIP "${name}" name)
    if(name STREQUAL "")
      continue()
    endif()
    if(NOT name MATCHES "^[A-Z0-9_]+$")
      message(FATAL_ERROR "${ops_file}: '${name}' is not a BuiltinOperator name (A-Z, 0-9, _)")
    endif()
    list(FIND seen "${name}" seen_at)
    if(NOT seen_at EQUAL -1)
      message(FATAL_ERROR "${ops_file}: op ${name} is listed twice")
    endif()
    set(method "")
    foreach(pair IN LISTS TMH_OP_METHODS)
      if(pair MATCHES "^${name}=(.+)$")
        set(method "${CMAKE_MATCH_1}")
      endif()
    endforeach()
    if(method STREQUAL "")
      message(FATAL_ERROR "${ops_file}: op ${name} has no MicroMutableOpResolver method in "
                          "the table of firmware/cmake/registered_ops.cmake; add NAME=AddMethod")
    endif()
    list(APPEND seen "${name}")
    math(EXPR count "${count} + 1")
    string(APPEND body "  X(${name}, ${method}) \\\n")
  endforeach()
  if(count EQUAL 0)
    message(FATAL_ERROR "${ops_file}: no ops listed")
  endif()
  set(text "// Generated from ${ops_file} by firmware/cmake/registered_ops.cmake. Do not edit.\n")
  string(APPEND text "#pragma once\n\n#define TMH_REGISTERED_OP_COUNT ${count}\n\n")
  string(APPEND text "// X(NAME, MicroMutableOpResolver method), in file order.\n")
  string(APPEND text "#define TMH_FOR_EACH_REGISTERED_OP(X) \\\n${body}\n")
  # Rewrite only on change, so an unchanged list does not rebuild the firmware.
  set(old "")
  if(EXISTS "${out_header}")
    file(READ "${out_header}" old)
  endif()
  if(NOT old STREQUAL text)
    file(WRITE "${out_header}" "${text}")
  endif()
endfunction()
