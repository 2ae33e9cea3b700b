#pragma once
// Tally's one base64 codec (RFC 4648): standard base64 (§4: HTTP Basic auth, gateway webhook
// secrets, Standard Webhooks "whsec_" secrets and signatures) and unpadded base64url (§5: JWTs,
// opaque tokens, list cursors). Pure functions over bytes; no allocation beyond the returned
// string, no state, safe from any thread.

#include <optional>
#include <string>
#include <string_view>

namespace tally {

// Whether base64_decode insists on the '=' padding. Either way padding that is present must be
// exactly what completes the last group of four: one '=' after 3 characters, two after 2.
enum class base64_padding {
  required,  // the length is a multiple of 4 ("Zg==" yes, "Zg" no)
  optional,  // "Zg==" and "Zg" both read as "f"
};

// Whether base64_decode checks the unused low bits of the last character (RFC 4648 §3.5).
enum class base64_trailing_bits {
  zero,  // canonical only: every byte string has exactly one accepted spelling ("Zh==" refused)
  any,   // ignored, as lenient decoders do ("Zh==" reads as "f", like "Zg==")
};

// Returns `bytes` in the standard alphabet (A-Z a-z 0-9 + /), '=' padded to a multiple of 4.
// An empty input gives an empty string.
[[nodiscard]] std::string base64_encode(std::string_view bytes);

// Returns the bytes that `text` encodes in the standard alphabet, or nullopt when `text`:
//   - contains any character outside A-Z a-z 0-9 + / other than the padding described above
//     (so the URL-safe '-' and '_', whitespace and '=' inside the text are refused);
//   - has a length no byte string encodes (length % 4 == 1 once the padding is removed);
//   - lacks the padding while `padding` is required;
//   - has non-zero unused bits while `trailing_bits` is zero.
// An empty input gives an empty string.
[[nodiscard]] std::optional<std::string> base64_decode(std::string_view text,
                                                       base64_padding padding,
                                                       base64_trailing_bits trailing_bits);

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

}  // namespace tally
