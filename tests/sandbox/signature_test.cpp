// tests/sandbox/signature_test.cpp: covers sandbox/signature.cpp. The expected
// signature was computed independently (Python's hmac module) from the scheme
// in research gateways.md §1.5.
#include "sandbox/signature.hpp"

#include <catch2/catch.hpp>

using namespace tally::sandbox;

TEST_CASE("base64_decode reads the standard alphabet with or without padding",
          "[sandbox][signature]") {
  CHECK(base64_decode("c2FuZGJveC13ZWJob29rLXNlY3JldC0zMmJ5dGVzISE=") ==
        std::optional<std::string>("sandbox-webhook-secret-32bytes!!"));
  CHECK(base64_decode("Zm9vYg==") == std::optional<std::string>("foob"));
  CHECK(base64_decode("Zm9vYg") == std::optional<std::string>("foob"));
  CHECK(base64_decode("+/+/") == std::optional<std::string>("\xfb\xff\xbf"));
  CHECK(base64_decode("") == std::optional<std::string>(""));
}

TEST_CASE("base64_decode refuses what no encoder produces", "[sandbox][signature]") {
  CHECK_FALSE(base64_decode("Zm9vY"));    // 5 characters: one dangling
  CHECK_FALSE(base64_decode("Zm9v-_"));   // the URL-safe alphabet
  CHECK_FALSE(base64_decode("Zm9vYg="));  // padding that does not complete a quad
  CHECK_FALSE(base64_decode("Zm===="));   // too much padding
  CHECK_FALSE(base64_decode("Zm 9v"));
}

TEST_CASE("omise_signature is hex HMAC-SHA256 of timestamp.body under the decoded secret",
          "[sandbox][signature]") {
  const auto key = base64_decode("c2FuZGJveC13ZWJob29rLXNlY3JldC0zMmJ5dGVzISE=");
  REQUIRE(key);
  const std::string body = R"({"object":"event","id":"evnt_test_1"})";
  CHECK(omise_signature(*key, 1700000000, body) ==
        "96a8a57871577a1aa6416b0c1b24280875b6f8cdd50ec13fba480cf44266dc94");
  // Any change to the timestamp or the body changes the signature.
  CHECK(omise_signature(*key, 1700000001, body) != omise_signature(*key, 1700000000, body));
  CHECK(omise_signature(*key, 1700000000, body + " ") != omise_signature(*key, 1700000000, body));
}
