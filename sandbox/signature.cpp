#include "sandbox/signature.hpp"

#include "auth/secrets.hpp"
#include "domain/assert.hpp"

namespace tally::sandbox {

std::string omise_signature(std::string_view key_bytes, int64_t timestamp_s,
                            std::string_view body) {
  TALLY_ASSERT(!key_bytes.empty());
  std::string message = std::to_string(timestamp_s);
  message.push_back('.');
  message.append(body);
  return auth::hex_encode(auth::hmac_sha256(key_bytes, message));
}

}  // namespace tally::sandbox
