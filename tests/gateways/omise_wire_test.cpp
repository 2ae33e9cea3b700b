// tests/gateways/omise_wire_test.cpp: covers gateways/omise_wire.cpp against
// every recorded Omise response in tests/fixtures/omise (omise-go testdata),
// plus the request bodies Omise receives.
#include "gateways/omise_wire.hpp"

#include <filesystem>
#include <map>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "gateway_test_support.hpp"

using namespace tally;
using namespace tally::gateways;
using tally::gateways::testing::errc_of;
using tally::gateways::testing::fixture;

namespace {

// What each fixture is expected to be; a fixture added without an entry
// here fails the coverage test below.
const std::map<std::string, std::string>& fixture_expectations() {
  static const std::map<std::string, std::string> expectations{
      {"omise/api/charges-post.json", "charge"},
      {"omise/api/charges/404-get.json", "error"},
      {"omise/api/charges/chrg_test_4yq7duw15p9hdrjp8oq-get.json", "charge without status"},
      {"omise/api/charges/chrg_test_4yq7duw15p9hdrjp8oq/refunds-post.json", "refund"},
      {"omise/api/charges/chrg_test_5kdpo8ie121323la8ew-get.json", "charge"},
      {"omise/api/charges/chrg_test_5nvdpnapyle90ejudk8-get.json", "charge"},
      {"omise/api/charges/chrg_test_5x1753iuub61dfe41q4-get.json", "charge"},
      {"omise/api/events-get.json", "event list"},
      {"omise/api/events/evnt_test_526yctupnje5mbldskd-get.json", "event"},
      {"omise/api/malformed-get.json", "not json"},
      {"omise/api/sources-post.json", "source"},
      {"omise/api/sources/src_test_5a444nhh27tlyv81u40-get.json", "source"},
      {"omise/vault/tokens-post.json", "token"},
  };
  return expectations;
}

charge_request card_request() {
  charge_request req;
  req.purchase_id = "0b7f0c2e-4f7a-4c1e-9a51-3f1f0f4f2a10";
  req.amount = 100000;
  req.currency = "THB";
  req.method = payment_method::card;
  req.card_token = "tokn_test_4yq8lbecl0q6dsjzxr5";
  return req;
}

}  // namespace

TEST_CASE("every Omise fixture file has an expectation in these tests", "[gateways][omise]") {
  const std::filesystem::path root = std::filesystem::path(TALLY_FIXTURES_DIR);
  std::size_t json_files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root / "omise")) {
    if (!entry.is_regular_file() || entry.path().extension() != ".json") {
      continue;
    }
    ++json_files;
    const std::string relative = std::filesystem::relative(entry.path(), root).string();
    INFO(relative);
    CHECK(fixture_expectations().count(relative) == 1);
  }
  CHECK(json_files == fixture_expectations().size());
}

TEST_CASE("a created card charge parses with currency upper-cased and the old refunded field",
          "[gateways][omise]") {
  auto parsed = omise::parse_charge(fixture("omise/api/charges-post.json"));
  REQUIRE(parsed);
  CHECK(parsed->id == "chrg_test_4yq7duw15p9hdrjp8oq");
  CHECK(parsed->status == charge_status::successful);
  CHECK(parsed->paid);
  CHECK(is_paid(*parsed));
  CHECK(parsed->amount == 100000);
  CHECK(parsed->currency == "THB");  // "thb" on the wire
  CHECK(parsed->refunded_amount == 0);
  CHECK(parsed->purchase_id.empty());  // no metadata in this version
  CHECK(parsed->failure_code.empty());
  CHECK(parsed->failure_message.empty());
  CHECK(parsed->authorize_uri.empty());
  CHECK(parsed->qr_image_url.empty());
  CHECK(parsed->created_at == "2015-01-15T05:00:29Z");
  CHECK_FALSE(parsed->livemode);
}

TEST_CASE("a charge object without a status is refused, never guessed from legacy flags",
          "[gateways][omise]") {
  // This old-version fixture has `captured: true` and no `status`/`paid`.
  auto parsed =
      omise::parse_charge(fixture("omise/api/charges/chrg_test_4yq7duw15p9hdrjp8oq-get.json"));
  REQUIRE_FALSE(parsed);
  CHECK(errc_of(parsed.error()) == errc::invalid_argument);
  CHECK(gateway_failure(parsed.error()).code == "malformed_response");
}

