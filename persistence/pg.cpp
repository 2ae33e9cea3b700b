#include "persistence/pg.hpp"

#include "logging/log.hpp"

namespace tally::persistence {

std::unique_ptr<pqxx::connection> pg_connect(const std::string& url,
                                             std::chrono::milliseconds statement_timeout) {
  // libpq accepts options appended to a URL as query parameters or to a
  // key=value string; use the form that matches the caller's.
  std::string options = "connect_timeout=" + std::to_string(connect_timeout_s);
  std::string full = url;
  if (url.rfind("postgres", 0) == 0) {
    full += (url.find('?') == std::string::npos ? "?" : "&") + options;
  } else {
    full += " " + options;
  }
  auto connection = std::make_unique<pqxx::connection>(full);
  pqxx::nontransaction tx{*connection};
  tx.exec("SET statement_timeout = " + std::to_string(statement_timeout.count()));
  tx.exec("SET idle_in_transaction_session_timeout = 60000");
  return connection;
}

errc to_errc(const std::exception& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr ||
      dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return errc::storage_unavailable;
  }
  // In libpqxx 6.4 serialization_failure is not an sql_error (cpp-stack.md 3).
  if (dynamic_cast<const pqxx::transaction_rollback*>(&e) != nullptr) {
    return errc::sequence_conflict;
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string& state = sql->sqlstate();
    // 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now,
    // 08xxx connection exceptions, 53xxx insufficient resources.
    if (state.rfind("57P", 0) == 0 || state.rfind("08", 0) == 0 || state.rfind("53", 0) == 0) {
      return errc::storage_unavailable;
    }
    if (state == "57014") {  // statement timeout
      return errc::storage_unavailable;
    }
  }
  return errc::internal;
}

pg_session::pg_session(std::string url, std::chrono::milliseconds statement_timeout)
    : url_(std::move(url)), statement_timeout_(statement_timeout) {}

pqxx::connection* pg_session::get() {
  if (connection_ && connection_->is_open()) {
    return connection_.get();
  }
  connection_.reset();
  const auto now = std::chrono::steady_clock::now();
  if (now < next_attempt_) {
    return nullptr;
  }
  try {
    connection_ = pg_connect(url_, statement_timeout_);
    return connection_.get();
  } catch (const std::exception& e) {
    next_attempt_ = now + reconnect_backoff;
    log::warn("pg_connect_failed", {{"error", to_string(to_errc(e))}});
    return nullptr;
  }
}

void pg_session::reset() {
  connection_.reset();
}

errc pg_session::run(const std::function<void(pqxx::connection&)>& body) {
  pqxx::connection* connection = get();
  if (connection == nullptr) {
    return errc::storage_unavailable;
  }
  try {
    body(*connection);
    return errc{};
  } catch (const std::exception& e) {
    const errc code = to_errc(e);
    if (code == errc::storage_unavailable) {
      reset();
    } else if (code == errc::internal) {
      // libpqxx messages carry the statement text, never parameter values.
      log::error("pg_error", {{"what", e.what()}});
    }
    return code;
  }
}

}  // namespace tally::persistence
