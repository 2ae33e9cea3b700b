#include "domain/ledger.hpp"

#include <array>
#include <utility>

#include "domain/assert.hpp"
#include "domain/error.hpp"

namespace tally {

namespace {

constexpr std::array<std::pair<entry_kind, std::string_view>, 9> entry_kind_names{{
    {entry_kind::purchase, "purchase"},
    {entry_kind::grant, "grant"},
    {entry_kind::spend, "spend"},
    {entry_kind::reserve, "reserve"},
    {entry_kind::commit, "commit"},
    {entry_kind::release, "release"},
    {entry_kind::expire, "expire"},
    {entry_kind::refund, "refund"},
    {entry_kind::adjustment, "adjustment"},
}};

constexpr std::array<std::pair<reservation_status, std::string_view>, 4> reservation_status_names{{
    {reservation_status::pending, "pending"},
    {reservation_status::committed, "committed"},
    {reservation_status::released, "released"},
    {reservation_status::expired, "expired"},
}};

// A balance as the ledger keeps it (DESIGN invariant 1, bounded by credits_max). Asserted on
// every input so a corrupt balance stops the actor before it journals anything from it.
void assert_valid(const balance& b) {
  TALLY_ASSERT(b.credits_available >= 0);
  TALLY_ASSERT(b.credits_available <= credits_max);
  TALLY_ASSERT(b.credits_reserved >= 0);
  TALLY_ASSERT(b.credits_reserved <= credits_max);
}

// The events a reservation receives; the ledger actor never sends it any other.
bool is_reservation_event(entry_kind event) {
  return event == entry_kind::commit || event == entry_kind::release || event == entry_kind::expire;
}

}  // namespace

const char* to_string(entry_kind kind) {
  for (const auto& [value, name] : entry_kind_names) {
    if (value == kind) {
      return name.data();  // the literals are NUL-terminated
    }
  }
  return "unknown";
}

std::optional<entry_kind> parse_entry_kind(std::string_view text) {
  for (const auto& [value, name] : entry_kind_names) {
    if (name == text) {
      return value;
    }
  }
  return std::nullopt;
}

caf::expected<balance_delta> grant_delta(const balance& before, int64_t credits) {
  TALLY_ASSERT(credits > 0);
  assert_valid(before);
  // No overflow: credits_total(before) <= 2 * credits_max and credits is never added.
  if (credits > credits_max - credits_total(before)) {
    return errc::invalid_argument;
  }
  return balance_delta{credits, 0};
}

caf::expected<balance_delta> spend_delta(const balance& before, int64_t credits) {
  TALLY_ASSERT(credits > 0);
  assert_valid(before);
  if (credits > before.credits_available) {
    return errc::insufficient_credits;
  }
  return balance_delta{-credits, 0};
}

caf::expected<balance_delta> reserve_delta(const balance& before, int64_t credits) {
  TALLY_ASSERT(credits > 0);
  assert_valid(before);
  if (credits > before.credits_available) {
    return errc::insufficient_credits;
  }
  return balance_delta{-credits, credits};
}

caf::expected<balance_delta> commit_delta(const balance& before, int64_t reservation_credits,
                                          int64_t commit_credits) {
  TALLY_ASSERT(reservation_credits > 0);
  assert_valid(before);
  TALLY_ASSERT(before.credits_reserved >= reservation_credits);
  if (commit_credits < 0) {
    return errc::validation_failed;
  }
  if (commit_credits > reservation_credits) {
    return errc::validation_failed;
  }
  return balance_delta{reservation_credits - commit_credits, -reservation_credits};
}

balance_delta release_delta(const balance& before, int64_t reservation_credits) {
  TALLY_ASSERT(reservation_credits > 0);
  assert_valid(before);
  TALLY_ASSERT(before.credits_reserved >= reservation_credits);
  return balance_delta{reservation_credits, -reservation_credits};
}

balance apply_delta(const balance& before, const balance_delta& delta) {
  assert_valid(before);
  // With both operands bounded by credits_max the sums below cannot overflow.
  TALLY_ASSERT(delta.available >= -credits_max);
  TALLY_ASSERT(delta.available <= credits_max);
  TALLY_ASSERT(delta.reserved >= -credits_max);
  TALLY_ASSERT(delta.reserved <= credits_max);
  const balance after{before.credits_available + delta.available,
                      before.credits_reserved + delta.reserved};
  assert_valid(after);
  return after;
}

const char* to_string(reservation_status status) {
  for (const auto& [value, name] : reservation_status_names) {
    if (value == status) {
      return name.data();  // the literals are NUL-terminated
    }
  }
  return "unknown";
}

std::optional<reservation_status> parse_reservation_status(std::string_view text) {
  for (const auto& [value, name] : reservation_status_names) {
    if (name == text) {
      return value;
    }
  }
  return std::nullopt;
}

caf::expected<reservation_status> reservation_transition(reservation_status from,
                                                         entry_kind event) {
  if (from != reservation_status::pending) {
    return errc::reservation_not_pending;
  }
  TALLY_ASSERT(is_reservation_event(event));
  switch (event) {
    case entry_kind::commit:
      return reservation_status::committed;
    case entry_kind::release:
      return reservation_status::released;
    case entry_kind::expire:
      return reservation_status::expired;
    default:
      return errc::internal;  // unreachable: asserted above
  }
}

}  // namespace tally
