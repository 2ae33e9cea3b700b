#pragma once
// The pure parts of http_client's retry loop, apart so they can be tested
// without a network: which answers are worth another attempt, and how to read
// a Retry-After header.

#include <chrono>
#include <optional>
#include <string_view>

namespace tally::outbound {

// Retry-After values above this are treated as absent: no caller waits an hour.
inline constexpr std::chrono::seconds retry_after_max{3'600};

// True for 429 and for 5xx except 501 Not Implemented and 505 HTTP Version
// Not Supported, which say the same on every attempt.
bool is_retryable_status(int status);

// True for the statuses whose Retry-After is honoured (429 and 503, RFC 9110
// §10.2.3 names 503; 429 is from RFC 6585).
bool has_retry_after_semantics(int status);

// Reads a Retry-After given as delay-seconds ("120"). Returns nullopt for an
// HTTP-date, anything malformed, or a value above retry_after_max.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value);

}  // namespace tally::outbound
