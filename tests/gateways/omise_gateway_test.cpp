// tests/gateways/omise_gateway_test.cpp: covers gateways/omise_gateway.cpp
// through the transport seam: the requests Omise receives (method, URL,
// headers, form body, retry policy) and what the client makes of Omise's
// recorded answers, retries and ambiguous failures.
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "gateway_test_support.hpp"
#include "gateways/gateways.hpp"

using namespace tally;
using namespace tally::gateways;
using tally::gateways::testing::answer;
using tally::gateways::testing::errc_of;
using tally::gateways::testing::fixture;
using tally::gateways::testing::header_of;
using tally::gateways::testing::no_answer;

namespace {

constexpr const char* purchase_id = "0b7f0c2e-4f7a-4c1e-9a51-3f1f0f4f2a10";

omise_settings test_settings() {
  omise_settings settings;
  settings.api_base = "https://api.omise.test/";
  settings.secret_key = "skey_test_123";
  settings.public_key = "pkey_test_123";
  // Short waits: the retry schedule is not what these tests measure.
  settings.calls.retry.delay_min = std::chrono::milliseconds{1};
  settings.calls.retry.delay_max = std::chrono::milliseconds{2};
  return settings;
}

charge_request card_request() {
  charge_request req;
  req.purchase_id = purchase_id;
  req.amount = 100000;
  req.currency = "THB";
  req.method = payment_method::card;
  req.card_token = "tokn_test_4yq8lbecl0q6dsjzxr5";
  return req;
}

nlohmann::json list_charge(const std::string& id, const std::string& for_purchase) {
  return {{"object", "charge"},
          {"id", id},
          {"status", "successful"},
          {"amount", 100000},
          {"currency", "THB"},
          {"paid", true},
          {"metadata", {{"purchase_id", for_purchase}}}};
}

std::string charge_list(const nlohmann::json& charges, int64_t total, int64_t offset) {
  return nlohmann::json{{"object", "list"}, {"data", charges}, {"total", total},
                        {"offset", offset}, {"limit", 100},    {"order", "reverse_chronological"}}
      .dump();
}

std::string charge_with_purchase(const std::string& fixture_name) {
  auto object = nlohmann::json::parse(fixture(fixture_name));
  object["metadata"] = {{"purchase_id", purchase_id}};
  return object.dump();
}

}  // namespace

TEST_CASE("create_charge posts a form with Basic auth and the pinned Omise-Version",
          "[gateways][omise]") {
  testing::fake_gateway_side far_side;
  far_side.script.push_back(answer(200, fixture("omise/api/charges-post.json")));
  omise_gateway client(test_settings(), far_side.as_transport());
  charge_request req = card_request();
  req.return_uri = "https://app.example/return";

  auto created = client.create_charge(req);

  REQUIRE(created);
  CHECK(created->id == "chrg_test_4yq7duw15p9hdrjp8oq");
  CHECK(created->currency == "THB");
  CHECK(is_paid(*created));
  REQUIRE(far_side.calls.size() == 1);
  const auto& sent = far_side.calls[0].request;
  CHECK(sent.method == "POST");
  CHECK(sent.url == "https://api.omise.test/charges");
  CHECK(header_of(sent, "Authorization") == "Basic c2tleV90ZXN0XzEyMzo=");  // "skey_test_123:"
  CHECK(header_of(sent, "Omise-Version") == "2019-05-29");
  CHECK(header_of(sent, "Content-Type") == "application/x-www-form-urlencoded");
  CHECK(header_of(sent, "Idempotency-Key").empty());  // unverified at Omise: not relied on
  CHECK(sent.body ==
        "amount=100000&currency=thb&card=tokn_test_4yq8lbecl0q6dsjzxr5"
        "&return_uri=https%3A%2F%2Fapp.example%2Freturn"
        "&metadata[purchase_id]=0b7f0c2e-4f7a-4c1e-9a51-3f1f0f4f2a10");
  // One attempt per send: the client decides about sending again itself.
  CHECK(far_side.calls[0].policy.mode == outbound::retry_mode::never);
  CHECK(far_side.calls[0].policy.attempts_max == 1);
}

