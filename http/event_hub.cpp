#include "http/event_hub.hpp"

#include <algorithm>

#include "domain/assert.hpp"

namespace tally::http {

event_hub::event_hub(uint32_t per_user_max, uint32_t total_max)
    : per_user_max_(per_user_max), total_max_(total_max) {
  TALLY_ASSERT(per_user_max >= 1);
  TALLY_ASSERT(total_max >= 1);
}

subscribe_outcome event_hub::subscribe(const std::string& user_id,
                                       std::shared_ptr<event_subscriber> subscriber) {
  TALLY_ASSERT(subscriber != nullptr);
  std::lock_guard<std::mutex> lock(mutex_);
  if (is_cleared_ || subscriber_count_ >= total_max_) {
    return subscribe_outcome::over_total_cap;
  }
  auto& list = by_user_[user_id];
  TALLY_ASSERT(std::find(list.begin(), list.end(), subscriber) == list.end());
  if (list.size() >= per_user_max_) {
    if (list.empty()) {
      by_user_.erase(user_id);
    }
    return subscribe_outcome::over_user_cap;
  }
  list.push_back(std::move(subscriber));
  ++subscriber_count_;
  TALLY_ASSERT(list.size() <= per_user_max_);
  TALLY_ASSERT(subscriber_count_ <= total_max_);
  return subscribe_outcome::subscribed;
}

void event_hub::clear() {
  // The last references to the subscribers may be the hub's: release them after the lock.
  std::unordered_map<std::string, subscriber_list> released;
  std::lock_guard<std::mutex> lock(mutex_);
  is_cleared_ = true;
  released.swap(by_user_);
  subscriber_count_ = 0;
}

void event_hub::unsubscribe(const std::string& user_id, const event_subscriber* subscriber) {
  // The last reference to the subscriber may be the hub's: release it after the lock.
  std::shared_ptr<event_subscriber> released;
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = by_user_.find(user_id);
  if (found == by_user_.end()) {
    return;
  }
  auto& list = found->second;
  auto it = std::find_if(list.begin(), list.end(),
                         [subscriber](const auto& s) { return s.get() == subscriber; });
  if (it == list.end()) {
    return;
  }
  released = std::move(*it);
  list.erase(it);
  TALLY_ASSERT(subscriber_count_ > 0);
  --subscriber_count_;
  if (list.empty()) {
    by_user_.erase(found);
  }
}

void event_hub::publish(const std::vector<cloud_event>& events) {
  // Under the lock only: which events have subscribers, and who they are.
  std::unordered_map<std::string, subscriber_list> targets;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (by_user_.empty()) {
      return;
    }
    for (const auto& event : events) {
      auto found = by_user_.find(event.user_id);
      if (found != by_user_.end() && targets.find(event.user_id) == targets.end()) {
        targets.emplace(event.user_id, found->second);
      }
    }
  }
  if (targets.empty()) {
    return;
  }
  std::unordered_map<std::string, std::vector<stream_item_ptr>> items_by_user;
  for (const auto& event : events) {
    if (targets.find(event.user_id) == targets.end()) {
      continue;
    }
    if (auto item = stream_item_of(event)) {
      items_by_user[event.user_id].push_back(std::make_shared<const stream_item>(std::move(*item)));
    }
  }
  for (const auto& [user_id, items] : items_by_user) {
    for (const auto& subscriber : targets[user_id]) {
      subscriber->on_events(items);
    }
  }
}

std::size_t event_hub::subscriber_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return subscriber_count_;
}

}  // namespace tally::http
