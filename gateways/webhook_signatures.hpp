#pragma once
// Webhook signature checks (research gateways.md §1.5, §2.1). Pure: the clock
// is passed in. Each returns an empty error when the signature verifies, or
// errc::invalid_signature whose failure_detail.message says why (for the
// audit log; it never contains the secret or the expected signature).
// Comparisons are constant-time (auth::constant_time_equal).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <caf/error.hpp>

namespace tally::gateways {

// Largest age (and, against clock skew, lead) of a signed timestamp. Stripe's
// DEFAULT_TOLERANCE; third-party Omise verifiers use the same.
inline constexpr int64_t webhook_tolerance_s = 300;
// Largest signature header and number of signatures in it: rotation sends two,
// anything far beyond is not a real delivery.
inline constexpr std::size_t signature_header_bytes_max = 2048;
inline constexpr std::size_t signatures_max = 8;

// Omise: `Omise-Signature` holds comma-separated hex HMAC-SHA256 signatures
// (two during a secret's rotation; an optional "v1=" prefix is tolerated) over
// `timestamp + "." + raw_body`, keyed with the *decoded* base64 webhook
// secret; `Omise-Signature-Timestamp` is Unix seconds within
// webhook_tolerance_s of `now_s`. Valid when any signature matches.
// REQUIRES: secret is not empty.
caf::error verify_omise_signature(std::string_view raw_body, std::string_view signature_header,
                                  std::string_view timestamp_header, std::string_view secret,
                                  int64_t now_s);

// Stripe: `Stripe-Signature: t=<unix s>,v1=<hex>[,v1=<hex>...]` (other schemes
// ignored), HMAC-SHA256 over `t + "." + raw_body` keyed with the secret string
// as is ("whsec_..."), `t` within webhook_tolerance_s of `now_s`. Valid when
// any v1 signature matches. An empty secret never verifies (API.md: with no
// Stripe secret every delivery is refused).
caf::error verify_stripe_signature(std::string_view raw_body, std::string_view signature_header,
                                   std::string_view secret, int64_t now_s);

}  // namespace tally::gateways
