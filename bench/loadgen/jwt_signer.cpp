#include "bench/loadgen/jwt_signer.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace tally::bench {
namespace {

std::array<unsigned char, 16> random_bytes_16() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    std::fprintf(stderr, "tally_loadgen: OpenSSL's random generator failed\n");
    std::abort();  // no safe fallback for ids that must not collide
  }
  return bytes;
}

std::string to_hex(const unsigned char* bytes, std::size_t count) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string text;
  text.reserve(count * 2);
  for (std::size_t i = 0; i < count; ++i) {
    text.push_back(digits[bytes[i] >> 4]);
    text.push_back(digits[bytes[i] & 0x0f]);
  }
  return text;
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string text;
  text.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t n = (uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                       (uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) |
                       uint32_t{static_cast<unsigned char>(bytes[i + 2])};
    text.push_back(alphabet[(n >> 18) & 63]);
    text.push_back(alphabet[(n >> 12) & 63]);
    text.push_back(alphabet[(n >> 6) & 63]);
    text.push_back(alphabet[n & 63]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t n = uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
    if (rest == 2) {
      n |= uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8;
    }
    text.push_back(alphabet[(n >> 18) & 63]);
    text.push_back(alphabet[(n >> 12) & 63]);
    if (rest == 2) {
      text.push_back(alphabet[(n >> 6) & 63]);
    }
  }
  return text;
}

std::string random_hex(std::size_t byte_count) {
  std::string text;
  while (text.size() < byte_count * 2) {
    const auto bytes = random_bytes_16();
    text += to_hex(bytes.data(), bytes.size());
  }
  text.resize(byte_count * 2);
  return text;
}

std::string random_uuid() {
  auto bytes = random_bytes_16();
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  const std::string hex = to_hex(bytes.data(), bytes.size());
  return hex.substr(0, 8) + '-' + hex.substr(8, 4) + '-' + hex.substr(12, 4) + '-' +
         hex.substr(16, 4) + '-' + hex.substr(20, 12);
}

jwt_signer::jwt_signer(std::string key, std::string kid, std::string issuer, std::string audience)
    : key_(std::move(key)), issuer_(std::move(issuer)), audience_(std::move(audience)) {
  const nlohmann::ordered_json header = {{"alg", "HS256"}, {"typ", "at+jwt"}, {"kid", kid}};
  encoded_header_ = base64url_encode(header.dump());  // kid: [A-Za-z0-9._-], plain ASCII
}

std::string jwt_signer::sign(std::string_view user_id, std::string_view email, int64_t now_s,
                             int64_t ttl_s) const {
  const nlohmann::ordered_json payload = {
      {"iss", issuer_}, {"sub", user_id}, {"aud", audience_}, {"jti", random_hex(16)},
      {"email", email}, {"iat", now_s},   {"nbf", now_s},     {"exp", now_s + ttl_s}};
  // replace: a stray byte in a cached e-mail must not throw; the engine would refuse the token.
  const std::string payload_text =
      payload.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  std::string token = encoded_header_ + '.' + base64url_encode(payload_text);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_bytes = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(token.data()), token.size(), mac, &mac_bytes);
  token += '.';
  token += base64url_encode(std::string_view(reinterpret_cast<const char*>(mac), mac_bytes));
  return token;
}

}  // namespace tally::bench