TEST_CASE("a PromptPay charge returns the QR image URL", "[gateways][omise]") {
  testing::fake_gateway_side far_side;
  far_side.script.push_back(
      answer(200, fixture("omise/api/charges/chrg_test_5nvdpnapyle90ejudk8-get.json")));
  omise_gateway client(test_settings(), far_side.as_transport());
  charge_request req = card_request();
  req.method = payment_method::promptpay;
  req.card_token.clear();

  auto created = client.create_charge(req);

  REQUIRE(created);
  CHECK(created->status == charge_status::pending);
  CHECK(created->qr_image_url.find("/downloads/542F307C03299822") != std::string::npos);
  REQUIRE(far_side.calls.size() == 1);
  CHECK(far_side.calls[0].request.body.find("source[type]=promptpay") != std::string::npos);
  CHECK(far_side.calls[0].request.body.find("card=") == std::string::npos);
}

TEST_CASE("a timeout after sending a charge is ambiguous and is not sent again",
          "[gateways][omise]") {
  testing::fake_gateway_side far_side;
  far_side.script.push_back(no_answer(errc::upstream_timeout, /*ambiguous=*/true));
  omise_gateway client(test_settings(), far_side.as_transport());

  auto created = client.create_charge(card_request());

  REQUIRE_FALSE(created);
  CHECK(errc_of(created.error()) == errc::upstream_timeout);
  CHECK(gateway_failure(created.error()).ambiguous);
  CHECK(far_side.calls.size() == 1);
}

TEST_CASE("a cut connection after sending is ambiguous too", "[gateways][omise]") {
  testing::fake_gateway_side far_side;
  far_side.script.push_back(no_answer(errc::gateway_unavailable, /*ambiguous=*/true));
  omise_gateway client(test_settings(), far_side.as_transport());

  auto created = client.create_charge(card_request());

  REQUIRE_FALSE(created);
  CHECK(errc_of(created.error()) == errc::upstream_timeout);
  CHECK(gateway_failure(created.error()).ambiguous);
  CHECK(far_side.calls.size() == 1);
}

TEST_CASE("a charge that never reached Omise is sent again", "[gateways][omise]") {
  testing::fake_gateway_side far_side;
  far_side.script.push_back(no_answer(errc::gateway_unavailable, /*ambiguous=*/false));
  far_side.script.push_back(answer(429, R"({"object":"error","code":"too_many_requests"})"));
  far_side.script.push_back(answer(200, fixture("omise/api/charges-post.json")));
  omise_gateway client(test_settings(), far_side.as_transport());

  auto created = client.create_charge(card_request());

  REQUIRE(created);
  CHECK(created->id == "chrg_test_4yq7duw15p9hdrjp8oq");
  REQUIRE(far_side.calls.size() == 3);
  for (const auto& call : far_side.calls) {
    CHECK(call.request.method == "POST");
    CHECK(call.request.body == far_side.calls[0].request.body);
  }
}

TEST_CASE("after a 5xx the charge is looked up by purchase id before any resend",
          "[gateways][omise]") {
  testing::fake_gateway_side far_side;
  omise_gateway client(test_settings(), far_side.as_transport());

  SECTION("the charge exists: it is returned and nothing is sent again") {
    far_side.script.push_back(answer(500, R"({"object":"error","code":"internal_error"})"));
    far_side.script.push_back(
        answer(200, charge_list({list_charge("chrg_test_other", "another-purchase"),
                                 list_charge("chrg_test_created", purchase_id)},
                                2, 0)));
    auto created = client.create_charge(card_request());
    REQUIRE(created);
    CHECK(created->id == "chrg_test_created");
    REQUIRE(far_side.calls.size() == 2);
    CHECK(far_side.calls[1].request.method == "GET");
    CHECK(far_side.calls[1].request.url.rfind("https://api.omise.test/charges?from=", 0) == 0);
  }
  SECTION("no charge exists: the charge is sent again") {
    far_side.script.push_back(answer(503, ""));
    far_side.script.push_back(answer(200, charge_list(nlohmann::json::array(), 0, 0)));
    far_side.script.push_back(answer(200, fixture("omise/api/charges-post.json")));
    auto created = client.create_charge(card_request());
    REQUIRE(created);
    REQUIRE(far_side.calls.size() == 3);
    CHECK(far_side.calls[0].request.method == "POST");
    CHECK(far_side.calls[1].request.method == "GET");
    CHECK(far_side.calls[2].request.method == "POST");
  }
  SECTION("5xx on every attempt: gateway_unavailable, still ambiguous") {
    for (int i = 0; i < 3; ++i) {
      far_side.script.push_back(answer(502, ""));
      far_side.script.push_back(answer(200, charge_list(nlohmann::json::array(), 0, 0)));
    }
    auto created = client.create_charge(card_request());
    REQUIRE_FALSE(created);
    CHECK(errc_of(created.error()) == errc::gateway_unavailable);
    CHECK(gateway_failure(created.error()).ambiguous);
    CHECK(gateway_failure(created.error()).http_status == 502);
    CHECK(far_side.calls.size() == 6);  // three charges, three look-ups
  }
  SECTION("the look-up fails: ambiguous, nothing sent again") {
    far_side.script.push_back(answer(500, ""));
    far_side.script.push_back(no_answer(errc::gateway_unavailable, false));
    auto created = client.create_charge(card_request());
    REQUIRE_FALSE(created);
    CHECK(gateway_failure(created.error()).ambiguous);
    CHECK(far_side.calls.size() == 2);
  }
}

