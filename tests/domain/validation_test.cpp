// tests/domain/validation_test.cpp: covers domain/validation.cpp. A request must hear about
// every invalid field at once, and no body (however deep or broken) may crash the parser.
#include "domain/validation.hpp"

#include <chrono>
#include <limits>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "domain/error.hpp"

using nlohmann::json;

namespace {

bool is_malformed(const caf::expected<json>& parsed) {
  return !parsed && parsed.error() == caf::make_error(tally::errc::invalid_argument);
}

}  // namespace

// ---- parse_json_object ----

TEST_CASE("a JSON object body parses", "[domain][validation]") {
  const auto parsed = tally::parse_json_object(R"({"amount": 5, "meta": {"a": [1, {"b": 2}]}})");
  REQUIRE(parsed);
  CHECK((*parsed)["amount"] == 5);
  CHECK((*parsed)["meta"]["a"][1]["b"] == 2);
}

TEST_CASE("an object nested exactly to the depth limit parses", "[domain][validation]") {
  std::string body;
  for (int i = 0; i < 3; ++i) {
    body += R"({"a":)";
  }
  body += "1}}}";
  CHECK(tally::parse_json_object(body, 3));
  CHECK(is_malformed(tally::parse_json_object(body, 2)));
}

TEST_CASE("malformed JSON is refused", "[domain][validation]") {
  for (const char* body : {"", " ", "{", "{\"a\":}", "{'a':1}", "{\"a\":1,}", "{\"a\":1} x",
                           "{\"a\":01}", "{\"a\":NaN}", "{\"a\":1}{}", "{/*c*/}"}) {
    CAPTURE(body);
    CHECK(is_malformed(tally::parse_json_object(body)));
  }
}

TEST_CASE("a JSON body whose top level is not an object is refused", "[domain][validation]") {
  for (const char* body : {"[]", "1", "\"text\"", "null", "true"}) {
    CAPTURE(body);
    CHECK(is_malformed(tally::parse_json_object(body)));
  }
}

TEST_CASE("invalid UTF-8 inside a JSON string is refused", "[domain][validation]") {
  CHECK(is_malformed(tally::parse_json_object("{\"a\":\"\xC3\x28\"}")));
  CHECK(is_malformed(tally::parse_json_object("{\"a\":\"\xED\xA0\x80\"}")));  // a surrogate
}

TEST_CASE("nesting deeper than the limit is refused", "[domain][validation]") {
  std::string body = R"({"a":)" + std::string(40, '[') + std::string(40, ']') + "}";
  CHECK(is_malformed(tally::parse_json_object(body)));
  CHECK(tally::parse_json_object(body, 64));
}

