#pragma once
// The one writer of error responses: RFC 9457 problem+json (API.md "Errors are
// application/problem+json"). Every tally::errc and every CAF error that can reach a handler
// maps here, through one table, to an HTTP status, a stable `code` and a stable `title`.
// Bodies never carry stack traces, SQL, secrets or a caf::error's context: `detail` is either a
// fixed sentence from the table or the text a handler passes in on purpose.
//
// Example body:
//   {"type":"https://tally.dev/problems/insufficient-credits","title":"Insufficient credits",
//    "status":402,"detail":"...","code":"insufficient_credits","request_id":"abc",
//    "instance":"urn:request:abc"}
// plus "errors":[{"field","message"}] when there are field errors, plus the members of `extra`.

#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <nlohmann/json.hpp>

#include "domain/error.hpp"
#include "domain/validation.hpp"

namespace tally::http {

inline constexpr std::string_view problem_content_type = "application/problem+json";
inline constexpr std::string_view problem_type_prefix = "https://tally.dev/problems/";

using tally::field_error;

struct problem {
  int status = 500;
  std::string code;    // snake_case, stable; clients switch on it
  std::string title;   // stable per code
  std::string detail;  // this occurrence, for a human
  std::vector<field_error> errors;
  // Extension members (e.g. failure_code and failure_message for payment_failed). An object or
  // null; members named like a standard member above are ignored.
  nlohmann::json extra;
};

// The problem for `code`; `detail` replaces the table's generic sentence when not empty.
// An errc value outside the enum (a corrupt caf::error) gives 500 `internal`.
problem problem_for(tally::errc code, std::string detail = {});

// The problem for an error a handler received from an actor:
// - a tally::errc inside `error`: problem_for(that errc); its context is not shown;
// - caf::sec::request_timeout: 503 `upstream_timeout`;
// - any other CAF error (a dead or broken actor, an exit reason): 503 `upstream_timeout` with a
//   generic detail, since the client can retry;
// - no error at all (a handler bug): 500 `internal`.
problem problem_from_error(const caf::error& error);

// 422 `validation_failed` listing every invalid field.
problem validation_problem(std::vector<field_error> errors);

// Problems raised by the HTTP layer itself rather than by an errc.
problem malformed_json(std::string detail = {});          // 400 malformed_json
problem payload_too_large(std::string detail = {});       // 413 payload_too_large
problem unsupported_media_type(std::string detail = {});  // 415 unsupported_media_type
problem route_not_found();                                // 404 not_found
problem method_not_allowed();                             // 405 method_not_allowed

// "https://tally.dev/problems/" + `code` with '_' turned into '-'.
std::string problem_type_uri(std::string_view code);

// The response body for `p`. `request_id` must already be sane (is_sane_request_id): it is
// echoed as `request_id` and as `instance` ("urn:request:<id>"). Never throws; text that is not
// valid UTF-8 is replaced, not rejected.
std::string to_json_body(const problem& p, std::string_view request_id);

}  // namespace tally::http
