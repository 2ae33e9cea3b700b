// tests/sandbox/state_test.cpp: covers sandbox/state.cpp, the sandbox's state
// machine: single-use tokens, card outcomes, PromptPay pending -> final,
// expiry, refunds within the amount, events, the charge list and eviction.
#include "sandbox/state.hpp"

#include <catch2/catch.hpp>

#include "sandbox/limits.hpp"

using namespace tally::sandbox;
using nlohmann::json;

namespace {

constexpr int64_t now = 1'800'000'000;  // 2027-01-15

sandbox_state make_state(int64_t ttl_s = 600) {
  state_options options;
  options.base_url = "http://127.0.0.1:9999";
  options.promptpay_ttl_s = ttl_s;
  return sandbox_state(options, id_generator(42));
}

card_input card(const std::string& number) {
  card_input input;
  input.number = number;
  input.name = "SOMCHAI PRASERT";
  input.expiration_month = 12;
  input.expiration_year = 2030;
  return input;
}

charge_input card_charge(const std::string& token, int64_t amount = 100'000) {
  charge_input input;
  input.amount = amount;
  input.currency = "THB";
  input.card_token = token;
  input.metadata = {{"purchase_id", "pur_1"}};
  return input;
}

charge_input promptpay_charge(int64_t amount = 50'000) {
  charge_input input;
  input.amount = amount;
  input.currency = "THB";
  input.inline_source_type = "promptpay";
  return input;
}

std::vector<std::string> keys(const std::vector<event_record>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) {
    out.push_back(e.key);
  }
  return out;
}

}  // namespace

TEST_CASE("a token from a success card charges successfully, once", "[sandbox][state]") {
  auto state = make_state();
  auto token = state.create_token(card("4242 4242 4242 4242"), now);
  REQUIRE(token);
  CHECK(token->id.rfind("tokn_test_", 0) == 0);
  CHECK(token->card.last_digits == "4242");
  CHECK(token->card.brand == "Visa");

  auto charge = state.create_charge(card_charge(token->id), now);
  REQUIRE(charge);
  CHECK(charge->id.rfind("chrg_test_", 0) == 0);
  CHECK(charge->status == charge_status::successful);
  CHECK(charge->transaction.rfind("trxn_test_", 0) == 0);
  CHECK(charge->paid_at_s == now);
  const json rendered = to_json(*charge, "http://x");
  CHECK(rendered["paid"] == true);
  CHECK(rendered["authorized"] == true);
  CHECK(rendered["currency"] == "THB");
  CHECK(rendered["metadata"]["purchase_id"] == "pur_1");
  CHECK(rendered["location"] == "/charges/" + charge->id);
  CHECK(rendered["livemode"] == false);

  auto again = state.create_charge(card_charge(token->id), now);
  REQUIRE_FALSE(again);
  CHECK(again.error().status == 400);
  CHECK(again.error().code == "used_token");
  CHECK(state.find_token(token->id)->is_used);
}

TEST_CASE("a failing test card makes a failed charge with its code", "[sandbox][state]") {
  auto state = make_state();
  auto token = state.create_token(card("4111111111130012"), now);
  REQUIRE(token);
  auto charge = state.create_charge(card_charge(token->id), now);
  REQUIRE(charge);
  CHECK(charge->status == charge_status::failed);
  CHECK(charge->failure_code == "stolen_or_lost_card");
  CHECK(charge->transaction.empty());
  const json rendered = to_json(*charge, "http://x");
  CHECK(rendered["paid"] == false);
  CHECK(rendered["failure_message"].is_string());
}

TEST_CASE("invalid cards are refused at tokenization", "[sandbox][state]") {
  auto state = make_state();
  CHECK(state.create_token(card("4242424242424241"), now).error().code == "invalid_card");
  CHECK(state.create_token(card("9999999999999995"), now).error().code == "invalid_card");
  auto expired = card("4242424242424242");
  expired.expiration_year = 2026;
  CHECK(state.create_token(expired, now).error().message ==
        "expiration date cannot be in the past");
  auto bad_month = card("4242424242424242");
  bad_month.expiration_month = 13;
  CHECK_FALSE(state.create_token(bad_month, now));
  CHECK(state.token_count() == 0);
}

