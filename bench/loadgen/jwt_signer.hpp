#pragma once
// Signs access tokens the way the engine does (HS256, typ at+jwt, kid in the
// header), for accounts that tally_loadgen created without the engine's
// register endpoint. Needs the engine's TALLY_JWT_KEY and TALLY_JWT_KID: a
// bench-only shortcut, never something a real client can do.

#include <cstdint>
#include <string>
#include <string_view>

namespace tally::bench {

class jwt_signer {
 public:
  jwt_signer(std::string key, std::string kid, std::string issuer, std::string audience);

  // Returns a compact JWS with iss, sub, aud, a random jti, email, iat = nbf =
  // now_s and exp = now_s + ttl_s. Safe to call from several threads.
  std::string sign(std::string_view user_id, std::string_view email, int64_t now_s,
                   int64_t ttl_s) const;

 private:
  std::string key_;
  std::string encoded_header_;  // base64url of {"alg":"HS256","typ":"at+jwt","kid":...}
  std::string issuer_;
  std::string audience_;
};

// Returns `bytes` in base64url without padding (RFC 7515 §2).
std::string base64url_encode(std::string_view bytes);
// Returns `count` random bytes from OpenSSL's generator as lower-case hex.
std::string random_hex(std::size_t byte_count);
// Returns a random (version 4) UUID in its canonical text form.
std::string random_uuid();

}  // namespace tally::bench
