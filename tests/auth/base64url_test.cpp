// tests/auth/base64url_test.cpp: covers auth/base64url.cpp. RFC 4648 §10 vectors in
// the URL-safe alphabet, then every way a decode must refuse.
#include <string>

#include <catch2/catch.hpp>

#include "auth/auth.hpp"

using tally::auth::base64url_decode;
using tally::auth::base64url_encode;

TEST_CASE("base64url encodes the RFC 4648 vectors without padding", "[auth][base64url]") {
  CHECK(base64url_encode("") == "");
  CHECK(base64url_encode("f") == "Zg");
  CHECK(base64url_encode("fo") == "Zm8");
  CHECK(base64url_encode("foo") == "Zm9v");
  CHECK(base64url_encode("foob") == "Zm9vYg");
  CHECK(base64url_encode("fooba") == "Zm9vYmE");
  CHECK(base64url_encode("foobar") == "Zm9vYmFy");
}

TEST_CASE("base64url uses '-' and '_' where base64 uses '+' and '/'", "[auth][base64url]") {
  CHECK(base64url_encode("\xfb\xff\xbf") == "-_-_");
  CHECK(base64url_decode("-_-_") == std::string("\xfb\xff\xbf"));
}

TEST_CASE("base64url decodes the RFC 4648 vectors", "[auth][base64url]") {
  CHECK(base64url_decode("") == std::string());
  CHECK(base64url_decode("Zg") == std::string("f"));
  CHECK(base64url_decode("Zm8") == std::string("fo"));
  CHECK(base64url_decode("Zm9v") == std::string("foo"));
  CHECK(base64url_decode("Zm9vYmFy") == std::string("foobar"));
}

TEST_CASE("base64url round-trips every byte value at every length remainder", "[auth][base64url]") {
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) {
    all_bytes.push_back(static_cast<char>(i));
  }
  for (std::size_t length = 0; length <= all_bytes.size(); ++length) {
    const std::string bytes = all_bytes.substr(0, length);
    const std::string text = base64url_encode(bytes);
    CHECK(text.find('=') == std::string::npos);
    CHECK(base64url_decode(text) == bytes);
  }
}

TEST_CASE("base64url decode refuses padding", "[auth][base64url]") {
  CHECK_FALSE(base64url_decode("Zg=="));
  CHECK_FALSE(base64url_decode("Zm8="));
  CHECK_FALSE(base64url_decode("===="));
}

TEST_CASE("base64url decode refuses characters outside the URL-safe alphabet",
          "[auth][base64url]") {
  CHECK_FALSE(base64url_decode("Zm9v+A"));
  CHECK_FALSE(base64url_decode("Zm9v/A"));
  CHECK_FALSE(base64url_decode("Zm 9v"));
  CHECK_FALSE(base64url_decode("Zm9v."));
  CHECK_FALSE(base64url_decode(std::string("Zm\0v", 4)));
  CHECK_FALSE(base64url_decode("Zm9\xc3\xa9"));
}

TEST_CASE("base64url decode refuses lengths no byte string encodes", "[auth][base64url]") {
  CHECK_FALSE(base64url_decode("Z"));
  CHECK_FALSE(base64url_decode("Zm9vY"));
  CHECK_FALSE(base64url_decode("Zm9vYmFyZ"));
}

TEST_CASE("base64url decode refuses non-canonical trailing bits", "[auth][base64url]") {
  // "Zg" is the only encoding of "f"; "Zh" carries a stray 1 in the unused bits.
  CHECK_FALSE(base64url_decode("Zh"));
  CHECK_FALSE(base64url_decode("Zm9"));  // "fo" is "Zm8"
}
