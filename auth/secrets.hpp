#pragma once
// Random values, digests, MACs and constant-time comparison: the primitives the
// rest of auth/ and the token stores build on. Backed by libsodium (randomness)
// and OpenSSL (SHA-256, HMAC). Every function is safe to call from any thread.

#include <cstddef>
#include <string>
#include <string_view>

namespace tally::auth {

// Bytes in a SHA-256 digest and in an HMAC-SHA256 tag.
inline constexpr std::size_t sha256_bytes = 32;
// Default entropy of an opaque token (refresh tokens, one-time codes): 256 bits.
inline constexpr std::size_t random_token_bytes_default = 32;
// Largest request to random_bytes/random_token; larger asks are a programmer error.
inline constexpr std::size_t random_bytes_max = 1024;

// Initialises libsodium on first call (later calls return the cached result; safe
// from several threads at once). Returns false only if libsodium cannot start, which
// the functions below treat as fatal. main() may call it early to fail fast.
bool init_crypto();

// Returns true when `a` and `b` hold the same bytes. The time taken depends only on
// the lengths, never on where the contents differ; inputs of different lengths are
// unequal (lengths are not secret: MACs and token hashes have fixed sizes).
[[nodiscard]] bool constant_time_equal(std::string_view a, std::string_view b);

// Returns `n` bytes from the operating system's CSPRNG (via libsodium).
// REQUIRES: n <= random_bytes_max.
[[nodiscard]] std::string random_bytes(std::size_t n);

// Returns `bytes` random bytes encoded as base64url without padding (43 characters
// for the default 32 bytes).
// REQUIRES: 0 < bytes <= random_bytes_max.
[[nodiscard]] std::string random_token(std::size_t bytes = random_token_bytes_default);

// Returns the SHA-256 digest of `data` as 64 lowercase hex characters.
[[nodiscard]] std::string sha256_hex(std::string_view data);

// Returns the raw 32-byte HMAC-SHA256 of `data` under `key` (RFC 2104). Any key
// length is accepted; callers enforce their own minimum (jwt.hpp requires 32 bytes).
[[nodiscard]] std::string hmac_sha256(std::string_view key, std::string_view data);

// Returns `bytes` as lowercase hex, two characters per byte.
[[nodiscard]] std::string hex_encode(std::string_view bytes);

// Returns a random (version 4, RFC 9562) UUID in canonical lowercase form,
// e.g. "3b241101-e2bb-4255-8caf-4136c566a962".
[[nodiscard]] std::string new_uuid_v4();

}  // namespace tally::auth
