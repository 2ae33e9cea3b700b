#pragma once
// Request bodies as Omise takes them: application/x-www-form-urlencoded with
// bracketed keys (`metadata[purchase_id]=p1`, `source[type]=promptpay`,
// `card[number]=...`), or the same fields as a JSON object (what omise-go and
// omise-node send). Both become one nested JSON object, so handlers read
// fields the same way whatever the client sent. Pure; bounded by
// limits::form_fields_max and limits::form_depth_max.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tally::sandbox {

// "%41+b" -> "A b". Returns nullopt on a truncated or non-hex escape.
std::optional<std::string> percent_decode(std::string_view text);

// Decodes a form body into an object: `a=1&b[c]=2` -> {"a":"1","b":{"c":"2"}}.
// Values stay strings; a repeated key keeps its last value; `a[]=x` appends
// to an array. Returns nullopt and sets `error` on a malformed escape, more
// than form_fields_max fields, nesting deeper than form_depth_max, or a key
// used both as a value and as an object.
std::optional<nlohmann::json> decode_form(std::string_view body, std::string& error);

// JSON when `content_type` is application/json, a form otherwise (Omise's
// curl examples send no explicit type). An empty body is an empty object.
// Returns nullopt and sets `error` when the body does not parse or is not an
// object.
std::optional<nlohmann::json> decode_request_body(std::string_view body,
                                                  std::string_view content_type,
                                                  std::string& error);

// A field as an integer: a JSON integer, or a string of decimal digits with
// an optional leading '-'. nullopt when absent, fractional or out of range.
std::optional<int64_t> integer_field(const nlohmann::json& object, std::string_view name);

// A field as a string: a JSON string, or a number/bool rendered as text.
// nullopt when absent or null; objects and arrays are not strings.
std::optional<std::string> string_field(const nlohmann::json& object, std::string_view name);

// A field as a boolean: JSON true/false or the strings "true"/"false".
std::optional<bool> bool_field(const nlohmann::json& object, std::string_view name);

}  // namespace tally::sandbox