TEST_CASE("Omise refusals are returned at once with Omise's code", "[gateways][omise]") {
  testing::fake_gateway_side far_side;
  omise_gateway client(test_settings(), far_side.as_transport());

  SECTION("used token") {
    far_side.script.push_back(answer(
        400, R"({"object":"error","code":"used_token","message":"token was already used"})"));
    auto created = client.create_charge(card_request());
    REQUIRE_FALSE(created);
    CHECK(errc_of(created.error()) == errc::invalid_argument);
    CHECK(gateway_failure(created.error()).code == "used_token");
    CHECK_FALSE(gateway_failure(created.error()).ambiguous);
  }
  SECTION("bad key") {
    far_side.script.push_back(answer(
        401,
        R"({"object":"error","code":"authentication_failure","message":"authentication failed"})"));
    auto created = client.create_charge(card_request());
    REQUIRE_FALSE(created);
    CHECK(errc_of(created.error()) == errc::unauthorized);
    // The key never appears in what a caller might log.
    CHECK(gateway_failure(created.error()).message.find("skey_") == std::string::npos);
  }
  CHECK(far_side.calls.size() == 1);
}

TEST_CASE("a 200 whose body cannot be read is an ambiguous charge", "[gateways][omise]") {
  testing::fake_gateway_side far_side;
  far_side.script.push_back(answer(200, fixture("omise/api/malformed-get.json")));
  omise_gateway client(test_settings(), far_side.as_transport());

  auto created = client.create_charge(card_request());

  REQUIRE_FALSE(created);
  // Not invalid_argument: callers read that as "refused, nothing created".
  CHECK(errc_of(created.error()) == errc::upstream_timeout);
  CHECK(gateway_failure(created.error()).ambiguous);
  CHECK(gateway_failure(created.error()).code == "malformed_response");
  CHECK(far_side.calls.size() == 1);
}

TEST_CASE("a declined card is a failed charge, not an error", "[gateways][omise]") {
  auto declined = nlohmann::json::parse(fixture("omise/api/charges-post.json"));
  declined["status"] = "failed";
  declined["paid"] = false;
  declined["failure_code"] = "insufficient_fund";
  declined["failure_message"] =
      "insufficient funds in the account or the card has reached the credit limit";
  testing::fake_gateway_side far_side;
  far_side.script.push_back(answer(200, declined.dump()));
  omise_gateway client(test_settings(), far_side.as_transport());

  auto created = client.create_charge(card_request());

  REQUIRE(created);
  CHECK(created->status == charge_status::failed);
  CHECK_FALSE(is_paid(*created));
  CHECK(created->failure_code == "insufficient_fund");
}

