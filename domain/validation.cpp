#include "domain/validation.hpp"

#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

#include "domain/assert.hpp"
#include "domain/error.hpp"

namespace tally {

namespace {

using json = nlohmann::json;

constexpr const char* message_required = "is required";
constexpr const char* message_bad_text = "must be valid UTF-8 without NUL characters";

bool is_continuation(unsigned char byte) {
  return byte >= 0x80 && byte <= 0xBF;
}

// Length of the well-formed UTF-8 sequence starting at text[index], or 0 if it is not one
// (Unicode 15, table 3-7).
std::size_t utf8_sequence_length(std::string_view text, std::size_t index) {
  const auto at = [&](std::size_t offset) -> unsigned char {
    return index + offset < text.size() ? static_cast<unsigned char>(text[index + offset]) : 0;
  };
  const unsigned char lead = at(0);
  if (lead <= 0x7F) {
    return 1;
  }
  if (lead >= 0xC2 && lead <= 0xDF) {
    return is_continuation(at(1)) ? 1 + 1 : 0;
  }
  unsigned char second_min = 0x80;
  unsigned char second_max = 0xBF;
  std::size_t length = 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    second_min = lead == 0xE0 ? 0xA0 : 0x80;  // no overlong forms
    second_max = lead == 0xED ? 0x9F : 0xBF;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    second_min = lead == 0xF0 ? 0x90 : 0x80;  // no overlong forms
    second_max = lead == 0xF4 ? 0x8F : 0xBF;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (at(1) < second_min || at(1) > second_max) {
    return 0;
  }
  for (std::size_t offset = 2; offset < length; ++offset) {
    if (!is_continuation(at(offset))) {
      return 0;
    }
  }
  return length;
}

// Well-formed UTF-8 and no NUL: what Postgres text columns and our logs accept.
bool is_clean_text(std::string_view text) {
  return text.find('\0') == std::string_view::npos && utf8_code_points(text).has_value();
}

// The member `field` of `body`, or nullptr when absent or JSON null.
const json* find_member(const json& body, std::string_view field) {
  if (!body.is_object()) {
    return nullptr;
  }
  auto it = body.find(std::string(field));
  if (it == body.end() || it->is_null()) {
    return nullptr;
  }
  return &*it;
}

std::string length_message(std::size_t min_length, std::size_t max_length) {
  if (min_length == max_length) {
    return "must be exactly " + std::to_string(max_length) + " characters";
  }
  if (min_length == 0) {
    return "must be at most " + std::to_string(max_length) + " characters";
  }
  return "must be between " + std::to_string(min_length) + " and " + std::to_string(max_length) +
         " characters";
}

std::string range_message(int64_t min, int64_t max) {
  if (max == std::numeric_limits<int64_t>::max()) {
    return "must be at least " + std::to_string(min);
  }
  if (min == std::numeric_limits<int64_t>::min()) {
    return "must be at most " + std::to_string(max);
  }
  return "must be between " + std::to_string(min) + " and " + std::to_string(max);
}

std::optional<std::string> check_string(const json& value, std::string_view field,
                                        std::size_t min_length, std::size_t max_length,
                                        field_errors& errors) {
  TALLY_ASSERT(min_length <= max_length);
  if (!value.is_string()) {
    errors.add(field, "must be a string");
    return std::nullopt;
  }
  const auto& text = value.get_ref<const std::string&>();
  const auto code_points = utf8_code_points(text);
  if (!code_points || text.find('\0') != std::string::npos) {
    errors.add(field, message_bad_text);
    return std::nullopt;
  }
  if (*code_points < min_length || *code_points > max_length) {
    errors.add(field, length_message(min_length, max_length));
    return std::nullopt;
  }
  return text;
}

std::optional<std::string> check_choice(const json& value, std::string_view field,
                                        std::initializer_list<std::string_view> allowed,
                                        field_errors& errors) {
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    for (std::string_view choice : allowed) {
      if (text == choice) {
        return text;
      }
    }
  }
  std::string message = "must be one of:";
  const char* separator = " ";
  for (std::string_view choice : allowed) {
    message.append(separator).append(choice);
    separator = ", ";
  }
  errors.add(field, std::move(message));
  return std::nullopt;
}

std::optional<int64_t> check_int64(const json& value, std::string_view field, int64_t min,
                                   int64_t max, field_errors& errors) {
  TALLY_ASSERT(min <= max);
  if (!value.is_number_integer()) {
    errors.add(field, "must be an integer");
    return std::nullopt;
  }
  int64_t number = 0;
  if (value.is_number_unsigned()) {
    const auto unsigned_number = value.get<json::number_unsigned_t>();
    if (unsigned_number > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      errors.add(field, range_message(min, max));
      return std::nullopt;
    }
    number = static_cast<int64_t>(unsigned_number);
  } else {
    number = value.get<json::number_integer_t>();
  }
  if (number < min || number > max) {
    errors.add(field, range_message(min, max));
    return std::nullopt;
  }
  return number;
}

// Walks `root` with an explicit stack (no recursion over client input) and returns false if a
// key or string in it is not clean text.
bool has_only_clean_text(const json& root) {
  std::vector<const json*> pending{&root};
  while (!pending.empty()) {
    const json* value = pending.back();
    pending.pop_back();
    if (value->is_string()) {
      if (!is_clean_text(value->get_ref<const std::string&>())) {
        return false;
      }
    } else if (value->is_object()) {
      for (auto it = value->begin(); it != value->end(); ++it) {
        if (!is_clean_text(it.key())) {
          return false;
        }
        pending.push_back(&it.value());
      }
    } else if (value->is_array()) {
      for (const auto& element : *value) {
        pending.push_back(&element);
      }
    }
  }
  return true;
}

std::optional<json> check_object(const json& value, std::string_view field,
                                 std::size_t serialized_bytes_max, field_errors& errors) {
  if (!value.is_object()) {
    errors.add(field, "must be an object");
    return std::nullopt;
  }
  if (!has_only_clean_text(value)) {
    errors.add(field, "must contain only valid UTF-8 text without NUL characters");
    return std::nullopt;
  }
  std::size_t serialized_bytes = 0;
  try {
    serialized_bytes = value.dump().size();
  } catch (const std::exception&) {
    // Unreachable after has_only_clean_text (dump throws only on invalid UTF-8); refuse anyway.
    serialized_bytes = serialized_bytes_max + 1;
  }
  if (serialized_bytes > serialized_bytes_max) {
    errors.add(field, "must be at most " + std::to_string(serialized_bytes_max) +
                          " bytes when serialized");
    return std::nullopt;
  }
  return value;
}

}  // namespace

