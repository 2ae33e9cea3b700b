#pragma once
// Omise-Signature as research gateways.md §1.5 describes it [3P, consistent
// across independent implementations]:
//   Omise-Signature-Timestamp: <unix seconds>
//   Omise-Signature: hex(HMAC-SHA256(key = base64_decode(secret),
//                                    msg = timestamp + "." + raw_body))
// The secret is the base64 string the dashboard's "Roll secret" shows; the
// sandbox reads it with domain/base64.hpp ('=' padding optional, unused bits
// ignored).

#include <cstdint>
#include <string>
#include <string_view>

namespace tally::sandbox {

// The lowercase hex signature of `body` sent at `timestamp_s`.
// REQUIRES: key_bytes is the decoded secret (non-empty).
std::string omise_signature(std::string_view key_bytes, int64_t timestamp_s, std::string_view body);

}  // namespace tally::sandbox