TEST_CASE("charges refuse unknown tokens, small amounts and other currencies", "[sandbox][state]") {
  auto state = make_state();
  auto missing = state.create_charge(card_charge("tokn_test_nope"), now);
  CHECK(missing.error().status == 404);
  CHECK(missing.error().code == "not_found");
  auto token = state.create_token(card("4242424242424242"), now);
  auto small = state.create_charge(card_charge(token->id, 1'999), now);
  CHECK(small.error().code == "invalid_charge");
  auto usd = card_charge(token->id);
  usd.currency = "USD";
  CHECK(state.create_charge(usd, now).error().code == "invalid_charge");
  // A refused charge does not spend the token.
  CHECK(state.create_charge(card_charge(token->id), now));
}

TEST_CASE("card charges record charge.create then charge.complete", "[sandbox][state]") {
  auto state = make_state();
  auto token = state.create_token(card("4242424242424242"), now);
  auto charge = state.create_charge(card_charge(token->id), now);
  const auto events = state.take_new_events();
  CHECK(keys(events) == std::vector<std::string>{"charge.create", "charge.complete"});
  CHECK(events[1].data["id"] == charge->id);
  CHECK(events[1].data["status"] == "successful");
  CHECK(state.find_event(events[1].id)->key == "charge.complete");
  CHECK(state.take_new_events().empty());
}

TEST_CASE("a PromptPay charge stays pending with a QR until paid", "[sandbox][state]") {
  auto state = make_state();
  auto charge = state.create_charge(promptpay_charge(), now);
  REQUIRE(charge);
  CHECK(charge->status == charge_status::pending);
  CHECK(charge->expires_at_s == now + 600);
  const json rendered = to_json(*charge, "http://127.0.0.1:9999");
  const auto& image = rendered["source"]["scannable_code"]["image"];
  CHECK(rendered["source"]["type"] == "promptpay");
  CHECK(image["download_uri"] == "http://127.0.0.1:9999" + qr_download_path(*charge));
  CHECK(image["id"].get<std::string>().rfind("docu_test_", 0) == 0);
  CHECK(keys(state.take_new_events()) == std::vector<std::string>{"charge.create"});

  auto paid = state.settle(charge->id, settlement::pay, "", now + 10);
  REQUIRE(paid);
  CHECK(paid->status == charge_status::successful);
  CHECK(paid->paid_at_s == now + 10);
  const auto events = state.take_new_events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].key == "charge.complete");
  CHECK(events[0].data["paid"] == true);

  auto twice = state.settle(charge->id, settlement::fail, "", now + 11);
  CHECK(twice.error().code == "invalid_charge");
  CHECK(state.find_charge(charge->id, now + 12)->status == charge_status::successful);
}

TEST_CASE("PromptPay can be failed with a chosen code or expired", "[sandbox][state]") {
  auto state = make_state();
  auto first = state.create_charge(promptpay_charge(), now);
  auto failed = state.settle(first->id, settlement::fail, "insufficient_fund", now);
  CHECK(failed->status == charge_status::failed);
  CHECK(failed->failure_code == "insufficient_fund");
  auto second = state.create_charge(promptpay_charge(), now);
  CHECK(state.settle(second->id, settlement::fail, "made_up", now).error().code == "bad_request");
  auto expired = state.settle(second->id, settlement::expire, "", now);
  CHECK(expired->status == charge_status::expired);
  CHECK(expired->failure_code.empty());
  CHECK(to_json(*expired, "")["expired"] == true);
}

