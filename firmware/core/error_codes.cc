#include "error_codes.h"

namespace tmh {

const char* error_name(Error e) {
  switch (e) {
    case Error::kOk: return "OK";
#define TMH_ERROR(id, code) \
  case Error::k##id:        \
    return code;
#include "protocol_vocabulary.def"
  }
  return error_name(Error::kParse);  // not reached: every enumerator has its case
}

}  // namespace tmh
