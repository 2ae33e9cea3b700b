#pragma once
// Access tokens: short-lived HS256 JWTs (RFC 7519) typed "at+jwt" (RFC 9068), signed
// with one of a small set of shared secrets picked by `kid`, so keys rotate without
// logging anyone out. Verification follows RFC 8725: one allowed algorithm, explicit
// typing, required iss/aud/sub, and time claims with a bounded leeway
// (conventions.md §6b). Pure computation: the caller passes the clock in.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>
// domain/error.hpp's CAF_ERROR_CODE_ENUM needs make_message declared before it.
#include <caf/make_message.hpp>

#include "domain/error.hpp"

namespace tally::auth {

// Tokens longer than this are refused before any parsing.
inline constexpr std::size_t access_token_bytes_max = 4096;
// RFC 8725 §3.5 / RFC 7518 §3.2: an HS256 key has at least 256 bits of entropy.
inline constexpr std::size_t jwt_secret_bytes_min = 32;
// A key set holds the active key plus the few retired ones still being honoured.
inline constexpr std::size_t jwt_keys_max = 16;
// A kid is 1..64 characters of A-Z a-z 0-9 . _ - (safe in JSON, logs and SQL).
inline constexpr std::size_t jwt_kid_bytes_max = 64;
// Clock-skew allowance ceiling (conventions.md §6b: at most 60 s).
inline constexpr int64_t jwt_leeway_s_max = 60;

// One signing secret and the id tokens name it by.
struct jwt_key {
  std::string kid;
  std::string secret;  // random bytes, at least jwt_secret_bytes_min
};

// The keys a process signs and verifies with. New tokens use `active_kid`; tokens
// signed with any other key still in `keys` keep verifying until it is removed.
struct jwt_key_set {
  std::string active_kid;
  std::vector<jwt_key> keys;
};

// What an access token says. Times are Unix seconds.
struct access_claims {
  std::string sub;    // account id
  std::string jti;    // token id (for audit and revocation lists)
  std::string email;  // empty when the token carries none
  std::string iss;
  std::string aud;
  int64_t iat = 0;
  int64_t nbf = 0;  // equals iat when the token has no nbf
  int64_t exp = 0;
};

// What the verifier insists on.
struct jwt_expectations {
  std::string issuer;
  std::string audience;
  int64_t now_s = 0;  // the caller's clock, Unix seconds
  int64_t leeway_s = 30;
};

// Returns nullopt when `keys` can be used, or a sentence for the configuration error:
// no keys or more than jwt_keys_max, a kid that is empty, too long, outside
// A-Z a-z 0-9 . _ - or repeated, a secret shorter than jwt_secret_bytes_min, or an
// active_kid that names no key. Config calls it at start-up.
[[nodiscard]] std::optional<std::string> jwt_key_set_violation(const jwt_key_set& keys);

// Returns the compact token "header.payload.signature" for `claims`, signed with the
// active key. The header is exactly {"alg":"HS256","typ":"at+jwt","kid":"<active_kid>"};
// the payload holds iss, sub, aud (a string), jti, email, iat, nbf and exp.
// REQUIRES: jwt_key_set_violation(keys) is nullopt.
// REQUIRES: sub and jti non-empty, every string claim valid UTF-8, exp > iat.
// REQUIRES: the token fits in access_token_bytes_max (claims are short ids).
[[nodiscard]] std::string sign_access_token(const jwt_key_set& keys, const access_claims& claims);

// Returns the claims of `token` when it is an access token this process would have
// issued and it is valid at `expected.now_s`; aud in the result is expected.audience.
// Returns errc::unauthorized, with no further detail, when any check fails:
//   - the token is longer than access_token_bytes_max or not three non-empty parts
//     separated by '.', or a part is not canonical base64url;
//   - the header is not a JSON object, its alg is not "HS256" (missing, "none",
//     "HS512" and "RS256" all fail), its typ is present and neither "at+jwt" nor
//     "JWT", it has a crit member, or its kid is missing or not in `keys`;
//   - the HMAC of the received "header.payload" bytes under that key differs from the
//     signature (compared in constant time);
//   - the payload is not a JSON object; sub, jti, iss or aud is missing, empty or of
//     the wrong type, or exp or iat is missing or not an integer (nbf and email are
//     optional but must have the right type when present);
//   - iss differs from expected.issuer, or aud is neither expected.audience nor an
//     array containing it;
//   - exp <= now - leeway, nbf > now + leeway, or iat > now + leeway.
// REQUIRES: jwt_key_set_violation(keys) is nullopt.
// REQUIRES: issuer and audience non-empty, 0 <= leeway_s <= jwt_leeway_s_max, now_s >= 0.
[[nodiscard]] caf::expected<access_claims> verify_access_token(const jwt_key_set& keys,
                                                               std::string_view token,
                                                               const jwt_expectations& expected);

}  // namespace tally::auth