void field_errors::add(std::string_view field, std::string message) {
  ++count_;
  if (errors_.size() >= field_errors_max) {
    return;
  }
  std::string name = prefix_;
  name.append(field);
  errors_.push_back(field_error{std::move(name), std::move(message)});
}

std::vector<field_error> field_errors::take() {
  count_ = 0;
  return std::exchange(errors_, {});
}

field_scope::field_scope(field_errors& errors, std::string_view object_field)
    : errors_(errors), prefix_size_before_(errors.prefix_.size()) {
  errors_.prefix_.append(object_field).append(".");
}

field_scope::~field_scope() {
  TALLY_ASSERT(errors_.prefix_.size() > prefix_size_before_);  // scopes destroyed in order
  errors_.prefix_.resize(prefix_size_before_);
}

caf::expected<json> parse_json_object(std::string_view body, std::size_t depth_max) {
  // The callback sees each container's depth before it is built (the top level is depth 0).
  // Returning false drops the container, so nothing deeper than depth_max is ever allocated;
  // the parser itself keeps its own stack on the heap, so 100 000 '[' cannot overflow ours.
  bool is_too_deep = false;
  const auto callback = [&](int depth, json::parse_event_t event, json&) {
    const bool is_container_start =
        event == json::parse_event_t::object_start || event == json::parse_event_t::array_start;
    if (is_container_start && static_cast<std::size_t>(depth) >= depth_max) {
      is_too_deep = true;
      return false;
    }
    return true;
  };
  try {
    json parsed = json::parse(body.begin(), body.end(), callback, /*allow_exceptions=*/false);
    if (is_too_deep || parsed.is_discarded() || !parsed.is_object()) {
      return caf::make_error(errc::invalid_argument);
    }
    return parsed;
  } catch (const std::exception&) {
    // bad_alloc, or a parser exception despite allow_exceptions=false: malformed for the client.
    return caf::make_error(errc::invalid_argument);
  }
}

