// The protocol's constants, expanded from protocol_vocabulary.def (the file the host parses
// too): tmh::vocab::PROTOCOL_VERSION, tmh::vocab::REPLY_PREFIX, ... Commands, error codes and
// reply fields are expanded where they are used (device.cc, error_codes.*).
#pragma once
#include <cstdint>

namespace tmh {
namespace vocab {

#define TMH_CONSTANT(name, value) constexpr uint32_t name = value;
#define TMH_STRING(name, text) constexpr const char* name = text;
#include "protocol_vocabulary.def"

}  // namespace vocab
}  // namespace tmh
