#include "auth/secrets.hpp"

#include <climits>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <sodium.h>

#include "domain/assert.hpp"
#include "domain/base64.hpp"

namespace tally::auth {
namespace {

constexpr std::size_t uuid_bytes = 16;
static_assert(sha256_bytes == SHA256_DIGEST_LENGTH);

// OpenSSL wants a non-null pointer even for zero-length input.
const unsigned char* bytes_of(std::string_view s) {
  static constexpr unsigned char empty = 0;
  return s.empty() ? &empty : reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

bool init_crypto() {
  // sodium_init() is itself idempotent and thread-safe; the static only saves the call.
  static const bool is_ready = sodium_init() >= 0;
  return is_ready;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    // Same work as an equal-length comparison of `a`, so the time says nothing about
    // the contents of either side; the result is discarded on purpose.
    (void)CRYPTO_memcmp(bytes_of(a), bytes_of(a), a.size());
    return false;
  }
  return CRYPTO_memcmp(bytes_of(a), bytes_of(b), a.size()) == 0;
}

std::string random_bytes(std::size_t n) {
  TALLY_ASSERT(n <= random_bytes_max);
  const bool is_crypto_ready = init_crypto();
  TALLY_ASSERT(is_crypto_ready);
  std::string out(n, '\0');
  if (n > 0) {
    randombytes_buf(out.data(), out.size());
  }
  return out;
}

std::string random_token(std::size_t bytes) {
  TALLY_ASSERT(bytes > 0);
  return base64url_encode(random_bytes(bytes));
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  const unsigned char* result = SHA256(bytes_of(data), data.size(), digest);
  TALLY_ASSERT(result != nullptr);
  return hex_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  TALLY_ASSERT(key.size() <= static_cast<std::size_t>(INT_MAX));
  unsigned char tag[EVP_MAX_MD_SIZE];
  unsigned int tag_bytes = 0;
  const unsigned char* result = HMAC(EVP_sha256(), bytes_of(key), static_cast<int>(key.size()),
                                     bytes_of(data), data.size(), tag, &tag_bytes);
  TALLY_ASSERT(result != nullptr);
  TALLY_ASSERT(tag_bytes == sha256_bytes);
  return std::string(reinterpret_cast<const char*>(tag), tag_bytes);
}

std::string hex_encode(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    out.push_back(digits[byte >> 4]);
    out.push_back(digits[byte & 0x0F]);
  }
  return out;
}

std::string new_uuid_v4() {
  std::string raw = random_bytes(uuid_bytes);
  // RFC 9562 §5.4: version 4 in the high nibble of byte 6, variant 10xx in byte 8.
  raw[6] = static_cast<char>((static_cast<unsigned char>(raw[6]) & 0x0F) | 0x40);
  raw[8] = static_cast<char>((static_cast<unsigned char>(raw[8]) & 0x3F) | 0x80);
  const std::string hex = hex_encode(raw);
  return hex.substr(0, 8) + '-' + hex.substr(8, 4) + '-' + hex.substr(12, 4) + '-' +
         hex.substr(16, 4) + '-' + hex.substr(20, 12);
}

}  // namespace tally::auth
