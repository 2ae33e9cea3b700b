#include "persistence/identity_store.hpp"

namespace tally::persistence {
namespace {

constexpr const char* rfc3339 = "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

user_row to_user(const pqxx::row& row) {
  return {row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
          row[3].as<std::string>()};
}

}  // namespace

bool insert_user(pqxx::transaction_base& tx, const user_row& user) {
  // ON CONFLICT keeps a duplicate from aborting the transaction, so 50
  // concurrent registrations of one e-mail give one row and 49 clean refusals.
  auto result = tx.exec_params(
      "INSERT INTO identity.users (user_id, email, password_hash) VALUES ($1, $2, $3) "
      "ON CONFLICT DO NOTHING",
      user.user_id, user.email, user.password_hash);
  return result.affected_rows() == 1;
}

std::optional<user_row> find_user_by_email(pqxx::transaction_base& tx, const std::string& email) {
  auto result = tx.exec_params(std::string("SELECT user_id, email, password_hash, ") + rfc3339 +
                                   " FROM identity.users WHERE lower(email) = lower($1)",
                               email);
  if (result.empty()) {
    return std::nullopt;
  }
  return to_user(result[0]);
}

std::optional<user_row> find_user_by_id(pqxx::transaction_base& tx, const std::string& user_id) {
  auto result = tx.exec_params(std::string("SELECT user_id, email, password_hash, ") + rfc3339 +
                                   " FROM identity.users WHERE user_id = $1::uuid",
                               user_id);
  if (result.empty()) {
    return std::nullopt;
  }
  return to_user(result[0]);
}

void insert_session(pqxx::transaction_base& tx, const std::string& session_id,
                    const std::string& user_id) {
  tx.exec_params("INSERT INTO identity.sessions (session_id, user_id) VALUES ($1, $2)", session_id,
                 user_id);
}

void insert_refresh_token(pqxx::transaction_base& tx, const std::string& token_sha256,
                          const std::string& session_id, int64_t ttl_s) {
  tx.exec_params(
      "INSERT INTO identity.refresh_tokens (token_sha256, session_id, expires_at) "
      "VALUES ($1, $2, now() + make_interval(secs => $3))",
      token_sha256, session_id, ttl_s);
}

refresh_state lock_refresh_token(pqxx::transaction_base& tx, const std::string& token_sha256) {
  auto result = tx.exec_params(
      "SELECT t.session_id, s.user_id, t.rotated_at IS NOT NULL, t.expires_at <= now(), "
      "       s.revoked_at IS NOT NULL "
      "FROM identity.refresh_tokens t JOIN identity.sessions s USING (session_id) "
      "WHERE t.token_sha256 = $1 FOR UPDATE OF t, s",
      token_sha256);
  refresh_state state;
  if (result.empty()) {
    return state;
  }
  const auto& row = result[0];
  state.session_id = row[0].as<std::string>();
  state.user_id = row[1].as<std::string>();
  if (row[4].as<bool>()) {
    state.state = refresh_lookup::revoked;
  } else if (row[2].as<bool>()) {
    state.state = refresh_lookup::reused;
  } else if (row[3].as<bool>()) {
    state.state = refresh_lookup::expired;
  } else {
    state.state = refresh_lookup::valid;
  }
  return state;
}

void mark_refresh_rotated(pqxx::transaction_base& tx, const std::string& token_sha256) {
  tx.exec_params("UPDATE identity.refresh_tokens SET rotated_at = now() WHERE token_sha256 = $1",
                 token_sha256);
}

void revoke_session(pqxx::transaction_base& tx, const std::string& session_id,
                    const std::string& reason) {
  tx.exec_params(
      "UPDATE identity.sessions SET revoked_at = now(), revoked_reason = $2 "
      "WHERE session_id = $1 AND revoked_at IS NULL",
      session_id, reason);
}

bool revoke_session_of_token(pqxx::transaction_base& tx, const std::string& token_sha256,
                             const std::string& user_id, const std::string& reason) {
  auto result = tx.exec_params(
      "UPDATE identity.sessions s SET revoked_at = coalesce(s.revoked_at, now()), "
      "       revoked_reason = coalesce(s.revoked_reason, $3) "
      "FROM identity.refresh_tokens t "
      "WHERE t.token_sha256 = $1 AND t.session_id = s.session_id AND s.user_id = $2::uuid",
      token_sha256, user_id, reason);
  return result.affected_rows() > 0;
}

void insert_revoked_access(pqxx::transaction_base& tx, const std::string& jti,
                           const std::string& user_id, int64_t expires_at_s) {
  tx.exec_params(
      "INSERT INTO identity.revoked_access_tokens (jti, user_id, expires_at) "
      "VALUES ($1, $2, to_timestamp($3)) ON CONFLICT (jti) DO NOTHING",
      jti, user_id, expires_at_s);
}

bool is_access_revoked(pqxx::transaction_base& tx, const std::string& jti) {
  return !tx.exec_params("SELECT 1 FROM identity.revoked_access_tokens WHERE jti = $1", jti)
              .empty();
}

int64_t prune_expired_identity_rows(pqxx::transaction_base& tx) {
  auto a = tx.exec("DELETE FROM identity.revoked_access_tokens WHERE expires_at < now()");
  auto b = tx.exec(
      "DELETE FROM identity.refresh_tokens WHERE expires_at < now() - interval '1 day'");
  return static_cast<int64_t>(a.affected_rows() + b.affected_rows());
}

}  // namespace tally::persistence