TEST_CASE("retrieve_charge and retrieve_event GET with idempotent retries", "[gateways][omise]") {
  testing::fake_gateway_side far_side;
  far_side.script.push_back(
      answer(200, fixture("omise/api/charges/chrg_test_5x1753iuub61dfe41q4-get.json")));
  far_side.script.push_back(
      answer(200, fixture("omise/api/events/evnt_test_526yctupnje5mbldskd-get.json")));
  omise_gateway client(test_settings(), far_side.as_transport());

  auto retrieved = client.retrieve_charge("chrg_test_5x1753iuub61dfe41q4");
  auto event = client.retrieve_event("evnt_test_526yctupnje5mbldskd");

  REQUIRE(retrieved);
  CHECK(retrieved->amount == 10000);
  CHECK(is_paid(*retrieved));
  REQUIRE(event);
  CHECK(event->key == "transfer.destroy");
  REQUIRE(far_side.calls.size() == 2);
  const auto& get_charge = far_side.calls[0];
  CHECK(get_charge.request.method == "GET");
  CHECK(get_charge.request.url == "https://api.omise.test/charges/chrg_test_5x1753iuub61dfe41q4");
  CHECK(get_charge.request.body.empty());
  CHECK(header_of(get_charge.request, "Content-Type").empty());
  CHECK(header_of(get_charge.request, "Authorization") == "Basic c2tleV90ZXN0XzEyMzo=");
  CHECK(get_charge.policy.mode == outbound::retry_mode::idempotent);
  CHECK(get_charge.policy.attempts_max >= 3);
  CHECK(far_side.calls[1].request.url ==
        "https://api.omise.test/events/evnt_test_526yctupnje5mbldskd");
}

TEST_CASE("an unknown charge is not_found with Omise's code and message", "[gateways][omise]") {
  testing::fake_gateway_side far_side;
  far_side.script.push_back(answer(404, fixture("omise/api/charges/404-get.json")));
  omise_gateway client(test_settings(), far_side.as_transport());

  auto retrieved = client.retrieve_charge("chrg_test_missing");

  REQUIRE_FALSE(retrieved);
  CHECK(errc_of(retrieved.error()) == errc::not_found);
  CHECK(gateway_failure(retrieved.error()).code == "not_found");
  CHECK(gateway_failure(retrieved.error()).message == "customer missing was not found");
}

TEST_CASE("ids that are not ids never reach a URL", "[gateways][omise]") {
  testing::fake_gateway_side far_side;
  omise_gateway client(test_settings(), far_side.as_transport());
  CHECK(errc_of(client.retrieve_charge("../events/evnt_1").error()) == errc::invalid_argument);
  CHECK(errc_of(client.retrieve_event("evnt?x=1").error()) == errc::invalid_argument);
  CHECK(errc_of(client.refund_charge("", 100).error()) == errc::invalid_argument);
  CHECK(errc_of(client.refund_charge("chrg_test_1", 0).error()) == errc::invalid_argument);
  CHECK(far_side.calls.empty());
}

TEST_CASE("refund_charge posts the amount and reads the refund", "[gateways][omise]") {
  testing::fake_gateway_side far_side;
  far_side.script.push_back(
      answer(200, fixture("omise/api/charges/chrg_test_4yq7duw15p9hdrjp8oq/refunds-post.json")));
  omise_gateway client(test_settings(), far_side.as_transport());

  auto refunded = client.refund_charge("chrg_test_4yq7duw15p9hdrjp8oq", 10000);

  REQUIRE(refunded);
  CHECK(refunded->id == "rfnd_test_4yqmv79ahghsiz23y3c");
  CHECK(refunded->amount == 10000);
  CHECK(refunded->charge_id == "chrg_test_4yq7duw15p9hdrjp8oq");
  REQUIRE(far_side.calls.size() == 1);
  CHECK(far_side.calls[0].request.url ==
        "https://api.omise.test/charges/chrg_test_4yq7duw15p9hdrjp8oq/refunds");
  CHECK(far_side.calls[0].request.body == "amount=10000");
}

TEST_CASE("a refund that got a 5xx is ambiguous and never sent twice", "[gateways][omise]") {
  testing::fake_gateway_side far_side;
  far_side.script.push_back(answer(500, ""));
  omise_gateway client(test_settings(), far_side.as_transport());

  auto refunded = client.refund_charge("chrg_test_4yq7duw15p9hdrjp8oq", 10000);

  REQUIRE_FALSE(refunded);
  CHECK(errc_of(refunded.error()) == errc::gateway_unavailable);
  CHECK(gateway_failure(refunded.error()).ambiguous);
  CHECK(far_side.calls.size() == 1);
}

