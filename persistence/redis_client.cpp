#include "persistence/redis_client.hpp"

#include <hiredis/hiredis.h>

#include <cstdlib>

namespace tally::persistence {
namespace {

redis_reply convert(const redisReply* reply) {
  redis_reply out;
  switch (reply->type) {
    case REDIS_REPLY_INTEGER:
      out.type = redis_reply::kind::integer;
      out.integer = reply->integer;
      break;
    case REDIS_REPLY_STRING:
      out.type = redis_reply::kind::string;
      out.text.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = redis_reply::kind::status;
      out.text.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = redis_reply::kind::error;
      out.text.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = redis_reply::kind::array;
      for (size_t i = 0; i < reply->elements; ++i) {
        out.elements.push_back(convert(reply->element[i]));
      }
      break;
    default:
      out.type = redis_reply::kind::nil;
  }
  return out;
}

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

void append(redisContext* context, const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<size_t> lengths;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lengths.push_back(a.size());
  }
  redisAppendCommandArgv(context, static_cast<int>(args.size()), args.data(), lengths.data());
}

}  // namespace

bool parse_redis_url(const std::string& url, redis_endpoint& out) {
  const std::string scheme = "redis://";
  if (url.rfind(scheme, 0) != 0) {
    return false;
  }
  std::string rest = url.substr(scheme.size());
  redis_endpoint ep;
  auto at = rest.rfind('@');
  if (at != std::string::npos) {
    std::string credentials = rest.substr(0, at);
    auto colon = credentials.find(':');
    ep.password = colon == std::string::npos ? credentials : credentials.substr(colon + 1);
    rest = rest.substr(at + 1);
  }
  auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  if (slash != std::string::npos && slash + 1 < rest.size()) {
    char* end = nullptr;
    long db = std::strtol(rest.c_str() + slash + 1, &end, 10);
    if (*end != '\0' || db < 0 || db > 15) {
      return false;
    }
    ep.database = static_cast<int>(db);
  }
  auto colon = hostport.rfind(':');
  if (colon != std::string::npos) {
    char* end = nullptr;
    long port = std::strtol(hostport.c_str() + colon + 1, &end, 10);
    if (*end != '\0' || port <= 0 || port > 65535) {
      return false;
    }
    ep.port = static_cast<uint16_t>(port);
    hostport = hostport.substr(0, colon);
  }
  if (hostport.empty()) {
    return false;
  }
  ep.host = hostport;
  out = ep;
  return true;
}

redis_client::redis_client(redis_endpoint endpoint, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)), timeout_(timeout) {}

redis_client::~redis_client() {
  drop();
}

void redis_client::drop() {
  if (context_ != nullptr) {
    redisFree(context_);
    context_ = nullptr;
  }
}

bool redis_client::ensure_connected() {
  if (context_ != nullptr) {
    return true;
  }
  const auto now = std::chrono::steady_clock::now();
  if (now < next_attempt_) {
    return false;
  }
  next_attempt_ = now + redis_reconnect_backoff;
  context_ = redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, to_timeval(timeout_));
  if (context_ == nullptr || context_->err != 0) {
    drop();
    return false;
  }
  redisSetTimeout(context_, to_timeval(timeout_));
  redisEnableKeepAlive(context_);
  std::vector<std::vector<std::string>> setup;
  if (!endpoint_.password.empty()) {
    setup.push_back({"AUTH", endpoint_.password});
  }
  if (endpoint_.database != 0) {
    setup.push_back({"SELECT", std::to_string(endpoint_.database)});
  }
  for (const auto& argv : setup) {
    auto reply = command(argv);
    if (!reply || reply->type == redis_reply::kind::error) {
      drop();
      return false;
    }
  }
  return true;
}

std::optional<redis_reply> redis_client::command(const std::vector<std::string>& argv) {
  auto replies = pipeline({argv});
  if (!replies) {
    return std::nullopt;
  }
  return std::move(replies->front());
}

std::optional<std::vector<redis_reply>> redis_client::pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  if (!ensure_connected()) {
    return std::nullopt;
  }
  for (const auto& argv : commands) {
    append(context_, argv);
  }
  std::vector<redis_reply> out;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
      // "Once an error is returned the context cannot be reused" (hiredis README).
      drop();
      return std::nullopt;
    }
    auto* reply = static_cast<redisReply*>(raw);
    out.push_back(convert(reply));
    freeReplyObject(reply);
  }
  return out;
}

}  // namespace tally::persistence
