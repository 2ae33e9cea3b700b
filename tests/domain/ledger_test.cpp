// tests/domain/ledger_test.cpp: covers domain/ledger.cpp. Each case names one rule; refused
// inputs get as many cases as accepted ones. Assertions (REQUIRES) abort and are not tested
// here; every refusal that bad input can reach is.
#include "domain/ledger.hpp"

#include <cstdint>
#include <string>

#include <catch2/catch.hpp>

#include "domain/error.hpp"

namespace {

using tally::balance;
using tally::balance_delta;
using tally::credits_max;
using tally::entry_kind;
using tally::errc;
using tally::reservation_status;

template <class T>
bool is_refused_with(const caf::expected<T>& result, errc code) {
  return !result && result.error() == caf::make_error(code);
}

constexpr entry_kind all_entry_kinds[] = {
    entry_kind::purchase, entry_kind::grant,  entry_kind::spend,
    entry_kind::reserve,  entry_kind::commit, entry_kind::release,
    entry_kind::expire,   entry_kind::refund, entry_kind::adjustment,
};

constexpr reservation_status all_reservation_statuses[] = {
    reservation_status::pending,
    reservation_status::committed,
    reservation_status::released,
    reservation_status::expired,
};

}  // namespace

// --- names ---------------------------------------------------------------------------------

TEST_CASE("every entry kind has a stable lower-case name", "[domain][ledger]") {
  CHECK(std::string(to_string(entry_kind::purchase)) == "purchase");
  CHECK(std::string(to_string(entry_kind::grant)) == "grant");
  CHECK(std::string(to_string(entry_kind::spend)) == "spend");
  CHECK(std::string(to_string(entry_kind::reserve)) == "reserve");
  CHECK(std::string(to_string(entry_kind::commit)) == "commit");
  CHECK(std::string(to_string(entry_kind::release)) == "release");
  CHECK(std::string(to_string(entry_kind::expire)) == "expire");
  CHECK(std::string(to_string(entry_kind::refund)) == "refund");
  CHECK(std::string(to_string(entry_kind::adjustment)) == "adjustment");
}

TEST_CASE("entry kind values are stable", "[domain][ledger]") {
  CHECK(static_cast<int>(entry_kind::purchase) == 1);
  CHECK(static_cast<int>(entry_kind::adjustment) == 9);
  CHECK(static_cast<int>(reservation_status::pending) == 1);
  CHECK(static_cast<int>(reservation_status::expired) == 4);
}

TEST_CASE("every entry kind parses back from its name", "[domain][ledger]") {
  for (auto kind : all_entry_kinds) {
    const auto parsed = tally::parse_entry_kind(to_string(kind));
    REQUIRE(parsed);
    CHECK(*parsed == kind);
  }
}

TEST_CASE("entry kind names parse only when exact", "[domain][ledger]") {
  CHECK_FALSE(tally::parse_entry_kind(""));
  CHECK_FALSE(tally::parse_entry_kind("Grant"));
  CHECK_FALSE(tally::parse_entry_kind("GRANT"));
  CHECK_FALSE(tally::parse_entry_kind(" grant"));
  CHECK_FALSE(tally::parse_entry_kind("grant "));
  CHECK_FALSE(tally::parse_entry_kind("gran"));
  CHECK_FALSE(tally::parse_entry_kind("grants"));
  CHECK_FALSE(tally::parse_entry_kind(std::string("grant\0", 6)));
  CHECK_FALSE(tally::parse_entry_kind("unknown"));
}

TEST_CASE("an entry kind outside the enum is named unknown", "[domain][ledger]") {
  CHECK(std::string(to_string(static_cast<entry_kind>(0))) == "unknown");
  CHECK(std::string(to_string(static_cast<entry_kind>(10))) == "unknown");
}

