// tests/domain/cursor_test.cpp: covers domain/cursor.cpp. Every refused cursor must come back
// as errc::invalid_cursor (400), never as a crash or as a different page.
#include "domain/cursor.hpp"

#include <string>

#include <catch2/catch.hpp>

#include "domain/error.hpp"

namespace {

bool is_invalid_cursor(const caf::expected<tally::cursor_position>& decoded) {
  return !decoded && decoded.error() == caf::make_error(tally::errc::invalid_cursor);
}

}  // namespace

TEST_CASE("a cursor decodes to the position it was encoded from", "[domain][cursor]") {
  const tally::cursor_position position{1'700'000'000'123'456,
                                        "3f2b8c1e-9d4a-4b6e-8f00-1a2b3c4d5e6f"};
  const auto decoded = tally::decode_cursor(tally::encode_cursor(position));
  REQUIRE(decoded);
  CHECK(*decoded == position);
}

TEST_CASE("a cursor is the base64url of version, big-endian time and id", "[domain][cursor]") {
  // Computed independently: urlsafe_b64encode(b"\x01" + pack(">q", 1700000000123456) + b"run_1").
  CHECK(tally::encode_cursor({1'700'000'000'123'456, "run_1"}) == "AQAGCiQYICJAcnVuXzE");
  const auto decoded = tally::decode_cursor("AQAGCiQYICJAcnVuXzE");
  REQUIRE(decoded);
  CHECK(decoded->created_at_us == 1'700'000'000'123'456);
  CHECK(decoded->id == "run_1");
}

TEST_CASE("cursors round-trip at the edges of time and id length", "[domain][cursor]") {
  for (int64_t time : {int64_t{0}, int64_t{1}, INT64_MAX}) {
    for (std::size_t id_bytes :
         {std::size_t{1}, std::size_t{2}, std::size_t{3}, tally::cursor_id_bytes_max}) {
      const tally::cursor_position position{time, std::string(id_bytes, 'a')};
      const auto decoded = tally::decode_cursor(tally::encode_cursor(position));
      REQUIRE(decoded);
      CHECK(*decoded == position);
    }
  }
}

TEST_CASE("a cursor is URL-safe text without padding", "[domain][cursor]") {
  const auto text = tally::encode_cursor({42, "run_01.x-Y"});
  CHECK(
      text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
      std::string::npos);
}

TEST_CASE("different positions give different cursors", "[domain][cursor]") {
  CHECK(tally::encode_cursor({1, "a"}) != tally::encode_cursor({2, "a"}));
  CHECK(tally::encode_cursor({1, "a"}) != tally::encode_cursor({1, "b"}));
}

TEST_CASE("an empty cursor is refused", "[domain][cursor]") {
  CHECK(is_invalid_cursor(tally::decode_cursor("")));
}

TEST_CASE("a cursor longer than the limit is refused before decoding", "[domain][cursor]") {
  CHECK(is_invalid_cursor(tally::decode_cursor(std::string(tally::cursor_chars_max + 1, 'A'))));
  CHECK(is_invalid_cursor(tally::decode_cursor(std::string(100'000, 'A'))));
}

TEST_CASE("characters outside base64url are refused", "[domain][cursor]") {
  const auto text = tally::encode_cursor({5, "abc"});
  for (char bad : {'+', '/', '=', ' ', '%', '.', '\0'}) {
    std::string tampered = text;
    tampered[3] = bad;
    CHECK(is_invalid_cursor(tally::decode_cursor(tampered)));
  }
}

TEST_CASE("padded or non-canonical base64 is refused", "[domain][cursor]") {
  const auto text = tally::encode_cursor({5, "ab"});  // 11 bytes: 15 characters, 2 spare bits
  REQUIRE(text.size() % 4 == 3);
  CHECK(is_invalid_cursor(tally::decode_cursor(text + "=")));
  std::string spare_bits_set = text;
  spare_bits_set.back() = static_cast<char>(spare_bits_set.back() + 1);
  CHECK(is_invalid_cursor(tally::decode_cursor(spare_bits_set)));
  CHECK(is_invalid_cursor(tally::decode_cursor(text + "A")));  // one more byte: a NUL in the id
  CHECK(is_invalid_cursor(tally::decode_cursor(text.substr(0, text.size() - 2))));
}

TEST_CASE("garbage that happens to be base64url is refused", "[domain][cursor]") {
  CHECK(is_invalid_cursor(tally::decode_cursor("aGVsbG8gd29ybGQ")));  // "hello world"
  CHECK(is_invalid_cursor(tally::decode_cursor("AA")));
  CHECK(is_invalid_cursor(tally::decode_cursor("AQAAAAAAAAAA")));  // version 1, no id
}

TEST_CASE("a cursor of an unknown version is refused", "[domain][cursor]") {
  // Edit the version bits of a valid cursor: "AQ" starts 0x01, "Ag" would start 0x02.
  auto text = tally::encode_cursor({0, "abc"});
  REQUIRE(text.substr(0, 2) == "AQ");  // 0x01 then zero bits
  text[1] = 'g';                       // 0x02
  CHECK(is_invalid_cursor(tally::decode_cursor(text)));
  text = tally::encode_cursor({0, "abc"});
  text[0] = 'A';
  text[1] = 'A';  // version 0
  CHECK(is_invalid_cursor(tally::decode_cursor(text)));
}

TEST_CASE("a cursor with a negative time is refused", "[domain][cursor]") {
  // Version 1, time 0x80..: what encode_cursor never produces.
  auto text = tally::encode_cursor({0, "abc"});
  REQUIRE(text[1] == 'Q');
  text[1] = 'Y';  // 'Q' is 0b010000; 'Y' (0b011000) also sets the top bit of the time
  CHECK(is_invalid_cursor(tally::decode_cursor(text)));
}

TEST_CASE("a cursor whose id holds characters ids never have is refused", "[domain][cursor]") {
  auto text = tally::encode_cursor({0, "abc"});
  // "abc" is the last three bytes = the last four characters; "JCgp" decodes to "$()".
  text.replace(text.size() - 4, 4, "JCgp");
  CHECK(is_invalid_cursor(tally::decode_cursor(text)));
}

TEST_CASE("an absent limit is the default page size", "[domain][cursor]") {
  const auto limit = tally::parse_page_limit(std::nullopt);
  REQUIRE(limit);
  CHECK(*limit == tally::page_limit_default);
}

TEST_CASE("limits from 1 to 100 are accepted", "[domain][cursor]") {
  CHECK(*tally::parse_page_limit(std::string_view("1")) == 1);
  CHECK(*tally::parse_page_limit(std::string_view("20")) == 20);
  CHECK(*tally::parse_page_limit(std::string_view("100")) == 100);
  CHECK(*tally::parse_page_limit(std::string_view("007")) == 7);
}

TEST_CASE("limits outside 1..100 or not plain digits are refused", "[domain][cursor]") {
  for (const char* text : {"", "0", "101", "1000", "-1", "+5", " 5", "5 ", "5x", "1e2", "2.5",
                           "99999999999999999999", "ten"}) {
    const auto limit = tally::parse_page_limit(std::string_view(text));
    CAPTURE(text);
    REQUIRE_FALSE(limit);
    CHECK(limit.error() == caf::make_error(tally::errc::validation_failed));
  }
}
