#pragma once
// Authentication for the two kinds of callers (API.md "Common rules"):
// - users: `Authorization: Bearer <access JWT>`, verified on the io thread
//   (HS256 with pinned algorithm, kid, iss/aud/exp/nbf), then checked against
//   this node's copy of the deny list (kept in step with Redis), falling back
//   to Postgres whenever that copy is not known to be complete;
// - admins: `Authorization: Bearer <admin API key>`, compared in constant time.
// Failures answer 401 `unauthorized` with WWW-Authenticate: Bearer.

#include <functional>
#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "actors/cache.hpp"
#include "actors/identity.hpp"
#include "actors/revocation_cache.hpp"
#include "auth/auth.hpp"
#include "http/exchange.hpp"

namespace tally::http {

struct authenticator_settings {
  auth::jwt_key_set keys;
  std::string issuer;
  std::string audience;
  std::string admin_api_key;
  std::chrono::milliseconds actor_timeout{5'000};
};

class authenticator {
 public:
  authenticator(caf::actor_system& sys, authenticator_settings settings,
                const revocation_cache& revoked, identity_actor identity);

  // Verifies the caller's access token and deny-list status. On success sets
  // ex->caller() and runs `next` on the io thread; on failure answers 401 (or
  // 503 when neither Redis nor Postgres can say whether the token is revoked).
  void authenticate_user(const exchange_ptr& ex, std::function<void()> next) const;

  // Checks the admin API key. On success sets an admin caller and runs `next`
  // synchronously; otherwise answers 401.
  void authenticate_admin(const exchange_ptr& ex, const std::function<void()>& next) const;

  // Parses and verifies a token without the deny-list check (pure, io thread).
  caf::expected<auth::access_claims> verify(std::string_view token) const;

 private:
  caf::actor_system& sys_;
  authenticator_settings settings_;
  const revocation_cache& revoked_;
  identity_actor identity_;
};

// The token of an `Authorization: Bearer <token>` header, or "" when absent
// or malformed.
std::string_view bearer_token(const exchange& ex);

}  // namespace tally::http
