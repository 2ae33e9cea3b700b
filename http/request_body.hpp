#pragma once
// Body parsing shared by every JSON route: one place turns a bad body into
// 400 `malformed_json` and a field list into 422 `validation_failed`.

#include <nlohmann/json.hpp>

#include "domain/validation.hpp"
#include "http/exchange.hpp"

namespace tally::http {

// Parses the request body as a JSON object into `out`. An empty body parses
// as {} (routes with optional bodies). On failure answers 400 and returns false.
bool parse_json_body(const exchange_ptr& ex, nlohmann::json& out);

// Answers 422 with every collected field error when there are any; returns
// true when the request was answered (the handler must stop).
bool respond_if_invalid(const exchange_ptr& ex, field_errors& errors);

}  // namespace tally::http
