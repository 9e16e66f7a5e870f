// Error codes of the serial protocol, from protocol_vocabulary.def (the list the host reads).
#pragma once

namespace tmh {

enum class Error {
  kOk = 0,
#define TMH_ERROR(id, code) k##id,
#include "protocol_vocabulary.def"
};

// The wire code (TMH_ERROR's second argument); "OK" for kOk.
const char* error_name(Error e);

}  // namespace tmh