std::optional<std::size_t> utf8_code_points(std::string_view text) {
  std::size_t code_points = 0;
  std::size_t index = 0;
  while (index < text.size()) {
    const std::size_t length = utf8_sequence_length(text, index);
    if (length == 0) {
      return std::nullopt;
    }
    index += length;
    ++code_points;
  }
  return code_points;
}

std::optional<std::string> required_string(const json& body, std::string_view field,
                                           std::size_t min_length, std::size_t max_length,
                                           field_errors& errors) {
  const json* value = find_member(body, field);
  if (value == nullptr) {
    errors.add(field, message_required);
    return std::nullopt;
  }
  return check_string(*value, field, min_length, max_length, errors);
}

std::optional<std::string> optional_string(const json& body, std::string_view field,
                                           std::size_t min_length, std::size_t max_length,
                                           field_errors& errors) {
  const json* value = find_member(body, field);
  if (value == nullptr) {
    return std::nullopt;
  }
  return check_string(*value, field, min_length, max_length, errors);
}

std::optional<std::string> required_choice(const json& body, std::string_view field,
                                           std::initializer_list<std::string_view> allowed,
                                           field_errors& errors) {
  const json* value = find_member(body, field);
  if (value == nullptr) {
    errors.add(field, message_required);
    return std::nullopt;
  }
  return check_choice(*value, field, allowed, errors);
}

std::optional<std::string> optional_choice(const json& body, std::string_view field,
                                           std::initializer_list<std::string_view> allowed,
                                           field_errors& errors) {
  const json* value = find_member(body, field);
  if (value == nullptr) {
    return std::nullopt;
  }
  return check_choice(*value, field, allowed, errors);
}

std::optional<int64_t> required_int64(const json& body, std::string_view field, int64_t min,
                                      int64_t max, field_errors& errors) {
  const json* value = find_member(body, field);
  if (value == nullptr) {
    errors.add(field, message_required);
    return std::nullopt;
  }
  return check_int64(*value, field, min, max, errors);
}

std::optional<int64_t> optional_int64(const json& body, std::string_view field, int64_t min,
                                      int64_t max, field_errors& errors) {
  const json* value = find_member(body, field);
  if (value == nullptr) {
    return std::nullopt;
  }
  return check_int64(*value, field, min, max, errors);
}

std::optional<bool> optional_bool(const json& body, std::string_view field, field_errors& errors) {
  const json* value = find_member(body, field);
  if (value == nullptr) {
    return std::nullopt;
  }
  if (!value->is_boolean()) {
    errors.add(field, "must be true or false");
    return std::nullopt;
  }
  return value->get<bool>();
}

std::optional<json> required_object(const json& body, std::string_view field,
                                    std::size_t serialized_bytes_max, field_errors& errors) {
  const json* value = find_member(body, field);
  if (value == nullptr) {
    errors.add(field, message_required);
    return std::nullopt;
  }
  return check_object(*value, field, serialized_bytes_max, errors);
}

std::optional<json> optional_object(const json& body, std::string_view field,
                                    std::size_t serialized_bytes_max, field_errors& errors) {
  const json* value = find_member(body, field);
  if (value == nullptr) {
    return std::nullopt;
  }
  return check_object(*value, field, serialized_bytes_max, errors);
}

}  // namespace tally
