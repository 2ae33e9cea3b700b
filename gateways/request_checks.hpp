#pragma once
// Checks on a charge_request before any gateway sees it. Pure. The purchase
// layer validates the HTTP request first; these checks are the last line
// before money moves, so they refuse rather than repair.

#include <cstddef>
#include <cstdint>

#include <caf/error.hpp>

#include "gateways/gateway.hpp"

namespace tally::gateways {

// Largest charge in minor units (10^12 satang is ten billion baht): anything
// above is a bug upstream, not a purchase.
inline constexpr int64_t charge_amount_max = 1'000'000'000'000;
inline constexpr std::size_t return_uri_bytes_max = 2048;
inline constexpr std::size_t description_bytes_max = 255;
// Stripe's own limit on Idempotency-Key values.
inline constexpr std::size_t idempotency_key_bytes_max = 255;

// Returns an empty error when `req` may be sent, otherwise:
//   raw_card_data_rejected  card_token or description holds what may be a card
//                           number (a token never has 12 digits in a row)
//   invalid_argument        purchase_id not an id (1..128 of A-Z a-z 0-9 _ -),
//                           amount outside 1..charge_amount_max, currency not
//                           three ASCII letters, a card payment without a
//                           token id, a return_uri that is not http(s) or too
//                           long, control characters, over-long fields
// The error carries a failure_detail whose message names the field.
caf::error check_charge_request(const charge_request& req);

}  // namespace tally::gateways