TEST_CASE("every reservation status has a name that parses back", "[domain][ledger]") {
  CHECK(std::string(to_string(reservation_status::pending)) == "pending");
  CHECK(std::string(to_string(reservation_status::committed)) == "committed");
  CHECK(std::string(to_string(reservation_status::released)) == "released");
  CHECK(std::string(to_string(reservation_status::expired)) == "expired");
  for (auto status : all_reservation_statuses) {
    const auto parsed = tally::parse_reservation_status(to_string(status));
    REQUIRE(parsed);
    CHECK(*parsed == status);
  }
}

TEST_CASE("reservation status names parse only when exact", "[domain][ledger]") {
  CHECK_FALSE(tally::parse_reservation_status(""));
  CHECK_FALSE(tally::parse_reservation_status("Pending"));
  CHECK_FALSE(tally::parse_reservation_status("pending "));
  CHECK_FALSE(tally::parse_reservation_status("expire"));
  CHECK_FALSE(tally::parse_reservation_status("unknown"));
  CHECK(std::string(to_string(static_cast<reservation_status>(0))) == "unknown");
}

// --- balance -------------------------------------------------------------------------------

TEST_CASE("a balance's total is available plus reserved", "[domain][ledger]") {
  CHECK(tally::credits_total(balance{}) == 0);
  CHECK(tally::credits_total(balance{70, 30}) == 100);
  CHECK(tally::credits_total(balance{credits_max, credits_max}) == 2 * credits_max);
}

TEST_CASE("balances are equal only when both fields are", "[domain][ledger]") {
  CHECK(balance{1, 2} == balance{1, 2});
  CHECK_FALSE(balance{1, 2} == balance{2, 1});
  CHECK(balance{1, 2} != balance{1, 3});
  CHECK(balance{1, 2} != balance{0, 2});
}

TEST_CASE("apply_delta adds each field of the delta", "[domain][ledger]") {
  CHECK(tally::apply_delta(balance{100, 0}, balance_delta{-30, 30}) == balance{70, 30});
  CHECK(tally::apply_delta(balance{70, 30}, balance_delta{30, -30}) == balance{100, 0});
  CHECK(tally::apply_delta(balance{5, 5}, balance_delta{}) == balance{5, 5});
}

TEST_CASE("apply_delta reaches both ends of the range", "[domain][ledger]") {
  CHECK(tally::apply_delta(balance{}, balance_delta{credits_max, 0}) == balance{credits_max, 0});
  CHECK(tally::apply_delta(balance{credits_max, 0}, balance_delta{-credits_max, credits_max}) ==
        balance{0, credits_max});
  CHECK(tally::apply_delta(balance{0, credits_max}, balance_delta{0, -credits_max}) == balance{});
}

// --- grant ---------------------------------------------------------------------------------

TEST_CASE("grant adds credits to available", "[domain][ledger]") {
  const auto delta = tally::grant_delta(balance{10, 5}, 100);
  REQUIRE(delta);
  CHECK(*delta == balance_delta{100, 0});
  CHECK(tally::apply_delta(balance{10, 5}, *delta) == balance{110, 5});
}

TEST_CASE("grant may fill an account exactly to credits_max", "[domain][ledger]") {
  const auto from_empty = tally::grant_delta(balance{}, credits_max);
  REQUIRE(from_empty);
  CHECK(tally::apply_delta(balance{}, *from_empty) == balance{credits_max, 0});

  const balance nearly_full{credits_max - 11, 10};
  const auto last_credit = tally::grant_delta(nearly_full, 1);
  REQUIRE(last_credit);
  CHECK(tally::credits_total(tally::apply_delta(nearly_full, *last_credit)) == credits_max);
}

TEST_CASE("grant beyond credits_max is refused", "[domain][ledger]") {
  CHECK(is_refused_with(tally::grant_delta(balance{}, credits_max + 1), errc::invalid_argument));
  CHECK(is_refused_with(tally::grant_delta(balance{credits_max, 0}, 1), errc::invalid_argument));
  CHECK(is_refused_with(tally::grant_delta(balance{credits_max - 10, 0}, 11),
                        errc::invalid_argument));
}

