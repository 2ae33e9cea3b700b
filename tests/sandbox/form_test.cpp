// tests/sandbox/form_test.cpp: covers sandbox/form.cpp. Form bodies and JSON
// bodies must come out the same, as Omise accepts both.
#include "sandbox/form.hpp"

#include <catch2/catch.hpp>

#include "sandbox/limits.hpp"

using namespace tally::sandbox;
using nlohmann::json;

TEST_CASE("percent_decode turns escapes and plus signs into bytes", "[sandbox][form]") {
  CHECK(percent_decode("a%20b+c%2B") == std::optional<std::string>("a b c+"));
  CHECK(percent_decode("%e0%b8%81") == std::optional<std::string>("\xe0\xb8\x81"));
  CHECK_FALSE(percent_decode("%2"));
  CHECK_FALSE(percent_decode("%zz"));
  CHECK_FALSE(percent_decode("abc%"));
}

TEST_CASE("bracketed form keys nest into objects", "[sandbox][form]") {
  std::string error;
  auto decoded = decode_form(
      "amount=100000&currency=thb&source%5Btype%5D=promptpay&metadata[purchase_id]=p%2D1&"
      "metadata[note]=a+b&card[number]=4242",
      error);
  REQUIRE(decoded);
  CHECK((*decoded)["amount"] == "100000");
  CHECK((*decoded)["source"]["type"] == "promptpay");
  CHECK((*decoded)["metadata"]["purchase_id"] == "p-1");
  CHECK((*decoded)["metadata"]["note"] == "a b");
  CHECK((*decoded)["card"]["number"] == "4242");
}

TEST_CASE("a form and the same JSON decode to the same object", "[sandbox][form]") {
  std::string error;
  auto form = decode_request_body("amount=2500&metadata[purchase_id]=p1",
                                  "application/x-www-form-urlencoded", error);
  auto as_json = decode_request_body(R"({"amount":"2500","metadata":{"purchase_id":"p1"}})",
                                     "application/json; charset=utf-8", error);
  REQUIRE(form);
  REQUIRE(as_json);
  CHECK(*form == *as_json);
}

TEST_CASE("malformed bodies are refused with a reason", "[sandbox][form]") {
  std::string error;
  CHECK_FALSE(decode_form("a[b=1", error));
  CHECK_FALSE(decode_form("[x]=1", error));
  CHECK_FALSE(decode_form("a=1&a[b]=2", error));  // a value, then an object
  CHECK_FALSE(decode_form("a[b][c][d][e]=1", error));
  CHECK_FALSE(decode_request_body("{not json", "application/json", error));
  CHECK(error == "malformed JSON");
  CHECK_FALSE(decode_request_body("[1,2]", "application/json", error));
  std::string many;
  for (std::size_t i = 0; i <= limits::form_fields_max; ++i) {
    many += "f" + std::to_string(i) + "=1&";
  }
  CHECK_FALSE(decode_form(many, error));
  CHECK(error == "too many fields");
}

TEST_CASE("an empty body is an empty object; empty pairs are skipped", "[sandbox][form]") {
  std::string error;
  CHECK(decode_request_body("", "", error) == json::object());
  auto decoded = decode_form("a=1&&b=", error);
  REQUIRE(decoded);
  CHECK(*decoded == json({{"a", "1"}, {"b", ""}}));
}

TEST_CASE("integer_field reads JSON integers and digit strings only", "[sandbox][form]") {
  const json object = {{"n", 2500},  {"s", "2500"}, {"neg", "-5"},
                       {"f", 1.5},   {"x", "12a"},  {"big", "1234567890123456789012"},
                       {"empty", ""}};
  CHECK(integer_field(object, "n") == 2500);
  CHECK(integer_field(object, "s") == 2500);
  CHECK(integer_field(object, "neg") == -5);
  CHECK_FALSE(integer_field(object, "f"));
  CHECK_FALSE(integer_field(object, "x"));
  CHECK_FALSE(integer_field(object, "big"));
  CHECK_FALSE(integer_field(object, "empty"));
  CHECK_FALSE(integer_field(object, "missing"));
}
