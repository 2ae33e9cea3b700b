#pragma once
// Identity rows (identity schema): users, refresh-token sessions, revoked
// access tokens. Each function runs inside the caller's transaction and throws
// libpqxx exceptions; the calling actor converts them with to_errc().

#include <cstdint>
#include <optional>
#include <string>

#include <pqxx/pqxx>

namespace tally::persistence {

struct user_row {
  std::string user_id;
  std::string email;
  std::string password_hash;
  std::string created_at;  // RFC 3339 UTC
};

// Inserts a user. Returns false when the e-mail is taken (case-insensitive).
bool insert_user(pqxx::transaction_base& tx, const user_row& user);

std::optional<user_row> find_user_by_email(pqxx::transaction_base& tx, const std::string& email);
std::optional<user_row> find_user_by_id(pqxx::transaction_base& tx, const std::string& user_id);

void insert_session(pqxx::transaction_base& tx, const std::string& session_id,
                    const std::string& user_id);

// Stores the digest of a new refresh token for `session_id`.
void insert_refresh_token(pqxx::transaction_base& tx, const std::string& token_sha256,
                          const std::string& session_id, int64_t ttl_s);

enum class refresh_lookup { valid, unknown, expired, reused, revoked };

struct refresh_state {
  refresh_lookup state = refresh_lookup::unknown;
  std::string session_id;
  std::string user_id;
};

// Looks up a refresh token by digest and locks its row. `reused` means the
// token was already rotated: the caller must revoke the whole session.
refresh_state lock_refresh_token(pqxx::transaction_base& tx, const std::string& token_sha256);

// Marks the token rotated (it can never be used again).
void mark_refresh_rotated(pqxx::transaction_base& tx, const std::string& token_sha256);

// Revokes a session (a refresh-token family). Idempotent.
void revoke_session(pqxx::transaction_base& tx, const std::string& session_id,
                    const std::string& reason);

// Revokes the session that `token_sha256` belongs to, only if it belongs to
// `user_id`. Returns false when no such token exists for that user.
bool revoke_session_of_token(pqxx::transaction_base& tx, const std::string& token_sha256,
                             const std::string& user_id, const std::string& reason);

// Records a revoked access token until `expires_at_s` (Unix seconds).
void insert_revoked_access(pqxx::transaction_base& tx, const std::string& jti,
                           const std::string& user_id, int64_t expires_at_s);

bool is_access_revoked(pqxx::transaction_base& tx, const std::string& jti);

// Deletes deny-list rows and refresh tokens past their expiry; returns rows removed.
int64_t prune_expired_identity_rows(pqxx::transaction_base& tx);

}  // namespace tally::persistence
