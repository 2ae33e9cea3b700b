// tests/auth/utf8_test.cpp: covers auth/utf8.cpp. Well-formed sequences of each
// length decode; every class of ill-formed input (RFC 3629 §3, Unicode 3.9) refuses.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "auth/auth.hpp"

using tally::auth::decode_utf8;
using tally::auth::is_valid_utf8;

TEST_CASE("UTF-8 sequences of one to four bytes decode to one code point each", "[auth][utf8]") {
  const auto decoded = decode_utf8("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");  // a é € 😀
  REQUIRE(decoded);
  CHECK(*decoded == std::vector<char32_t>{U'a', 0xE9, 0x20AC, 0x1F600});
}

TEST_CASE("UTF-8 boundary code points decode", "[auth][utf8]") {
  CHECK(decode_utf8(std::string("\0", 1)) == std::vector<char32_t>{0});
  CHECK(decode_utf8("\x7f") == std::vector<char32_t>{0x7F});
  CHECK(decode_utf8("\xc2\x80") == std::vector<char32_t>{0x80});
  CHECK(decode_utf8("\xed\x9f\xbf") == std::vector<char32_t>{0xD7FF});
  CHECK(decode_utf8("\xee\x80\x80") == std::vector<char32_t>{0xE000});
  CHECK(decode_utf8("\xf4\x8f\xbf\xbf") == std::vector<char32_t>{0x10FFFF});
  CHECK(decode_utf8("")->empty());
}

TEST_CASE("UTF-8 stray and truncated bytes are refused", "[auth][utf8]") {
  CHECK_FALSE(is_valid_utf8("\x80"));                  // continuation without a lead
  CHECK_FALSE(is_valid_utf8("\xc3"));                  // truncated two-byte sequence
  CHECK_FALSE(is_valid_utf8("\xe2\x82"));              // truncated three-byte sequence
  CHECK_FALSE(is_valid_utf8("\xc3\x41"));              // lead followed by ASCII
  CHECK_FALSE(is_valid_utf8("\xff"));                  // never valid
  CHECK_FALSE(is_valid_utf8("\xf8\x88\x80\x80\x80"));  // five-byte form
}

TEST_CASE("UTF-8 overlong forms, surrogates and values past U+10FFFF are refused", "[auth][utf8]") {
  CHECK_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(is_valid_utf8("\xc1\xbf"));          // overlong U+007F
  CHECK_FALSE(is_valid_utf8("\xe0\x80\xaf"));      // overlong '/'
  CHECK_FALSE(is_valid_utf8("\xf0\x80\x80\xaf"));  // overlong '/'
  CHECK_FALSE(is_valid_utf8("\xed\xa0\x80"));      // U+D800
  CHECK_FALSE(is_valid_utf8("\xed\xbf\xbf"));      // U+DFFF
  CHECK_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // U+110000
}
