#include "domain/cloud_event.hpp"

#include <set>

#include <catch2/catch.hpp>

#include "domain/base64.hpp"

namespace tally {
namespace {

ledger_event_row row_of(const std::string& kind, int64_t delta_available, int64_t delta_reserved,
                        int64_t available_after, int64_t reserved_after) {
  ledger_event_row row;
  row.outbox_id = 41;
  row.account_id = "0b7e6d7c-55d4-4c1e-9d2a-1f4b0c3f9a10";
  row.seq = 7;
  row.entry_id = "5f0c1e9a-8f77-4c57-a3a3-77c1b1a0d001";
  row.kind = kind;
  row.amount = std::abs(delta_available + delta_reserved);
  row.delta_available = delta_available;
  row.delta_reserved = delta_reserved;
  row.available_after = available_after;
  row.reserved_after = reserved_after;
  row.created_at = "2026-11-27T03:00:00.123456Z";
  return row;
}

std::vector<std::string> types_of(const std::vector<cloud_event>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) {
    out.push_back(e.type);
  }
  return out;
}

}  // namespace

TEST_CASE("a spend yields credits.spent then balance.updated, carrying the user and balances",
          "[cloud_event]") {
  auto row = row_of("spend", -30, 0, 70, 0);
  const auto events = events_from_ledger_row(row);
  REQUIRE(types_of(events) == std::vector<std::string>{"credits.spent", "balance.updated"});
  const auto& spent = events[0];
  CHECK(spent.data["amount"] == 30);
  CHECK(spent.subject == "entries/" + row.entry_id);
  const auto& balance = events[1];
  CHECK(balance.source == std::string(ledger_event_source));
  CHECK(balance.subject == "accounts/" + row.account_id);
  CHECK(balance.data["user_id"] == row.account_id);
  CHECK(balance.data["available"] == 70);
  CHECK(balance.data["reserved"] == 0);
  CHECK(balance.data["seq"] == 7);
  CHECK(balance.time == row.created_at);
  CHECK(balance.outbox_id == 41);
}

TEST_CASE("ledger event ids are stable across relays and unique within and across entries",
          "[cloud_event]") {
  auto row = row_of("commit", 20, -50, 120, 0);
  const auto first = events_from_ledger_row(row);
  const auto again = events_from_ledger_row(row);
  REQUIRE(first.size() == again.size());
  std::set<std::string> ids;
  for (std::size_t i = 0; i < first.size(); ++i) {
    CHECK(first[i].id == again[i].id);
    CHECK(first[i].id.find('.') == std::string::npos);  // webhook-id must not hold '.'
    ids.insert(first[i].id);
  }
  CHECK(ids.size() == first.size());
  auto other = row;
  other.entry_id = "5f0c1e9a-8f77-4c57-a3a3-77c1b1a0d002";
  for (const auto& e : events_from_ledger_row(other)) {
    CHECK(ids.count(e.id) == 0);
  }
}

TEST_CASE("a commit yields reservation.committed and credits.spent of the committed part",
          "[cloud_event]") {
  auto row = row_of("commit", 20, -50, 120, 0);  // 50 held: 30 spent, 20 released
  row.reference_type = "reservation";
  row.reference_id = "9a1b2c3d-0000-4000-8000-000000000001";
  const auto events = events_from_ledger_row(row);
  REQUIRE(types_of(events) ==
          std::vector<std::string>{"reservation.committed", "credits.spent", "balance.updated"});
  CHECK(events[0].data["committed_amount"] == 30);
  CHECK(events[0].data["released_amount"] == 20);
  CHECK(events[0].subject == "reservations/" + row.reference_id);
  CHECK(events[1].data["amount"] == 30);
}

TEST_CASE("reservation kinds and grants map to their event types", "[cloud_event]") {
  CHECK(types_of(events_from_ledger_row(row_of("reserve", -10, 10, 90, 10))) ==
        std::vector<std::string>{"reservation.created", "balance.updated"});
  CHECK(types_of(events_from_ledger_row(row_of("release", 10, -10, 100, 0))) ==
        std::vector<std::string>{"reservation.released", "balance.updated"});
  CHECK(types_of(events_from_ledger_row(row_of("expire", 10, -10, 100, 0))) ==
        std::vector<std::string>{"reservation.expired", "balance.updated"});
  {  // an expiring grant's lot, not a reservation: only the balance moves
    auto lot = row_of("expire", -20, 0, 100, 0);
    lot.reference_type = "credit_lot";
    lot.reference_id = "9a1b2c3d-0000-4000-8000-000000000002";
    const auto events = events_from_ledger_row(lot);
    REQUIRE(types_of(events) == std::vector<std::string>{"balance.updated"});
    CHECK(events[0].data["kind"] == "expire");
    CHECK(events[0].data["delta_available"] == -20);
  }
  CHECK(types_of(events_from_ledger_row(row_of("grant", 100, 0, 100, 0))) ==
        std::vector<std::string>{"credits.granted", "balance.updated"});
  CHECK(types_of(events_from_ledger_row(row_of("adjustment", 5, 0, 105, 0))) ==
        std::vector<std::string>{"balance.updated"});
}

