#include "sandbox/form.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <vector>

#include "sandbox/limits.hpp"

namespace tally::sandbox {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// "a[b][c]" -> {"a","b","c"}; "a[]" -> {"a",""}. nullopt when malformed.
std::optional<std::vector<std::string>> split_key(const std::string& key) {
  std::vector<std::string> parts;
  const auto open = key.find('[');
  parts.push_back(key.substr(0, open));
  if (parts.front().empty()) {
    return std::nullopt;
  }
  std::size_t at = open;
  while (at != std::string::npos && at < key.size()) {
    if (key[at] != '[') {
      return std::nullopt;
    }
    const auto close = key.find(']', at);
    if (close == std::string::npos) {
      return std::nullopt;
    }
    parts.push_back(key.substr(at + 1, close - at - 1));
    at = close + 1;
  }
  return parts;
}

bool is_json_type(std::string_view content_type) {
  std::string lowered(content_type.substr(0, content_type.find(';')));
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  while (!lowered.empty() && lowered.back() == ' ') {
    lowered.pop_back();
  }
  return lowered == "application/json";
}

// Places `value` at the path `parts` inside `root`. False on a conflict
// (a key used both as a plain value and as an object).
bool place(nlohmann::json& root, const std::vector<std::string>& parts, std::string value) {
  nlohmann::json* node = &root;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    const std::string& part = parts[i];
    const bool next_is_append = parts[i + 1].empty() && i + 2 == parts.size();
    nlohmann::json& child = (*node)[part];
    if (child.is_null()) {
      child = next_is_append ? nlohmann::json::array() : nlohmann::json::object();
    }
    if (next_is_append) {
      if (!child.is_array()) {
        return false;
      }
      child.push_back(std::move(value));
      return true;
    }
    if (!child.is_object()) {
      return false;
    }
    node = &child;
  }
  const std::string& last = parts.back();
  if (last.empty()) {
    return false;  // `[]` only at the end of a key, handled above
  }
  if (node->contains(last) && ((*node)[last].is_object() || (*node)[last].is_array())) {
    return false;
  }
  (*node)[last] = std::move(value);
  return true;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= text.size()) {
        return std::nullopt;
      }
      const int high = hex_value(text[i + 1]);
      const int low = hex_value(text[i + 2]);
      if (high < 0 || low < 0) {
        return std::nullopt;
      }
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<nlohmann::json> decode_form(std::string_view body, std::string& error) {
  nlohmann::json root = nlohmann::json::object();
  std::size_t fields = 0;
  std::size_t at = 0;
  while (at <= body.size()) {
    auto end = body.find('&', at);
    if (end == std::string_view::npos) {
      end = body.size();
    }
    const std::string_view pair = body.substr(at, end - at);
    at = end + 1;
    if (pair.empty()) {
      if (end == body.size()) {
        break;
      }
      continue;
    }
    if (++fields > limits::form_fields_max) {
      error = "too many fields";
      return std::nullopt;
    }
    const auto equals = pair.find('=');
    auto key = percent_decode(pair.substr(0, equals));
    auto value = percent_decode(equals == std::string_view::npos ? std::string_view()
                                                                 : pair.substr(equals + 1));
    if (!key || !value) {
      error = "malformed percent-encoding";
      return std::nullopt;
    }
    auto parts = split_key(*key);
    if (!parts) {
      error = "malformed field name";
      return std::nullopt;
    }
    if (parts->size() > limits::form_depth_max + 1) {
      error = "field nested too deeply";
      return std::nullopt;
    }
    if (!place(root, *parts, std::move(*value))) {
      error = "field used both as a value and as an object";
      return std::nullopt;
    }
    if (end == body.size()) {
      break;
    }
  }
  return root;
}

std::optional<nlohmann::json> decode_request_body(std::string_view body,
                                                  std::string_view content_type,
                                                  std::string& error) {
  if (body.empty()) {
    return nlohmann::json::object();
  }
  if (!is_json_type(content_type)) {
    return decode_form(body, error);
  }
  // Depth is bounded by the body size limit the transport enforces.
  auto parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    error = "malformed JSON";
    return std::nullopt;
  }
  if (!parsed.is_object()) {
    error = "the body must be an object";
    return std::nullopt;
  }
  return parsed;
}

std::optional<int64_t> integer_field(const nlohmann::json& object, std::string_view name) {
  const auto it = object.find(name);
  if (it == object.end()) {
    return std::nullopt;
  }
  if (it->is_number_integer()) {
    return it->get<int64_t>();
  }
  if (it->is_number_unsigned()) {
    const auto value = it->get<uint64_t>();
    if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return std::nullopt;
    }
    return static_cast<int64_t>(value);
  }
  if (!it->is_string()) {
    return std::nullopt;
  }
  const auto& text = it->get_ref<const std::string&>();
  std::size_t start = text.size() > 0 && text[0] == '-' ? 1 : 0;
  if (text.size() == start || text.size() - start > 18) {
    return std::nullopt;  // 18 digits always fit in int64
  }
  int64_t value = 0;
  for (std::size_t i = start; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') {
      return std::nullopt;
    }
    value = value * 10 + (text[i] - '0');
  }
  return start == 1 ? -value : value;
}

std::optional<std::string> string_field(const nlohmann::json& object, std::string_view name) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null() || it->is_object() || it->is_array()) {
    return std::nullopt;
  }
  if (it->is_string()) {
    return it->get<std::string>();
  }
  return it->dump();
}

std::optional<bool> bool_field(const nlohmann::json& object, std::string_view name) {
  const auto it = object.find(name);
  if (it == object.end()) {
    return std::nullopt;
  }
  if (it->is_boolean()) {
    return it->get<bool>();
  }
  if (it->is_string()) {
    if (*it == "true") {
      return true;
    }
    if (*it == "false") {
      return false;
    }
  }
  return std::nullopt;
}

}  // namespace tally::sandbox
