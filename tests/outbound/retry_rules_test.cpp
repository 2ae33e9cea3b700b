// tests/outbound/retry_rules_test.cpp: covers outbound/retry_rules.cpp.
#include "outbound/retry_rules.hpp"

#include <chrono>

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using tally::outbound::is_retryable_status;
using tally::outbound::parse_retry_after;

TEST_CASE("429 and transient 5xx are retryable, other answers are not", "[outbound][retry]") {
  for (int status : {429, 500, 502, 503, 504, 507, 599}) {
    INFO(status);
    CHECK(is_retryable_status(status));
  }
  for (int status : {200, 201, 204, 301, 304, 400, 401, 402, 404, 409, 422, 428, 430, 501, 505}) {
    INFO(status);
    CHECK_FALSE(is_retryable_status(status));
  }
  CHECK(tally::outbound::has_retry_after_semantics(429));
  CHECK(tally::outbound::has_retry_after_semantics(503));
  CHECK_FALSE(tally::outbound::has_retry_after_semantics(500));
}

TEST_CASE("Retry-After is read as delay-seconds", "[outbound][retry]") {
  CHECK(parse_retry_after("1") == 1s);
  CHECK(parse_retry_after(" 120 ") == 120s);
  CHECK(parse_retry_after("0") == 0s);
  CHECK(parse_retry_after("3600") == 3600s);
  CHECK_FALSE(parse_retry_after("3601"));  // past retry_after_max
  CHECK_FALSE(parse_retry_after("99999999999999999999"));
  CHECK_FALSE(parse_retry_after(""));
  CHECK_FALSE(parse_retry_after("-1"));
  CHECK_FALSE(parse_retry_after("1.5"));
  CHECK_FALSE(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"));
}
