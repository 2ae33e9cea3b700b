#pragma once
// The one outbound HTTP client (gateways, the sandbox's webhooks, workflow
// `http` executors, subscriber webhooks): HTTP/1.1 over TCP or TLS 1.2+ with
// certificate and host-name verification, connect and exchange timeouts,
// keep-alive reuse, and retries with backoff + jitter (domain/backoff.hpp)
// under a bounded budget.
//
// Blocking by design: call it from a detached actor or a thread of its own,
// never from an Asio io thread or a cooperatively scheduled actor. One client
// per worker; an instance is not thread-safe.
//
// Boost and OpenSSL stay out of this header (it is widely included).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/error.hpp"

namespace tally::outbound {

class target_policy;

using header_list = std::vector<std::pair<std::string, std::string>>;

struct request {
  std::string method = "GET";  // GET, POST, PUT, PATCH, DELETE
  std::string url;             // http(s)://host[:port]/path[?query]
  header_list headers;         // Host, Content-Length, User-Agent are added
  std::string body;
  std::chrono::milliseconds connect_timeout{3'000};
  std::chrono::milliseconds timeout{10'000};  // one attempt: connect + write + read
};

struct response {
  int status = 0;
  header_list headers;
  std::string body;  // at most client_options::response_bytes_max
  // The first value of header `name` (case-insensitive), or "".
  std::string_view header(std::string_view name) const;
};

// When a failed attempt may be tried again.
enum class retry_mode {
  // Never retry. For one-shot calls whose caller reconciles by itself.
  never,
  // Retry when the request certainly did not take effect: the connection
  // could not be made, a 429, or a 5xx answer. A timeout or a connection cut
  // after the request was written is *ambiguous* and is returned, not retried
  // (create-charge: the caller reconciles with the gateway first).
  unambiguous,
  // Also retry ambiguous failures: for GETs and for calls that carry an
  // idempotency key the far side honours.
  idempotent,
};

struct retry_policy {
  retry_mode mode = retry_mode::unambiguous;
  uint32_t attempts_max = 3;  // attempts in all, >= 1
  std::chrono::milliseconds delay_min{200};
  std::chrono::milliseconds delay_max{5'000};
  // Wall-clock cap over all attempts and waits; no retry starts past it.
  std::chrono::milliseconds budget{30'000};
  // A Retry-After (seconds) on a 429/503 replaces the computed delay when it
  // fits in the remaining budget; otherwise the answer is returned.
  bool honour_retry_after = true;
};

// The result of send(). Either `response` is set (any status code: a 4xx/5xx
// from the far side is an answer, not a transport error), or `error` says
// why there is no answer:
//   gateway_unavailable  no connection, DNS failure, TLS/certificate failure,
//                        a connection cut before the request was written
//   upstream_timeout     no (complete) answer in time
//   forbidden            the target_policy refused the destination (SSRF)
//   invalid_argument     the URL or request is malformed, or plain HTTP to a
//                        host that is not loopback
// `ambiguous` is true when the request may have reached the far side and
// taken effect although no answer came back.
struct outcome {
  std::optional<outbound::response> response;
  errc error = errc::internal;
  bool ambiguous = false;
  uint32_t attempts = 0;
  std::string detail;  // for logs: never contains header values or bodies
  bool ok() const { return response.has_value(); }
};

struct client_options {
  std::string user_agent = "tally/0.1";
  std::size_t response_bytes_max = 1024 * 1024;
  std::size_t idle_connections_max = 8;  // kept for reuse, across hosts
  std::chrono::seconds idle_keep{30};    // an idle connection older than this is closed
  // Extra PEM CA file trusted besides the system store (tests); empty: none.
  std::string ca_file;
  // Checked against every resolved address before connecting; null: any
  // address, but plain HTTP still only to loopback.
  std::shared_ptr<const target_policy> policy;
};

class http_client {
 public:
  explicit http_client(client_options options = {});
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  // Sends `req`, retrying per `retry`. Blocks for at most about retry.budget.
  outcome send(const request& req, const retry_policy& retry = {});

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace tally::outbound
