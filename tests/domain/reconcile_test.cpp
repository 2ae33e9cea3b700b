// tests/domain/reconcile_test.cpp: covers domain/reconcile.cpp, the check behind DESIGN
// invariant 2 (replaying an account's journal gives exactly its projection).
#include "domain/reconcile.hpp"

#include <cstdint>
#include <initializer_list>
#include <vector>

#include <catch2/catch.hpp>

#include "domain/ledger.hpp"

namespace {

using tally::account_projection;
using tally::journal_row;
using tally::reconcile_mismatch;

// A consistent journal: grant 100, reserve 30, commit 20 of the 30, spend 5.
const std::vector<journal_row> clean_rows = {
    {1, 100, 0, 100, 0},
    {2, -30, 30, 70, 30},
    {3, 10, -30, 80, 0},
    {4, -5, 0, 75, 0},
};
constexpr account_projection clean_projection{75, 0, 4};

std::vector<reconcile_mismatch> replay(const std::vector<journal_row>& rows,
                                       const account_projection& projection) {
  tally::account_replay checker;
  for (const auto& row : rows) {
    checker.add(row);
  }
  return checker.finish(projection);
}

}  // namespace

TEST_CASE("a consistent journal and projection have no mismatches", "[domain][reconcile]") {
  CHECK(replay(clean_rows, clean_projection).empty());
}

TEST_CASE("a journal built from the ledger rules reconciles", "[domain][reconcile]") {
  // The rows the ledger actor would journal, computed with domain/ledger.hpp.
  tally::balance current;
  std::vector<journal_row> rows;
  const auto journal = [&](const tally::balance_delta& delta) {
    current = tally::apply_delta(current, delta);
    rows.push_back({static_cast<int64_t>(rows.size()) + 1, delta.available, delta.reserved,
                    current.credits_available, current.credits_reserved});
  };
  journal(*tally::grant_delta(current, 500));
  journal(*tally::reserve_delta(current, 200));
  journal(*tally::reserve_delta(current, 100));
  journal(*tally::commit_delta(current, 200, 150));
  journal(tally::release_delta(current, 100));
  journal(*tally::spend_delta(current, 50));
  CHECK(current == tally::balance{300, 0});
  CHECK(replay(rows, {current.credits_available, current.credits_reserved, 6}).empty());
}

TEST_CASE("an empty journal with a zero projection is consistent", "[domain][reconcile]") {
  CHECK(replay({}, {0, 0, 0}).empty());
}

TEST_CASE("an empty journal with a non-zero projection mismatches each field",
          "[domain][reconcile]") {
  const auto mismatches = replay({}, {10, 20, 3});
  CHECK(mismatches == std::vector<reconcile_mismatch>{
                          {"available", 0, 10, 0},
                          {"reserved", 0, 20, 0},
                          {"last_seq", 0, 3, 0},
                      });
}

TEST_CASE("a projection with different available credits mismatches", "[domain][reconcile]") {
  CHECK(replay(clean_rows, {76, 0, 4}) ==
        std::vector<reconcile_mismatch>{{"available", 75, 76, 0}});
}

TEST_CASE("a projection with different reserved credits mismatches", "[domain][reconcile]") {
  CHECK(replay(clean_rows, {75, 1, 4}) == std::vector<reconcile_mismatch>{{"reserved", 0, 1, 0}});
}

TEST_CASE("a projection with a different last sequence mismatches", "[domain][reconcile]") {
  CHECK(replay(clean_rows, {75, 0, 3}) == std::vector<reconcile_mismatch>{{"last_seq", 4, 3, 0}});
  CHECK(replay(clean_rows, {75, 0, 5}) == std::vector<reconcile_mismatch>{{"last_seq", 4, 5, 0}});
}

TEST_CASE("a gap in the sequence is reported once with the seq expected and found",
          "[domain][reconcile]") {
  const std::vector<journal_row> rows = {
      {1, 100, 0, 100, 0},
      {2, -30, 30, 70, 30},
      {4, 10, -30, 80, 0},
      {5, -5, 0, 75, 0},
  };
  CHECK(replay(rows, {75, 0, 5}) == std::vector<reconcile_mismatch>{{"seq_gap", 3, 4, 4}});
}

TEST_CASE("a journal that does not start at seq 1 is a gap", "[domain][reconcile]") {
  CHECK(replay({{2, 10, 0, 10, 0}}, {10, 0, 2}) ==
        std::vector<reconcile_mismatch>{{"seq_gap", 1, 2, 2}});
  CHECK(replay({{0, 10, 0, 10, 0}}, {10, 0, 0}) ==
        std::vector<reconcile_mismatch>{{"seq_gap", 1, 0, 0}});
}

