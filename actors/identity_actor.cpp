// Identity workers and their pool. Each worker is a detached actor (its own
// thread) that owns one Postgres connection and does the blocking work of
// identity: argon2id hashing, user and session rows, token issuance.

#include <chrono>

#include "actors/identity.hpp"
#include "actors/worker_pool.hpp"
#include "auth/auth.hpp"
#include "config/jwt_keys.hpp"
#include "domain/assert.hpp"
#include "logging/log.hpp"
#include "persistence/audit_store.hpp"
#include "persistence/identity_store.hpp"
#include "persistence/pg.hpp"

namespace tally {
namespace {

using namespace persistence;

struct identity_settings {
  std::string database_url;
  auth::jwt_key_set keys;
  std::string issuer;
  std::string audience;
  int64_t access_ttl_s = 900;
  int64_t refresh_ttl_s = 7 * 86400;
};

struct identity_worker_state {
  static inline const char* name = "identity_worker";
  std::unique_ptr<pg_session> db;
  identity_settings settings;
};

using identity_worker = identity_actor::stateful_pointer<identity_worker_state>;

int64_t unix_now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Signs an access token for `user` and pairs it with `refresh_token`.
auth_grant make_grant(const identity_settings& s, const user_row& user,
                      const std::string& session_id, const std::string& refresh_token) {
  const int64_t now = unix_now_s();
  auth::access_claims claims;
  claims.sub = user.user_id;
  claims.jti = session_id + "." + auth::random_token(12);  // the session is the jti's prefix
  claims.email = user.email;
  claims.iss = s.issuer;
  claims.aud = s.audience;
  claims.iat = now;
  claims.nbf = now;
  claims.exp = now + s.access_ttl_s;
  auth_grant grant;
  grant.user_id = user.user_id;
  grant.email = user.email;
  grant.created_at = user.created_at;
  grant.access_token = auth::sign_access_token(s.keys, claims);
  grant.refresh_token = refresh_token;
  grant.expires_in_s = s.access_ttl_s;
  return grant;
}

// Starts a session for `user` in `tx`; returns its id and first refresh token.
std::pair<std::string, std::string> start_session(pqxx::work& tx, const identity_settings& s,
                                                  const user_row& user) {
  const std::string session_id = auth::new_uuid_v4();
  const std::string refresh = auth::random_token();
  insert_session(tx, session_id, user.user_id);
  insert_refresh_token(tx, auth::sha256_hex(refresh), session_id, s.refresh_ttl_s);
  return {session_id, refresh};
}

caf::result<auth_grant> on_register(identity_worker self, const credentials& c) {
  auto& st = self->state;
  user_row user{auth::new_uuid_v4(), c.email, auth::hash_password(c.password), {}};
  auth_grant grant;
  bool taken = false;
  const errc failure = st.db->run([&](pqxx::connection& connection) {
    pqxx::work tx{connection};
    if (!insert_user(tx, user)) {
      taken = true;
      return;
    }
    user = *find_user_by_id(tx, user.user_id);  // created_at as the database set it
    auto [session_id, refresh] = start_session(tx, st.settings, user);
    append_audit(tx, {"user:" + user.user_id, "user.registered", "user:" + user.user_id,
                      std::nullopt, c.request_id, c.source_ip});
    tx.commit();
    grant = make_grant(st.settings, user, session_id, refresh);
  });
  if (failure != errc{}) {
    return failure;
  }
  if (taken) {
    return errc::email_taken;
  }
  return grant;
}

caf::result<auth_grant> on_login(identity_worker self, const credentials& c) {
  auto& st = self->state;
  auth_grant grant;
  bool refused = false;
  const errc failure = st.db->run([&](pqxx::connection& connection) {
    pqxx::work tx{connection};
    auto user = find_user_by_email(tx, c.email);
    // Unknown e-mail and wrong password cost the same argon2id verification
    // and give the same answer (API.md: no hint whether an e-mail exists).
    const bool matches = user ? auth::verify_password(c.password, user->password_hash)
                              : (auth::burn_password_verification(c.password), false);
    if (!matches) {
      refused = true;
      append_audit(tx, {user ? "user:" + user->user_id : "anonymous", "auth.login_failed",
                        user ? "user:" + user->user_id : "", std::nullopt, c.request_id,
                        c.source_ip, {{"reason", user ? "wrong_password" : "unknown_email"}}});
      tx.commit();
      return;
    }
    auto [session_id, refresh] = start_session(tx, st.settings, *user);
    append_audit(tx, {"user:" + user->user_id, "auth.login", "session:" + session_id,
                      std::nullopt, c.request_id, c.source_ip});
    tx.commit();
    grant = make_grant(st.settings, *user, session_id, refresh);
  });
  if (failure != errc{}) {
    return failure;
  }
  if (refused) {
    return errc::invalid_credentials;
  }
  return grant;
}

caf::result<auth_grant> on_refresh(identity_worker self, const refresh_request& r) {
  auto& st = self->state;
  auth_grant grant;
  bool refused = false;
  std::string revoked_session;
  const errc failure = st.db->run([&](pqxx::connection& connection) {
    pqxx::work tx{connection};
    const std::string digest = auth::sha256_hex(r.refresh_token);
    const auto found = lock_refresh_token(tx, digest);
    if (found.state != refresh_lookup::valid) {
      refused = true;
      if (found.state == refresh_lookup::reused) {
        // RFC 9700 4.14.2: a rotated token seen again means it leaked; end the family.
        revoke_session(tx, found.session_id, "refresh_token_reuse");
        revoked_session = found.session_id;
        append_audit(tx, {"user:" + found.user_id, "security.refresh_token_reuse",
                          "session:" + found.session_id, std::nullopt, r.request_id,
                          r.source_ip});
        tx.commit();
      }
      return;
    }
    auto user = find_user_by_id(tx, found.user_id);
    TALLY_ASSERT(user.has_value());  // sessions reference users
    mark_refresh_rotated(tx, digest);
    const std::string refresh = auth::random_token();
    insert_refresh_token(tx, auth::sha256_hex(refresh), found.session_id,
                         st.settings.refresh_ttl_s);
    tx.commit();
    grant = make_grant(st.settings, *user, found.session_id, refresh);
  });
  if (failure != errc{}) {
    return failure;
  }
  if (!revoked_session.empty()) {
    // The caller denies the session's access tokens too; the context names it.
    return caf::make_error(errc::invalid_refresh_token, revoked_session);
  }
  if (refused) {
    return errc::invalid_refresh_token;
  }
  return grant;
}

caf::result<bool> on_logout(identity_worker self, const logout_request& r) {
  auto& st = self->state;
  const errc failure = st.db->run([&](pqxx::connection& connection) {
    pqxx::work tx{connection};
    insert_revoked_access(tx, r.jti, r.user_id, r.access_expires_at_s);
    // The access token's jti starts with its session id (make_grant).
    const std::string session_id = r.jti.substr(0, r.jti.find('.'));
    tx.exec_params(
        "UPDATE identity.sessions SET revoked_at = now(), revoked_reason = 'logout' "
        "WHERE session_id::text = $1 AND user_id = $2::uuid AND revoked_at IS NULL",
        session_id, r.user_id);
    if (!r.refresh_token.empty()) {
      revoke_session_of_token(tx, auth::sha256_hex(r.refresh_token), r.user_id, "logout");
    }
    append_audit(tx, {"user:" + r.user_id, "auth.logout", "session:" + session_id, std::nullopt,
                      r.request_id, ""});
    tx.commit();
  });
  if (failure != errc{}) {
    return failure;
  }
  return true;
}

caf::result<user_profile> on_profile(identity_worker self, const std::string& user_id) {
  std::optional<user_row> user;
  const errc failure = self->state.db->run([&](pqxx::connection& connection) {
    pqxx::read_transaction tx{connection};
    user = find_user_by_id(tx, user_id);
  });
  if (failure != errc{}) {
    return failure;
  }
  if (!user) {
    return errc::unauthorized;  // a valid token for a user that no longer exists
  }
  return user_profile{user->user_id, user->email, user->created_at};
}

caf::result<bool> on_revoked(identity_worker self, const std::string& jti) {
  bool revoked = false;
  const errc failure = self->state.db->run([&](pqxx::connection& connection) {
    pqxx::read_transaction tx{connection};
    revoked = is_access_revoked(tx, jti);
    if (!revoked) {
      // A session ended by logout or token reuse also ends its access tokens.
      const std::string session_id = jti.substr(0, jti.find('.'));
      revoked = !tx.exec_params("SELECT 1 FROM identity.sessions WHERE session_id::text = $1 "
                                "AND revoked_at IS NOT NULL",
                                session_id)
                     .empty();
    }
  });
  if (failure != errc{}) {
    return failure;
  }
  return revoked;
}

caf::result<bool> on_ping(identity_worker self) {
  const errc failure = self->state.db->run([](pqxx::connection& connection) {
    pqxx::nontransaction tx{connection};
    tx.exec("SELECT 1");
  });
  if (failure != errc{}) {
    return failure;
  }
  return true;
}

identity_actor::behavior_type identity_worker_behavior(identity_worker self,
                                                       identity_settings settings) {
  self->state.settings = std::move(settings);
  self->state.db = std::make_unique<pg_session>(self->state.settings.database_url,
                                                std::chrono::seconds(5));
  return {
      [=](register_atom, const credentials& c) { return on_register(self, c); },
      [=](login_atom, const credentials& c) { return on_login(self, c); },
      [=](refresh_atom, const refresh_request& r) { return on_refresh(self, r); },
      [=](logout_atom, const logout_request& r) { return on_logout(self, r); },
      [=](profile_atom, const std::string& id) { return on_profile(self, id); },
      [=](revoked_atom, const std::string& jti) { return on_revoked(self, jti); },
      [=](ping_atom) { return on_ping(self); },
  };
}

using identity_pool = pool_interface<identity_actor>;
using identity_pool_state = worker_pool_state<identity_actor>;

identity_pool::behavior_type identity_pool_behavior(
    identity_pool::stateful_pointer<identity_pool_state> self, uint32_t workers,
    uint32_t depth_max, std::chrono::milliseconds timeout, identity_settings settings,
    pool_stats_ptr stats) {
  auto& sys = self->system();
  pool_start<identity_actor>(self, workers, depth_max, timeout, [&sys, settings] {
    return sys.spawn<caf::detached>(identity_worker_behavior, settings);
  }, stats);
  return {
      [=](register_atom a, const credentials& c) { return pool_forward<auth_grant>(self, a, c); },
      [=](login_atom a, const credentials& c) { return pool_forward<auth_grant>(self, a, c); },
      [=](refresh_atom a, const refresh_request& r) {
        return pool_forward<auth_grant>(self, a, r);
      },
      [=](logout_atom a, const logout_request& r) { return pool_forward<bool>(self, a, r); },
      [=](profile_atom a, const std::string& id) {
        return pool_forward<user_profile>(self, a, id);
      },
      [=](revoked_atom a, const std::string& jti) { return pool_forward<bool>(self, a, jti); },
      [=](ping_atom a) { return pool_forward<bool>(self, a); },
      [=](restart_atom, uint64_t index) { pool_restart<identity_actor>(self, index); },
  };
}

}  // namespace

identity_actor spawn_identity(caf::actor_system& sys, const config::config& cfg,
                              pool_stats_ptr stats) {
  identity_settings settings;
  settings.database_url = cfg.databases.identity;
  settings.keys = config::jwt_keys(cfg);
  settings.issuer = cfg.auth.jwt_issuer;
  settings.audience = cfg.auth.jwt_audience;
  settings.access_ttl_s = cfg.auth.access_ttl_s;
  settings.refresh_ttl_s = cfg.auth.refresh_ttl_s;
  auto pool = sys.spawn(identity_pool_behavior, cfg.actors.identity_db_workers,
                        cfg.actors.db_queue_depth_max,
                        std::chrono::milliseconds(cfg.actors.request_timeout_ms), settings,
                        std::move(stats));
  return caf::actor_cast<identity_actor>(pool);
}

}  // namespace tally