TEST_CASE("a pending bill-payment charge parses without a creation time", "[gateways][omise]") {
  auto parsed =
      omise::parse_charge(fixture("omise/api/charges/chrg_test_5kdpo8ie121323la8ew-get.json"));
  REQUIRE(parsed);
  CHECK(parsed->id == "chrg_test_5kdpo8ie121323la8ew");
  CHECK(parsed->status == charge_status::pending);
  CHECK_FALSE(parsed->paid);
  CHECK_FALSE(is_paid(*parsed));
  CHECK(parsed->amount == 400000);
  CHECK(parsed->currency == "THB");
  CHECK(parsed->qr_image_url.empty());  // scannable_code is null
  CHECK(parsed->expires_at == "2020-07-01T03:53:01Z");
  CHECK(parsed->created_at.empty());  // only the `created_at_at` artifact
}

TEST_CASE("a pending QR charge exposes source.scannable_code.image.download_uri",
          "[gateways][omise]") {
  auto parsed =
      omise::parse_charge(fixture("omise/api/charges/chrg_test_5nvdpnapyle90ejudk8-get.json"));
  REQUIRE(parsed);
  CHECK(parsed->id == "chrg_test_5nvdpnapyle90ejudk8");
  CHECK(parsed->status == charge_status::pending);
  CHECK(parsed->amount == 400000);
  CHECK(parsed->currency == "SGD");
  CHECK(parsed->qr_image_url ==
        "https://api.omise.co/charges/chrg_test_5nvdpnapyle90ejudk8/documents/"
        "docu_test_5nvdpnc12jbp0hwy031/downloads/542F307C03299822");
  CHECK(parsed->expires_at == "2021-05-24T10:53:59Z");
}

TEST_CASE("a successful pre-authorised charge parses as paid", "[gateways][omise]") {
  auto parsed =
      omise::parse_charge(fixture("omise/api/charges/chrg_test_5x1753iuub61dfe41q4-get.json"));
  REQUIRE(parsed);
  CHECK(parsed->id == "chrg_test_5x1753iuub61dfe41q4");
  CHECK(parsed->status == charge_status::successful);
  CHECK(is_paid(*parsed));
  CHECK(parsed->amount == 10000);
  CHECK(parsed->currency == "THB");
  CHECK(parsed->refunded_amount == 0);
  CHECK(parsed->expires_at == "2023-09-14T16:36:43Z");
}

TEST_CASE("a refund object parses with its charge id", "[gateways][omise]") {
  auto parsed = omise::parse_refund(
      fixture("omise/api/charges/chrg_test_4yq7duw15p9hdrjp8oq/refunds-post.json"));
  REQUIRE(parsed);
  CHECK(parsed->id == "rfnd_test_4yqmv79ahghsiz23y3c");
  CHECK(parsed->amount == 10000);
  CHECK(parsed->currency == "THB");
  CHECK(parsed->charge_id == "chrg_test_4yq7duw15p9hdrjp8oq");
}

TEST_CASE("the 404 error object maps to not_found with Omise's code and message",
          "[gateways][omise]") {
  const std::string body = fixture("omise/api/charges/404-get.json");
  const caf::error err = omise::error_from_response(404, body);
  CHECK(errc_of(err) == errc::not_found);
  const failure_detail detail = gateway_failure(err);
  CHECK(detail.http_status == 404);
  CHECK(detail.code == "not_found");
  CHECK(detail.message == "customer missing was not found");
  CHECK_FALSE(detail.ambiguous);
  // The error object is not a charge.
  auto as_charge = omise::parse_charge(body);
  REQUIRE_FALSE(as_charge);
  CHECK(errc_of(as_charge.error()) == errc::invalid_argument);
}

