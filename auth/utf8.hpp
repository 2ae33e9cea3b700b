#pragma once
// Strict UTF-8 decoding (RFC 3629) for the places auth/ must count or vet text:
// password length is measured in code points, and JWT claims must be UTF-8
// (RFC 8725 §3.7).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace tally::auth {

// Returns the code points of `text`, or nullopt when `text` is not well-formed UTF-8:
// a stray continuation byte, a truncated sequence, an overlong form, a UTF-16
// surrogate (U+D800..U+DFFF) or a value above U+10FFFF.
[[nodiscard]] std::optional<std::vector<char32_t>> decode_utf8(std::string_view text);

// Returns true when `text` is well-formed UTF-8 (see decode_utf8).
[[nodiscard]] bool is_valid_utf8(std::string_view text);

}  // namespace tally::auth