TEST_CASE("balance.low fires only when available crosses below the threshold", "[cloud_event]") {
  auto crossing = row_of("spend", -30, 0, 40, 0);  // 70 -> 40
  crossing.low_threshold = 50;
  auto events = events_from_ledger_row(crossing);
  REQUIRE(types_of(events).back() == "balance.low");
  CHECK(events.back().data["threshold"] == 50);
  CHECK(events.back().data["available"] == 40);

  auto already_below = row_of("spend", -10, 0, 30, 0);  // 40 -> 30
  already_below.low_threshold = 50;
  CHECK(types_of(events_from_ledger_row(already_below)).back() == "balance.updated");

  auto disabled = crossing;
  disabled.low_threshold = 0;
  CHECK(types_of(events_from_ledger_row(disabled)).back() == "balance.updated");

  auto exactly_at = row_of("spend", -20, 0, 50, 0);  // 70 -> 50: not below
  exactly_at.low_threshold = 50;
  CHECK(types_of(events_from_ledger_row(exactly_at)).back() == "balance.updated");
}

TEST_CASE("sequences order an account's events across entries as strings", "[cloud_event]") {
  auto earlier = row_of("spend", -30, 0, 40, 0);
  earlier.seq = 9;
  earlier.low_threshold = 50;
  auto later = row_of("spend", -1, 0, 39, 0);
  later.seq = 10;
  std::vector<std::string> sequences;
  for (const auto& row : {earlier, later}) {
    for (const auto& e : events_from_ledger_row(row)) {
      sequences.push_back(e.sequence);
    }
  }
  REQUIRE(sequences.size() == 5);
  for (std::size_t i = 1; i < sequences.size(); ++i) {
    CHECK(sequences[i - 1] < sequences[i]);
    CHECK(sequences[i].size() == 20);
  }
  CHECK(format_sequence(123) == "00000000000000000123");
}

TEST_CASE("the structured envelope has every CloudEvents attribute", "[cloud_event]") {
  const auto events = events_from_ledger_row(row_of("spend", -30, 0, 70, 0));
  const auto envelope = nlohmann::json::parse(to_structured_json(events[1]));
  CHECK(envelope["specversion"] == "1.0");
  CHECK(envelope["id"] == events[1].id);
  CHECK(envelope["source"] == "/tally/ledger");
  CHECK(envelope["type"] == "balance.updated");
  CHECK(envelope["datacontenttype"] == "application/json");
  CHECK(envelope["sequence"] == events[1].sequence);
  CHECK(envelope["data"]["available"] == 70);
  CHECK_FALSE(envelope.contains("outbox_id"));
}

TEST_CASE("a context row keeps its id and type and gains user_id", "[cloud_event]") {
  context_event_row row{12,
                        "6d1f0000-0000-4000-8000-000000000003",
                        "purchase.completed",
                        "purchases/p1",
                        "0b7e6d7c-55d4-4c1e-9d2a-1f4b0c3f9a10",
                        R"({"purchase_id":"p1","credits":100})",
                        "2026-11-27T03:00:00Z"};
  const auto e = event_from_context_row(payments_event_source, row);
  CHECK(e.id == row.event_id);
  CHECK(e.type == "purchase.completed");
  CHECK(e.source == "/tally/payments");
  CHECK(e.data["credits"] == 100);
  CHECK(e.data["user_id"] == row.user_id);
  CHECK(e.sequence == format_sequence(12));
}

TEST_CASE("endpoint filters: empty means every type", "[cloud_event]") {
  CHECK(event_type_matches({}, "balance.updated"));
  CHECK(event_type_matches({"balance.updated", "run.failed"}, "run.failed"));
  CHECK_FALSE(event_type_matches({"balance.updated"}, "balance.low"));
}