TEST_CASE("the malformed fixture is invalid_argument for every parser", "[gateways][omise]") {
  const std::string body = fixture("omise/api/malformed-get.json");
  auto as_charge = omise::parse_charge(body);
  auto as_event = omise::parse_event(body);
  auto as_refund = omise::parse_refund(body);
  auto as_list = omise::parse_charge_list(body);
  REQUIRE_FALSE(as_charge);
  REQUIRE_FALSE(as_event);
  REQUIRE_FALSE(as_refund);
  REQUIRE_FALSE(as_list);
  CHECK(errc_of(as_charge.error()) == errc::invalid_argument);
  CHECK(errc_of(as_event.error()) == errc::invalid_argument);
  CHECK(errc_of(as_refund.error()) == errc::invalid_argument);
  CHECK(errc_of(as_list.error()) == errc::invalid_argument);
  // As an error answer it says nothing of the body (it could be anything).
  const failure_detail detail = gateway_failure(omise::error_from_response(502, body));
  CHECK(detail.code.empty());
  CHECK(detail.message == "HTTP 502 without an error object");
}

TEST_CASE("sources and tokens are not charges", "[gateways][omise]") {
  for (const char* name :
       {"omise/api/sources-post.json", "omise/api/sources/src_test_5a444nhh27tlyv81u40-get.json",
        "omise/vault/tokens-post.json"}) {
    INFO(name);
    auto parsed = omise::parse_charge(fixture(name));
    REQUIRE_FALSE(parsed);
    CHECK(errc_of(parsed.error()) == errc::invalid_argument);
  }
}

TEST_CASE("a deleted-object event parses without a charge", "[gateways][omise]") {
  auto parsed =
      omise::parse_event(fixture("omise/api/events/evnt_test_526yctupnje5mbldskd-get.json"));
  REQUIRE(parsed);
  CHECK(parsed->id == "evnt_test_526yctupnje5mbldskd");
  CHECK(parsed->key == "transfer.destroy");
  CHECK(parsed->object_type == "transfer");
  CHECK(parsed->object_id == "trsf_test_526yctqob5djkckq88a");
  CHECK_FALSE(parsed->charge.has_value());
  CHECK(parsed->created_at == "2015-11-30T03:39:42Z");
  CHECK_FALSE(parsed->livemode);
}

TEST_CASE("each event of the recorded event list parses; charge events carry their charge",
          "[gateways][omise]") {
  const auto list = nlohmann::json::parse(fixture("omise/api/events-get.json"));
  REQUIRE(list.at("data").size() == 20);
  // The list holds events, not charges: reading it as a charge list fails.
  auto as_charges = omise::parse_charge_list(list.dump());
  REQUIRE_FALSE(as_charges);
  CHECK(errc_of(as_charges.error()) == errc::invalid_argument);

  std::size_t charge_events = 0;
  for (const auto& element : list.at("data")) {
    auto parsed = omise::parse_event(element.dump());
    REQUIRE(parsed);
    CHECK(parsed->id == element.at("id").get<std::string>());
    CHECK(parsed->key == element.at("key").get<std::string>());
    CHECK(parsed->object_type == element.at("data").at("object").get<std::string>());
    CHECK(parsed->charge.has_value() == (parsed->object_type == "charge"));
    if (parsed->charge) {
      ++charge_events;
      CHECK(parsed->charge->id == parsed->object_id);
      CHECK(parsed->charge->currency == "THB");
    }
  }
  CHECK(charge_events == 5);

  // One in detail: the authorised-then-captured charge.
  auto created = omise::parse_event(list.at("data").at(11).dump());
  auto captured = omise::parse_event(list.at("data").at(12).dump());
  REQUIRE(created);
  REQUIRE(captured);
  CHECK(created->key == "charge.create");
  CHECK(created->charge->status == charge_status::pending);
  CHECK_FALSE(created->charge->paid);
  CHECK(captured->key == "charge.capture");
  CHECK(captured->charge->id == "chrg_test_5232t6rvomzcnnmq2xy");
  CHECK(captured->charge->amount == 409669);
  CHECK(is_paid(*captured->charge));
}

