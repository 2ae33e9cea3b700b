#pragma once
// The in-process fan-out of published events to the live streams (GET /v1/events/stream):
// the relays hand every batch they published to publish(), which gives each open stream the
// events of its own user (CloudEvent data.user_id), and nobody else's.
//
// Owned by main, shared with the relays' callback and the stream route; outlives both.
// Thread-safe: relays publish on their threads, streams subscribe and unsubscribe on io
// threads. publish() never blocks beyond this hub's short critical section: subscribers only
// queue what they get (event_subscriber::on_events must not block either). No CAF or Beast
// types.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "domain/event_stream.hpp"

namespace tally::http {

using stream_item_ptr = std::shared_ptr<const stream_item>;

class event_subscriber {
 public:
  virtual ~event_subscriber() = default;
  // Called on a relay's thread with the subscriber's user's events, in publication order.
  // Must not block: queue them and return.
  virtual void on_events(const std::vector<stream_item_ptr>& items) = 0;
};

enum class subscribe_outcome {
  subscribed,
  over_user_cap,   // the user has per_user_max subscribers (the caller answers 429)
  over_total_cap,  // the node has total_max subscribers, or the hub was cleared (503)
};

class event_hub {
 public:
  // REQUIRES: per_user_max >= 1; total_max >= 1.
  event_hub(uint32_t per_user_max, uint32_t total_max);
  event_hub(const event_hub&) = delete;
  event_hub& operator=(const event_hub&) = delete;

  // Adds `subscriber` for `user_id`, unless a cap is reached or the hub was cleared: then
  // adds nothing and says why.
  // REQUIRES: subscriber != nullptr; not already subscribed.
  [[nodiscard]] subscribe_outcome subscribe(const std::string& user_id,
                                            std::shared_ptr<event_subscriber> subscriber);

  // Removes `subscriber`; nothing happens when it is not subscribed.
  void unsubscribe(const std::string& user_id, const event_subscriber* subscriber);

  // The relays' published_callback: renders each event that has a subscriber once, and hands
  // each subscriber its user's events (in the batch's order). Events of users with no
  // subscriber cost a map lookup.
  void publish(const std::vector<cloud_event>& events);

  // Drops every subscription for good (later subscribe() calls are refused, publish() finds
  // nobody). main calls it once the server stopped and before it is destroyed: the hub
  // outlives the server, and the subscribers hold their connections.
  void clear();

  // Subscribers in all (for /metrics).
  [[nodiscard]] std::size_t subscriber_count() const;
  [[nodiscard]] uint32_t per_user_max() const { return per_user_max_; }
  [[nodiscard]] uint32_t total_max() const { return total_max_; }

 private:
  using subscriber_list = std::vector<std::shared_ptr<event_subscriber>>;

  const uint32_t per_user_max_;
  const uint32_t total_max_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, subscriber_list> by_user_;  // guarded by mutex_
  std::size_t subscriber_count_ = 0;                          // guarded by mutex_
  bool is_cleared_ = false;                                   // guarded by mutex_
};

}  // namespace tally::http
