#pragma once
// RFC 3339 UTC timestamps for API responses (API.md: "Timestamps are RFC 3339 UTC").

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tally {

// "2026-11-27T00:20:52Z"
std::string rfc3339_from_seconds(int64_t unix_s);

// "2026-11-27T00:20:52.123Z"
std::string rfc3339_from_millis(int64_t unix_ms);

// Milliseconds since the Unix epoch of an RFC 3339 date-time ("2026-11-27T00:20:52Z",
// "2026-11-27T07:20:52.5+07:00"; 't'/'z' accepted), or nullopt when `text` is not one: a
// wrong shape, an impossible date or time, a year outside 1970..9999, or a leap second (:60).
// Fractions beyond milliseconds are truncated.
std::optional<int64_t> millis_from_rfc3339(std::string_view text);

}  // namespace tally
