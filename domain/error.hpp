#pragma once
// Every failure Tally expects, in one enum (STYLE 2.3). Values are stable: they
// appear in the audit log and map to problem+json `code`s in http/problem.cpp.
// Programmer errors are not here: they hit TALLY_ASSERT.

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/atom.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

namespace tally {

enum class errc : uint8_t {
  // 0 means "no error" to CAF.
  invalid_argument = 1,
  validation_failed,
  not_found,
  unauthorized,
  forbidden,
  invalid_credentials,
  invalid_refresh_token,
  email_taken,
  insufficient_credits,
  idempotency_key_reused,
  idempotency_key_in_flight,
  sequence_conflict,  // lost an optimistic-concurrency race: reload, retry
  overloaded,         // a bound from config/limits.hpp was reached
  rate_limited,
  storage_unavailable,
  cache_unavailable,
  gateway_unavailable,
  upstream_timeout,
  reservation_not_found,
  reservation_not_pending,
  package_not_found,
  purchase_not_found,
  payment_failed,
  raw_card_data_rejected,
  workflow_not_found,
  run_not_found,
  too_many_runs,
  invalid_signature,
  invalid_cursor,
  internal,  // an unexpected library failure, converted at the edge; logged
};

// The stable snake_case name of `code`: the problem+json `code` and the log name.
const char* to_string(errc code);

// The error category atom under which errc values travel inside caf::error.
caf::atom_value error_category();

// Returns true and sets `out` when `err` carries a tally::errc.
bool as_errc(const caf::error& err, errc& out);

}  // namespace tally

CAF_ERROR_CODE_ENUM(tally::errc, "tally")
