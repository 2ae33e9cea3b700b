#include "http/authenticator.hpp"

#include <chrono>

#include "http/bridge.hpp"
#include "logging/log.hpp"

namespace tally::http {
namespace {

int64_t unix_now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) {
    return false;
  }
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string_view bearer_token(const exchange& ex) {
  auto header = ex.header("authorization");
  if (!header || !iequals_prefix(*header, "bearer ")) {
    return {};
  }
  std::string_view token = header->substr(7);
  while (!token.empty() && token.front() == ' ') {
    token.remove_prefix(1);
  }
  while (!token.empty() && token.back() == ' ') {
    token.remove_suffix(1);
  }
  return token;
}

authenticator::authenticator(caf::actor_system& sys, authenticator_settings settings,
                             const revocation_cache& revoked, identity_actor identity)
    : sys_(sys), settings_(std::move(settings)), revoked_(revoked), identity_(std::move(identity)) {}

caf::expected<auth::access_claims> authenticator::verify(std::string_view token) const {
  auth::jwt_expectations expectations;
  expectations.issuer = settings_.issuer;
  expectations.audience = settings_.audience;
  expectations.now_s = unix_now_s();
  expectations.leeway_s = 30;
  return auth::verify_access_token(settings_.keys, token, expectations);
}

void authenticator::authenticate_user(const exchange_ptr& ex, std::function<void()> next) const {
  auto claims = verify(bearer_token(*ex));
  if (!claims) {
    return ex->respond_error(errc::unauthorized);
  }
  caller_identity caller{claims->sub, claims->email, claims->jti, claims->exp, false};
  auto accept = [ex, caller, next](bool revoked) {
    if (revoked) {
      return ex->respond_error(errc::unauthorized);
    }
    ex->set_caller(caller);
    next();
  };
  switch (revoked_.check(claims->jti, unix_now_s())) {
    case revocation_cache::verdict::revoked:
      return accept(true);
    case revocation_cache::verdict::not_revoked:
      return accept(false);
    case revocation_cache::verdict::unknown:
      break;
  }
  // The local copy may be missing logouts (Redis down or resyncing): the
  // durable record in Postgres decides.
  ask<bool>(
      sys_, identity_, settings_.actor_timeout, ex,
      [ex, accept](caf::expected<bool> revoked) {
        if (!revoked) {
          return ex->respond_error(revoked.error());
        }
        accept(*revoked);
      },
      revoked_atom_v, claims->jti);
}

void authenticator::authenticate_admin(const exchange_ptr& ex,
                                       const std::function<void()>& next) const {
  const std::string_view token = bearer_token(*ex);
  if (token.empty() || !auth::constant_time_equal(token, settings_.admin_api_key)) {
    return ex->respond_error(errc::unauthorized);
  }
  caller_identity caller;
  caller.is_admin = true;
  ex->set_caller(caller);
  next();
}

}  // namespace tally::http
