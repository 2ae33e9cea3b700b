#pragma once
// RFC 3339 UTC timestamps for API responses (API.md: "Timestamps are RFC 3339 UTC").

#include <cstdint>
#include <string>

namespace tally {

// "2026-11-27T00:20:52Z"
std::string rfc3339_from_seconds(int64_t unix_s);

// "2026-11-27T00:20:52.123Z"
std::string rfc3339_from_millis(int64_t unix_ms);

}  // namespace tally
