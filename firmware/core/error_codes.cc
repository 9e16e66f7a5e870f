#include "error_codes.h"

namespace tmh {

const char* error_name(Error e) {
  switch (e) {
    case Error::kOk: return "OK";
    case Error::kParse: return "E_PARSE";
    case Error::kLine: return "E_LINE";
    case Error::kState: return "E_STATE";
    case Error::kSeq: return "E_SEQ";
    case Error::kBase64: return "E_BASE64";
    case Error::kTooLarge: return "E_TOO_LARGE";
    case Error::kSize: return "E_SIZE";
    case Error::kCrc: return "E_CRC";
    case Error::kModel: return "E_MODEL";
    case Error::kOp: return "E_OP";
    case Error::kAlloc: return "E_ALLOC";
    case Error::kInput: return "E_INPUT";
    case Error::kInvoke: return "E_INVOKE";
    case Error::kRange: return "E_RANGE";
  }
  return "E_PARSE";
}

}  // namespace tmh