TEST_CASE("charge parsing tolerates version differences", "[gateways][omise]") {
  nlohmann::json charge_json = {
      {"object", "charge"},
      {"id", "chrg_test_abc"},
      {"status", "failed"},
      {"amount", 2500},
      {"currency", "thb"},
      {"paid", false},
      {"created", "2014-01-01T00:00:00Z"},
      {"failure_code", "insufficient_fund"},
      {"failure_message",
       "insufficient funds in the account or the card has reached the credit limit"},
      {"metadata", {{"purchase_id", "pur-1"}, {"other", 3}}},
      {"authorize_uri", "https://api.omise.co/payments/paym_test_x/authorize"},
      {"brand_new_field", {{"nested", true}}},
  };
  auto parsed = omise::parse_charge(charge_json.dump());
  REQUIRE(parsed);
  CHECK(parsed->status == charge_status::failed);
  CHECK(parsed->created_at == "2014-01-01T00:00:00Z");  // `created` accepted
  CHECK(parsed->failure_code == "insufficient_fund");
  CHECK(parsed->failure_message.rfind("insufficient funds", 0) == 0);
  CHECK(parsed->purchase_id == "pur-1");
  CHECK(parsed->authorize_uri == "https://api.omise.co/payments/paym_test_x/authorize");

  SECTION("created_at wins over created") {
    charge_json["created_at"] = "2019-06-01T00:00:00Z";
    CHECK(omise::parse_charge(charge_json.dump())->created_at == "2019-06-01T00:00:00Z");
  }
  SECTION("a missing paid flag means not paid, even when successful") {
    charge_json["status"] = "successful";
    charge_json.erase("paid");
    auto successful = omise::parse_charge(charge_json.dump());
    REQUIRE(successful);
    CHECK_FALSE(is_paid(*successful));
  }
  SECTION("refunded_amount is read, the old `refunded` is the fallback") {
    charge_json["refunded"] = 100;
    CHECK(omise::parse_charge(charge_json.dump())->refunded_amount == 100);
    charge_json["refunded_amount"] = 700;
    CHECK(omise::parse_charge(charge_json.dump())->refunded_amount == 700);
  }
  SECTION("expired and reversed are statuses") {
    charge_json["status"] = "expired";
    CHECK(omise::parse_charge(charge_json.dump())->status == charge_status::expired);
    charge_json["status"] = "reversed";
    CHECK(omise::parse_charge(charge_json.dump())->status == charge_status::reversed);
  }
}

TEST_CASE("charge parsing is strict about id, status, amount and currency", "[gateways][omise]") {
  const nlohmann::json good = {{"object", "charge"},     {"id", "chrg_test_abc"},
                               {"status", "successful"}, {"amount", 2500},
                               {"currency", "THB"},      {"paid", true}};
  REQUIRE(omise::parse_charge(good.dump()));
  auto refused = [](nlohmann::json bad) {
    auto parsed = omise::parse_charge(bad.dump());
    REQUIRE_FALSE(parsed);
    return errc_of(parsed.error());
  };
  auto without = [&](const char* key) {
    nlohmann::json copy = good;
    copy.erase(key);
    return copy;
  };
  auto with = [&](const char* key, nlohmann::json value) {
    nlohmann::json copy = good;
    copy[key] = std::move(value);
    return copy;
  };
  CHECK(refused(without("id")) == errc::invalid_argument);
  CHECK(refused(without("status")) == errc::invalid_argument);
  CHECK(refused(without("amount")) == errc::invalid_argument);
  CHECK(refused(without("currency")) == errc::invalid_argument);
  CHECK(refused(with("status", "captured")) == errc::invalid_argument);
  CHECK(refused(with("amount", "2500")) == errc::invalid_argument);
  CHECK(refused(with("amount", 25.5)) == errc::invalid_argument);
  CHECK(refused(with("amount", -1)) == errc::invalid_argument);
  CHECK(refused(with("id", "chrg/../../events")) == errc::invalid_argument);
  CHECK(refused(with("object", "refund")) == errc::invalid_argument);
  CHECK(refused(nlohmann::json::array({good})) == errc::invalid_argument);
}

TEST_CASE("a charge list parses every charge or fails as a whole", "[gateways][omise]") {
  nlohmann::json list = {{"object", "list"},
                         {"total", 2},
                         {"offset", 0},
                         {"limit", 100},
                         {"data",
                          {{{"object", "charge"},
                            {"id", "chrg_test_1"},
                            {"status", "pending"},
                            {"amount", 100},
                            {"currency", "thb"},
                            {"metadata", {{"purchase_id", "p1"}}}},
                           {{"object", "charge"},
                            {"id", "chrg_test_2"},
                            {"status", "successful"},
                            {"amount", 200},
                            {"currency", "THB"},
                            {"paid", true},
                            {"metadata", {{"purchase_id", "p2"}}}}}}};
  auto page = omise::parse_charge_list(list.dump());
  REQUIRE(page);
  REQUIRE(page->charges.size() == 2);
  CHECK(page->total == 2);
  CHECK(page->charges[0].purchase_id == "p1");
  CHECK(page->charges[1].purchase_id == "p2");
  CHECK(is_paid(page->charges[1]));

  list["data"][1].erase("status");
  auto broken = omise::parse_charge_list(list.dump());
  REQUIRE_FALSE(broken);
  CHECK(errc_of(broken.error()) == errc::invalid_argument);
}

