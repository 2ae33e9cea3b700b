#pragma once
// Opaque keyset-pagination cursors and the page-size parameter (API.md "Lists use cursor
// pagination"). Lists are newest first, ties broken by id; a cursor names the last item of the
// page the client has, and the next page starts strictly after it. Cursors are not secret and
// carry no authority: every list query is still scoped to the caller, so a forged cursor can
// only skip through the caller's own items.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

namespace tally {

inline constexpr int page_limit_default = 20;
inline constexpr int page_limit_max = 100;
// Longer `cursor` parameters are refused before decoding (real ones are under 200 characters).
inline constexpr std::size_t cursor_chars_max = 512;
// Ids are uuids or similar opaque tokens; this bounds what a cursor may carry.
inline constexpr std::size_t cursor_id_bytes_max = 128;

// Where the previous page ended.
struct cursor_position {
  int64_t created_at_us = 0;  // microseconds since the Unix epoch
  std::string id;             // 1..cursor_id_bytes_max bytes of [A-Za-z0-9._-]
};

inline bool operator==(const cursor_position& a, const cursor_position& b) {
  return a.created_at_us == b.created_at_us && a.id == b.id;
}

// Returns the URL-safe text (base64url, no padding) for `position`.
// REQUIRES: position.created_at_us >= 0; position.id is 1..cursor_id_bytes_max bytes of
// [A-Za-z0-9._-].
[[nodiscard]] std::string encode_cursor(const cursor_position& position);

// Returns the position encoded by encode_cursor, or errc::invalid_cursor for anything else:
// empty or longer than cursor_chars_max, not canonical base64url, an unknown version, a wrong
// length, a negative time or an id that encode_cursor would not have produced.
[[nodiscard]] caf::expected<cursor_position> decode_cursor(std::string_view text);

// Returns the page size from the `limit` query parameter: page_limit_default when absent,
// otherwise decimal digits only with a value in 1..page_limit_max, else errc::validation_failed.
[[nodiscard]] caf::expected<int> parse_page_limit(std::optional<std::string_view> text);

}  // namespace tally