TEST_CASE("find_charge_by_purchase pages newest-first through the charges since the purchase",
          "[gateways][omise]") {
  testing::fake_gateway_side far_side;
  omise_gateway client(test_settings(), far_side.as_transport());
  constexpr int64_t created_after_s = 1'764'200'000;
  nlohmann::json first_page = nlohmann::json::array();
  for (int i = 0; i < 100; ++i) {
    first_page.push_back(list_charge("chrg_test_a" + std::to_string(i), "p" + std::to_string(i)));
  }

  SECTION("found on the second page") {
    far_side.script.push_back(answer(200, charge_list(first_page, 150, 0)));
    far_side.script.push_back(answer(200, charge_list({list_charge("chrg_test_b0", "x"),
                                                       list_charge("chrg_test_mine", purchase_id)},
                                                      150, 100)));
    auto found = client.find_charge_by_purchase(purchase_id, created_after_s);
    REQUIRE(found);
    REQUIRE(found->has_value());
    CHECK((*found)->id == "chrg_test_mine");
    REQUIRE(far_side.calls.size() == 2);
    // The window starts reconcile_clock_skew_s before the purchase.
    CHECK(far_side.calls[0].request.url ==
          "https://api.omise.test/charges?from=2025-11-26T23%3A28%3A20Z"
          "&order=reverse_chronological&limit=100&offset=0");
    CHECK(far_side.calls[1].request.url.find("&offset=100") != std::string::npos);
  }
  SECTION("not in any page: none") {
    far_side.script.push_back(answer(200, charge_list(first_page, 100, 0)));
    auto found = client.find_charge_by_purchase(purchase_id, created_after_s);
    REQUIRE(found);
    CHECK_FALSE(found->has_value());
    CHECK(far_side.calls.size() == 1);
  }
  SECTION("more charges than one look-up scans: overloaded, never 'none'") {
    for (int64_t page = 0; page < omise_reconcile_pages_max; ++page) {
      far_side.script.push_back(answer(200, charge_list(first_page, 5000, page * 100)));
    }
    auto found = client.find_charge_by_purchase(purchase_id, created_after_s);
    REQUIRE_FALSE(found);
    CHECK(errc_of(found.error()) == errc::overloaded);
    CHECK(far_side.calls.size() == static_cast<std::size_t>(omise_reconcile_pages_max));
  }
  SECTION("a charge in the window that cannot be read: an error, never 'none'") {
    auto broken = first_page;
    broken[3].erase("status");
    far_side.script.push_back(answer(200, charge_list(broken, 100, 0)));
    auto found = client.find_charge_by_purchase(purchase_id, created_after_s);
    REQUIRE_FALSE(found);
    CHECK(errc_of(found.error()) == errc::invalid_argument);
  }
}

TEST_CASE("the sandbox is the same client with its own name, URL and key", "[gateways][omise]") {
  testing::fake_gateway_side far_side;
  far_side.script.push_back(answer(
      200, charge_with_purchase("omise/api/charges/chrg_test_5x1753iuub61dfe41q4-get.json")));
  gateways_settings settings;
  settings.sandbox.name = "sandbox";
  settings.sandbox.api_base = "http://127.0.0.1:8090";
  settings.sandbox.secret_key = "skey_test_sandbox";
  auto sandbox = make_gateway("sandbox", settings, far_side.as_transport());
  REQUIRE(sandbox);
  CHECK((*sandbox)->name() == "sandbox");

  auto retrieved = (*sandbox)->retrieve_charge("chrg_test_5x1753iuub61dfe41q4");

  REQUIRE(retrieved);
  CHECK(retrieved->purchase_id == purchase_id);
  REQUIRE(far_side.calls.size() == 1);
  CHECK(far_side.calls[0].request.url ==
        "http://127.0.0.1:8090/charges/chrg_test_5x1753iuub61dfe41q4");
  CHECK(header_of(far_side.calls[0].request, "Authorization") ==
        "Basic c2tleV90ZXN0X3NhbmRib3g6");  // "skey_test_sandbox:"
}

