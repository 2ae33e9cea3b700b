#include "http/request_body.hpp"

#include "http/problem.hpp"

namespace tally::http {

bool parse_json_body(const exchange_ptr& ex, nlohmann::json& out) {
  if (ex->body().empty()) {
    out = nlohmann::json::object();
    return true;
  }
  auto parsed = parse_json_object(ex->body());
  if (!parsed) {
    ex->respond_problem(malformed_json("The body must be a JSON object (UTF-8, nesting depth at "
                                       "most 32)."));
    return false;
  }
  out = std::move(*parsed);
  return true;
}

bool respond_if_invalid(const exchange_ptr& ex, field_errors& errors) {
  if (errors.empty()) {
    return false;
  }
  ex->respond_problem(validation_problem(errors.take()));
  return true;
}

}  // namespace tally::http
