// tests/gateways/wire_encoding_test.cpp: covers gateways/wire_encoding.cpp
// (form encoding, id and card-number checks; base64 is tests/domain/base64_test.cpp).
#include "gateways/wire_encoding.hpp"

#include <string>

#include <catch2/catch.hpp>

using namespace tally::gateways;

TEST_CASE("form encoding escapes values and keeps nested key brackets", "[gateways][encoding]") {
  CHECK(percent_encode("a b&c=d/e?f+g%~._-") == "a%20b%26c%3Dd%2Fe%3Ff%2Bg%25~._-");
  CHECK(percent_encode("\xc3\xa9") == "%C3%A9");
  CHECK(form_encode({{"metadata[purchase_id]", "p 1"}, {"amount", "100"}}) ==
        "metadata[purchase_id]=p%201&amount=100");
  CHECK(form_encode({{"a&b", "[x]"}}) == "a%26b=%5Bx%5D");
  CHECK(form_encode({}).empty());
}

TEST_CASE("object ids are safe path segments", "[gateways][encoding]") {
  CHECK(is_object_id("chrg_test_5x1753iuub61dfe41q4"));
  CHECK(is_object_id("pi_3N8xYz2eZvKYlo2C0"));
  CHECK(is_object_id("0b7f0c2e-4f7a-4c1e-9a51-3f1f0f4f2a10"));
  CHECK_FALSE(is_object_id(""));
  CHECK_FALSE(is_object_id("../charges"));
  CHECK_FALSE(is_object_id("chrg?expand=x"));
  CHECK_FALSE(is_object_id("chrg 1"));
  CHECK_FALSE(is_object_id("a'b"));
  CHECK(is_object_id(std::string(object_id_bytes_max, 'a')));
  CHECK_FALSE(is_object_id(std::string(object_id_bytes_max + 1, 'a')));
}

TEST_CASE("card numbers are recognised with or without separators", "[gateways][encoding]") {
  CHECK(looks_like_card_number("4242424242424242"));
  CHECK(looks_like_card_number("4242 4242 4242 4242"));
  CHECK(looks_like_card_number("x3530-1111-1119-0011y"));
  CHECK_FALSE(looks_like_card_number("tokn_test_4yq8lbecl0q6dsjzxr5"));
  CHECK_FALSE(looks_like_card_number("12345678901"));  // 11 digits
  CHECK_FALSE(looks_like_card_number("123456/789012"));
}