TEST_CASE("grant counts reserved credits toward credits_max", "[domain][ledger]") {
  // Otherwise releasing the reservation later would push available past credits_max.
  CHECK(is_refused_with(tally::grant_delta(balance{0, credits_max}, 1), errc::invalid_argument));
  CHECK(is_refused_with(tally::grant_delta(balance{credits_max - 10, 10}, 1),
                        errc::invalid_argument));
}

TEST_CASE("grant of the largest int64 is refused without overflow", "[domain][ledger]") {
  CHECK(is_refused_with(tally::grant_delta(balance{}, INT64_MAX), errc::invalid_argument));
  CHECK(is_refused_with(tally::grant_delta(balance{credits_max, credits_max}, INT64_MAX),
                        errc::invalid_argument));
}

// --- spend ---------------------------------------------------------------------------------

TEST_CASE("spend takes credits from available", "[domain][ledger]") {
  const auto delta = tally::spend_delta(balance{100, 20}, 30);
  REQUIRE(delta);
  CHECK(*delta == balance_delta{-30, 0});
  CHECK(tally::apply_delta(balance{100, 20}, *delta) == balance{70, 20});
}

TEST_CASE("spend of exactly the credits available leaves zero", "[domain][ledger]") {
  const auto delta = tally::spend_delta(balance{100, 20}, 100);
  REQUIRE(delta);
  CHECK(tally::apply_delta(balance{100, 20}, *delta) == balance{0, 20});
}

TEST_CASE("spend of one more than available is refused", "[domain][ledger]") {
  CHECK(is_refused_with(tally::spend_delta(balance{100, 20}, 101), errc::insufficient_credits));
}

TEST_CASE("spend cannot use reserved credits", "[domain][ledger]") {
  CHECK(is_refused_with(tally::spend_delta(balance{0, 50}, 1), errc::insufficient_credits));
  CHECK(is_refused_with(tally::spend_delta(balance{10, 50}, 11), errc::insufficient_credits));
}

TEST_CASE("spend from an empty account is refused", "[domain][ledger]") {
  CHECK(is_refused_with(tally::spend_delta(balance{}, 1), errc::insufficient_credits));
  CHECK(is_refused_with(tally::spend_delta(balance{}, INT64_MAX), errc::insufficient_credits));
}

// --- reserve -------------------------------------------------------------------------------

TEST_CASE("reserve moves credits from available to reserved", "[domain][ledger]") {
  const auto delta = tally::reserve_delta(balance{100, 0}, 30);
  REQUIRE(delta);
  CHECK(*delta == balance_delta{-30, 30});
  CHECK(tally::apply_delta(balance{100, 0}, *delta) == balance{70, 30});
}

TEST_CASE("reserve of exactly the credits available reserves them all", "[domain][ledger]") {
  const auto delta = tally::reserve_delta(balance{100, 5}, 100);
  REQUIRE(delta);
  CHECK(tally::apply_delta(balance{100, 5}, *delta) == balance{0, 105});
}

TEST_CASE("reserve of one more than available is refused", "[domain][ledger]") {
  CHECK(is_refused_with(tally::reserve_delta(balance{100, 0}, 101), errc::insufficient_credits));
}

TEST_CASE("reserve cannot reserve already reserved credits", "[domain][ledger]") {
  CHECK(is_refused_with(tally::reserve_delta(balance{0, 100}, 1), errc::insufficient_credits));
  CHECK(is_refused_with(tally::reserve_delta(balance{}, INT64_MAX), errc::insufficient_credits));
}

TEST_CASE("reserve keeps the total", "[domain][ledger]") {
  const balance before{credits_max, 0};
  const auto delta = tally::reserve_delta(before, credits_max);
  REQUIRE(delta);
  const auto after = tally::apply_delta(before, *delta);
  CHECK(after == balance{0, credits_max});
  CHECK(tally::credits_total(after) == tally::credits_total(before));
}

// --- commit --------------------------------------------------------------------------------

