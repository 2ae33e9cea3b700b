#pragma once
// Base64url (RFC 4648 §5) without padding, as JWTs and Tally's opaque tokens use it.
// Pure functions over bytes; no allocation beyond the returned string.

#include <optional>
#include <string>
#include <string_view>

namespace tally::auth {

// Returns `bytes` in the URL-safe alphabet (A-Z a-z 0-9 - _) with no '=' padding.
// An empty input gives an empty string.
[[nodiscard]] std::string base64url_encode(std::string_view bytes);

// Returns the bytes that `text` encodes, or nullopt when `text`:
//   - contains any character outside the URL-safe alphabet, '=' padding included;
//   - has a length that no byte string encodes (length % 4 == 1);
//   - is not canonical (the unused low bits of the last character are not zero),
//     so every byte string has exactly one accepted encoding.
// An empty input gives an empty string.
[[nodiscard]] std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace tally::auth
