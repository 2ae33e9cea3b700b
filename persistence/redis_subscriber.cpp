#include "persistence/redis_subscriber.hpp"

#include <hiredis/hiredis.h>
#include <poll.h>

namespace tally::persistence {
namespace {

// Reads every complete reply already buffered; appends message payloads.
bool drain(redisContext* context, std::vector<std::string>& out) {
  for (;;) {
    void* raw = nullptr;
    if (redisGetReplyFromReader(context, &raw) != REDIS_OK) {
      return false;
    }
    if (raw == nullptr) {
      return true;
    }
    auto* reply = static_cast<redisReply*>(raw);
    // ["message", channel, payload]; subscribe confirmations are skipped.
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
        reply->element[0]->type == REDIS_REPLY_STRING &&
        std::string(reply->element[0]->str, reply->element[0]->len) == "message" &&
        reply->element[2]->type == REDIS_REPLY_STRING) {
      out.emplace_back(reply->element[2]->str, reply->element[2]->len);
    }
    freeReplyObject(reply);
  }
}

}  // namespace

redis_subscriber::redis_subscriber(redis_endpoint endpoint, std::string channel)
    : endpoint_(std::move(endpoint)), channel_(std::move(channel)) {}

redis_subscriber::~redis_subscriber() {
  disconnect();
}

void redis_subscriber::disconnect() {
  if (context_ != nullptr) {
    redisFree(context_);
    context_ = nullptr;
  }
}

bool redis_subscriber::connect(std::chrono::milliseconds timeout) {
  disconnect();
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  context_ = redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, tv);
  if (context_ == nullptr || context_->err != 0) {
    disconnect();
    return false;
  }
  redisSetTimeout(context_, tv);
  redisEnableKeepAlive(context_);
  auto command = [&](std::vector<std::string> argv) {
    std::vector<const char*> args;
    std::vector<size_t> lengths;
    for (const auto& a : argv) {
      args.push_back(a.data());
      lengths.push_back(a.size());
    }
    void* raw = redisCommandArgv(context_, static_cast<int>(args.size()), args.data(),
                                 lengths.data());
    if (raw == nullptr) {
      return false;
    }
    const bool ok = static_cast<redisReply*>(raw)->type != REDIS_REPLY_ERROR;
    freeReplyObject(raw);
    return ok;
  };
  if (!endpoint_.password.empty() && !command({"AUTH", endpoint_.password})) {
    disconnect();
    return false;
  }
  if (!command({"SUBSCRIBE", channel_})) {
    disconnect();
    return false;
  }
  return true;
}

std::optional<std::vector<std::string>> redis_subscriber::poll(std::chrono::milliseconds wait) {
  if (context_ == nullptr) {
    return std::nullopt;
  }
  std::vector<std::string> messages;
  if (!drain(context_, messages)) {
    disconnect();
    return std::nullopt;
  }
  pollfd fd{context_->fd, POLLIN, 0};
  const int ready = ::poll(&fd, 1, static_cast<int>(wait.count()));
  if (ready < 0 || (ready > 0 && (fd.revents & (POLLERR | POLLHUP)) != 0)) {
    disconnect();
    return std::nullopt;
  }
  if (ready > 0) {
    if (redisBufferRead(context_) != REDIS_OK || !drain(context_, messages)) {
      disconnect();
      return std::nullopt;
    }
  }
  return messages;
}

}  // namespace tally::persistence
