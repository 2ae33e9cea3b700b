// tests/domain/base64_test.cpp: covers domain/base64.cpp. RFC 4648 §10 vectors in both
// alphabets, round trips of every byte value at every length remainder, then every way a
// decode must refuse, in each strictness its callers use:
//   padding optional, trailing bits zero   gateways: Omise webhook secret
//   padding optional, trailing bits any    sandbox: webhook secret, Basic auth
//   padding required, trailing bits any    domain: Standard Webhooks "whsec_" secrets
//   base64url (unpadded, canonical)        auth: JWTs, random tokens; domain: cursors
#include "domain/base64.hpp"

#include <string>
#include <utility>

#include <catch2/catch.hpp>

namespace tally {
namespace {

struct strictness {
  base64_padding padding;
  base64_trailing_bits trailing_bits;
};

constexpr strictness every_strictness[] = {
    {base64_padding::required, base64_trailing_bits::zero},
    {base64_padding::required, base64_trailing_bits::any},
    {base64_padding::optional, base64_trailing_bits::zero},
    {base64_padding::optional, base64_trailing_bits::any},
};

// RFC 4648 §10: the same text in both alphabets (no '+' or '/' occurs), padded for §4.
const std::pair<std::string, std::string> rfc4648_vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

std::string without_padding(std::string text) {
  while (!text.empty() && text.back() == '=') {
    text.pop_back();
  }
  return text;
}

std::string every_byte_value() {
  std::string bytes;
  for (int i = 0; i < 256; ++i) {
    bytes.push_back(static_cast<char>(i));
  }
  return bytes;
}

// True when `text` is refused in every strictness.
bool refused_always(std::string_view text) {
  for (const auto& s : every_strictness) {
    if (base64_decode(text, s.padding, s.trailing_bits)) {
      return false;
    }
  }
  return true;
}

// --- standard base64 (§4) ---

TEST_CASE("base64 encodes the RFC 4648 vectors with padding", "[domain][base64]") {
  for (const auto& [plain, encoded] : rfc4648_vectors) {
    INFO(plain);
    CHECK(base64_encode(plain) == encoded);
  }
  CHECK(base64_encode(std::string("\x00\xff\xfe\x10", 4)) == "AP/+EA==");
  CHECK(base64_encode("\xfb\xff\xbf") == "+/+/");
}

TEST_CASE("base64 decodes the padded RFC 4648 vectors in every strictness", "[domain][base64]") {
  for (const auto& s : every_strictness) {
    for (const auto& [plain, encoded] : rfc4648_vectors) {
      INFO(encoded);
      CHECK(base64_decode(encoded, s.padding, s.trailing_bits) == plain);
    }
    CHECK(base64_decode("AP/+EA==", s.padding, s.trailing_bits) ==
          std::string("\x00\xff\xfe\x10", 4));
    CHECK(base64_decode("+/+/", s.padding, s.trailing_bits) == std::string("\xfb\xff\xbf"));
    CHECK(base64_decode("c2FuZGJveC13ZWJob29rLXNlY3JldC0zMmJ5dGVzISE=", s.padding,
                        s.trailing_bits) == std::string("sandbox-webhook-secret-32bytes!!"));
  }
}

TEST_CASE("base64 decodes unpadded text only when padding is optional", "[domain][base64]") {
  for (const auto& [plain, encoded] : rfc4648_vectors) {
    const std::string unpadded = without_padding(encoded);
    INFO(unpadded);
    CHECK(base64_decode(unpadded, base64_padding::optional, base64_trailing_bits::zero) == plain);
    CHECK(base64_decode(unpadded, base64_padding::optional, base64_trailing_bits::any) == plain);
    if (unpadded != encoded) {
      CHECK_FALSE(base64_decode(unpadded, base64_padding::required, base64_trailing_bits::zero));
      CHECK_FALSE(base64_decode(unpadded, base64_padding::required, base64_trailing_bits::any));
    }
  }
}

TEST_CASE("base64 round-trips every byte value at every length remainder", "[domain][base64]") {
  const std::string all_bytes = every_byte_value();
  for (std::size_t length = 0; length <= all_bytes.size(); ++length) {
    const std::string bytes = all_bytes.substr(0, length);
    const std::string text = base64_encode(bytes);
    CHECK(text.size() % 4 == 0);
    for (const auto& s : every_strictness) {
      CHECK(base64_decode(text, s.padding, s.trailing_bits) == bytes);
    }
  }
}

TEST_CASE("base64 decode refuses characters outside the standard alphabet", "[domain][base64]") {
  CHECK(refused_always("Zm9v!g=="));
  CHECK(refused_always("Zm9v!A=="));
  CHECK(refused_always("Zm9v_-=="));  // the URL-safe alphabet
  CHECK(refused_always("Zm9v-_"));
  CHECK(refused_always("Zm 9v"));
  CHECK(refused_always("Zm9v\n"));
  CHECK(refused_always(" Zm9v"));
  CHECK(refused_always(std::string("Zm\0v", 4)));
  CHECK(refused_always("Zm9\xc3\xa9"));
}

TEST_CASE("base64 decode refuses lengths no byte string encodes", "[domain][base64]") {
  CHECK(refused_always("Z"));
  CHECK(refused_always("Zm9vY"));  // 5 characters: one dangling
  CHECK(refused_always("Zm9vYmFyZ"));
  CHECK(refused_always("Zm9vY==="));
}

TEST_CASE("base64 decode refuses padding that does not complete the last group",
          "[domain][base64]") {
  CHECK(refused_always("Zg="));      // one '=' short
  CHECK(refused_always("Zm9vYg="));  // one '=' short
  CHECK(refused_always("Zm8=="));    // one '=' too many
  CHECK(refused_always("Zm9v=="));   // after a whole group
  CHECK(refused_always("Zm9v===="));
  CHECK(refused_always("Zm===="));  // too much padding
  CHECK(refused_always("A==="));
  CHECK(refused_always("===="));
  CHECK(refused_always("=="));
  CHECK(refused_always("="));
  CHECK(refused_always("Zm=9v"));  // padding inside
  CHECK(refused_always("Z=g="));   // data after padding
  CHECK(refused_always("Zg==Zg=="));
}

TEST_CASE("base64 decode checks the unused bits only when they must be zero", "[domain][base64]") {
  // "Zg==" is the canonical encoding of "f"; "Zh==" carries a stray 1 in the unused bits.
  CHECK_FALSE(base64_decode("Zh==", base64_padding::required, base64_trailing_bits::zero));
  CHECK_FALSE(base64_decode("Zh==", base64_padding::optional, base64_trailing_bits::zero));
  CHECK_FALSE(base64_decode("Zh", base64_padding::optional, base64_trailing_bits::zero));
  CHECK_FALSE(base64_decode("Zm9=", base64_padding::optional, base64_trailing_bits::zero));
  CHECK(base64_decode("Zh==", base64_padding::required, base64_trailing_bits::any) == "f");
  CHECK(base64_decode("Zh==", base64_padding::optional, base64_trailing_bits::any) == "f");
  CHECK(base64_decode("Zh", base64_padding::optional, base64_trailing_bits::any) == "f");
  CHECK(base64_decode("Zm9=", base64_padding::required, base64_trailing_bits::any) == "fo");
  CHECK(base64_decode("Zm9vYh==", base64_padding::required, base64_trailing_bits::any) == "foob");
}

// --- base64url (§5), unpadded and canonical ---

TEST_CASE("base64url encodes the RFC 4648 vectors without padding", "[domain][base64url]") {
  for (const auto& [plain, encoded] : rfc4648_vectors) {
    INFO(plain);
    CHECK(base64url_encode(plain) == without_padding(encoded));
  }
}

TEST_CASE("base64url uses '-' and '_' where base64 uses '+' and '/'", "[domain][base64url]") {
  CHECK(base64url_encode("\xfb\xff\xbf") == "-_-_");
  CHECK(base64url_decode("-_-_") == std::string("\xfb\xff\xbf"));
}

TEST_CASE("base64url decodes the RFC 4648 vectors", "[domain][base64url]") {
  for (const auto& [plain, encoded] : rfc4648_vectors) {
    INFO(encoded);
    CHECK(base64url_decode(without_padding(encoded)) == plain);
  }
}

TEST_CASE("base64url round-trips every byte value at every length remainder",
          "[domain][base64url]") {
  const std::string all_bytes = every_byte_value();
  for (std::size_t length = 0; length <= all_bytes.size(); ++length) {
    const std::string bytes = all_bytes.substr(0, length);
    const std::string text = base64url_encode(bytes);
    CHECK(text.size() == (length * 4 + 2) / 3);
    CHECK(text.find_first_of("=+/") == std::string::npos);
    CHECK(base64url_decode(text) == bytes);
  }
}

TEST_CASE("base64url decode refuses padding", "[domain][base64url]") {
  CHECK_FALSE(base64url_decode("Zg=="));
  CHECK_FALSE(base64url_decode("Zm8="));
  CHECK_FALSE(base64url_decode("Zg="));
  CHECK_FALSE(base64url_decode("===="));
}

TEST_CASE("base64url decode refuses characters outside the URL-safe alphabet",
          "[domain][base64url]") {
  CHECK_FALSE(base64url_decode("Zm9v+A"));
  CHECK_FALSE(base64url_decode("Zm9v/A"));
  CHECK_FALSE(base64url_decode("Zm 9v"));
  CHECK_FALSE(base64url_decode("Zm9v."));
  CHECK_FALSE(base64url_decode(std::string("Zm\0v", 4)));
  CHECK_FALSE(base64url_decode("Zm9\xc3\xa9"));
}

TEST_CASE("base64url decode refuses lengths no byte string encodes", "[domain][base64url]") {
  CHECK_FALSE(base64url_decode("Z"));
  CHECK_FALSE(base64url_decode("Zm9vY"));
  CHECK_FALSE(base64url_decode("Zm9vYmFyZ"));
}

TEST_CASE("base64url decode refuses non-canonical trailing bits", "[domain][base64url]") {
  // "Zg" is the only encoding of "f"; "Zh" carries a stray 1 in the unused bits.
  CHECK_FALSE(base64url_decode("Zh"));
  CHECK_FALSE(base64url_decode("Zm9"));  // "fo" is "Zm8"
  CHECK_FALSE(base64url_decode("Zm9vY_"));
}

}  // namespace
}  // namespace tally
