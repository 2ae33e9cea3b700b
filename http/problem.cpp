#include "http/problem.hpp"

#include <caf/atom.hpp>
#include <caf/sec.hpp>

namespace tally::http {

namespace {

using ordered_json = nlohmann::ordered_json;

struct problem_row {
  int status;
  const char* title;
  const char* detail;  // generic; handlers may pass a more specific one
};

// The one table: status, title and generic detail of every errc. The switch has no default, so
// adding an errc without a row here fails the build (-Wswitch under -Werror); the `code` is
// always to_string(errc), which API.md uses verbatim.
problem_row row_for(errc code) {
  switch (code) {
    case errc::invalid_argument:
      return {400, "Bad request", "The request is not valid."};
    case errc::validation_failed:
      return {422, "Validation failed", "One or more fields are invalid."};
    case errc::not_found:
      return {404, "Not found", "The resource does not exist."};
    case errc::unauthorized:
      return {401, "Unauthorized", "A valid bearer token is required."};
    case errc::forbidden:
      return {403, "Forbidden", "The credentials do not allow this request."};
    case errc::invalid_credentials:
      return {401, "Invalid credentials", "The e-mail or password is wrong."};
    case errc::invalid_refresh_token:
      return {401, "Invalid refresh token", "The refresh token is invalid, expired or revoked."};
    case errc::email_taken:
      return {409, "E-mail taken", "An account with this e-mail already exists."};
    case errc::insufficient_credits:
      return {402, "Insufficient credits", "Not enough credits are available."};
    case errc::idempotency_key_reused:
      return {422, "Idempotency-Key is already used",
              "This Idempotency-Key was used with a different request."};
    case errc::idempotency_key_in_flight:
      return {409, "A request is outstanding for this Idempotency-Key",
              "The first request with this Idempotency-Key is still being processed."};
    case errc::sequence_conflict:
      return {409, "Conflict", "A concurrent update won; retry the request."};
    case errc::overloaded:
      return {503, "Overloaded", "The engine is at capacity; retry later."};
    case errc::rate_limited:
      return {429, "Too many requests", "The rate limit was exceeded; retry later."};
    case errc::storage_unavailable:
      return {503, "Storage unavailable", "The database is unavailable; retry later."};
    case errc::cache_unavailable:
      return {503, "Cache unavailable", "A dependency is unavailable; retry later."};
    case errc::gateway_unavailable:
      return {502, "Payment gateway unavailable",
              "The payment gateway did not answer after retries."};
    case errc::upstream_timeout:
      return {503, "Upstream timeout", "The engine did not answer in time; retry later."};
    case errc::reservation_not_found:
      return {404, "Reservation not found", "The reservation does not exist."};
    case errc::reservation_not_pending:
      return {409, "Reservation not pending",
              "The reservation was already committed, released or expired."};
    case errc::package_not_found:
      return {404, "Package not found", "The package does not exist."};
    case errc::purchase_not_found:
      return {404, "Purchase not found", "The purchase does not exist."};
    case errc::payment_failed:
      return {402, "Payment failed", "The payment gateway declined the charge."};
    case errc::raw_card_data_rejected:
      return {422, "Raw card data rejected",
              "Card numbers are never accepted; send a gateway card token instead."};
    case errc::workflow_not_found:
      return {404, "Workflow not found", "The workflow does not exist."};
    case errc::run_not_found:
      return {404, "Run not found", "The run does not exist."};
    case errc::too_many_runs:
      return {429, "Too many runs", "Too many workflow runs are running; retry later."};
    case errc::invalid_signature:
      return {400, "Invalid signature", "The webhook signature is missing, wrong or too old."};
    case errc::invalid_cursor:
      return {400, "Invalid cursor", "The pagination cursor is not valid."};
    case errc::internal:
      return {500, "Internal error",
              "An unexpected error occurred; quote the request id when reporting it."};
  }
  return {500, "Internal error",
          "An unexpected error occurred; quote the request id when reporting it."};
}

bool is_known(errc code) {
  const auto value = static_cast<uint8_t>(code);
  return value >= static_cast<uint8_t>(errc::invalid_argument) &&
         value <= static_cast<uint8_t>(errc::internal);
}

problem make_problem(int status, std::string code, std::string title, std::string detail) {
  problem p;
  p.status = status;
  p.code = std::move(code);
  p.title = std::move(title);
  p.detail = std::move(detail);
  return p;
}

bool is_standard_member(const std::string& name) {
  for (const char* member :
       {"type", "title", "status", "detail", "code", "request_id", "instance", "errors"}) {
    if (name == member) {
      return true;
    }
  }
  return false;
}

ordered_json build_body(const problem& p, std::string_view request_id) {
  ordered_json body = ordered_json::object();
  body["type"] = problem_type_uri(p.code);
  body["title"] = p.title;
  body["status"] = p.status;
  body["detail"] = p.detail;
  body["code"] = p.code;
  body["request_id"] = std::string(request_id);
  body["instance"] = "urn:request:" + std::string(request_id);
  if (!p.errors.empty()) {
    ordered_json errors = ordered_json::array();
    for (const auto& error : p.errors) {
      errors.push_back(ordered_json{{"field", error.field}, {"message", error.message}});
    }
    body["errors"] = std::move(errors);
  }
  if (p.extra.is_object()) {
    for (auto it = p.extra.begin(); it != p.extra.end(); ++it) {
      if (!is_standard_member(it.key())) {
        body[it.key()] = ordered_json(it.value());
      }
    }
  }
  return body;
}

}  // namespace

problem problem_for(errc code, std::string detail) {
  if (!is_known(code)) {
    code = errc::internal;
  }
  const problem_row row = row_for(code);
  return make_problem(row.status, to_string(code), row.title,
                      detail.empty() ? std::string(row.detail) : std::move(detail));
}

problem problem_from_error(const caf::error& error) {
  if (!error) {
    return problem_for(errc::internal);
  }
  errc code = errc::internal;
  if (as_errc(error, code)) {
    return problem_for(code);
  }
  if (error.category() == caf::atom("system") &&
      error.code() == static_cast<uint8_t>(caf::sec::request_timeout)) {
    return problem_for(errc::upstream_timeout);
  }
  return problem_for(errc::upstream_timeout,
                     "A part of the engine did not answer; retry the request.");
}

problem validation_problem(std::vector<field_error> errors) {
  problem p = problem_for(errc::validation_failed);
  p.errors = std::move(errors);
  return p;
}

problem malformed_json(std::string detail) {
  return make_problem(400, "malformed_json", "Malformed JSON",
                      detail.empty() ? "The body is not a valid JSON object." : std::move(detail));
}

problem payload_too_large(std::string detail) {
  return make_problem(
      413, "payload_too_large", "Payload too large",
      detail.empty() ? "The body is larger than this endpoint accepts." : std::move(detail));
}

problem unsupported_media_type(std::string detail) {
  return make_problem(
      415, "unsupported_media_type", "Unsupported media type",
      detail.empty() ? "This endpoint accepts application/json only." : std::move(detail));
}

problem route_not_found() {
  return make_problem(404, "not_found", "Not found", "No route matches this path.");
}

problem method_not_allowed() {
  return make_problem(405, "method_not_allowed", "Method not allowed",
                      "This path does not accept the method; see the Allow header.");
}

std::string problem_type_uri(std::string_view code) {
  std::string uri(problem_type_prefix);
  for (char c : code) {
    uri.push_back(c == '_' ? '-' : c);
  }
  return uri;
}

std::string to_json_body(const problem& p, std::string_view request_id) {
  try {
    return build_body(p, request_id).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const std::exception&) {
    // Only bad_alloc can get here. A fixed body still tells the client what happened.
    return R"({"type":"https://tally.dev/problems/internal","title":"Internal error",)"
           R"("status":500,"code":"internal"})";
  }
}

}  // namespace tally::http
