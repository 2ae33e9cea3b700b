// tests/http/problem_test.cpp: covers http/problem.cpp, the one problem+json writer. Every errc
// must map to a 4xx/5xx with a stable code, and no body may leak what a caf::error carries.
#include "http/problem.hpp"

#include <string>

#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "domain/error.hpp"

using nlohmann::json;
using tally::errc;

namespace {

json body_of(const tally::http::problem& p, std::string_view request_id = "req-1") {
  return json::parse(tally::http::to_json_body(p, request_id));
}

}  // namespace

TEST_CASE("every errc maps to an error status, a code and a title", "[http][problem]") {
  int mapped = 0;
  for (int value = 1; value <= 255; ++value) {
    const auto code = static_cast<errc>(value);
    if (std::string(tally::to_string(code)) == "unknown") {
      continue;  // past the last enumerator
    }
    CAPTURE(value, tally::to_string(code));
    const auto p = tally::http::problem_for(code);
    CHECK(p.status >= 400);
    CHECK(p.status <= 599);
    CHECK_FALSE(p.code.empty());
    CHECK(p.code == tally::to_string(code));
    CHECK_FALSE(p.title.empty());
    CHECK_FALSE(p.detail.empty());
    ++mapped;
  }
  CHECK(mapped == static_cast<int>(errc::internal));
}

TEST_CASE("the statuses API.md fixes are the ones produced", "[http][problem]") {
  const std::pair<errc, int> expected[] = {
      {errc::invalid_argument, 400},
      {errc::validation_failed, 422},
      {errc::not_found, 404},
      {errc::unauthorized, 401},
      {errc::forbidden, 403},
      {errc::invalid_credentials, 401},
      {errc::invalid_refresh_token, 401},
      {errc::email_taken, 409},
      {errc::insufficient_credits, 402},
      {errc::idempotency_key_reused, 422},
      {errc::idempotency_key_in_flight, 409},
      {errc::sequence_conflict, 409},
      {errc::overloaded, 503},
      {errc::rate_limited, 429},
      {errc::storage_unavailable, 503},
      {errc::cache_unavailable, 503},
      {errc::gateway_unavailable, 502},
      {errc::upstream_timeout, 503},
      {errc::reservation_not_found, 404},
      {errc::reservation_not_pending, 409},
      {errc::package_not_found, 404},
      {errc::purchase_not_found, 404},
      {errc::payment_failed, 402},
      {errc::raw_card_data_rejected, 422},
      {errc::workflow_not_found, 404},
      {errc::run_not_found, 404},
      {errc::too_many_runs, 429},
      {errc::invalid_signature, 400},
      {errc::invalid_cursor, 400},
      {errc::internal, 500},
  };
  for (const auto& [code, status] : expected) {
    CAPTURE(tally::to_string(code));
    CHECK(tally::http::problem_for(code).status == status);
  }
}

TEST_CASE("a value outside the enum is an internal error", "[http][problem]") {
  for (int value : {0, 200, 255}) {
    const auto p = tally::http::problem_for(static_cast<errc>(value));
    CHECK(p.status == 500);
    CHECK(p.code == "internal");
  }
}

TEST_CASE("a detail passed in replaces the generic one", "[http][problem]") {
  const auto p =
      tally::http::problem_for(errc::insufficient_credits, "The balance is 30, but this costs 50.");
  CHECK(p.detail == "The balance is 30, but this costs 50.");
  CHECK(p.title == "Insufficient credits");
}

TEST_CASE("the HTTP layer's own problems have their API.md codes", "[http][problem]") {
  CHECK(tally::http::malformed_json().status == 400);
  CHECK(tally::http::malformed_json().code == "malformed_json");
  CHECK(tally::http::malformed_json("line 1").detail == "line 1");
  CHECK(tally::http::payload_too_large().status == 413);
  CHECK(tally::http::payload_too_large().code == "payload_too_large");
  CHECK(tally::http::unsupported_media_type().status == 415);
  CHECK(tally::http::unsupported_media_type().code == "unsupported_media_type");
  CHECK(tally::http::route_not_found().status == 404);
  CHECK(tally::http::route_not_found().code == "not_found");
  CHECK(tally::http::method_not_allowed().status == 405);
  CHECK(tally::http::method_not_allowed().code == "method_not_allowed");
}

