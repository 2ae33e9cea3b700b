#pragma once
// Delivers Omise events to the configured webhook URL on a thread of its
// own (the outbound client blocks; io threads never wait on it). Each event
// is POSTed as application/json, signed with Omise-Signature when a secret is
// configured (re-signed per attempt, so the timestamp is fresh), and retried
// with backoff (domain/backoff.hpp) until a 2xx or attempts_max.
//
// Chaos (decided by the caller, chaos.hpp) arrives with each event: a delay
// before the first attempt, a duplicate copy, a drop, or a reorder, which
// holds deliveries until a second one arrives (or reorder_window passes) and
// then sends the held ones newest first.
//
// Bounded: at most limits::webhook_queue_max deliveries wait; past that the
// oldest waiting delivery is dropped and logged. Deliveries still waiting at
// stop() are dropped (the sandbox keeps no durable state).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "sandbox/chaos.hpp"

namespace tally::sandbox {

using header_list = std::vector<std::pair<std::string, std::string>>;

// Sends one POST; returns the HTTP status, or 0 when no answer came.
using webhook_transport =
    std::function<int(const std::string& url, const header_list& headers, const std::string& body,
                      std::chrono::milliseconds timeout)>;

struct sender_options {
  std::string url;
  std::string key_bytes;  // the decoded webhook secret; "" sends unsigned
  uint32_t attempts_max = 5;
  std::chrono::milliseconds attempt_timeout{5'000};
  std::chrono::milliseconds retry_delay_min{500};
  std::chrono::milliseconds retry_delay_max{30'000};
  std::chrono::milliseconds reorder_window{1'000};
  uint64_t seed = 0;  // backoff jitter
};

struct sender_stats {
  uint64_t delivered = 0;        // attempts answered 2xx
  uint64_t failed_attempts = 0;  // attempts answered otherwise (or not at all)
  uint64_t dropped = 0;          // by chaos or by a full queue
  uint64_t abandoned = 0;        // every attempt failed
};

class webhook_sender {
 public:
  webhook_sender(sender_options options, webhook_transport transport);
  ~webhook_sender();  // stop()
  webhook_sender(const webhook_sender&) = delete;
  webhook_sender& operator=(const webhook_sender&) = delete;

  // Starts the delivery thread. REQUIRES: not started yet.
  void start();
  // Queues one event body (from any thread; never blocks on the network).
  void enqueue(const std::string& event_id, std::string body, const delivery_fate& fate);
  // Stops the thread after its current attempt; waiting deliveries are dropped.
  void stop();
  sender_stats stats() const;

 private:
  using clock = std::chrono::steady_clock;
  struct delivery {
    std::string event_id;
    std::shared_ptr<const std::string> body;
    uint32_t attempt = 0;  // attempts made so far
  };
  using queue_key = std::pair<clock::time_point, uint64_t>;  // due, then arrival

  void loop();
  bool attempt(const delivery& d);
  void schedule(delivery d, clock::time_point due);          // REQUIRES: mutex_ held
  void release_held(clock::time_point now, bool is_forced);  // REQUIRES: mutex_ held

  sender_options options_;
  webhook_transport transport_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::map<queue_key, delivery> queue_;                       // guarded by mutex_
  std::vector<std::pair<clock::time_point, delivery>> held_;  // guarded; arrival, delivery
  uint64_t sequence_ = 0;                                     // guarded
  sender_stats stats_;                                        // guarded
  bool is_stopping_ = false;                                  // guarded
  std::mt19937_64 random_;                                    // delivery thread only
  std::thread thread_;
};

}  // namespace tally::sandbox
