#pragma once
// Omise-Signature as research gateways.md §1.5 describes it [3P, consistent
// across independent implementations]:
//   Omise-Signature-Timestamp: <unix seconds>
//   Omise-Signature: hex(HMAC-SHA256(key = base64_decode(secret),
//                                    msg = timestamp + "." + raw_body))
// The secret is the base64 string the dashboard's "Roll secret" shows.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tally::sandbox {

// Standard base64 (RFC 4648 §4, '+' '/', '=' padding optional). Returns
// nullopt on any other character, misplaced padding or an impossible length.
std::optional<std::string> base64_decode(std::string_view text);

// The lowercase hex signature of `body` sent at `timestamp_s`.
// REQUIRES: key_bytes is the decoded secret (non-empty).
std::string omise_signature(std::string_view key_bytes, int64_t timestamp_s, std::string_view body);

}  // namespace tally::sandbox
