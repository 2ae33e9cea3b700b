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

TEST_CASE("RFC 3339 date-times parse to milliseconds", "[domain][time]") {
  using tally::millis_from_rfc3339;
  CHECK(millis_from_rfc3339("1970-01-01T00:00:00Z") == int64_t{0});
  CHECK(millis_from_rfc3339("2026-11-27T00:20:52Z") == int64_t{1795738852000});
  CHECK(millis_from_rfc3339("2026-11-27T00:20:52.123Z") == int64_t{1795738852123});
  CHECK(millis_from_rfc3339("2026-11-27t00:20:52.1234567z") == int64_t{1795738852123});
  CHECK(millis_from_rfc3339("2026-11-27T07:20:52.5+07:00") == int64_t{1795738852500});
  CHECK(millis_from_rfc3339("2026-11-26T23:20:52-01:00") == int64_t{1795738852000});
  CHECK(millis_from_rfc3339("2024-02-29T00:00:00Z").has_value());
  // Round trip with the formatter.
  CHECK(tally::rfc3339_from_millis(*millis_from_rfc3339("2031-06-30T12:34:56.789Z")) ==
        "2031-06-30T12:34:56.789Z");
}

TEST_CASE("malformed or impossible RFC 3339 date-times are refused", "[domain][time]") {
  using tally::millis_from_rfc3339;
  for (const char* text :
       {"", "tomorrow", "2026-11-27", "2026-11-27T00:20:52", "2026-11-27 00:20:52Z",
        "2026-13-01T00:00:00Z", "2025-02-29T00:00:00Z", "2026-11-31T00:00:00Z",
        "2026-11-27T24:00:00Z", "2026-11-27T00:60:00Z", "2026-11-27T00:00:60Z",
        "2026-11-27T00:00:00.Z", "2026-11-27T00:00:00+0700", "2026-11-27T00:00:00+07:00x",
        "1969-12-31T23:59:59Z", "+2026-11-27T00:00:00Z", "2026-11-27T00:00:00.1234567890Z"}) {
    INFO(text);
    CHECK_FALSE(millis_from_rfc3339(text).has_value());
  }
}
