// tests/sandbox/signature_test.cpp: covers sandbox/signature.cpp. The expected
// signature was computed independently (Python's hmac module) from the scheme
// in research gateways.md §1.5.
#include "sandbox/signature.hpp"

#include <catch2/catch.hpp>

#include "domain/base64.hpp"

using namespace tally::sandbox;

TEST_CASE("omise_signature is hex HMAC-SHA256 of timestamp.body under the decoded secret",
          "[sandbox][signature]") {
  const auto key = tally::base64_decode(
      "c2FuZGJveC13ZWJob29rLXNlY3JldC0zMmJ5dGVzISE=", tally::base64_padding::optional,
      tally::base64_trailing_bits::any);
  REQUIRE(key);
  const std::string body = R"({"object":"event","id":"evnt_test_1"})";
  CHECK(omise_signature(*key, 1700000000, body) ==
        "96a8a57871577a1aa6416b0c1b24280875b6f8cdd50ec13fba480cf44266dc94");
  // Any change to the timestamp or the body changes the signature.
  CHECK(omise_signature(*key, 1700000001, body) != omise_signature(*key, 1700000000, body));
  CHECK(omise_signature(*key, 1700000000, body + " ") != omise_signature(*key, 1700000000, body));
}
