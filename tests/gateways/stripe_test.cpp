// tests/gateways/stripe_test.cpp: covers gateways/stripe_wire.cpp and
// gateways/stripe_gateway.cpp: the PaymentIntent form, headers and
// Idempotency-Key, the status mapping table, declines (402), error objects,
// events and the search used for reconciliation.
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "gateway_test_support.hpp"
#include "gateways/gateways.hpp"

using namespace tally;
using namespace tally::gateways;
using tally::gateways::testing::answer;
using tally::gateways::testing::errc_of;
using tally::gateways::testing::header_of;
using tally::gateways::testing::no_answer;

namespace {

constexpr const char* purchase_id = "0b7f0c2e-4f7a-4c1e-9a51-3f1f0f4f2a10";

stripe_settings test_settings() {
  stripe_settings settings;
  settings.api_base = "https://api.stripe.test";
  settings.secret_key = "sk_test_123";
  return settings;
}

charge_request card_request() {
  charge_request req;
  req.purchase_id = purchase_id;
  req.amount = 100000;
  req.currency = "THB";
  req.card_token = "pm_card_visa";
  req.idempotency_key = "purchase-0b7f0c2e";
  return req;
}

nlohmann::json payment_intent(const std::string& status) {
  return {{"id", "pi_3N8xYz2eZvKYlo2C0"},
          {"object", "payment_intent"},
          {"amount", 100000},
          {"amount_received", status == "succeeded" ? 100000 : 0},
          {"currency", "thb"},
          {"status", status},
          {"created", 1'764'200'000},
          {"livemode", false},
          {"client_secret", "pi_3N8xYz2eZvKYlo2C0_secret_abc"},
          {"metadata", {{"purchase_id", purchase_id}}},
          {"last_payment_error", nullptr},
          {"next_action", nullptr}};
}

}  // namespace

TEST_CASE("the PaymentIntent status table", "[gateways][stripe]") {
  struct row {
    const char* status;
    const char* cancellation_reason;
    bool has_payment_error;
    charge_status expected;
  };
  const row table[] = {
      {"succeeded", "", false, charge_status::successful},
      {"requires_payment_method", "", false, charge_status::pending},
      {"requires_payment_method", "", true, charge_status::failed},
      {"requires_confirmation", "", false, charge_status::pending},
      {"requires_action", "", false, charge_status::pending},
      {"processing", "", false, charge_status::pending},
      {"requires_capture", "", false, charge_status::pending},
      {"canceled", "", false, charge_status::expired},
      {"canceled", "automatic", false, charge_status::expired},
      {"canceled", "abandoned", false, charge_status::expired},
      {"canceled", "fraudulent", false, charge_status::failed},
      {"canceled", "requested_by_customer", false, charge_status::failed},
  };
  for (const auto& r : table) {
    INFO(r.status << " " << r.cancellation_reason << " " << r.has_payment_error);
    const auto mapped = stripe::status_for(r.status, r.cancellation_reason, r.has_payment_error);
    REQUIRE(mapped);
    CHECK(*mapped == r.expected);
  }
  CHECK_FALSE(stripe::status_for("requires_source", "", false));  // pre-2019 name
  CHECK_FALSE(stripe::status_for("", "", false));
}

TEST_CASE("a PaymentIntent parses: paid only when succeeded", "[gateways][stripe]") {
  auto succeeded = stripe::parse_payment_intent(payment_intent("succeeded").dump());
  REQUIRE(succeeded);
  CHECK(succeeded->id == "pi_3N8xYz2eZvKYlo2C0");
  CHECK(is_paid(*succeeded));
  CHECK(succeeded->amount == 100000);
  CHECK(succeeded->currency == "THB");
  CHECK(succeeded->purchase_id == purchase_id);
  CHECK(succeeded->created_at == "2025-11-26T23:33:20Z");

  auto needs_action = payment_intent("requires_action");
  needs_action["next_action"] = {
      {"type", "redirect_to_url"},
      {"redirect_to_url",
       {{"url", "https://hooks.stripe.com/3d_secure_2/hosted?x=1"}, {"return_url", "x"}}}};
  auto pending = stripe::parse_payment_intent(needs_action.dump());
  REQUIRE(pending);
  CHECK(pending->status == charge_status::pending);
  CHECK_FALSE(is_paid(*pending));
  CHECK(pending->authorize_uri == "https://hooks.stripe.com/3d_secure_2/hosted?x=1");

  auto declined = payment_intent("requires_payment_method");
  declined["last_payment_error"] = {{"type", "card_error"},
                                    {"code", "card_declined"},
                                    {"decline_code", "insufficient_funds"},
                                    {"message", "Your card has insufficient funds."}};
  auto failed = stripe::parse_payment_intent(declined.dump());
  REQUIRE(failed);
  CHECK(failed->status == charge_status::failed);
  CHECK(failed->failure_code == "insufficient_funds");
  CHECK(failed->failure_message == "Your card has insufficient funds.");

  auto canceled = payment_intent("canceled");
  canceled["cancellation_reason"] = "fraudulent";
  auto refused = stripe::parse_payment_intent(canceled.dump());
  REQUIRE(refused);
  CHECK(refused->status == charge_status::failed);
  CHECK(refused->failure_code == "canceled");
  CHECK(refused->failure_message == "fraudulent");

  auto no_status = payment_intent("succeeded");
  no_status.erase("status");
  auto malformed = stripe::parse_payment_intent(no_status.dump());
  REQUIRE_FALSE(malformed);
  CHECK(errc_of(malformed.error()) == errc::invalid_argument);
}

TEST_CASE("create_charge posts a form with Bearer auth and the caller's Idempotency-Key",
          "[gateways][stripe]") {
  testing::fake_gateway_side far_side;
  far_side.script.push_back(answer(200, payment_intent("succeeded").dump()));
  stripe_gateway client(test_settings(), far_side.as_transport());
  charge_request req = card_request();
  req.return_uri = "https://app.example/return";

  auto created = client.create_charge(req);

  REQUIRE(created);
  CHECK(is_paid(*created));
  REQUIRE(far_side.calls.size() == 1);
  const auto& sent = far_side.calls[0].request;
  CHECK(sent.method == "POST");
  CHECK(sent.url == "https://api.stripe.test/v1/payment_intents");
  CHECK(header_of(sent, "Authorization") == "Bearer sk_test_123");
  CHECK(header_of(sent, "Idempotency-Key") == "purchase-0b7f0c2e");
  CHECK(header_of(sent, "Content-Type") == "application/x-www-form-urlencoded");
  CHECK(header_of(sent, "Stripe-Version") == "2024-06-20");
  CHECK(sent.body ==
        "amount=100000&currency=thb&payment_method_types[]=card&payment_method=pm_card_visa"
        "&confirm=true&return_url=https%3A%2F%2Fapp.example%2Freturn"
        "&metadata[purchase_id]=0b7f0c2e-4f7a-4c1e-9a51-3f1f0f4f2a10");
  // The key makes every retry safe, timeouts included.
  CHECK(far_side.calls[0].policy.mode == outbound::retry_mode::idempotent);
  CHECK(far_side.calls[0].policy.attempts_max >= 3);
}

TEST_CASE("without the caller's key each create gets its own random Idempotency-Key",
          "[gateways][stripe]") {
  testing::fake_gateway_side far_side;
  far_side.script.push_back(answer(200, payment_intent("processing").dump()));
  far_side.script.push_back(answer(200, payment_intent("processing").dump()));
  stripe_gateway client(test_settings(), far_side.as_transport());
  charge_request req = card_request();
  req.idempotency_key.clear();

  REQUIRE(client.create_charge(req));
  REQUIRE(client.create_charge(req));

  const std::string first = header_of(far_side.calls[0].request, "Idempotency-Key");
  const std::string second = header_of(far_side.calls[1].request, "Idempotency-Key");
  CHECK(first.rfind("tally-", 0) == 0);
  CHECK(first.size() == 6 + 36);  // "tally-" + a UUID
  CHECK(first != second);
}

TEST_CASE("a Stripe decline (402 with the PaymentIntent) is a failed charge",
          "[gateways][stripe]") {
  const nlohmann::json decline = {
      {"error",
       {{"type", "card_error"},
        {"code", "card_declined"},
        {"decline_code", "generic_decline"},
        {"message", "Your card was declined."},
        {"payment_intent", payment_intent("requires_payment_method")}}}};
  testing::fake_gateway_side far_side;
  far_side.script.push_back(answer(402, decline.dump()));
  stripe_gateway client(test_settings(), far_side.as_transport());

  auto created = client.create_charge(card_request());

  REQUIRE(created);
  CHECK(created->id == "pi_3N8xYz2eZvKYlo2C0");
  CHECK(created->status == charge_status::failed);
  CHECK_FALSE(is_paid(*created));
  CHECK(created->failure_code == "generic_decline");
  CHECK(created->failure_message == "Your card was declined.");
}

TEST_CASE("Stripe error objects map to errc with Stripe's code", "[gateways][stripe]") {
  const auto error_body = [](const char* type, const char* code, const char* message) {
    nlohmann::json error = {{"type", type}, {"message", message}};
    if (code != nullptr) {
      error["code"] = code;
    }
    return nlohmann::json{{"error", error}}.dump();
  };
  const caf::error missing = stripe::error_from_response(
      404,
      error_body("invalid_request_error", "resource_missing", "No such payment_intent: 'pi_x'"));
  CHECK(errc_of(missing) == errc::not_found);
  CHECK(gateway_failure(missing).code == "resource_missing");
  CHECK(gateway_failure(missing).message == "No such payment_intent: 'pi_x'");
  const caf::error reused = stripe::error_from_response(
      400, error_body("idempotency_error", nullptr,
                      "Keys for idempotent requests can only be used with the same parameters"));
  CHECK(errc_of(reused) == errc::invalid_argument);
  CHECK(gateway_failure(reused).code == "idempotency_error");
  CHECK(errc_of(stripe::error_from_response(
            401, error_body("authentication_error", nullptr, "Invalid API Key provided"))) ==
        errc::unauthorized);
  CHECK(errc_of(stripe::error_from_response(402, error_body("card_error", "card_declined", "x"))) ==
        errc::payment_failed);
  CHECK(errc_of(stripe::error_from_response(
            409, error_body("invalid_request_error", "idempotency_key_in_use", "x"))) ==
        errc::gateway_unavailable);
  CHECK(errc_of(stripe::error_from_response(
            429, error_body("rate_limit_error", "rate_limit", "x"))) == errc::gateway_unavailable);
  CHECK(errc_of(stripe::error_from_response(500, "<html>")) == errc::gateway_unavailable);
}

TEST_CASE("a Stripe create that ends in a 5xx or a timeout is ambiguous", "[gateways][stripe]") {
  testing::fake_gateway_side far_side;
  stripe_gateway client(test_settings(), far_side.as_transport());
  SECTION("5xx") {
    far_side.script.push_back(answer(500, R"({"error":{"type":"api_error","message":"x"}})"));
  }
  SECTION("timeout") {
    far_side.script.push_back(no_answer(errc::upstream_timeout, true));
  }
  auto created = client.create_charge(card_request());
  REQUIRE_FALSE(created);
  CHECK(gateway_failure(created.error()).ambiguous);
}

TEST_CASE("Stripe takes card payments only", "[gateways][stripe]") {
  testing::fake_gateway_side far_side;
  stripe_gateway client(test_settings(), far_side.as_transport());
  charge_request req = card_request();
  req.method = payment_method::promptpay;
  auto created = client.create_charge(req);
  REQUIRE_FALSE(created);
  CHECK(errc_of(created.error()) == errc::invalid_argument);
  CHECK(far_side.calls.empty());
}

TEST_CASE("retrieve_charge and refund_charge speak PaymentIntents and refunds",
          "[gateways][stripe]") {
  testing::fake_gateway_side far_side;
  far_side.script.push_back(answer(200, payment_intent("succeeded").dump()));
  far_side.script.push_back(answer(200, nlohmann::json{{"id", "re_1"},
                                                       {"object", "refund"},
                                                       {"amount", 5000},
                                                       {"currency", "thb"},
                                                       {"payment_intent", "pi_3N8xYz2eZvKYlo2C0"},
                                                       {"status", "succeeded"}}
                                            .dump()));
  stripe_gateway client(test_settings(), far_side.as_transport());

  auto retrieved = client.retrieve_charge("pi_3N8xYz2eZvKYlo2C0");
  auto refunded = client.refund_charge("pi_3N8xYz2eZvKYlo2C0", 5000);

  REQUIRE(retrieved);
  CHECK(is_paid(*retrieved));
  REQUIRE(refunded);
  CHECK(refunded->id == "re_1");
  CHECK(refunded->charge_id == "pi_3N8xYz2eZvKYlo2C0");
  CHECK(refunded->currency == "THB");
  REQUIRE(far_side.calls.size() == 2);
  CHECK(far_side.calls[0].request.method == "GET");
  CHECK(far_side.calls[0].request.url ==
        "https://api.stripe.test/v1/payment_intents/pi_3N8xYz2eZvKYlo2C0");
  CHECK(header_of(far_side.calls[0].request, "Idempotency-Key").empty());
  CHECK(far_side.calls[1].request.url == "https://api.stripe.test/v1/refunds");
  CHECK(far_side.calls[1].request.body == "payment_intent=pi_3N8xYz2eZvKYlo2C0&amount=5000");
  CHECK(header_of(far_side.calls[1].request, "Idempotency-Key").rfind("tally-refund-", 0) == 0);
}

TEST_CASE("Stripe events carry the PaymentIntent they announce", "[gateways][stripe]") {
  const nlohmann::json succeeded = {{"id", "evt_1"},
                                    {"object", "event"},
                                    {"type", "payment_intent.succeeded"},
                                    {"created", 1'764'200'000},
                                    {"livemode", false},
                                    {"data", {{"object", payment_intent("succeeded")}}}};
  auto parsed = stripe::parse_event(succeeded.dump());
  REQUIRE(parsed);
  CHECK(parsed->id == "evt_1");
  CHECK(parsed->key == "payment_intent.succeeded");
  CHECK(parsed->object_type == "payment_intent");
  CHECK(parsed->object_id == "pi_3N8xYz2eZvKYlo2C0");
  REQUIRE(parsed->charge);
  CHECK(is_paid(*parsed->charge));
  CHECK(parsed->created_at == "2025-11-26T23:33:20Z");

  const nlohmann::json charge_event = {
      {"id", "evt_2"},
      {"object", "event"},
      {"type", "charge.succeeded"},
      {"data", {{"object", {{"id", "ch_1"}, {"object", "charge"}}}}}};
  auto other = stripe::parse_event(charge_event.dump());
  REQUIRE(other);
  CHECK(other->object_type == "charge");
  CHECK_FALSE(other->charge.has_value());

  auto broken = stripe::parse_event(R"({"object":"event","id":"evt_3","type":"x"})");
  REQUIRE_FALSE(broken);
  CHECK(errc_of(broken.error()) == errc::invalid_argument);
}

TEST_CASE("find_charge_by_purchase searches PaymentIntents by metadata", "[gateways][stripe]") {
  auto older = payment_intent("canceled");
  older["id"] = "pi_older";
  older["created"] = 1'764'200'000;
  auto newer = payment_intent("succeeded");
  newer["id"] = "pi_newer";
  newer["created"] = 1'764'200'060;
  testing::fake_gateway_side far_side;
  far_side.script.push_back(answer(200, nlohmann::json{{"object", "search_result"},
                                                       {"data", {older, newer}},
                                                       {"has_more", false},
                                                       {"next_page", nullptr}}
                                            .dump()));
  stripe_gateway client(test_settings(), far_side.as_transport());

  auto found = client.find_charge_by_purchase(purchase_id, 1'764'200'000);

  REQUIRE(found);
  REQUIRE(found->has_value());
  CHECK((*found)->id == "pi_newer");
  REQUIRE(far_side.calls.size() == 1);
  CHECK(far_side.calls[0].request.url ==
        "https://api.stripe.test/v1/payment_intents/search?query="
        "metadata%5B%27purchase_id%27%5D%3A%270b7f0c2e-4f7a-4c1e-9a51-3f1f0f4f2a10%27"
        "%20AND%20created%3E%3D1764199700&limit=100");
  // A purchase id that could break out of the query's quotes never reaches it.
  auto refused = client.find_charge_by_purchase("x' OR '1", 0);
  REQUIRE_FALSE(refused);
  CHECK(errc_of(refused.error()) == errc::invalid_argument);
  CHECK(far_side.calls.size() == 1);
}