TEST_CASE("a duplicated seq is reported and its deltas still count", "[domain][reconcile]") {
  const std::vector<journal_row> rows = {
      {1, 100, 0, 100, 0},
      {2, -30, 30, 70, 30},
      {2, -30, 30, 70, 30},
      {3, 30, -30, 70, 30},
  };
  const auto mismatches = replay(rows, {100, 0, 3});
  REQUIRE(mismatches.size() >= 2);
  CHECK(mismatches[0] == reconcile_mismatch{"seq_gap", 3, 2, 2});
  CHECK(mismatches[1] == reconcile_mismatch{"available_after", 40, 70, 2});
  // Replayed twice, the duplicate leaves 30 credits reserved that the projection does not have.
  CHECK(mismatches.back() == reconcile_mismatch{"reserved", 30, 0, 0});
}

TEST_CASE("a sequence that goes backwards is reported without losing its place",
          "[domain][reconcile]") {
  const std::vector<journal_row> rows = {
      {1, 1, 0, 1, 0}, {2, 1, 0, 2, 0}, {3, 1, 0, 3, 0}, {1, 0, 0, 3, 0}, {4, 1, 0, 4, 0},
  };
  CHECK(replay(rows, {4, 0, 4}) == std::vector<reconcile_mismatch>{{"seq_gap", 4, 1, 1}});
}

TEST_CASE("a stored available-after that disagrees with the deltas is reported",
          "[domain][reconcile]") {
  auto rows = clean_rows;
  rows[1].available_after = 71;
  CHECK(replay(rows, clean_projection) ==
        std::vector<reconcile_mismatch>{{"available_after", 70, 71, 2}});
}

TEST_CASE("a stored reserved-after that disagrees with the deltas is reported",
          "[domain][reconcile]") {
  auto rows = clean_rows;
  rows[2].reserved_after = 30;
  CHECK(replay(rows, clean_projection) ==
        std::vector<reconcile_mismatch>{{"reserved_after", 0, 30, 3}});
}

TEST_CASE("a wrong delta makes the following after-values disagree", "[domain][reconcile]") {
  auto rows = clean_rows;
  rows[0].delta_available = 99;  // the after-values still say 100
  const auto mismatches = replay(rows, clean_projection);
  CHECK(mismatches == std::vector<reconcile_mismatch>{
                          {"available_after", 99, 100, 1},
                          {"available_after", 69, 70, 2},
                          {"available_after", 79, 80, 3},
                          {"available_after", 74, 75, 4},
                          {"available", 74, 75, 0},
                      });
}

TEST_CASE("a running available balance below zero is reported", "[domain][reconcile]") {
  const std::vector<journal_row> rows = {
      {1, 10, 0, 10, 0},
      {2, -15, 0, -5, 0},
      {3, 10, 0, 5, 0},
  };
  CHECK(replay(rows, {5, 0, 3}) ==
        std::vector<reconcile_mismatch>{{"negative_balance", -5, -5, 2}});
}

TEST_CASE("a running reserved balance below zero is reported", "[domain][reconcile]") {
  const std::vector<journal_row> rows = {
      {1, 10, 0, 10, 0},
      {2, 5, -5, 15, -5},
  };
  CHECK(replay(rows, {15, -5, 2}) ==
        std::vector<reconcile_mismatch>{{"negative_balance", -5, -5, 2}});
}

TEST_CASE("mismatches are bounded per account and the projection is still compared",
          "[domain][reconcile]") {
  std::vector<journal_row> rows;
  for (int64_t seq = 1; seq <= 1000; ++seq) {
    rows.push_back({seq, 1, 0, seq + 1, 0});  // every after-value is one too high
  }
  const auto mismatches = replay(rows, {0, 7, 999});
  REQUIRE(mismatches.size() == tally::reconcile_mismatches_per_account_max);
  CHECK(mismatches.front() == reconcile_mismatch{"available_after", 1, 2, 1});
  CHECK(mismatches[mismatches.size() - 3] == reconcile_mismatch{"available", 1000, 0, 0});
  CHECK(mismatches[mismatches.size() - 2] == reconcile_mismatch{"reserved", 0, 7, 0});
  CHECK(mismatches[mismatches.size() - 1] == reconcile_mismatch{"last_seq", 1000, 999, 0});
}

TEST_CASE("deltas that would overflow int64 are reported, not undefined", "[domain][reconcile]") {
  const std::vector<journal_row> rows = {
      {1, INT64_MAX, 0, INT64_MAX, 0},
      {2, INT64_MAX, 0, 0, 0},
      {3, INT64_MIN, INT64_MIN, 0, 0},
  };
  const auto mismatches = replay(rows, {0, 0, 3});
  CHECK_FALSE(mismatches.empty());
  CHECK(mismatches.size() <= tally::reconcile_mismatches_per_account_max);
}

TEST_CASE("finish can be asked again and does not change the replay", "[domain][reconcile]") {
  tally::account_replay checker;
  for (const auto& row : clean_rows) {
    checker.add(row);
  }
  CHECK(checker.finish({0, 0, 0}).size() == 2);
  CHECK(checker.finish(clean_projection).empty());
}
