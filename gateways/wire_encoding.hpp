#pragma once
// Encodings the gateway wire formats need: application/x-www-form-urlencoded
// bodies and query strings and the checks on identifiers we put into URL
// paths. Pure. (Base64 for HTTP Basic auth and Omise's webhook secret is
// domain/base64.hpp.)

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tally::gateways {

// Longest gateway object id we accept (chrg_test_..., pi_..., evnt_...). Ids go
// into URL paths, so they are checked before use, never escaped.
inline constexpr std::size_t object_id_bytes_max = 128;

// Ordered name/value pairs of a form body or query string.
using form_fields = std::vector<std::pair<std::string, std::string>>;

// Returns `text` percent-encoded for a form value: A-Z a-z 0-9 - . _ ~ stay,
// every other byte becomes %XX (upper-case hex), space included.
std::string percent_encode(std::string_view text);

// Returns "name=value&name=value" with values percent-encoded. Names are
// encoded the same way except that '[' and ']' stay literal, as Stripe's and
// Omise's own clients send nested keys (metadata[purchase_id]).
std::string form_encode(const form_fields& fields);

// True when `id` is 1..object_id_bytes_max characters of A-Z a-z 0-9 _ and -:
// safe to splice into a URL path or a search query without escaping.
bool is_object_id(std::string_view id);

// True when `text` holds a run of 12 or more digits (spaces and dashes
// between them included): it may be a card number (PAN), which must never be
// sent where a token belongs.
bool looks_like_card_number(std::string_view text);

}  // namespace tally::gateways
