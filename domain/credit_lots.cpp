#include "domain/credit_lots.hpp"

#include <algorithm>
#include <utility>

#include "domain/assert.hpp"
#include "domain/error.hpp"
#include "domain/ledger.hpp"

namespace tally {

namespace {

void assert_valid(const credit_lot& lot) {
  TALLY_ASSERT(!lot.lot_id.empty());
  TALLY_ASSERT(lot.amount > 0);
  TALLY_ASSERT(lot.amount <= credits_max);
  TALLY_ASSERT(lot.remaining >= 0);
  TALLY_ASSERT(lot.remaining <= lot.amount);
}

}  // namespace

bool burns_before(const credit_lot& a, const credit_lot& b) {
  if (a.expires_at_ms != b.expires_at_ms) {
    return a.expires_at_ms < b.expires_at_ms;
  }
  return a.seq < b.seq;
}

int64_t allocation_total(const std::vector<lot_share>& allocation) {
  int64_t total = 0;
  for (const auto& share : allocation) {
    total += share.amount;
  }
  return total;
}

allocation_split split_allocation(const std::vector<lot_share>& allocation, int64_t charge) {
  TALLY_ASSERT(charge >= 0);
  allocation_split split;
  int64_t left = charge;
  for (const auto& share : allocation) {
    TALLY_ASSERT(share.amount > 0);
    const int64_t charged = std::min(left, share.amount);
    left -= charged;
    if (charged > 0) {
      split.charged.push_back({share.lot_id, charged});
    }
    if (share.amount > charged) {
      split.returned.push_back({share.lot_id, share.amount - charged});
    }
  }
  return split;
}

lot_book::lot_book(std::vector<credit_lot> lots) : lots_(std::move(lots)) {
  TALLY_ASSERT(lots_.size() <= credit_lots_max);
  std::unordered_set<std::string> ids;
  for (const auto& lot : lots_) {
    assert_valid(lot);
    TALLY_ASSERT(ids.insert(lot.lot_id).second);
  }
  std::sort(lots_.begin(), lots_.end(), burns_before);
}

const credit_lot* lot_book::find(const std::string& lot_id) const {
  for (const auto& lot : lots_) {
    if (lot.lot_id == lot_id) {
      return &lot;
    }
  }
  return nullptr;
}

credit_lot& lot_book::at(const std::string& lot_id) {
  for (auto& lot : lots_) {
    if (lot.lot_id == lot_id) {
      return lot;
    }
  }
  TALLY_ASSERT(false);  // callers name only lots they hold
  return lots_.front();
}

int64_t lot_book::remaining_total() const {
  int64_t total = 0;
  for (const auto& lot : lots_) {
    total += lot.remaining;
  }
  return total;
}

int64_t lot_book::expired_remaining(int64_t now_ms) const {
  int64_t total = 0;
  for (const auto& lot : lots_) {
    if (is_expired(lot.expires_at_ms, now_ms)) {
      total += lot.remaining;
    }
  }
  return total;
}

int64_t lot_book::spendable(int64_t available, int64_t now_ms) const {
  const int64_t dead = expired_remaining(now_ms);
  TALLY_ASSERT(remaining_total() <= available);
  return available - dead;
}

caf::expected<std::vector<lot_share>> lot_book::plan_take(int64_t available, int64_t credits,
                                                          int64_t now_ms) const {
  TALLY_ASSERT(credits > 0);
  if (credits > spendable(available, now_ms)) {
    return errc::insufficient_credits;
  }
  std::vector<lot_share> shares;
  int64_t left = credits;
  for (const auto& lot : lots_) {
    if (left == 0) {
      break;
    }
    if (lot.remaining == 0 || is_expired(lot.expires_at_ms, now_ms)) {
      continue;
    }
    const int64_t taken = std::min(left, lot.remaining);
    shares.push_back({lot.lot_id, taken});
    left -= taken;
  }
  // The rest is perpetual, and there is enough of it: credits <= live lots + perpetual.
  TALLY_ASSERT(left <= available - remaining_total());
  return shares;
}

std::vector<lot_change> lot_book::take(const std::vector<lot_share>& shares) {
  std::vector<lot_change> changes;
  changes.reserve(shares.size());
  for (const auto& share : shares) {
    TALLY_ASSERT(share.amount > 0);
    auto& lot = at(share.lot_id);
    TALLY_ASSERT(lot.remaining >= share.amount);
    changes.push_back({lot.lot_id, lot.remaining, lot.remaining - share.amount});
    lot.remaining -= share.amount;
  }
  return changes;
}

std::vector<lot_change> lot_book::give_back(const std::vector<lot_share>& shares) {
  std::vector<lot_change> changes;
  changes.reserve(shares.size());
  for (const auto& share : shares) {
    TALLY_ASSERT(share.amount > 0);
    auto& lot = at(share.lot_id);
    TALLY_ASSERT(share.amount <= lot.amount - lot.remaining);
    changes.push_back({lot.lot_id, lot.remaining, lot.remaining + share.amount});
    lot.remaining += share.amount;
  }
  return changes;
}

void lot_book::add(credit_lot lot) {
  TALLY_ASSERT(!is_full());
  TALLY_ASSERT(find(lot.lot_id) == nullptr);
  lot.remaining = lot.amount;
  assert_valid(lot);
  const auto position = std::upper_bound(lots_.begin(), lots_.end(), lot, burns_before);
  lots_.insert(position, std::move(lot));
}

int64_t lot_book::expirable(const std::string& lot_id, int64_t now_ms) const {
  const credit_lot* lot = find(lot_id);
  if (lot == nullptr || !is_expired(lot->expires_at_ms, now_ms)) {
    return 0;
  }
  return lot->remaining;
}

lot_change lot_book::expire(const std::string& lot_id, int64_t now_ms) {
  TALLY_ASSERT(expirable(lot_id, now_ms) > 0);
  auto& lot = at(lot_id);
  const lot_change change{lot.lot_id, lot.remaining, 0};
  lot.remaining = 0;
  return change;
}

void lot_book::prune(const std::unordered_set<std::string>& held) {
  lots_.erase(std::remove_if(lots_.begin(), lots_.end(),
                             [&held](const credit_lot& lot) {
                               return lot.remaining == 0 && held.count(lot.lot_id) == 0;
                             }),
              lots_.end());
}

}  // namespace tally
