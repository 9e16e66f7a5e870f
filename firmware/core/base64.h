// Standard base64 (RFC 4648, '+' '/', '=' padding required), the alphabet Python's
// base64.b64encode produces. Decoding is strict: any other byte, bad padding or a length
// that is not a multiple of 4 is an error, so a corrupted chunk is caught here or by CRC.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace tmh {

// Characters the encoding of `len` bytes takes (padding included).
constexpr size_t base64_encoded_length(size_t len) { return (len + 2) / 3 * 4; }

// Bytes a valid input of `text_len` characters decodes to at most.
constexpr size_t base64_max_decoded(size_t text_len) { return text_len / 4 * 3; }

// Validates text completely (alphabet, padding, length) and gives the decoded length,
// so a caller can check sizes before writing anything.
bool base64_decoded_length(const char* text, size_t text_len, size_t* decoded_len);

// Decodes into out (capacity out_cap). Returns false on invalid input or if the decoded
// data does not fit; *out_len holds the decoded length on success.
bool base64_decode(const char* text, size_t text_len, uint8_t* out, size_t out_cap,
                   size_t* out_len);

// Appends the encoding of data to *out.
void base64_encode_append(const uint8_t* data, size_t len, std::string* out);

}  // namespace tmh