TEST_CASE("100 000 open brackets are refused quickly without exhausting the stack",
          "[domain][validation]") {
  const auto started = std::chrono::steady_clock::now();
  CHECK(is_malformed(tally::parse_json_object(std::string(100'000, '['))));
  CHECK(is_malformed(tally::parse_json_object("{\"a\":" + std::string(100'000, '['))));
  const std::string balanced =
      "{\"a\":" + std::string(100'000, '[') + std::string(100'000, ']') + "}";
  CHECK(is_malformed(tally::parse_json_object(balanced)));
  std::string deep_objects = "{";
  for (int i = 0; i < 50'000; ++i) {
    deep_objects += "\"k\":{";
  }
  deep_objects += std::string(50'001, '}');
  CHECK(is_malformed(tally::parse_json_object(deep_objects)));
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(2));
}

// ---- utf8_code_points ----

TEST_CASE("code points are counted, not bytes", "[domain][validation]") {
  CHECK(tally::utf8_code_points("") == std::size_t{0});
  CHECK(tally::utf8_code_points("abc") == std::size_t{3});
  CHECK(tally::utf8_code_points("\xE0\xB8\x9A\xE0\xB8\xB2\xE0\xB8\x97") == std::size_t{3});  // บาท
  CHECK(tally::utf8_code_points("\xF0\x9F\x92\xB3") == std::size_t{1});  // a credit card emoji
  CHECK(tally::utf8_code_points("\xF4\x8F\xBF\xBF") == std::size_t{1});  // U+10FFFF
}

TEST_CASE("ill-formed UTF-8 is refused", "[domain][validation]") {
  for (const char* text : {"\x80", "\xC0\xAF", "\xC1\xBF", "\xE0\x80\xAF", "\xED\xA0\x80",
                           "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xFF", "abc\xE2\x82", "\xC3"}) {
    CAPTURE(text);
    CHECK_FALSE(tally::utf8_code_points(text).has_value());
  }
}

// ---- strings ----

TEST_CASE("a required string within its length is returned", "[domain][validation]") {
  tally::field_errors errors;
  const json body = {{"name", "\xE0\xB8\x9A\xE0\xB8\xB2\xE0\xB8\x97"}};
  const auto name = tally::required_string(body, "name", 1, 3, errors);
  CHECK(errors.empty());
  REQUIRE(name);
  CHECK(*name == "\xE0\xB8\x9A\xE0\xB8\xB2\xE0\xB8\x97");
}

TEST_CASE("a missing or null required string is reported as required", "[domain][validation]") {
  tally::field_errors errors;
  CHECK_FALSE(tally::required_string(json::object(), "name", 1, 200, errors));
  CHECK_FALSE(tally::required_string(json{{"name", nullptr}}, "name", 1, 200, errors));
  REQUIRE(errors.size() == 2);
  CHECK(errors.items()[0].field == "name");
  CHECK(errors.items()[0].message == "is required");
}

TEST_CASE("an absent optional string is not an error", "[domain][validation]") {
  tally::field_errors errors;
  CHECK_FALSE(tally::optional_string(json::object(), "reason", 0, 200, errors));
  CHECK_FALSE(tally::optional_string(json{{"reason", nullptr}}, "reason", 0, 200, errors));
  CHECK(errors.empty());
  const auto reason = tally::optional_string(json{{"reason", "top-up"}}, "reason", 0, 200, errors);
  CHECK(reason == std::string("top-up"));
}

TEST_CASE("a string of the wrong type is refused", "[domain][validation]") {
  tally::field_errors errors;
  for (const json& value : {json(5), json(true), json::array(), json::object()}) {
    CHECK_FALSE(tally::required_string(json{{"name", value}}, "name", 0, 10, errors));
  }
  REQUIRE(errors.size() == 4);
  CHECK(errors.items()[0].message == "must be a string");
}

TEST_CASE("strings outside their length in code points are refused", "[domain][validation]") {
  tally::field_errors errors;
  CHECK_FALSE(tally::required_string(json{{"name", ""}}, "name", 1, 3, errors));
  CHECK_FALSE(tally::required_string(json{{"name", "abcd"}}, "name", 1, 3, errors));
  // Four code points, twelve bytes: too long even though each is one "character".
  CHECK_FALSE(tally::required_string(
      json{{"name", "\xE0\xB8\x9A\xE0\xB8\xB2\xE0\xB8\x97\xE0\xB8\x9A"}}, "name", 1, 3, errors));
  REQUIRE(errors.size() == 3);
  CHECK(errors.items()[0].message == "must be between 1 and 3 characters");
}

TEST_CASE("strings with NUL or invalid UTF-8 are refused", "[domain][validation]") {
  tally::field_errors errors;
  CHECK_FALSE(
      tally::required_string(json{{"name", std::string("a\0b", 3)}}, "name", 0, 10, errors));
  CHECK_FALSE(tally::optional_string(json{{"name", "\xC3\x28"}}, "name", 0, 10, errors));
  REQUIRE(errors.size() == 2);
  CHECK(errors.items()[1].message == "must be valid UTF-8 without NUL characters");
}

TEST_CASE("a choice among allowed strings is accepted", "[domain][validation]") {
  tally::field_errors errors;
  const auto gateway = tally::optional_choice(json{{"gateway", "stripe"}}, "gateway",
                                              {"omise", "stripe", "sandbox"}, errors);
  CHECK(errors.empty());
  CHECK(gateway == std::string("stripe"));
}

TEST_CASE("a string outside the allowed choices is refused with the choices listed",
          "[domain][validation]") {
  tally::field_errors errors;
  CHECK_FALSE(
      tally::required_choice(json{{"method", "cash"}}, "method", {"card", "promptpay"}, errors));
  CHECK_FALSE(tally::required_choice(json{{"method", 1}}, "method", {"card", "promptpay"}, errors));
  CHECK_FALSE(tally::required_choice(json::object(), "method", {"card", "promptpay"}, errors));
  REQUIRE(errors.size() == 3);
  CHECK(errors.items()[0].message == "must be one of: card, promptpay");
  CHECK(errors.items()[2].message == "is required");
}

// ---- integers and booleans ----

TEST_CASE("integers in range are accepted", "[domain][validation]") {
  tally::field_errors errors;
  CHECK(tally::required_int64(json{{"amount", 1}}, "amount", 1, 1000, errors) == int64_t{1});
  CHECK(tally::required_int64(json{{"amount", 1000}}, "amount", 1, 1000, errors) == int64_t{1000});
  CHECK(tally::optional_int64(json{{"t", -5}}, "t", -10, 10, errors) == int64_t{-5});
  const auto max = std::numeric_limits<int64_t>::max();
  CHECK(tally::required_int64(json::parse(R"({"a": 9223372036854775807})"), "a", 0, max, errors) ==
        max);
  CHECK_FALSE(tally::optional_int64(json::object(), "ttl_seconds", 1, 86400, errors));
  CHECK(errors.empty());
}

TEST_CASE("integers out of range are refused", "[domain][validation]") {
  tally::field_errors errors;
  const auto max = std::numeric_limits<int64_t>::max();
  CHECK_FALSE(tally::required_int64(json{{"amount", 0}}, "amount", 1, max, errors));
  CHECK_FALSE(tally::required_int64(json{{"ttl", 86401}}, "ttl", 1, 86400, errors));
  CHECK_FALSE(
      tally::required_int64(json::parse(R"({"a": 9223372036854775808})"), "a", 0, max, errors));
  CHECK_FALSE(
      tally::required_int64(json::parse(R"({"a": 18446744073709551615})"), "a", 0, max, errors));
  REQUIRE(errors.size() == 4);
  CHECK(errors.items()[0].message == "must be at least 1");
  CHECK(errors.items()[1].message == "must be between 1 and 86400");
}

TEST_CASE("numbers that are not integers are refused", "[domain][validation]") {
  tally::field_errors errors;
  for (const char* body :
       {R"({"a": 5.0})", R"({"a": 1e3})", R"({"a": "5"})", R"({"a": true})", R"({"a": 1e400})"}) {
    const auto parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) {
      continue;  // 1e400 does not even parse
    }
    CHECK_FALSE(tally::required_int64(parsed, "a", 0, 10, errors));
  }
  REQUIRE_FALSE(errors.empty());
  CHECK(errors.items()[0].message == "must be an integer");
}

TEST_CASE("booleans are accepted and anything else is refused", "[domain][validation]") {
  tally::field_errors errors;
  CHECK(tally::optional_bool(json{{"wait", true}}, "wait", errors) == true);
  CHECK(tally::optional_bool(json{{"wait", false}}, "wait", errors) == false);
  CHECK(errors.empty());
  CHECK_FALSE(tally::optional_bool(json{{"wait", "true"}}, "wait", errors));
  CHECK_FALSE(tally::optional_bool(json{{"wait", 1}}, "wait", errors));
  REQUIRE(errors.size() == 2);
  CHECK(errors.items()[0].message == "must be true or false");
}

// ---- objects ----

TEST_CASE("an object within its size is returned whole", "[domain][validation]") {
  tally::field_errors errors;
  const json body = {{"metadata", {{"order", "A-1"}, {"lines", {1, 2, 3}}}}};
  const auto metadata = tally::optional_object(body, "metadata", 1024, errors);
  CHECK(errors.empty());
  REQUIRE(metadata);
  CHECK(*metadata == body["metadata"]);
}

TEST_CASE("an object that is too large, not an object or holds NUL is refused",
          "[domain][validation]") {
  tally::field_errors errors;
  CHECK_FALSE(tally::optional_object(json{{"m", {{"k", std::string(100, 'x')}}}}, "m", 50, errors));
  CHECK_FALSE(tally::optional_object(json{{"m", json::array()}}, "m", 50, errors));
  CHECK_FALSE(tally::optional_object(json{{"m", {{"k", {{"deep", std::string("\0", 1)}}}}}}, "m",
                                     50, errors));
  CHECK_FALSE(tally::optional_object(json{{"m", {{std::string("k\0", 2), 1}}}}, "m", 50, errors));
  CHECK_FALSE(tally::required_object(json::object(), "executor", 50, errors));
  REQUIRE(errors.size() == 5);
  CHECK(errors.items()[0].message == "must be at most 50 bytes when serialized");
  CHECK(errors.items()[1].message == "must be an object");
  CHECK(errors.items()[4].message == "is required");
}

// ---- collecting ----

TEST_CASE("every invalid field is reported, not only the first", "[domain][validation]") {
  const auto body = tally::parse_json_object(R"({"amount": -1, "ttl_seconds": "x", "reason": 7})");
  REQUIRE(body);
  tally::field_errors errors;
  tally::required_int64(*body, "amount", 1, 1'000'000, errors);
  tally::optional_int64(*body, "ttl_seconds", 1, 86400, errors);
  tally::optional_string(*body, "reason", 0, 200, errors);
  tally::required_string(*body, "email", 3, 254, errors);
  REQUIRE(errors.size() == 4);
  CHECK(errors.items()[0].field == "amount");
  CHECK(errors.items()[1].field == "ttl_seconds");
  CHECK(errors.items()[2].field == "reason");
  CHECK(errors.items()[3].field == "email");
}

TEST_CASE("errors inside a nested object are named with a dotted path", "[domain][validation]") {
  const json body = {{"executor", {{"type", "delay"}, {"ms", -1}}}};
  tally::field_errors errors;
  const auto executor = tally::required_object(body, "executor", 4096, errors);
  REQUIRE(executor);
  {
    tally::field_scope scope(errors, "executor");
    tally::required_choice(*executor, "type", {"noop", "delay", "http"}, errors);
    tally::required_int64(*executor, "ms", 0, 60'000, errors);
  }
  tally::required_string(body, "name", 1, 200, errors);
  REQUIRE(errors.size() == 2);
  CHECK(errors.items()[0].field == "executor.ms");
  CHECK(errors.items()[1].field == "name");
}

TEST_CASE("the kept errors are capped while the count stays exact", "[domain][validation]") {
  tally::field_errors errors;
  for (std::size_t i = 0; i < tally::field_errors_max + 10; ++i) {
    errors.add("f" + std::to_string(i), "is required");
  }
  CHECK(errors.size() == tally::field_errors_max + 10);
  CHECK(errors.items().size() == tally::field_errors_max);
  const auto taken = errors.take();
  CHECK(taken.size() == tally::field_errors_max);
  CHECK(errors.empty());
}
