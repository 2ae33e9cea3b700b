#pragma once
// Request-body validation that reports every invalid field at once (API.md "Common rules": a
// wrong type, a missing required field or an out-of-range value is 422 `validation_failed`
// listing every invalid field, not only the first).
//
// Pattern: parse the body with parse_json_object, then call one getter per field with the same
// `field_errors`, and refuse the request if `errors.empty()` is false afterwards. A getter
// returns the value when the field is present and valid, std::nullopt otherwise; it records an
// error only for a present-but-invalid field or a missing required one. JSON `null` counts as
// absent. Strings must be valid UTF-8 without NUL (Postgres text cannot hold NUL) and their
// lengths are counted in code points. Nothing here throws or does I/O.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>
#include <nlohmann/json_fwd.hpp>

namespace tally {

// Nesting bound for request bodies: deep enough for any Tally payload, shallow enough that
// serializing a parsed body (which recurses) cannot exhaust the stack.
inline constexpr std::size_t json_depth_max = 32;
// A client cannot make a problem+json body grow without bound.
inline constexpr std::size_t field_errors_max = 64;

// One invalid field, as it appears in problem+json `errors`. `field` is the JSON name, with dots
// for nested objects ("executor.type").
struct field_error {
  std::string field;
  std::string message;
};

// Collects field errors for one request. Not thread-safe; lives on one handler's stack.
class field_errors {
 public:
  // Records `message` for `field` (prefixed by the enclosing field_scope names, if any).
  // Errors past field_errors_max are counted in size() but not kept.
  void add(std::string_view field, std::string message);

  bool empty() const { return count_ == 0; }
  std::size_t size() const { return count_; }
  const std::vector<field_error>& items() const { return errors_; }
  // Moves the collected errors out; the object is empty afterwards.
  std::vector<field_error> take();

 private:
  friend class field_scope;
  std::vector<field_error> errors_;
  std::size_t count_ = 0;
  std::string prefix_;  // "executor." while a field_scope for "executor" is alive
};

// While alive, errors added to `errors` are reported under "<object_field>.<field>". Scopes
// nest; destroy them in reverse order of construction (they live on the stack).
class field_scope {
 public:
  field_scope(field_errors& errors, std::string_view object_field);
  ~field_scope();
  field_scope(const field_scope&) = delete;
  field_scope& operator=(const field_scope&) = delete;

 private:
  field_errors& errors_;
  std::size_t prefix_size_before_;
};

// Returns `body` parsed as a JSON object, or errc::invalid_argument when it is not JSON (the
// HTTP layer answers 400 `malformed_json`), when the top level is not an object, or when
// containers nest deeper than `depth_max` (`{}` has depth 1). Input of any depth is scanned
// without recursion; deep parts are dropped while parsing, not built.
[[nodiscard]] caf::expected<nlohmann::json> parse_json_object(
    std::string_view body, std::size_t depth_max = json_depth_max);

// Returns the number of code points in `text`, or std::nullopt if `text` is not well-formed
// UTF-8 (overlong forms, surrogates and values above U+10FFFF are refused).
std::optional<std::size_t> utf8_code_points(std::string_view text);

// String fields: present, a JSON string, valid UTF-8 without NUL, min_length..max_length code
// points. REQUIRES: min_length <= max_length.
std::optional<std::string> required_string(const nlohmann::json& body, std::string_view field,
                                           std::size_t min_length, std::size_t max_length,
                                           field_errors& errors);
std::optional<std::string> optional_string(const nlohmann::json& body, std::string_view field,
                                           std::size_t min_length, std::size_t max_length,
                                           field_errors& errors);

// A string field that must be one of `allowed` (for example a gateway name).
std::optional<std::string> required_choice(const nlohmann::json& body, std::string_view field,
                                           std::initializer_list<std::string_view> allowed,
                                           field_errors& errors);
std::optional<std::string> optional_choice(const nlohmann::json& body, std::string_view field,
                                           std::initializer_list<std::string_view> allowed,
                                           field_errors& errors);

// Integer fields: a JSON integer (not 5.0, not "5") in min..max. REQUIRES: min <= max.
std::optional<int64_t> required_int64(const nlohmann::json& body, std::string_view field,
                                      int64_t min, int64_t max, field_errors& errors);
std::optional<int64_t> optional_int64(const nlohmann::json& body, std::string_view field,
                                      int64_t min, int64_t max, field_errors& errors);

std::optional<bool> optional_bool(const nlohmann::json& body, std::string_view field,
                                  field_errors& errors);

// Object fields (metadata, executor, input): a JSON object whose serialized form is at most
// `serialized_bytes_max` bytes and whose keys and strings are valid UTF-8 without NUL.
std::optional<nlohmann::json> required_object(const nlohmann::json& body, std::string_view field,
                                              std::size_t serialized_bytes_max,
                                              field_errors& errors);
std::optional<nlohmann::json> optional_object(const nlohmann::json& body, std::string_view field,
                                              std::size_t serialized_bytes_max,
                                              field_errors& errors);

}  // namespace tally