TEST_CASE("a gateway without a secret key fails every call without sending", "[gateways][omise]") {
  testing::fake_gateway_side far_side;
  gateways_settings settings;  // no keys anywhere
  auto omise = make_gateway("omise", settings, far_side.as_transport());
  REQUIRE(omise);
  CHECK((*omise)->name() == "omise");
  auto created = (*omise)->create_charge(card_request());
  auto retrieved = (*omise)->retrieve_charge("chrg_test_1");
  REQUIRE_FALSE(created);
  REQUIRE_FALSE(retrieved);
  CHECK(errc_of(created.error()) == errc::gateway_unavailable);
  CHECK(gateway_failure(created.error()).code == "not_configured");
  CHECK(errc_of(retrieved.error()) == errc::gateway_unavailable);
  CHECK(far_side.calls.empty());
}

TEST_CASE("make_gateway refuses unknown names and bad settings", "[gateways][omise]") {
  testing::fake_gateway_side far_side;
  gateways_settings settings;
  CHECK(errc_of(make_gateway("paypal", settings, far_side.as_transport()).error()) ==
        errc::invalid_argument);
  settings.omise.webhook_secret = "not base64!";
  CHECK(errc_of(make_gateway("omise", settings, far_side.as_transport()).error()) ==
        errc::invalid_argument);
  settings.omise.webhook_secret.clear();
  settings.omise.api_base = "ftp://api.omise.co";
  CHECK(errc_of(make_gateway("omise", settings, far_side.as_transport()).error()) ==
        errc::invalid_argument);
  settings.stripe.calls.retry.attempts_max = 0;
  CHECK(errc_of(make_gateway("stripe", settings, far_side.as_transport()).error()) ==
        errc::invalid_argument);
}

TEST_CASE("the Omise webhook secret is canonical base64, padding optional", "[gateways][omise]") {
  omise_settings settings;
  settings.webhook_secret = "c2VjcmV0Zg==";  // "secretf"
  CHECK_FALSE(static_cast<bool>(check_settings(settings)));
  settings.webhook_secret = "c2VjcmV0Zg";
  CHECK_FALSE(static_cast<bool>(check_settings(settings)));
  settings.webhook_secret = "c2VjcmV0Zh==";  // a stray bit after "f"
  CHECK(static_cast<bool>(check_settings(settings)));
  settings.webhook_secret = "c2VjcmV0Zg=";
  CHECK(static_cast<bool>(check_settings(settings)));
}

TEST_CASE("settings_from_config maps every gateway setting", "[gateways]") {
  config::gateway_settings cfg;
  cfg.omise_secret_key = "skey_live_x";
  cfg.omise_webhook_secret = "c2VjcmV0";
  cfg.sandbox_api_url = "http://127.0.0.1:9999";
  cfg.sandbox_secret_key = "skey_test_s";
  cfg.stripe_secret_key = "sk_test_x";
  cfg.stripe_webhook_secret = "whsec_x";
  cfg.request_timeout_ms = 7'000;
  const gateways_settings settings = settings_from_config(cfg);
  CHECK(settings.omise.name == "omise");
  CHECK(settings.omise.api_base == "https://api.omise.co");
  CHECK(settings.omise.secret_key == "skey_live_x");
  CHECK(settings.omise.webhook_secret == "c2VjcmV0");
  CHECK(settings.sandbox.name == "sandbox");
  CHECK(settings.sandbox.api_base == "http://127.0.0.1:9999");
  CHECK(settings.sandbox.secret_key == "skey_test_s");
  CHECK(settings.sandbox.webhook_secret.empty());
  CHECK(settings.stripe.secret_key == "sk_test_x");
  CHECK(settings.stripe.webhook_secret == "whsec_x");
  CHECK(settings.omise.calls.timeout == std::chrono::milliseconds{7'000});
  CHECK(settings.omise.calls.retry.attempts_max >= 3);
  // Every attempt can run to its timeout inside the budget.
  CHECK(settings.omise.calls.retry.budget >=
        settings.omise.calls.timeout * settings.omise.calls.retry.attempts_max);
}