TEST_CASE("commit of the whole reservation charges it all", "[domain][ledger]") {
  const balance before{70, 30};
  const auto delta = tally::commit_delta(before, 30, 30);
  REQUIRE(delta);
  CHECK(*delta == balance_delta{0, -30});
  CHECK(tally::apply_delta(before, *delta) == balance{70, 0});
}

TEST_CASE("commit of part of a reservation releases the rest", "[domain][ledger]") {
  const balance before{70, 30};
  const auto delta = tally::commit_delta(before, 30, 12);
  REQUIRE(delta);
  CHECK(*delta == balance_delta{18, -30});
  const auto after = tally::apply_delta(before, *delta);
  CHECK(after == balance{88, 0});
  CHECK(tally::credits_total(before) - tally::credits_total(after) == 12);
}

TEST_CASE("commit of zero releases the whole reservation", "[domain][ledger]") {
  const balance before{70, 30};
  const auto delta = tally::commit_delta(before, 30, 0);
  REQUIRE(delta);
  CHECK(*delta == balance_delta{30, -30});
  CHECK(tally::apply_delta(before, *delta) == balance{100, 0});
}

TEST_CASE("commit settles one reservation among several", "[domain][ledger]") {
  const balance before{0, 50};  // reservations of 30 and 20
  const auto delta = tally::commit_delta(before, 30, 25);
  REQUIRE(delta);
  CHECK(tally::apply_delta(before, *delta) == balance{5, 20});
}

TEST_CASE("commit of more than the reservation is refused", "[domain][ledger]") {
  CHECK(is_refused_with(tally::commit_delta(balance{70, 30}, 30, 31), errc::validation_failed));
  CHECK(is_refused_with(tally::commit_delta(balance{70, 30}, 30, INT64_MAX),
                        errc::validation_failed));
}

TEST_CASE("commit of more than the reservation is refused even with credits available",
          "[domain][ledger]") {
  CHECK(is_refused_with(tally::commit_delta(balance{1000, 30}, 10, 11), errc::validation_failed));
}

TEST_CASE("commit of a negative amount is refused", "[domain][ledger]") {
  CHECK(is_refused_with(tally::commit_delta(balance{70, 30}, 30, -1), errc::validation_failed));
  CHECK(is_refused_with(tally::commit_delta(balance{70, 30}, 30, INT64_MIN),
                        errc::validation_failed));
}

// --- release -------------------------------------------------------------------------------

TEST_CASE("release moves a reservation back to available", "[domain][ledger]") {
  const balance before{70, 30};
  const auto delta = tally::release_delta(before, 30);
  CHECK(delta == balance_delta{30, -30});
  CHECK(tally::apply_delta(before, delta) == balance{100, 0});
}

TEST_CASE("release of one reservation among several leaves the others", "[domain][ledger]") {
  const balance before{0, 50};
  CHECK(tally::apply_delta(before, tally::release_delta(before, 20)) == balance{20, 30});
}

TEST_CASE("release of a full account's reservation stays within credits_max", "[domain][ledger]") {
  const balance before{0, credits_max};
  CHECK(tally::apply_delta(before, tally::release_delta(before, credits_max)) ==
        balance{credits_max, 0});
}

// --- conservation --------------------------------------------------------------------------

TEST_CASE("reserve then release conserves the total", "[domain][ledger]") {
  const balance start{100, 0};
  const auto reserved = tally::reserve_delta(start, 40);
  REQUIRE(reserved);
  const auto held = tally::apply_delta(start, *reserved);
  CHECK(tally::credits_total(held) == 100);
  const auto released = tally::apply_delta(held, tally::release_delta(held, 40));
  CHECK(released == start);
}

TEST_CASE("reserve then commit-all removes exactly the committed credits", "[domain][ledger]") {
  const balance start{100, 0};
  const auto reserved = tally::reserve_delta(start, 40);
  REQUIRE(reserved);
  const auto held = tally::apply_delta(start, *reserved);
  CHECK(tally::credits_total(held) == tally::credits_total(start));
  const auto committed = tally::commit_delta(held, 40, 40);
  REQUIRE(committed);
  const auto after = tally::apply_delta(held, *committed);
  CHECK(after == balance{60, 0});
  CHECK(tally::credits_total(start) - tally::credits_total(after) == 40);
}