TEST_CASE("Omise answers map to the right errc", "[gateways][omise]") {
  const auto code_of = [](int status, const std::string& code) {
    const nlohmann::json body = {{"object", "error"}, {"code", code}, {"message", "m"}};
    return errc_of(omise::error_from_response(status, body.dump()));
  };
  CHECK(code_of(401, "authentication_failure") == errc::unauthorized);
  CHECK(code_of(403, "forbidden") == errc::unauthorized);
  CHECK(code_of(404, "not_found") == errc::not_found);
  CHECK(code_of(400, "used_token") == errc::invalid_argument);
  CHECK(code_of(400, "invalid_card") == errc::invalid_argument);
  CHECK(code_of(422, "invalid_charge") == errc::invalid_argument);
  CHECK(code_of(429, "too_many_requests") == errc::gateway_unavailable);
  CHECK(code_of(500, "backend_error") == errc::gateway_unavailable);
  CHECK(code_of(503, "service_unavailable") == errc::gateway_unavailable);
  const failure_detail used = gateway_failure(omise::error_from_response(
      400, R"({"object":"error","code":"used_token","message":"token was already used"})"));
  CHECK(used.http_status == 400);
  CHECK(used.code == "used_token");
  CHECK(used.message == "token was already used");
}

TEST_CASE("a card charge is form-encoded with the token and the purchase id in metadata",
          "[gateways][omise]") {
  charge_request req = card_request();
  req.return_uri = "https://shop.example/return?purchase=1&x=a b";
  req.description = "100 credits";
  auto form = omise::charge_form(req);
  REQUIRE(form);
  CHECK(form_encode(*form) ==
        "amount=100000&currency=thb&card=tokn_test_4yq8lbecl0q6dsjzxr5"
        "&return_uri=https%3A%2F%2Fshop.example%2Freturn%3Fpurchase%3D1%26x%3Da%20b"
        "&description=100%20credits"
        "&metadata[purchase_id]=0b7f0c2e-4f7a-4c1e-9a51-3f1f0f4f2a10");
}

TEST_CASE("a PromptPay charge carries an inline promptpay source and no card",
          "[gateways][omise]") {
  charge_request req = card_request();
  req.method = payment_method::promptpay;
  req.card_token.clear();
  req.amount = 5000;
  auto form = omise::charge_form(req);
  REQUIRE(form);
  CHECK(form_encode(*form) ==
        "amount=5000&currency=thb&source[type]=promptpay"
        "&metadata[purchase_id]=0b7f0c2e-4f7a-4c1e-9a51-3f1f0f4f2a10");
}

TEST_CASE("charge requests that must not be sent are refused", "[gateways][omise]") {
  const auto refusal = [](charge_request req) {
    auto form = omise::charge_form(req);
    REQUIRE_FALSE(form);
    return errc_of(form.error());
  };
  charge_request req = card_request();
  req.card_token = "4242 4242 4242 4242";
  CHECK(refusal(req) == errc::raw_card_data_rejected);
  req = card_request();
  req.description = "card 4111-1111-1111-1111";
  CHECK(refusal(req) == errc::raw_card_data_rejected);
  req = card_request();
  req.amount = 0;
  CHECK(refusal(req) == errc::invalid_argument);
  req = card_request();
  req.currency = "BAHT";
  CHECK(refusal(req) == errc::invalid_argument);
  req = card_request();
  req.card_token.clear();
  CHECK(refusal(req) == errc::invalid_argument);
  req = card_request();
  req.card_token = "tokn&amount=1";
  CHECK(refusal(req) == errc::invalid_argument);
  req = card_request();
  req.purchase_id = "a b";
  CHECK(refusal(req) == errc::invalid_argument);
  req = card_request();
  req.return_uri = "javascript:alert(1)";
  CHECK(refusal(req) == errc::invalid_argument);
}