TEST_CASE("whsec secrets and the Standard Webhooks signed content", "[webhook_signing]") {
  // The spec's reference libraries' test vector (secret, id, timestamp, body).
  const auto key = parse_whsec("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  REQUIRE(key);
  CHECK(key->size() == 24);
  CHECK(format_whsec(*key) == "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  CHECK(webhook_signed_content("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                               R"({"test": 2432232314})") ==
        R"(msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314})");
  const auto mac =
      base64_decode("g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", base64_padding::required,
                    base64_trailing_bits::zero);
  REQUIRE(mac);
  CHECK(webhook_signature_header(*mac) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  CHECK_FALSE(parse_whsec("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));  // no prefix
  CHECK_FALSE(parse_whsec("whsec_Zm9v"));                        // 3 bytes: too short
  // The base64 must be padded, as format_whsec writes it; its unused bits are not checked.
  const std::string padded = "whsec_a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=";
  CHECK(parse_whsec(padded) == std::string(32, 'k'));
  CHECK(format_whsec(std::string(32, 'k')) == padded);
  CHECK_FALSE(parse_whsec(padded.substr(0, padded.size() - 1)));
  CHECK(parse_whsec("whsec_a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2t=") == std::string(32, 'k'));
}

TEST_CASE("the retry schedule parses Svix's default and refuses bad input", "[retry]") {
  const auto svix = parse_retry_schedule("5s,5m,30m,2h,5h,10h,10h");
  REQUIRE(svix);
  REQUIRE(svix->size() == 7);
  CHECK((*svix)[0] == std::chrono::seconds(5));
  CHECK((*svix)[3] == std::chrono::hours(2));
  CHECK((*svix)[6] == std::chrono::hours(10));
  const auto quick = parse_retry_schedule("100ms, 200ms");
  REQUIRE(quick);
  CHECK((*quick)[1] == std::chrono::milliseconds(200));
  CHECK_FALSE(parse_retry_schedule(""));
  CHECK_FALSE(parse_retry_schedule("5s,,5m"));
  CHECK_FALSE(parse_retry_schedule("5x"));
  CHECK_FALSE(parse_retry_schedule("0s"));
  CHECK_FALSE(parse_retry_schedule("200h"));
}

TEST_CASE("retry delays follow the schedule with +-20% jitter, then stop", "[retry]") {
  const retry_schedule schedule{std::chrono::seconds(5), std::chrono::minutes(5)};
  CHECK_FALSE(next_retry_delay(schedule, 0, 0.5, std::nullopt));
  CHECK(next_retry_delay(schedule, 1, 0.5, std::nullopt) == std::chrono::seconds(5));
  CHECK(next_retry_delay(schedule, 1, 0.0, std::nullopt) == std::chrono::seconds(4));
  const auto high = next_retry_delay(schedule, 2, 0.999999, std::nullopt);
  REQUIRE(high);
  CHECK(*high > std::chrono::seconds(359));
  CHECK(*high <= std::chrono::seconds(360));
  CHECK_FALSE(next_retry_delay(schedule, 3, 0.5, std::nullopt));  // exhausted
}

TEST_CASE("Retry-After is honoured within [delay, 2 x delay]", "[retry]") {
  const retry_schedule schedule{std::chrono::seconds(10)};
  CHECK(next_retry_delay(schedule, 1, 0.5, std::chrono::seconds(15)) == std::chrono::seconds(15));
  CHECK(next_retry_delay(schedule, 1, 0.5, std::chrono::seconds(1)) == std::chrono::seconds(10));
  CHECK(next_retry_delay(schedule, 1, 0.5, std::chrono::seconds(3600)) == std::chrono::seconds(20));
  CHECK(parse_retry_after("120") == std::chrono::seconds(120));
  CHECK_FALSE(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"));
  CHECK_FALSE(parse_retry_after("-1"));
  CHECK_FALSE(parse_retry_after(""));
}

TEST_CASE("attempt verdicts: 2xx delivered, 410 gone, the rest retried", "[retry]") {
  CHECK(classify_attempt(200) == attempt_verdict::delivered);
  CHECK(classify_attempt(204) == attempt_verdict::delivered);
  CHECK(classify_attempt(410) == attempt_verdict::gone);
  CHECK(classify_attempt(301) == attempt_verdict::retry);  // redirects are not followed
  CHECK(classify_attempt(500) == attempt_verdict::retry);
  CHECK(classify_attempt(0) == attempt_verdict::retry);
}

}  // namespace tally
