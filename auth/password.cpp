#include "auth/password.hpp"

#include <string>

#include <sodium.h>

#include "auth/secrets.hpp"
#include "auth/utf8.hpp"
#include "domain/assert.hpp"

namespace tally::auth {
namespace {

static_assert(password_hash_opslimit >= crypto_pwhash_argon2id_OPSLIMIT_MIN);
static_assert(password_hash_memlimit_bytes >= crypto_pwhash_argon2id_MEMLIMIT_MIN);
static_assert(password_code_points_min <= password_code_points_max);

// C0 controls and DEL, then the C1 controls (U+0080..U+009F).
bool is_control(char32_t code_point) {
  return code_point < 0x20 || (code_point >= 0x7F && code_point <= 0x9F);
}

constexpr std::string_view argon2id_prefix = "$argon2id$";

// libsodium reads the encoded hash as a C string of fewer than crypto_pwhash_STRBYTES.
std::optional<std::string> as_sodium_hash_string(std::string_view encoded_hash) {
  if (encoded_hash.size() >= crypto_pwhash_STRBYTES ||
      encoded_hash.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  return std::string(encoded_hash);
}

std::string too_long_message() {
  return "password must be at most " + std::to_string(password_code_points_max) + " characters";
}

// libsodium accepts a null pointer only with length zero; never hand it one.
const char* chars_of(std::string_view password) {
  return password.empty() ? "" : password.data();
}

}  // namespace

std::optional<std::string> password_policy_violation(std::string_view password) {
  if (password.size() > password_bytes_max) {
    return too_long_message();
  }
  const auto code_points = decode_utf8(password);
  if (!code_points) {
    return "password must be valid UTF-8";
  }
  for (const char32_t code_point : *code_points) {
    if (is_control(code_point)) {
      return "password must not contain control characters";
    }
  }
  if (code_points->size() < password_code_points_min) {
    return "password must be at least " + std::to_string(password_code_points_min) + " characters";
  }
  if (code_points->size() > password_code_points_max) {
    return too_long_message();
  }
  return std::nullopt;
}

std::string hash_password(std::string_view password) {
  const bool is_crypto_ready = init_crypto();
  TALLY_ASSERT(is_crypto_ready);
  char encoded[crypto_pwhash_STRBYTES];
  const int status =
      crypto_pwhash_str_alg(encoded, chars_of(password), password.size(), password_hash_opslimit,
                            password_hash_memlimit_bytes, crypto_pwhash_ALG_ARGON2ID13);
  // The only failure with valid parameters is running out of memory.
  TALLY_ASSERT(status == 0);
  return std::string(encoded);
}

bool verify_password(std::string_view password, std::string_view encoded_hash) {
  const bool is_crypto_ready = init_crypto();
  TALLY_ASSERT(is_crypto_ready);
  const auto hash = as_sodium_hash_string(encoded_hash);
  if (!hash) {
    return false;
  }
  return crypto_pwhash_str_verify(hash->c_str(), chars_of(password), password.size()) == 0;
}

bool password_needs_rehash(std::string_view encoded_hash) {
  const bool is_crypto_ready = init_crypto();
  TALLY_ASSERT(is_crypto_ready);
  const auto hash = as_sodium_hash_string(encoded_hash);
  if (!hash || encoded_hash.substr(0, argon2id_prefix.size()) != argon2id_prefix) {
    return true;
  }
  // 0: current parameters; 1: other parameters; -1: not an argon2id string.
  return crypto_pwhash_str_needs_rehash(hash->c_str(), password_hash_opslimit,
                                        password_hash_memlimit_bytes) != 0;
}

void burn_password_verification(std::string_view password) {
  // Immutable once built; C++11 guarantees one thread builds it while others wait.
  static const std::string dummy_hash = hash_password("tally dummy password for timing");
  // The answer is meaningless (no account); only the time spent matters.
  (void)verify_password(password, dummy_hash);
}

}  // namespace tally::auth
