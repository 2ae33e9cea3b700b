#pragma once
// Omise's wire format (research gateways.md §1), as pure functions: request
// bodies out, objects in. The sandbox speaks the same format. No I/O.
//
// Parsing is tolerant where Omise's API versions differ (unknown fields,
// `created` vs `created_at`, "thb" vs "THB", missing timestamps, nulls) and
// strict where money depends on it: a charge needs an id, a known status, an
// integer amount and a currency, or it is errc::invalid_argument.

#include <cstdint>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "gateways/gateway.hpp"
#include "gateways/wire_encoding.hpp"

namespace tally::gateways::omise {

inline constexpr const char* api_version_default = "2019-05-29";
// Charges per page when reconciling (Omise's list maximum is 100).
inline constexpr int64_t list_page_limit = 100;

// The form fields of POST /charges: amount, currency (lower case, as Omise's
// SDKs send it), then card=<token> or source[type]=promptpay, return_uri,
// description, metadata[purchase_id]. Errors as check_charge_request().
caf::expected<form_fields> charge_form(const charge_request& req);

// The form fields of POST /charges/:id/refunds.
// REQUIRES: amount > 0.
form_fields refund_form(int64_t amount);

// A charge object. errc::invalid_argument when `body` is not a JSON object,
// its `object` is not "charge", or id/status/amount/currency are missing or
// malformed. metadata.purchase_id, the QR at
// source.scannable_code.image.download_uri and refunded_amount (`refunded` in
// old versions) are read when present.
caf::expected<charge> parse_charge(std::string_view body);

// An event object (GET /events/:id or a webhook body): id, key, data.object,
// data.id are required. `charge` is set when data is a charge that parses; a
// deleted object or another type leaves it empty.
caf::expected<event> parse_event(std::string_view body);

// A refund object: id and amount required; charge_id from `charge`.
caf::expected<refund> parse_refund(std::string_view body);

// One page of GET /charges. Every element must parse as a charge: a list that
// cannot be read completely must not be taken as "no such charge".
struct charge_page {
  std::vector<charge> charges;
  int64_t total = 0;   // charges matching the query, all pages
  int64_t offset = 0;  // of this page
};
caf::expected<charge_page> parse_charge_list(std::string_view body);

// The errc for a non-200 answer: 401/403 or code authentication_failure ->
// unauthorized; 404 or code not_found -> not_found; 429 and 5xx ->
// gateway_unavailable (the client has retried already); other 4xx ->
// invalid_argument (used_token, invalid_card, bad_request, ...).
errc errc_for(int http_status, std::string_view code);

// The failure for a non-200 answer, with the error object's code and message
// in its failure_detail when `body` is one (never the raw body otherwise).
caf::error error_from_response(int http_status, std::string_view body);

}  // namespace tally::gateways::omise