TEST_CASE("an errc inside a caf::error maps like the errc itself", "[http][problem]") {
  const auto p = tally::http::problem_from_error(caf::make_error(errc::reservation_not_pending));
  CHECK(p.status == 409);
  CHECK(p.code == "reservation_not_pending");
}

TEST_CASE("a caf::error's context never reaches the body", "[http][problem]") {
  const auto error = caf::make_error(errc::storage_unavailable,
                                     std::string("SELECT * FROM identity.users: password=hunter2"));
  const auto text = tally::http::to_json_body(tally::http::problem_from_error(error), "r");
  CHECK(text.find("SELECT") == std::string::npos);
  CHECK(text.find("hunter2") == std::string::npos);
}

TEST_CASE("a CAF request timeout is 503 upstream_timeout", "[http][problem]") {
  const auto p = tally::http::problem_from_error(caf::make_error(caf::sec::request_timeout));
  CHECK(p.status == 503);
  CHECK(p.code == "upstream_timeout");
}

TEST_CASE("other CAF errors are 503 with a generic detail", "[http][problem]") {
  for (const auto& error :
       {caf::make_error(caf::sec::request_receiver_down),
        caf::make_error(caf::sec::unexpected_message), caf::make_error(caf::exit_reason::kill)}) {
    const auto p = tally::http::problem_from_error(error);
    CHECK(p.status == 503);
    CHECK(p.code == "upstream_timeout");
    CHECK(p.detail.find("request_receiver_down") == std::string::npos);
  }
}

TEST_CASE("an empty caf::error is an internal error", "[http][problem]") {
  const auto p = tally::http::problem_from_error(caf::error{});
  CHECK(p.status == 500);
  CHECK(p.code == "internal");
}

TEST_CASE("the body carries the RFC 9457 members and the request id", "[http][problem]") {
  const auto body = body_of(tally::http::problem_for(errc::insufficient_credits), "abc-123");
  CHECK(body["type"] == "https://tally.dev/problems/insufficient-credits");
  CHECK(body["title"] == "Insufficient credits");
  CHECK(body["status"] == 402);
  CHECK(body["code"] == "insufficient_credits");
  CHECK(body["detail"].is_string());
  CHECK(body["request_id"] == "abc-123");
  CHECK(body["instance"] == "urn:request:abc-123");
  CHECK_FALSE(body.contains("errors"));
}

TEST_CASE("the body lists field errors when there are some", "[http][problem]") {
  const auto p = tally::http::validation_problem(
      {{"amount", "must be at least 1"}, {"executor.type", "is required"}});
  CHECK(p.status == 422);
  const auto body = body_of(p);
  CHECK(body["code"] == "validation_failed");
  REQUIRE(body["errors"].size() == 2);
  CHECK(body["errors"][0] == json{{"field", "amount"}, {"message", "must be at least 1"}});
  CHECK(body["errors"][1]["field"] == "executor.type");
}

TEST_CASE("extra members are added but cannot overwrite standard ones", "[http][problem]") {
  auto p = tally::http::problem_for(errc::payment_failed);
  p.extra = {{"failure_code", "insufficient_fund"},
             {"failure_message", "declined"},
             {"status", 200},
             {"code", "ok"}};
  const auto body = body_of(p);
  CHECK(body["failure_code"] == "insufficient_fund");
  CHECK(body["failure_message"] == "declined");
  CHECK(body["status"] == 402);
  CHECK(body["code"] == "payment_failed");
}

TEST_CASE("extra that is not an object is ignored", "[http][problem]") {
  auto p = tally::http::problem_for(errc::internal);
  p.extra = json::array({1, 2});
  const auto body = body_of(p);
  CHECK(body.size() == 7);
}

TEST_CASE("invalid UTF-8 in a detail does not break the body", "[http][problem]") {
  const auto text = tally::http::to_json_body(
      tally::http::problem_for(errc::not_found, "bad \xC3\x28 text"), "r");
  const auto body = json::parse(text, nullptr, /*allow_exceptions=*/false);
  REQUIRE_FALSE(body.is_discarded());
  CHECK(body["status"] == 404);
}

TEST_CASE("problem type URIs use dashes", "[http][problem]") {
  CHECK(tally::http::problem_type_uri("idempotency_key_in_flight") ==
        "https://tally.dev/problems/idempotency-key-in-flight");
  CHECK(tally::http::problem_content_type == "application/problem+json");
}