TEST_CASE("a spend and a reserve-commit of the same credits end the same", "[domain][ledger]") {
  const balance start{100, 7};
  const auto spent = tally::spend_delta(start, 25);
  REQUIRE(spent);
  const auto reserved = tally::reserve_delta(start, 25);
  REQUIRE(reserved);
  const auto held = tally::apply_delta(start, *reserved);
  const auto committed = tally::commit_delta(held, 25, 25);
  REQUIRE(committed);
  CHECK(tally::apply_delta(start, *spent) == tally::apply_delta(held, *committed));
}

TEST_CASE("every delta's sum is the change in total credits", "[domain][ledger]") {
  const balance before{100, 50};
  const auto reserve = tally::reserve_delta(before, 10);
  const auto commit = tally::commit_delta(before, 50, 20);
  const auto release = tally::release_delta(before, 50);
  REQUIRE(reserve);
  REQUIRE(commit);
  CHECK(reserve->available + reserve->reserved == 0);
  CHECK(release.available + release.reserved == 0);
  CHECK(commit->available + commit->reserved == -20);
}

// --- reservation state machine -------------------------------------------------------------

TEST_CASE("a pending reservation is committed by commit", "[domain][ledger]") {
  const auto next = tally::reservation_transition(reservation_status::pending, entry_kind::commit);
  REQUIRE(next);
  CHECK(*next == reservation_status::committed);
}

TEST_CASE("a pending reservation is released by release", "[domain][ledger]") {
  const auto next = tally::reservation_transition(reservation_status::pending, entry_kind::release);
  REQUIRE(next);
  CHECK(*next == reservation_status::released);
}

TEST_CASE("a pending reservation is expired by expire", "[domain][ledger]") {
  const auto next = tally::reservation_transition(reservation_status::pending, entry_kind::expire);
  REQUIRE(next);
  CHECK(*next == reservation_status::expired);
}

TEST_CASE("a reservation that is not pending refuses every event", "[domain][ledger]") {
  for (auto from : all_reservation_statuses) {
    if (from == reservation_status::pending) {
      continue;
    }
    for (auto event : all_entry_kinds) {
      INFO(to_string(from) << " + " << to_string(event));
      CHECK(is_refused_with(tally::reservation_transition(from, event),
                            errc::reservation_not_pending));
    }
  }
}

TEST_CASE("a committed reservation cannot be committed twice or released", "[domain][ledger]") {
  CHECK(is_refused_with(
      tally::reservation_transition(reservation_status::committed, entry_kind::commit),
      errc::reservation_not_pending));
  CHECK(is_refused_with(
      tally::reservation_transition(reservation_status::committed, entry_kind::release),
      errc::reservation_not_pending));
}

TEST_CASE("an expired reservation cannot be committed late", "[domain][ledger]") {
  CHECK(is_refused_with(
      tally::reservation_transition(reservation_status::expired, entry_kind::commit),
      errc::reservation_not_pending));
}

// --- expiry --------------------------------------------------------------------------------

TEST_CASE("a reservation is not expired before its expiry time", "[domain][ledger]") {
  CHECK_FALSE(tally::is_expired(1'000, 999));
  CHECK_FALSE(tally::is_expired(1'000, 0));
  CHECK_FALSE(tally::is_expired(INT64_MAX, INT64_MAX - 1));
}

TEST_CASE("a reservation expires at exactly its expiry time", "[domain][ledger]") {
  CHECK(tally::is_expired(1'000, 1'000));
  CHECK(tally::is_expired(0, 0));
}

TEST_CASE("a reservation stays expired after its expiry time", "[domain][ledger]") {
  CHECK(tally::is_expired(1'000, 1'001));
  CHECK(tally::is_expired(1'000, INT64_MAX));
}
