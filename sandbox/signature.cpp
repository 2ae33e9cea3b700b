#include "sandbox/signature.hpp"

#include "auth/secrets.hpp"
#include "domain/assert.hpp"

namespace tally::sandbox {

namespace {

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') {
    return c - 'A';
  }
  if (c >= 'a' && c <= 'z') {
    return c - 'a' + 26;
  }
  if (c >= '0' && c <= '9') {
    return c - '0' + 52;
  }
  if (c == '+') {
    return 62;
  }
  if (c == '/') {
    return 63;
  }
  return -1;
}

}  // namespace

std::optional<std::string> base64_decode(std::string_view text) {
  std::size_t length = text.size();
  while (length > 0 && text[length - 1] == '=') {
    --length;
  }
  if (text.size() - length > 2 || (text.size() != length && text.size() % 4 != 0) ||
      length % 4 == 1) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(length * 3 / 4);
  uint32_t buffer = 0;
  int bits = 0;
  for (std::size_t i = 0; i < length; ++i) {
    const int value = base64_value(text[i]);
    if (value < 0) {
      return std::nullopt;
    }
    buffer = (buffer << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

std::string omise_signature(std::string_view key_bytes, int64_t timestamp_s,
                            std::string_view body) {
  TALLY_ASSERT(!key_bytes.empty());
  std::string message = std::to_string(timestamp_s);
  message.push_back('.');
  message.append(body);
  return auth::hex_encode(auth::hmac_sha256(key_bytes, message));
}

}  // namespace tally::sandbox
