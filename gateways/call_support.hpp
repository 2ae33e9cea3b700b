#pragma once
// What the Omise and Stripe clients share around one HTTP call (private to
// gateways/): turning a transport failure into a gateway failure, marking a
// failure ambiguous, and waiting between the clients' own retries.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <caf/error.hpp>

#include "gateways/gateway.hpp"
#include "gateways/transport.hpp"

namespace tally::gateways::detail {

// The failure for an outcome without a response: ambiguous (the request may
// have taken effect) -> upstream_timeout with failure_detail.ambiguous; a
// timeout -> upstream_timeout; anything else (no connection, TLS, a refused
// or malformed target) -> gateway_unavailable. The message is the outbound
// detail, which never holds header values or bodies.
caf::error transport_failure(const outbound::outcome& outcome);

// True when an outcome without a response certainly did not reach the
// gateway's application: safe to send again.
bool is_retryable_without_answer(const outbound::outcome& outcome);

// `err` with failure_detail.ambiguous set (same errc).
caf::error as_ambiguous(const caf::error& err);

// For a POST whose success answer cannot be read: the object exists at the
// gateway but we do not know it, so the outcome is ambiguous ->
// upstream_timeout with failure_detail.ambiguous (the caller reconciles),
// keeping `parse_error`'s code and message. Never invalid_argument, which
// callers take as "refused, nothing created".
caf::error unreadable_answer(const caf::error& parse_error, int http_status);

// The failure for a gateway that has no secret key configured (config:
// "an empty secret key means not configured").
caf::error not_configured(std::string_view gateway_name);

// Blocks for the backoff before retry number `attempt` (0-based; at least
// `at_least`, e.g. a Retry-After) and returns true, or returns false at once
// when that wait would end past `deadline`.
bool wait_before_retry(uint32_t attempt, const outbound::retry_policy& policy,
                       std::chrono::steady_clock::time_point deadline,
                       std::chrono::milliseconds at_least);

// Retry-After in whole seconds, 0 when absent or not a small number.
std::chrono::milliseconds retry_after(const outbound::response& response);

// "<base><path>" for a configured base URL without its trailing '/'.
std::string join_url(const std::string& base, std::string_view path);

}  // namespace tally::gateways::detail
