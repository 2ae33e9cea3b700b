#pragma once
// A synchronous Redis client over hiredis 0.14 (RESP2), owned by one detached
// actor: a redisContext is not thread-safe. Redis holds only what may be lost
// (rate-limit counters, the access-token deny list), so every caller has a
// fallback for `std::nullopt` (Redis unreachable).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

struct redisContext;

namespace tally::persistence {

struct redis_endpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  int database = 0;
  std::string password;
};

// Parses redis://[:password@]host[:port][/db]. Returns false when malformed.
bool parse_redis_url(const std::string& url, redis_endpoint& out);

struct redis_reply {
  enum class kind { nil, integer, string, status, array, error };
  kind type = kind::nil;
  int64_t integer = 0;
  std::string text;
  std::vector<redis_reply> elements;
};

class redis_client {
 public:
  redis_client(redis_endpoint endpoint, std::chrono::milliseconds timeout);
  ~redis_client();
  redis_client(const redis_client&) = delete;
  redis_client& operator=(const redis_client&) = delete;

  // Sends one command (binary-safe arguments) and returns its reply, or
  // nullopt when Redis is unreachable or the connection broke. After a
  // failure, reconnects at most every `reconnect_backoff`.
  std::optional<redis_reply> command(const std::vector<std::string>& argv);

  // Sends several commands in one round trip (pipelining); nullopt on failure.
  std::optional<std::vector<redis_reply>> pipeline(
      const std::vector<std::vector<std::string>>& commands);

 private:
  bool ensure_connected();
  void drop();

  redis_endpoint endpoint_;
  std::chrono::milliseconds timeout_;
  redisContext* context_ = nullptr;
  std::chrono::steady_clock::time_point next_attempt_{};
};

inline constexpr std::chrono::milliseconds redis_reconnect_backoff{500};

}  // namespace tally::persistence
