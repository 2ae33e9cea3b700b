// Identity endpoints (API.md "Identity"): register, login, refresh, logout,
// validate, users/me. Handlers parse, validate, ask the identity pool, respond.

#include <algorithm>
#include <chrono>
#include <ctime>

#include <nlohmann/json.hpp>

#include "auth/auth.hpp"
#include "config/limits.hpp"
#include "domain/email.hpp"
#include "domain/time_format.hpp"
#include "http/bridge.hpp"
#include "http/request_body.hpp"
#include "http/routes/route_files.hpp"
#include "logging/log.hpp"

namespace tally::http {
namespace {

// The per-e-mail rate-limit key. Accounts are case-insensitive (the unique index and the login
// lookup use lower(email)), so the key is too: otherwise each letter-case variant of an
// address would get a fresh allowance against the same account.
std::string email_rate_key(const std::string& email) {
  std::string key = email;
  std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return key;
}

nlohmann::json grant_json(const auth_grant& grant) {
  return {
      {"user", {{"id", grant.user_id}, {"email", grant.email}, {"created_at", grant.created_at}}},
      {"access_token", grant.access_token},
      {"refresh_token", grant.refresh_token},
      {"token_type", "Bearer"},
      {"expires_in", grant.expires_in_s}};
}

// Parses {email, password}. Answers 400/422 itself and returns nullopt on bad input.
// `check_policy`: registration enforces the password policy; login only bounds
// the length so that an old password never locks its owner out.
std::optional<credentials> parse_credentials(const exchange_ptr& ex, bool check_policy) {
  nlohmann::json body;
  if (!parse_json_body(ex, body)) {
    return std::nullopt;
  }
  field_errors errors;
  auto email = required_string(body, "email", 1, limits::email_bytes_max, errors);
  auto password =
      required_string(body, "password", 1, limits::password_code_points_max * 4, errors);
  std::optional<std::string> normalised;
  if (email) {
    normalised = normalize_email(*email);
    if (!normalised) {
      errors.add("email", "must be a valid e-mail address");
    }
  }
  if (password && check_policy) {
    if (auto violation = auth::password_policy_violation(*password)) {
      errors.add("password", *violation);
    }
  }
  if (respond_if_invalid(ex, errors)) {
    return std::nullopt;
  }
  return credentials{*normalised, *password, ex->source_ip(), ex->request_id()};
}

void post_register(const identity_routes_deps& deps, const exchange_ptr& ex) {
  auto creds = parse_credentials(ex, true);
  if (!creds) {
    return;
  }
  auto run = [deps, ex, creds = *creds] {
    ask<auth_grant>(
        *deps.sys, deps.identity, deps.timeout, ex,
        [deps, ex](caf::expected<auth_grant> grant) {
          if (!grant) {
            return ex->respond_error(grant.error());
          }
          // The user's ledger account is created with the user. Were this to
          // fail, the ledger creates it on first use, so the answer stands.
          auto body = grant_json(*grant);
          ask<bool>(
              *deps.sys, deps.ledger, deps.timeout, ex,
              [ex, body](caf::expected<bool>) { ex->respond_json(201, body); }, open_atom_v,
              grant->user_id);
        },
        register_atom_v, creds);
  };
  deps.email_rule->check(ex, email_rate_key(creds->email), run);
}

void post_login(const identity_routes_deps& deps, const exchange_ptr& ex) {
  auto creds = parse_credentials(ex, false);
  if (!creds) {
    return;
  }
  auto run = [deps, ex, creds = *creds] {
    ask<auth_grant>(
        *deps.sys, deps.identity, deps.timeout, ex,
        [ex](caf::expected<auth_grant> grant) {
          if (!grant) {
            return ex->respond_error(grant.error());
          }
          ex->respond_json(200, grant_json(*grant));
        },
        login_atom_v, creds);
  };
  deps.email_rule->check(ex, email_rate_key(creds->email), run);
}

// A reused refresh token revoked its whole session (the identity worker names
// it in the error's context): deny the session's access tokens on every node.
void deny_reused_session(const identity_routes_deps& deps, const exchange_ptr& ex,
                         const caf::error& err) {
  if (err.context().size() != 1 || !err.context().match_element<std::string>(0)) {
    return;
  }
  const std::string key = revocation_cache::session_key(err.context().get_as<std::string>(0));
  const int64_t ttl_s = deps.access_ttl_s + 60;  // outlives every token the session issued
  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  if (deps.revoked != nullptr) {
    deps.revoked->add(key, now_s + ttl_s);
  }
  ask<bool>(
      *deps.sys, deps.cache, deps.timeout, ex,
      [ex](caf::expected<bool> denied) {
        if (!denied) {
          log::warn("deny_list_write_failed", {{"request_id", ex->request_id()}});
        }
      },
      deny_atom_v, key, ttl_s);
}

void post_refresh(const identity_routes_deps& deps, const exchange_ptr& ex) {
  nlohmann::json body;
  if (!parse_json_body(ex, body)) {
    return;
  }
  field_errors errors;
  auto token = required_string(body, "refresh_token", 1, limits::refresh_token_bytes_max, errors);
  if (respond_if_invalid(ex, errors)) {
    return;
  }
  ask<auth_grant>(
      *deps.sys, deps.identity, deps.timeout, ex,
      [deps, ex](caf::expected<auth_grant> grant) {
        if (!grant) {
          deny_reused_session(deps, ex, grant.error());
          return ex->respond_error(grant.error());
        }
        ex->respond_json(200, grant_json(*grant));
      },
      refresh_atom_v, refresh_request{*token, ex->source_ip(), ex->request_id()});
}

void post_logout(const identity_routes_deps& deps, const exchange_ptr& ex) {
  nlohmann::json body;
  if (!parse_json_body(ex, body)) {
    return;
  }
  field_errors errors;
  auto token = optional_string(body, "refresh_token", 1, limits::refresh_token_bytes_max, errors);
  if (respond_if_invalid(ex, errors)) {
    return;
  }
  const auto& caller = ex->caller();
  logout_request request{caller.user_id, caller.jti, caller.expires_at_s, token.value_or(""),
                         ex->request_id()};
  if (deps.revoked != nullptr) {
    deps.revoked->add(caller.jti, caller.expires_at_s);  // this node denies it from now on
  }
  ask<bool>(
      *deps.sys, deps.identity, deps.timeout, ex,
      [deps, ex, caller](caf::expected<bool> done) {
        if (!done) {
          return ex->respond_error(done.error());
        }
        // Postgres holds the durable revocation; Redis makes it fast to check.
        const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
        ask<bool>(
            *deps.sys, deps.cache, deps.timeout, ex,
            [ex](caf::expected<bool> denied) {
              if (!denied) {
                log::warn("deny_list_write_failed", {{"request_id", ex->request_id()}});
              }
              ex->respond_empty(204);
            },
            deny_atom_v, caller.jti, std::max<int64_t>(caller.expires_at_s - now_s + 60, 1));
        // The session ends too: every access token it issued stops at once.
        const std::string session =
            revocation_cache::session_key(caller.jti.substr(0, caller.jti.find('.')));
        const int64_t session_ttl_s = deps.access_ttl_s + 60;
        if (deps.revoked != nullptr) {
          deps.revoked->add(session, now_s + session_ttl_s);
        }
        ask<bool>(
            *deps.sys, deps.cache, deps.timeout, ex,
            [ex](caf::expected<bool> denied) {
              if (!denied) {
                log::warn("deny_list_write_failed", {{"request_id", ex->request_id()}});
              }
            },
            deny_atom_v, session, session_ttl_s);
      },
      logout_atom_v, request);
}

void get_validate(const exchange_ptr& ex) {
  const auto& caller = ex->caller();
  ex->respond_json(200, {{"user_id", caller.user_id},
                         {"email", caller.email},
                         {"expires_at", rfc3339_from_seconds(caller.expires_at_s)}});
}

void get_me(const identity_routes_deps& deps, const exchange_ptr& ex) {
  ask<user_profile>(
      *deps.sys, deps.identity, deps.timeout, ex,
      [deps, ex](caf::expected<user_profile> profile) {
        if (!profile) {
          return ex->respond_error(profile.error());
        }
        nlohmann::json body = {{"id", profile->user_id},
                               {"email", profile->email},
                               {"created_at", profile->created_at}};
        ask<balance_view>(
            *deps.sys, deps.ledger, deps.timeout, ex,
            [ex, body](caf::expected<balance_view> view) mutable {
              if (!view) {
                return ex->respond_error(view.error());
              }
              body["balance"] = {{"available", view->available}, {"reserved", view->reserved}};
              ex->respond_json(200, body);
            },
            balance_atom_v, profile->user_id);
      },
      profile_atom_v, ex->caller().user_id);
}

}  // namespace

void add_identity_routes(route_table& table, identity_routes_deps deps) {
  table.add({"POST", "/v1/auth/register", auth_kind::none, body_kind::json, rate_policy::auth_ip,
             [deps](const exchange_ptr& ex) { post_register(deps, ex); }});
  table.add({"POST", "/v1/auth/login", auth_kind::none, body_kind::json, rate_policy::auth_ip,
             [deps](const exchange_ptr& ex) { post_login(deps, ex); }});
  table.add({"POST", "/v1/auth/refresh", auth_kind::none, body_kind::json, rate_policy::auth_ip,
             [deps](const exchange_ptr& ex) { post_refresh(deps, ex); }});
  table.add({"POST", "/v1/auth/logout", auth_kind::user, body_kind::optional_json,
             rate_policy::none, [deps](const exchange_ptr& ex) { post_logout(deps, ex); }});
  table.add({"GET", "/v1/auth/validate", auth_kind::user, body_kind::none, rate_policy::none,
             [](const exchange_ptr& ex) { get_validate(ex); }});
  table.add({"GET", "/v1/users/me", auth_kind::user, body_kind::none, rate_policy::none,
             [deps](const exchange_ptr& ex) { get_me(deps, ex); }});
}

}  // namespace tally::http
