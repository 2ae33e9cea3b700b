#include "gateways/json_reading.hpp"

#include <limits>

namespace tally::gateways::json_reading {

std::optional<json> parse_object(std::string_view body) {
  if (body.size() > body_bytes_max) {
    return std::nullopt;
  }
  // No exceptions (STYLE 2.3): a parse error yields a "discarded" value.
  json parsed = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return std::nullopt;
  }
  return parsed;
}

std::string text(const json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) {
    return {};
  }
  const auto& value = it->get_ref<const std::string&>();
  return value.size() <= text_bytes_max ? value : value.substr(0, text_bytes_max);
}

std::optional<int64_t> integer(const json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end()) {
    return std::nullopt;
  }
  if (it->is_number_unsigned()) {
    const auto value = it->get<uint64_t>();
    if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return std::nullopt;
    }
    return static_cast<int64_t>(value);
  }
  if (it->is_number_integer()) {
    return it->get<int64_t>();
  }
  return std::nullopt;
}

bool boolean(const json& object, const char* key, bool fallback) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_boolean()) {
    return fallback;
  }
  return it->get<bool>();
}

const json* child(const json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_object()) {
    return nullptr;
  }
  return &*it;
}

std::string upper(std::string text) {
  for (char& c : text) {
    if (c >= 'a' && c <= 'z') {
      c = static_cast<char>(c - 'a' + 'A');
    }
  }
  return text;
}

std::string lower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return text;
}

}  // namespace tally::gateways::json_reading
