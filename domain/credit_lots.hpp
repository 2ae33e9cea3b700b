#pragma once
// Expiring credit lots (docs/ledger.md "Expiring grants"): the bookkeeping of which part of an
// account's credits each expiring grant still owns. Pure: no I/O, no clock reads (time is
// passed in). The account actor calls these before journaling an entry; the journal stores
// what they decide (ledger.credit_lots, ledger.reservations.lots).
//
// The model, per account:
//   available = perpetual + sum(lot.remaining)      (perpetual: grants without expires_at)
//   reserved  = sum(hold.amount), and each hold's allocation (its lot credits) <= hold.amount
// so sum(lot.remaining) <= available and sum(allocations) <= reserved, always (the actor
// asserts both after every mutation and on load).
//
// Rules:
// - Burn order: credits leave `available` (spend, reserve) from lots not yet past expires_at,
//   earliest expires_at first (tie: the older lot, lower grant seq), then perpetual credits.
// - A lot past expires_at is dead even before the sweep journals its `expire` entry: its
//   remaining is not spendable (spendable = available - remaining of lots past expiry).
// - A reservation holds the lot credits it took (its allocation). A commit charges the
//   allocation in burn order first and perpetual credits last; what is not charged returns to
//   the lots it came from. Release and expiry return the whole allocation. Credits returning to
//   a lot past expires_at return to it, and expire with it at the next sweep: reserving just
//   before expiry can never turn expiring credits into perpetual ones.
// - Expiry removes only a lot's remaining (the unspent, unreserved part), once.

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include <caf/expected.hpp>

#include "domain/ledger_records.hpp"

namespace tally {

// Lots an account may hold at once (remaining > 0, or held by a pending reservation). An
// expiring grant beyond it is refused, so memory, loads and allocations stay bounded.
inline constexpr std::size_t credit_lots_max = 1000;

// An expiring grant's expires_at lies in (now, now + this]: ten years of 365.25 days.
inline constexpr int64_t credit_lot_lifetime_max_ms = int64_t{3'652} * 86'400'000 + 43'200'000;

// True when `expires_at_ms` is an acceptable expiry for a grant made at `now_ms`.
inline bool is_valid_lot_expiry(int64_t expires_at_ms, int64_t now_ms) {
  return expires_at_ms > now_ms && expires_at_ms - now_ms <= credit_lot_lifetime_max_ms;
}

// True when `a` burns before `b`: earlier expires_at, then the older lot (lower grant seq).
bool burns_before(const credit_lot& a, const credit_lot& b);

// The sum of a reservation's allocation.
int64_t allocation_total(const std::vector<lot_share>& allocation);

// How a commit splits a reservation's allocation: the lot credits charged, and the lot credits
// that return to their lots. Both keep the allocation's (burn) order.
struct allocation_split {
  std::vector<lot_share> charged;
  std::vector<lot_share> returned;
};

// Charges `charge` credits of a reservation whose lot credits are `allocation` (in burn order;
// the rest of the reservation is perpetual): the allocation first, in order, then the
// perpetual part. What of the allocation is not charged is returned.
// REQUIRES: charge >= 0; every share > 0.
allocation_split split_allocation(const std::vector<lot_share>& allocation, int64_t charge);

// One account's lots, kept in burn order.
class lot_book {
 public:
  lot_book() = default;

  // REQUIRES: unique ids; 0 <= remaining <= amount; amount > 0; at most credit_lots_max.
  explicit lot_book(std::vector<credit_lot> lots);

  const std::vector<credit_lot>& lots() const { return lots_; }
  bool empty() const { return lots_.empty(); }
  std::size_t size() const { return lots_.size(); }
  bool is_full() const { return lots_.size() >= credit_lots_max; }

  // The lot `lot_id`, or nullptr.
  const credit_lot* find(const std::string& lot_id) const;

  // The sum of every lot's remaining: the part of `available` that is not perpetual.
  int64_t remaining_total() const;

  // The remaining of lots past expires_at at `now_ms` (dead, not yet swept).
  int64_t expired_remaining(int64_t now_ms) const;

  // What of `available` may leave it at `now_ms`: available minus dead lot credits.
  // REQUIRES: remaining_total() <= available.
  int64_t spendable(int64_t available, int64_t now_ms) const;

  // The lot credits that `credits` leaving `available` at `now_ms` take, in burn order (the
  // rest comes from perpetual credits), or errc::insufficient_credits when credits exceeds
  // spendable(available, now_ms). Changes nothing.
  // REQUIRES: credits > 0; remaining_total() <= available.
  caf::expected<std::vector<lot_share>> plan_take(int64_t available, int64_t credits,
                                                  int64_t now_ms) const;

  // Removes `shares` from their lots' remaining; returns one change per share.
  // REQUIRES: every lot present with remaining >= its share.
  std::vector<lot_change> take(const std::vector<lot_share>& shares);

  // Adds `shares` back to their lots' remaining, whether or not the lot is past expires_at.
  // Returns one change per share.
  // REQUIRES: every lot present; remaining + share <= amount.
  std::vector<lot_change> give_back(const std::vector<lot_share>& shares);

  // Adds a new lot (an expiring grant) with remaining = amount.
  // REQUIRES: !is_full(); a new id; amount > 0.
  void add(credit_lot lot);

  // The credits lot `lot_id` can expire at `now_ms`: its remaining when it is past
  // expires_at, else 0 (unknown, not yet due, or nothing left).
  int64_t expirable(const std::string& lot_id, int64_t now_ms) const;

  // Expires lot `lot_id`: its remaining becomes 0. Returns the change.
  // REQUIRES: expirable(lot_id, now_ms) > 0.
  lot_change expire(const std::string& lot_id, int64_t now_ms);

  // Forgets lots with nothing left that no pending reservation holds (`held` lot ids):
  // nothing can ever return to them.
  void prune(const std::unordered_set<std::string>& held);

 private:
  credit_lot& at(const std::string& lot_id);
  std::vector<credit_lot> lots_;  // burn order
};

}  // namespace tally
