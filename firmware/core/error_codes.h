// Error codes of the serial protocol, spelled exactly as firmware/PROTOCOL.md lists them.
#pragma once

namespace tmh {

enum class Error {
  kOk = 0,
  kParse,     // E_PARSE
  kLine,      // E_LINE
  kState,     // E_STATE
  kSeq,       // E_SEQ
  kBase64,    // E_BASE64
  kTooLarge,  // E_TOO_LARGE
  kSize,      // E_SIZE
  kCrc,       // E_CRC
  kModel,     // E_MODEL
  kOp,        // E_OP
  kAlloc,     // E_ALLOC
  kInput,     // E_INPUT
  kInvoke,    // E_INVOKE
  kRange,     // E_RANGE
};

// The wire name ("E_PARSE", ...); "OK" for kOk.
const char* error_name(Error e);

}  // namespace tmh
