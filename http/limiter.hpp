#pragma once
// One rate-limit rule (e.g. "auth requests per source address per minute"),
// counted in Redis so every engine node shares the window, with an
// in-process limiter as the fallback while Redis is unreachable.

#include <chrono>
#include <functional>
#include <string>

#include <caf/fwd.hpp>

#include "actors/cache.hpp"
#include "http/exchange.hpp"
#include "http/rate_limit.hpp"

namespace tally::http {

class rate_rule {
 public:
  // `limit` requests per `window_s`; 0 disables the rule.
  rate_rule(caf::actor_system& sys, cache_actor cache, std::string name, int64_t limit,
            int64_t window_s, std::size_t local_keys_max, std::chrono::milliseconds timeout);

  // Counts one request for `key`. Runs `allowed` on the io thread when the
  // request may go on (after adding RateLimit-* headers to the response);
  // otherwise answers 429 `rate_limited` with Retry-After itself.
  void check(const exchange_ptr& ex, const std::string& key, std::function<void()> allowed);

 private:
  caf::actor_system& sys_;
  cache_actor cache_;
  std::string name_;
  int64_t limit_;
  int64_t window_s_;
  std::chrono::milliseconds timeout_;
  local_rate_limiter fallback_;
};

}  // namespace tally::http
