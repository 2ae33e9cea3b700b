#include <catch2/catch.hpp>

#include "domain/time_format.hpp"

TEST_CASE("seconds format as RFC 3339 UTC", "[domain][time]") {
  CHECK(tally::rfc3339_from_seconds(0) == "1970-01-01T00:00:00Z");
  CHECK(tally::rfc3339_from_seconds(1795738852) == "2026-11-27T00:20:52Z");
}

TEST_CASE("milliseconds keep three fractional digits", "[domain][time]") {
  CHECK(tally::rfc3339_from_millis(1795738852123) == "2026-11-27T00:20:52.123Z");
  CHECK(tally::rfc3339_from_millis(5) == "1970-01-01T00:00:00.005Z");
  CHECK(tally::rfc3339_from_millis(-1) == "1969-12-31T23:59:59.999Z");
}
