// tests/http/event_hub_test.cpp: covers http/event_hub.cpp: the per-user and total caps,
// that each subscriber gets its own user's events only and in order, unsubscription and
// clear().
#include "http/event_hub.hpp"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace {

constexpr const char* user_a = "aaaaaaaa-0000-4000-8000-000000000001";
constexpr const char* user_b = "bbbbbbbb-0000-4000-8000-000000000002";
constexpr uint32_t total_max_large = 1'000;
using tally::http::subscribe_outcome;

class recorder final : public tally::http::event_subscriber {
 public:
  void on_events(const std::vector<tally::http::stream_item_ptr>& items) override {
    for (const auto& item : items) {
      ids.push_back(item->event_id);
    }
  }
  std::vector<std::string> ids;
};

tally::cloud_event event_of(const std::string& user, const std::string& id, int64_t seq) {
  tally::cloud_event e;
  e.id = id;
  e.source = tally::ledger_event_source;
  e.type = "balance.updated";
  e.user_id = user;
  e.sequence = tally::format_sequence(seq);
  e.data = {{"user_id", user}};
  return e;
}

}  // namespace

TEST_CASE("the hub refuses a subscriber beyond the per-user cap, per user", "[http][events]") {
  tally::http::event_hub hub(2, total_max_large);
  auto first = std::make_shared<recorder>();
  auto second = std::make_shared<recorder>();
  auto third = std::make_shared<recorder>();
  CHECK(hub.subscribe(user_a, first) == subscribe_outcome::subscribed);
  CHECK(hub.subscribe(user_a, second) == subscribe_outcome::subscribed);
  CHECK(hub.subscribe(user_a, third) == subscribe_outcome::over_user_cap);
  CHECK(hub.subscribe(user_b, third) == subscribe_outcome::subscribed);  // the cap is per user
  CHECK(hub.subscriber_count() == 3);
  hub.unsubscribe(user_a, first.get());
  CHECK(hub.subscriber_count() == 2);
  auto fourth = std::make_shared<recorder>();
  CHECK(hub.subscribe(user_a, fourth) == subscribe_outcome::subscribed);  // a slot freed up
  hub.unsubscribe(user_a, first.get());  // not subscribed any more: nothing happens
  CHECK(hub.subscriber_count() == 3);
}

TEST_CASE("the hub gives each subscriber its own user's events, in order", "[http][events]") {
  tally::http::event_hub hub(5, total_max_large);
  auto a1 = std::make_shared<recorder>();
  auto a2 = std::make_shared<recorder>();
  auto b = std::make_shared<recorder>();
  REQUIRE(hub.subscribe(user_a, a1) == subscribe_outcome::subscribed);
  REQUIRE(hub.subscribe(user_a, a2) == subscribe_outcome::subscribed);
  REQUIRE(hub.subscribe(user_b, b) == subscribe_outcome::subscribed);
  hub.publish({event_of(user_a, "a-1", 8), event_of(user_b, "b-1", 8), event_of(user_a, "a-2", 9),
               event_of("cccccccc-0000-4000-8000-000000000003", "c-1", 8)});
  CHECK(a1->ids == std::vector<std::string>{"a-1", "a-2"});
  CHECK(a2->ids == std::vector<std::string>{"a-1", "a-2"});
  CHECK(b->ids == std::vector<std::string>{"b-1"});

  hub.unsubscribe(user_a, a1.get());
  hub.publish({event_of(user_a, "a-3", 10)});
  CHECK(a1->ids.size() == 2);
  CHECK(a2->ids == std::vector<std::string>{"a-1", "a-2", "a-3"});
}

TEST_CASE("the hub refuses a subscriber beyond the total cap, whoever it is", "[http][events]") {
  tally::http::event_hub hub(5, 2);
  auto a = std::make_shared<recorder>();
  auto b = std::make_shared<recorder>();
  auto c = std::make_shared<recorder>();
  CHECK(hub.subscribe(user_a, a) == subscribe_outcome::subscribed);
  CHECK(hub.subscribe(user_b, b) == subscribe_outcome::subscribed);
  CHECK(hub.subscribe(user_a, c) == subscribe_outcome::over_total_cap);
  hub.unsubscribe(user_b, b.get());
  CHECK(hub.subscribe(user_a, c) == subscribe_outcome::subscribed);
}

TEST_CASE("a cleared hub holds and takes no subscribers, and publishing is harmless",
          "[http][events]") {
  tally::http::event_hub hub(5, total_max_large);
  auto a = std::make_shared<recorder>();
  REQUIRE(hub.subscribe(user_a, a) == subscribe_outcome::subscribed);
  hub.clear();
  CHECK(hub.subscriber_count() == 0);
  CHECK(a.use_count() == 1);  // the hub let go of it
  hub.publish({event_of(user_a, "a-1", 8)});
  CHECK(a->ids.empty());
  hub.unsubscribe(user_a, a.get());  // a stream closing late: nothing happens
  CHECK(hub.subscribe(user_b, std::make_shared<recorder>()) == subscribe_outcome::over_total_cap);
}
