#pragma once
// Postgres connections (libpqxx 6.4) and the one place where libpqxx
// exceptions become tally::errc values (STYLE 2.3).
//
// Thread safety: a pqxx::connection is a world of its own: one owner thread
// (a detached actor) at a time. Nothing here is shared.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <pqxx/pqxx>

#include "domain/error.hpp"

namespace tally::persistence {

// Seconds libpq waits for a TCP connection before giving up.
inline constexpr int connect_timeout_s = 3;

// Opens a connection to `url` (a postgresql:// URL or key=value string) with
// a connect timeout and a statement timeout. Throws pqxx::broken_connection
// when the server is unreachable; callers go through `with_connection`.
std::unique_ptr<pqxx::connection> pg_connect(const std::string& url,
                                             std::chrono::milliseconds statement_timeout);

// Maps a libpqxx/std exception to the errc the caller reports: a lost or
// refused connection is storage_unavailable, a serialization failure or
// deadlock is sequence_conflict, anything else is internal.
errc to_errc(const std::exception& e);

// A lazily (re)connecting connection owned by one detached actor. After a
// connection failure the next `get` reconnects, but not more often than every
// `reconnect_backoff`, so a dead database is reported fast rather than hammered.
class pg_session {
 public:
  pg_session(std::string url, std::chrono::milliseconds statement_timeout);

  // Returns the live connection, reconnecting when needed, or nullptr when
  // the database is unreachable (then the caller answers storage_unavailable).
  pqxx::connection* get();

  // Drops the connection after an error that may have broken it.
  void reset();

  // Runs `body` with the connection, converting exceptions to errc. On a
  // broken connection the session resets so the next call reconnects.
  errc run(const std::function<void(pqxx::connection&)>& body);

 private:
  std::string url_;
  std::chrono::milliseconds statement_timeout_;
  std::unique_ptr<pqxx::connection> connection_;
  std::chrono::steady_clock::time_point next_attempt_{};
};

inline constexpr std::chrono::milliseconds reconnect_backoff{500};

}  // namespace tally::persistence
