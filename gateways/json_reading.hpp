#pragma once
// Tolerant field reads over a parsed gateway response (private to gateways/).
// Gateways add fields, null out others and change types between API versions
// (research gateways.md §1.3): every read here accepts a missing or mistyped
// field and says so through its result, never by throwing.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tally::gateways::json_reading {

using json = nlohmann::json;

// Largest response or webhook body parsed (the outbound client caps answers at
// 1 MiB; the webhook receivers at 256 KiB).
inline constexpr std::size_t body_bytes_max = 1024 * 1024;
// Free text (failure messages, URLs) kept from a gateway object; longer text
// is cut, it is only ever shown or logged.
inline constexpr std::size_t text_bytes_max = 2048;

// The JSON object in `body`, or nullopt when `body` is too large, not JSON,
// or not an object.
std::optional<json> parse_object(std::string_view body);

// The string at `key`, "" when missing, null or not a string; cut to
// text_bytes_max.
std::string text(const json& object, const char* key);

// The integer at `key` when it is a JSON integer that fits int64_t.
std::optional<int64_t> integer(const json& object, const char* key);

// The boolean at `key`, `fallback` when missing or not a boolean.
bool boolean(const json& object, const char* key, bool fallback);

// The object at `key`, or null when missing or not an object.
const json* child(const json& object, const char* key);

// `text` with ASCII letters upper-cased ("thb" -> "THB").
std::string upper(std::string text);

// `text` with ASCII letters lower-cased.
std::string lower(std::string text);

}  // namespace tally::gateways::json_reading
