#include "domain/error.hpp"

#include <caf/atom.hpp>

namespace tally {

const char* to_string(errc code) {
  switch (code) {
    case errc::invalid_argument: return "invalid_argument";
    case errc::validation_failed: return "validation_failed";
    case errc::not_found: return "not_found";
    case errc::unauthorized: return "unauthorized";
    case errc::forbidden: return "forbidden";
    case errc::invalid_credentials: return "invalid_credentials";
    case errc::invalid_refresh_token: return "invalid_refresh_token";
    case errc::email_taken: return "email_taken";
    case errc::insufficient_credits: return "insufficient_credits";
    case errc::idempotency_key_reused: return "idempotency_key_reused";
    case errc::idempotency_key_in_flight: return "idempotency_key_in_flight";
    case errc::sequence_conflict: return "sequence_conflict";
    case errc::overloaded: return "overloaded";
    case errc::rate_limited: return "rate_limited";
    case errc::storage_unavailable: return "storage_unavailable";
    case errc::cache_unavailable: return "cache_unavailable";
    case errc::gateway_unavailable: return "gateway_unavailable";
    case errc::upstream_timeout: return "upstream_timeout";
    case errc::reservation_not_found: return "reservation_not_found";
    case errc::reservation_not_pending: return "reservation_not_pending";
    case errc::package_not_found: return "package_not_found";
    case errc::purchase_not_found: return "purchase_not_found";
    case errc::payment_failed: return "payment_failed";
    case errc::raw_card_data_rejected: return "raw_card_data_rejected";
    case errc::workflow_not_found: return "workflow_not_found";
    case errc::run_not_found: return "run_not_found";
    case errc::too_many_runs: return "too_many_runs";
    case errc::invalid_signature: return "invalid_signature";
    case errc::invalid_cursor: return "invalid_cursor";
    case errc::internal: return "internal";
  }
  return "unknown";
}

caf::atom_value error_category() {
  return caf::atom("tally");
}

bool as_errc(const caf::error& err, errc& out) {
  if (!err || err.category() != error_category()) {
    return false;
  }
  out = static_cast<errc>(err.code());
  return true;
}

}  // namespace tally