TEST_CASE("a pending charge past expires_at expires on access and by sweep", "[sandbox][state]") {
  auto state = make_state(60);
  auto a = state.create_charge(promptpay_charge(), now);
  auto b = state.create_charge(promptpay_charge(), now);
  state.take_new_events();
  CHECK(state.find_charge(a->id, now + 59)->status == charge_status::pending);
  CHECK(state.find_charge(a->id, now + 60)->status == charge_status::expired);
  state.expire_due(now + 61);
  CHECK(state.find_charge(b->id, now + 61)->status == charge_status::expired);
  const auto events = state.take_new_events();
  CHECK(keys(events) == std::vector<std::string>{"charge.complete", "charge.complete"});
  CHECK(state.settle(b->id, settlement::pay, "", now + 62).error().code == "invalid_charge");
}

TEST_CASE("refunds never exceed the paid amount", "[sandbox][state]") {
  auto state = make_state();
  auto token = state.create_token(card("4242424242424242"), now);
  auto charge = state.create_charge(card_charge(token->id, 10'000), now);
  auto first = state.refund_charge(charge->id, {{"amount", 6'000}}, now);
  REQUIRE(first);
  CHECK(first->id.rfind("rfnd_test_", 0) == 0);
  CHECK(first->amount == 6'000);
  auto too_much = state.refund_charge(charge->id, {{"amount", "4001"}}, now);
  CHECK(too_much.error().code == "failed_refund");
  CHECK(state.refund_charge(charge->id, {{"amount", "4000"}}, now));
  CHECK(state.find_charge(charge->id, now)->refunded_amount == 10'000);
  CHECK(state.refund_charge(charge->id, {{"amount", 1}}, now).error().code == "failed_refund");
  CHECK(state.refund_charge(charge->id, {{"amount", 0}}, now).error().code == "failed_refund");

  auto pending = state.create_charge(promptpay_charge(), now);
  CHECK(state.refund_charge(pending->id, {{"amount", 1}}, now).error().code == "failed_refund");
  CHECK(state.refund_charge("chrg_test_nope", {{"amount", 1}}, now).error().status == 404);
}

TEST_CASE("the charge list filters by from and pages newest first", "[sandbox][state]") {
  auto state = make_state();
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(state.create_charge(promptpay_charge(), now + i)->id);
  }
  list_query query;
  query.from_s = now + 2;
  query.is_newest_first = true;
  query.limit = 2;
  const json page = state.list_charges(query, now + 10);
  CHECK(page["object"] == "list");
  CHECK(page["total"] == 3);
  REQUIRE(page["data"].size() == 2);
  CHECK(page["data"][0]["id"] == ids[4]);
  CHECK(page["data"][1]["id"] == ids[3]);
  CHECK(page["order"] == "reverse_chronological");
  query.offset = 2;
  const json rest = state.list_charges(query, now + 10);
  REQUIRE(rest["data"].size() == 1);
  CHECK(rest["data"][0]["id"] == ids[2]);
}

TEST_CASE("list queries parse Omise's parameters and refuse bad ones", "[sandbox][state]") {
  auto query = parse_list_query_values(std::string("2027-01-15T08:00:00Z"), std::nullopt,
                                       std::string("reverse_chronological"), std::string("50"),
                                       std::nullopt);
  REQUIRE(query);
  CHECK(query->from_s == parse_iso8601_utc("2027-01-15T08:00:00Z"));
  CHECK(query->is_newest_first);
  CHECK(query->limit == 50);
  CHECK_FALSE(parse_list_query_values(std::string("yesterday"), {}, {}, {}, {}));
  CHECK_FALSE(parse_list_query_values({}, {}, std::string("random"), {}, {}));
  CHECK_FALSE(parse_list_query_values({}, {}, {}, std::string("101"), {}));
  CHECK_FALSE(parse_list_query_values({}, {}, {}, std::string("0"), {}));
}

TEST_CASE("ISO 8601 UTC times parse to Unix seconds", "[sandbox][state]") {
  CHECK(parse_iso8601_utc("1970-01-01T00:00:00Z") == 0);
  CHECK(parse_iso8601_utc("2000-03-01T00:00:00Z") == 951868800);
  CHECK(parse_iso8601_utc("2026-11-27T03:00:05.123Z") == 1795748405);
  CHECK(parse_iso8601_utc("2026-11-27T03:00:05+00:00") == 1795748405);
  CHECK_FALSE(parse_iso8601_utc("2026-11-27T03:00:05+07:00"));
  CHECK_FALSE(parse_iso8601_utc("2026-13-27T03:00:05Z"));
  CHECK_FALSE(parse_iso8601_utc("2026-11-27"));
}

TEST_CASE("POST /charges bodies parse cards, source ids and inline sources", "[sandbox][state]") {
  auto with_card = parse_charge_input({{"amount", "100000"},
                                       {"currency", "thb"},
                                       {"card", "tokn_test_x"},
                                       {"metadata", {{"purchase_id", "p1"}}},
                                       {"return_uri", "http://r"}});
  REQUIRE(with_card);
  CHECK(with_card->currency == "THB");
  CHECK(with_card->card_token == "tokn_test_x");
  CHECK(with_card->metadata["purchase_id"] == "p1");
  auto inline_source = parse_charge_input(
      {{"amount", 2000}, {"currency", "THB"}, {"source", {{"type", "promptpay"}}}});
  REQUIRE(inline_source);
  CHECK(inline_source->inline_source_type == "promptpay");
  auto source_id =
      parse_charge_input({{"amount", 2000}, {"currency", "THB"}, {"source", "src_test_1"}});
  REQUIRE(source_id);
  CHECK(source_id->source_id == "src_test_1");

  CHECK_FALSE(parse_charge_input({{"amount", 2000}, {"currency", "THB"}}));
  CHECK_FALSE(parse_charge_input(
      {{"amount", 2000}, {"currency", "THB"}, {"card", "tokn_x"}, {"source", "src_x"}}));
  CHECK_FALSE(parse_charge_input({{"amount", "20.5"}, {"currency", "THB"}, {"card", "t"}}));
  CHECK_FALSE(parse_charge_input({{"amount", 2000}, {"card", "t"}}));
  CHECK_FALSE(parse_charge_input(
      {{"amount", 2000}, {"currency", "THB"}, {"card", "t"}, {"capture", "false"}}));
  CHECK_FALSE(parse_charge_input(
      {{"amount", 2000}, {"currency", "THB"}, {"card", "t"}, {"metadata", "x"}}));
}

TEST_CASE("a source pays exactly one charge of its amount", "[sandbox][state]") {
  auto state = make_state();
  auto source =
      state.create_source({{"type", "promptpay"}, {"amount", "30000"}, {"currency", "thb"}}, now);
  REQUIRE(source);
  CHECK(source->id.rfind("src_test_", 0) == 0);
  auto input = promptpay_charge(30'000);
  input.inline_source_type.clear();
  input.source_id = source->id;
  auto mismatch = input;
  mismatch.amount = 30'001;
  CHECK(state.create_charge(mismatch, now).error().code == "invalid_charge");
  auto charge = state.create_charge(input, now);
  REQUIRE(charge);
  CHECK(charge->source->id == source->id);
  CHECK(state.create_charge(input, now).error().code == "invalid_charge");
  CHECK(state.create_source({{"type", "alipay"}, {"amount", 3000}, {"currency", "THB"}}, now)
            .error()
            .status == 400);
}

TEST_CASE("a full table evicts its oldest entry", "[sandbox][state][.slow]") {
  auto state = make_state();
  std::string first_id;
  for (std::size_t i = 0; i <= limits::charges_max; ++i) {
    auto charge = state.create_charge(promptpay_charge(), now);
    REQUIRE(charge);
    if (i == 0) {
      first_id = charge->id;
    }
    state.take_new_events();
  }
  CHECK(state.charge_count() == limits::charges_max);
  CHECK(state.find_charge(first_id, now).error().status == 404);
}

TEST_CASE("the same seed gives the same ids", "[sandbox][state]") {
  id_generator a(7);
  id_generator b(7);
  id_generator c(8);
  const auto first = a.next("chrg_test_");
  CHECK(first == b.next("chrg_test_"));
  CHECK(first != c.next("chrg_test_"));
  CHECK(first.size() == std::string("chrg_test_").size() + 19);
}
