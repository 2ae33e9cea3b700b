#pragma once
// Fixed-window rate limiting (API.md "Rate limits"): the decision for one request, the
// in-process limiter used when Redis cannot be reached, and the response headers.
//
// A window starts at a key's first request and lasts window_s; every request in it counts, and
// requests past `limit` are refused until it ends. A limit of 0 disables the limiter: every
// request is allowed and no RateLimit headers are sent, so load tests can run from one address.

#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tally::http {

// Keys are identities chosen by the server (a user id, an address); longer ones are cut here,
// so they share a window with every key that has the same first bytes.
inline constexpr std::size_t rate_key_bytes_max = 256;

struct rate_decision {
  bool allowed = true;
  int64_t limit = 0;          // requests per window; 0 = limiter disabled
  int64_t remaining = 0;      // requests left in this window, never negative
  int64_t reset_s = 0;        // seconds until the window ends (1..window_s), 0 when disabled
  int64_t retry_after_s = 0;  // when refused: seconds to wait (= reset_s); 0 when allowed
};

// The decision from a shared counter: `count_after_increment` is what Redis INCR returned and
// `ttl_remaining_s` what TTL returned for the key (-1 no expiry, -2 no key: the window is
// taken as just started). REQUIRES: limit >= 0; window_s > 0 when limit > 0.
rate_decision decide_fixed_window(int64_t count_after_increment, int64_t limit, int64_t window_s,
                                  int64_t ttl_remaining_s);

// The fallback limiter: one process's view only, so with N engine nodes a client may get up to
// N times the limit while Redis is down. Thread-safe (one mutex; a check is a hash lookup).
// Memory is bounded by keys_max: a new key beyond it evicts the key whose window started
// first, which is the likeliest to have expired; an evicted client starts a fresh window.
class local_rate_limiter {
 public:
  // REQUIRES: limit_per_window >= 0; window_s > 0; keys_max > 0.
  local_rate_limiter(int64_t limit_per_window, int64_t window_s, std::size_t keys_max);

  // Counts one request for `key` at `now_ms` (any monotonic millisecond clock; a time before
  // the key's window start counts in that window) and returns the decision.
  rate_decision check(std::string_view key, int64_t now_ms);

  std::size_t key_count() const;

 private:
  struct window {
    int64_t started_ms = 0;
    int64_t count = 0;  // capped at limit + 1: refusals past that change nothing
    std::list<std::string>::iterator age_position;
  };

  const int64_t limit_;
  const int64_t window_ms_;
  const std::size_t keys_max_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, window> windows_;  // guarded by mutex_
  std::list<std::string> by_start_;                  // oldest window first; guarded by mutex_
};

// Appends RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (delta seconds), plus
// Retry-After when the request was refused. Appends nothing when the limiter is disabled.
void rate_limit_headers(const rate_decision& decision,
                        std::vector<std::pair<std::string, std::string>>& out);

}  // namespace tally::http
