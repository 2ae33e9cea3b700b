#pragma once
// A Redis pub/sub subscription read without blocking for long: `poll` waits
// at most the given time for messages, so the detached actor that owns it
// stays responsive to its mailbox (shutdown). hiredis 0.14, RESP2.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "persistence/redis_client.hpp"

struct redisContext;

namespace tally::persistence {

class redis_subscriber {
 public:
  redis_subscriber(redis_endpoint endpoint, std::string channel);
  ~redis_subscriber();
  redis_subscriber(const redis_subscriber&) = delete;
  redis_subscriber& operator=(const redis_subscriber&) = delete;

  // Connects and subscribes. Returns false when Redis is unreachable.
  bool connect(std::chrono::milliseconds timeout);
  bool connected() const { return context_ != nullptr; }

  // Waits up to `wait` for published messages and returns their payloads;
  // nullopt when the connection broke (the caller reconnects).
  std::optional<std::vector<std::string>> poll(std::chrono::milliseconds wait);

  void disconnect();

 private:
  redis_endpoint endpoint_;
  std::string channel_;
  redisContext* context_ = nullptr;
};

}  // namespace tally::persistence
