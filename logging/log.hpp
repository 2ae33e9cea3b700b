#pragma once
// Structured logs: one JSON object per line on stderr, through spdlog, so the
// lines stay whole under concurrency and log shippers can parse them.
//
//   tally::log::info("engine_started", {{"listen", "127.0.0.1:8080"}});
//
// Field values are data: never pass a password, token, key or card number.
// As a last line of defence every string field is scrubbed of anything that
// looks like a card number (13-19 digits passing Luhn) before it is written.

#include <string_view>

#include <nlohmann/json.hpp>

namespace tally::log {

enum class level { trace, debug, info, warn, error, critical };

// Configures the process-wide logger once, at start-up (the one allowed
// global, STYLE 3.5). `level_name` is trace|debug|info|warn|error|off.
void init(std::string_view level_name);

bool enabled(level lvl);
void write(level lvl, std::string_view event, nlohmann::json fields);

inline void trace(std::string_view event, nlohmann::json fields = nlohmann::json::object()) {
  write(level::trace, event, std::move(fields));
}
inline void debug(std::string_view event, nlohmann::json fields = nlohmann::json::object()) {
  write(level::debug, event, std::move(fields));
}
inline void info(std::string_view event, nlohmann::json fields = nlohmann::json::object()) {
  write(level::info, event, std::move(fields));
}
inline void warn(std::string_view event, nlohmann::json fields = nlohmann::json::object()) {
  write(level::warn, event, std::move(fields));
}
inline void error(std::string_view event, nlohmann::json fields = nlohmann::json::object()) {
  write(level::error, event, std::move(fields));
}

// Replaces every run of 13-19 digits (spaces and dashes allowed between them)
// that passes the Luhn check with "[redacted-card]".
std::string redact_card_numbers(std::string_view text);

}  // namespace tally::log
