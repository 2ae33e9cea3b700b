#include "domain/cursor.hpp"

#include <limits>

#include "domain/assert.hpp"
#include "domain/base64.hpp"
#include "domain/error.hpp"

namespace tally {

namespace {

// Layout before base64url: one version byte, created_at_us as 8 bytes big-endian, then the id.
constexpr unsigned char cursor_version = 1;
constexpr std::size_t cursor_header_bytes = 1 + 8;

bool is_id_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool is_valid_id(std::string_view id) {
  if (id.empty() || id.size() > cursor_id_bytes_max) {
    return false;
  }
  for (char c : id) {
    if (!is_id_char(c)) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string encode_cursor(const cursor_position& position) {
  TALLY_ASSERT(position.created_at_us >= 0);
  TALLY_ASSERT(is_valid_id(position.id));
  std::string bytes;
  bytes.reserve(cursor_header_bytes + position.id.size());
  bytes.push_back(static_cast<char>(cursor_version));
  const auto time = static_cast<uint64_t>(position.created_at_us);
  for (int shift = 56; shift >= 0; shift -= 8) {
    bytes.push_back(static_cast<char>((time >> shift) & 0xFF));
  }
  bytes.append(position.id);
  return base64url_encode(bytes);
}

caf::expected<cursor_position> decode_cursor(std::string_view text) {
  const auto invalid = [] { return caf::make_error(errc::invalid_cursor); };
  if (text.empty() || text.size() > cursor_chars_max) {
    return invalid();
  }
  const auto bytes = base64url_decode(text);
  if (!bytes || bytes->size() <= cursor_header_bytes ||
      static_cast<unsigned char>((*bytes)[0]) != cursor_version) {
    return invalid();
  }
  uint64_t time = 0;
  for (std::size_t index = 1; index < cursor_header_bytes; ++index) {
    time = (time << 8) | static_cast<unsigned char>((*bytes)[index]);
  }
  if (time > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return invalid();  // encode_cursor never writes a negative time
  }
  cursor_position position;
  position.created_at_us = static_cast<int64_t>(time);
  position.id = bytes->substr(cursor_header_bytes);
  if (!is_valid_id(position.id)) {
    return invalid();
  }
  return position;
}

caf::expected<int> parse_page_limit(std::optional<std::string_view> text) {
  if (!text) {
    return page_limit_default;
  }
  // At most three digits before converting, so no input can overflow.
  if (text->empty() || text->size() > 3) {
    return caf::make_error(errc::validation_failed);
  }
  int limit = 0;
  for (char c : *text) {
    if (c < '0' || c > '9') {
      return caf::make_error(errc::validation_failed);
    }
    limit = limit * 10 + (c - '0');
  }
  if (limit < 1 || limit > page_limit_max) {
    return caf::make_error(errc::validation_failed);
  }
  return limit;
}

}  // namespace tally
