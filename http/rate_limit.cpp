#include "http/rate_limit.hpp"

#include <algorithm>

#include "domain/assert.hpp"

namespace tally::http {

namespace {

rate_decision decide(int64_t count, int64_t limit, int64_t reset_s) {
  rate_decision decision;
  decision.allowed = count <= limit;
  decision.limit = limit;
  decision.remaining = std::clamp<int64_t>(limit - count, 0, limit);
  decision.reset_s = reset_s;
  decision.retry_after_s = decision.allowed ? 0 : reset_s;
  return decision;
}

}  // namespace

rate_decision decide_fixed_window(int64_t count_after_increment, int64_t limit, int64_t window_s,
                                  int64_t ttl_remaining_s) {
  TALLY_ASSERT(limit >= 0);
  if (limit == 0) {
    return rate_decision{};
  }
  TALLY_ASSERT(window_s > 0);
  // Redis TTL rounds down: 0 means under a second is left, so 1 is the honest answer.
  const int64_t reset_s =
      ttl_remaining_s < 0 ? window_s : std::clamp<int64_t>(ttl_remaining_s, 1, window_s);
  return decide(count_after_increment, limit, reset_s);
}

local_rate_limiter::local_rate_limiter(int64_t limit_per_window, int64_t window_s,
                                       std::size_t keys_max)
    : limit_(limit_per_window), window_ms_(window_s * 1000), keys_max_(keys_max) {
  TALLY_ASSERT(limit_per_window >= 0);
  TALLY_ASSERT(window_s > 0);
  TALLY_ASSERT(keys_max > 0);
}

rate_decision local_rate_limiter::check(std::string_view key, int64_t now_ms) {
  if (limit_ == 0) {
    return rate_decision{};
  }
  const std::string bounded_key(key.substr(0, rate_key_bytes_max));
  std::lock_guard lock(mutex_);
  auto found = windows_.find(bounded_key);
  if (found == windows_.end()) {
    if (windows_.size() >= keys_max_) {
      windows_.erase(by_start_.front());
      by_start_.pop_front();
    }
    by_start_.push_back(bounded_key);
    found = windows_.emplace(bounded_key, window{now_ms, 0, std::prev(by_start_.end())}).first;
  } else if (now_ms - found->second.started_ms >= window_ms_) {
    found->second.started_ms = now_ms;
    found->second.count = 0;
    by_start_.splice(by_start_.end(), by_start_, found->second.age_position);
  }
  window& current = found->second;
  current.count = std::min(current.count + 1, limit_ + 1);
  // A clock that stepped back leaves the window as it was: at most window_ms_ remains.
  const int64_t remaining_ms =
      std::clamp<int64_t>(current.started_ms + window_ms_ - now_ms, 1, window_ms_);
  const int64_t reset_s = (remaining_ms + 999) / 1000;
  TALLY_ASSERT(windows_.size() == by_start_.size());
  TALLY_ASSERT(windows_.size() <= keys_max_);
  return decide(current.count, limit_, reset_s);
}

std::size_t local_rate_limiter::key_count() const {
  std::lock_guard lock(mutex_);
  return windows_.size();
}

void rate_limit_headers(const rate_decision& decision,
                        std::vector<std::pair<std::string, std::string>>& out) {
  if (decision.limit == 0) {
    return;
  }
  out.emplace_back("RateLimit-Limit", std::to_string(decision.limit));
  out.emplace_back("RateLimit-Remaining", std::to_string(decision.remaining));
  out.emplace_back("RateLimit-Reset", std::to_string(decision.reset_s));
  if (!decision.allowed) {
    out.emplace_back("Retry-After", std::to_string(std::max<int64_t>(1, decision.retry_after_s)));
  }
}

}  // namespace tally::http
