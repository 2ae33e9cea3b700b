#include "domain/credit_lots.hpp"

#include <catch2/catch.hpp>

#include "domain/error.hpp"

namespace {

using tally::credit_lot;
using tally::lot_book;
using tally::lot_share;

constexpr int64_t now = 1'000'000;

credit_lot lot(const std::string& id, int64_t amount, int64_t expires_at_ms, int64_t seq,
               int64_t remaining = -1) {
  return credit_lot{id, amount, remaining < 0 ? amount : remaining, expires_at_ms, seq};
}

bool same(const std::vector<lot_share>& a, const std::vector<lot_share>& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].lot_id != b[i].lot_id || a[i].amount != b[i].amount) {
      return false;
    }
  }
  return true;
}

int64_t remaining_of(const lot_book& book, const std::string& id) {
  const auto* found = book.find(id);
  REQUIRE(found != nullptr);
  return found->remaining;
}

}  // namespace

TEST_CASE("lots burn earliest expiry first, the older lot on a tie, perpetual last",
          "[domain][credit_lots]") {
  // available 100: perpetual 40 + lots late 20, early 10, tie-old 15, tie-new 15.
  lot_book book({lot("late", 20, now + 9'000, 4), lot("early", 10, now + 1'000, 5),
                 lot("tie-new", 15, now + 5'000, 3), lot("tie-old", 15, now + 5'000, 2)});
  CHECK(book.remaining_total() == 60);
  CHECK(book.lots().front().lot_id == "early");
  auto plan = book.plan_take(100, 45, now);
  REQUIRE(plan);
  CHECK(same(*plan, {{"early", 10}, {"tie-old", 15}, {"tie-new", 15}, {"late", 5}}));
  // Planning changes nothing; taking does, and reports each lot's before and after.
  CHECK(book.remaining_total() == 60);
  auto changes = book.take(*plan);
  REQUIRE(changes.size() == 4);
  CHECK(changes[3].lot_id == "late");
  CHECK(changes[3].remaining_before == 20);
  CHECK(changes[3].remaining_after == 15);
  CHECK(book.remaining_total() == 15);
  // Beyond the lots the rest is perpetual (implicit: no share).
  auto rest = book.plan_take(55, 50, now);
  REQUIRE(rest);
  CHECK(same(*rest, {{"late", 15}}));
  CHECK(book.plan_take(55, 56, now).error() == caf::make_error(tally::errc::insufficient_credits));
}

TEST_CASE("credits of a lot past expires_at are not spendable before the sweep",
          "[domain][credit_lots]") {
  // available 130: perpetual 100, lot "dead" (expired, 20 left), lot "live" 10.
  lot_book book({lot("dead", 50, now - 1, 1, 20), lot("live", 10, now + 60'000, 2)});
  CHECK(book.expired_remaining(now) == 20);
  CHECK(book.spendable(130, now) == 110);
  // Expiry happens at the instant, not after it.
  CHECK(lot_book({lot("edge", 5, now, 1)}).spendable(5, now) == 0);
  CHECK(book.plan_take(130, 111, now).error() ==
        caf::make_error(tally::errc::insufficient_credits));
  auto plan = book.plan_take(130, 110, now);
  REQUIRE(plan);
  CHECK(same(*plan, {{"live", 10}}));  // the dead lot is skipped, the rest perpetual
}

TEST_CASE("a partial commit charges the allocation in burn order and returns the rest",
          "[domain][credit_lots]") {
  const std::vector<lot_share> allocation{{"a", 10}, {"b", 5}};  // + perpetual part
  auto part = tally::split_allocation(allocation, 12);
  CHECK(same(part.charged, {{"a", 10}, {"b", 2}}));
  CHECK(same(part.returned, {{"b", 3}}));
  auto beyond = tally::split_allocation(allocation, 30);  // lots first, perpetual last
  CHECK(same(beyond.charged, allocation));
  CHECK(beyond.returned.empty());
  auto nothing = tally::split_allocation(allocation, 0);
  CHECK(nothing.charged.empty());
  CHECK(same(nothing.returned, allocation));
  CHECK(tally::allocation_total(allocation) == 15);
}

TEST_CASE("reserved lot credits return to their lot, even one past expiry, and expire with it",
          "[domain][credit_lots]") {
  lot_book book({lot("soon", 30, now + 1'000, 1)});
  auto plan = book.plan_take(130, 40, now);  // 30 from the lot, 10 perpetual
  REQUIRE(plan);
  CHECK(same(*plan, {{"soon", 30}}));
  book.take(*plan);
  CHECK(remaining_of(book, "soon") == 0);
  // The lot passes expires_at while reserved: nothing to expire yet.
  const int64_t later = now + 2'000;
  CHECK(book.expirable("soon", later) == 0);
  // Released: the credits go back to the lot, not to perpetual credits...
  auto back = book.give_back(*plan);
  REQUIRE(back.size() == 1);
  CHECK(back[0].remaining_before == 0);
  CHECK(back[0].remaining_after == 30);
  CHECK(book.spendable(130, later) == 100);
  // ...and the next sweep expires them: only the remaining, once.
  CHECK(book.expirable("soon", later) == 30);
  auto change = book.expire("soon", later);
  CHECK(change.remaining_before == 30);
  CHECK(change.remaining_after == 0);
  CHECK(book.expirable("soon", later) == 0);
}

TEST_CASE("expiry takes only the unspent part, and never before expires_at",
          "[domain][credit_lots]") {
  lot_book book({lot("g", 50, now + 1'000, 1)});
  book.take({{"g", 30}});
  CHECK(book.expirable("g", now) == 0);  // not due
  CHECK(book.expirable("unknown", now + 5'000) == 0);
  CHECK(book.expirable("g", now + 1'000) == 20);
  book.expire("g", now + 1'000);
  CHECK(book.remaining_total() == 0);
  // Nothing left and nothing held: forgotten. Held lots are kept.
  lot_book held({lot("x", 5, now + 1, 1, 0), lot("y", 5, now + 1, 2, 0), lot("z", 5, now, 3)});
  held.prune({"y"});
  REQUIRE(held.size() == 2);
  CHECK(held.find("x") == nullptr);
  CHECK(held.find("y") != nullptr);
  CHECK(held.find("z") != nullptr);
}

TEST_CASE("new lots keep burn order and the book is bounded", "[domain][credit_lots]") {
  lot_book book;
  book.add(lot("second", 5, now + 2'000, 2, 0));
  book.add(lot("first", 5, now + 1'000, 3, 0));
  REQUIRE(book.size() == 2);
  CHECK(book.lots().front().lot_id == "first");
  CHECK(book.lots().front().remaining == 5);  // a new lot is whole
  for (std::size_t i = book.size(); i < tally::credit_lots_max; ++i) {
    CHECK_FALSE(book.is_full());
    book.add(lot("l" + std::to_string(i), 1, now + 10'000, static_cast<int64_t>(10 + i)));
  }
  CHECK(book.is_full());
  CHECK(book.size() == tally::credit_lots_max);
}

TEST_CASE("expires_at must be in the future and at most ten years ahead", "[domain][credit_lots]") {
  CHECK_FALSE(tally::is_valid_lot_expiry(now, now));
  CHECK_FALSE(tally::is_valid_lot_expiry(now - 1, now));
  CHECK(tally::is_valid_lot_expiry(now + 1, now));
  CHECK(tally::is_valid_lot_expiry(now + tally::credit_lot_lifetime_max_ms, now));
  CHECK_FALSE(tally::is_valid_lot_expiry(now + tally::credit_lot_lifetime_max_ms + 1, now));
}
