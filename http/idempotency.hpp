#pragma once
// The Idempotency-Key header (API.md "Common rules"; conventions.md §3):
// 1-255 printable ASCII, also accepted as an RFC 8941 quoted string. The key
// is scoped by user and endpoint by the caller ("spend:<key>"); the request's
// fingerprint is the SHA-256 of method, path and body.

#include <optional>
#include <string>

#include "http/exchange.hpp"

namespace tally::http {

inline constexpr std::size_t idempotency_key_bytes_max = 255;

enum class key_presence { required, optional };

struct idempotency {
  std::string scoped_key;  // "<scope>:<key>", empty when none was sent
  std::string request_sha256;
};

// Reads and validates the header. Answers 400 itself (and returns nullopt)
// when it is malformed, or missing while required.
std::optional<idempotency> read_idempotency(const exchange_ptr& ex, const std::string& scope,
                                            key_presence presence);

// Marks a replayed response (API.md: `Idempotent-Replayed: true`).
void mark_replayed(const exchange_ptr& ex);

}  // namespace tally::http
