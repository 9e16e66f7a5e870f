#include "base64.h"

namespace tmh {
namespace {

constexpr char kAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

bool base64_decoded_length(const char* text, size_t text_len, size_t* decoded_len) {
  if (text_len % 4 != 0) return false;
  size_t pad = 0;
  if (text_len > 0 && text[text_len - 1] == '=') ++pad;
  if (text_len > 1 && text[text_len - 2] == '=') ++pad;
  // A full decode into a throw-away triple-sized sink would allocate; instead check
  // every character the decoder would, block by block, without writing.
  for (size_t i = 0; i < text_len; i += 4) {
    const bool last = (i + 4 == text_len);
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (c == '=') {
        if (!last || k < 2 || (k == 2 && text[i + 3] != '=')) return false;
        continue;
      }
      if (sextet(c) < 0) return false;
    }
    if (last && pad == 1 && (sextet(text[i + 2]) & 0x3) != 0) return false;
    if (last && pad == 2 && (sextet(text[i + 1]) & 0xF) != 0) return false;
  }
  *decoded_len = text_len / 4 * 3 - pad;
  return true;
}

bool base64_decode(const char* text, size_t text_len, uint8_t* out, size_t out_cap,
                   size_t* out_len) {
  if (text_len % 4 != 0) return false;
  size_t n = 0;
  for (size_t i = 0; i < text_len; i += 4) {
    const bool last = (i + 4 == text_len);
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return false;  // data after '='
      v[k] = sextet(c);
      if (v[k] < 0) return false;
    }
    const uint32_t triple = (static_cast<uint32_t>(v[0]) << 18) |
                            (static_cast<uint32_t>(v[1]) << 12) |
                            (static_cast<uint32_t>(v[2]) << 6) | static_cast<uint32_t>(v[3]);
    const int bytes = 3 - pad;
    if (n + bytes > out_cap) return false;
    // Non-canonical encodings (stray bits under the padding) are rejected too.
    if (pad == 1 && (v[2] & 0x3) != 0) return false;
    if (pad == 2 && (v[1] & 0xF) != 0) return false;
    out[n++] = static_cast<uint8_t>(triple >> 16);
    if (bytes > 1) out[n++] = static_cast<uint8_t>(triple >> 8);
    if (bytes > 2) out[n++] = static_cast<uint8_t>(triple);
  }
  *out_len = n;
  return true;
}

void base64_encode_append(const uint8_t* data, size_t len, std::string* out) {
  out->reserve(out->size() + (len + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= len; i += 3) {
    const uint32_t t = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out->push_back(kAlphabet[(t >> 18) & 63]);
    out->push_back(kAlphabet[(t >> 12) & 63]);
    out->push_back(kAlphabet[(t >> 6) & 63]);
    out->push_back(kAlphabet[t & 63]);
  }
  const size_t rest = len - i;
  if (rest == 1) {
    const uint32_t t = data[i] << 16;
    out->push_back(kAlphabet[(t >> 18) & 63]);
    out->push_back(kAlphabet[(t >> 12) & 63]);
    out->append("==");
  } else if (rest == 2) {
    const uint32_t t = (data[i] << 16) | (data[i + 1] << 8);
    out->push_back(kAlphabet[(t >> 18) & 63]);
    out->push_back(kAlphabet[(t >> 12) & 63]);
    out->push_back(kAlphabet[(t >> 6) & 63]);
    out->push_back('=');
  }
}

}  // namespace tmh
