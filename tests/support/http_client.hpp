// tests/support/http_client.hpp: a small synchronous HTTP/1.1 client (Boost.Beast) that
// integration tests use to talk to the engine over loopback. Test-only code: failures the
// test cannot go on from (connection refused, timeout, a response that does not parse) are
// thrown as std::runtime_error with a sentence saying what happened, which Catch2 prints.
//
// Not thread-safe: one http_client per thread. Each client owns one keep-alive connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace tally::test {

// Request headers in the order they are sent; a name may repeat.
using header_list = std::vector<std::pair<std::string, std::string>>;

inline constexpr std::chrono::milliseconds http_timeout_default{10'000};

struct http_response {
  int status = 0;  // 0 only from raw_exchange(): the server closed without answering
  std::string reason;
  // Lower-case names; a header sent several times has its values joined by ", ".
  std::map<std::string, std::string> headers;
  std::string body;

  // The body parsed as JSON. Throws std::runtime_error (quoting status and body) if it is
  // not JSON.
  [[nodiscard]] nlohmann::json json() const;
  // The value of header `name` (any case), or "" if absent.
  [[nodiscard]] std::string header(const std::string& name) const;
  [[nodiscard]] bool has_header(const std::string& name) const;
  // "HTTP 422 Unprocessable Entity, content-type: ..., body: ..." (body cut at 2 KiB), for
  // INFO()/CAPTURE() so a failed status check shows what the server said.
  [[nodiscard]] std::string describe() const;
};
std::ostream& operator<<(std::ostream& out, const http_response& response);

// {"Authorization", "Bearer <token>"}.
std::pair<std::string, std::string> bearer(const std::string& token);

class http_client {
 public:
  // Connects lazily, on the first request. `host` is a name or an address ("127.0.0.1").
  http_client(std::string host, uint16_t port,
              std::chrono::milliseconds timeout = http_timeout_default);
  ~http_client();
  http_client(http_client&&) noexcept;
  http_client& operator=(http_client&&) noexcept;
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  // Sends one request and reads its response on the kept-alive connection. Adds Host,
  // User-Agent and, when `body` is non-empty or the method is POST/PUT/PATCH, Content-Length;
  // adds no Content-Type (pass one in `headers`, or use post_json). A header in `headers`
  // replaces the default of the same name.
  //
  // If the server had closed the idle connection, reconnects. If the reused connection
  // fails before any byte of the response arrived, reconnects and sends once more (a
  // request the server read but never answered may then run twice: fine for tests).
  // Throws std::runtime_error on connect failure, timeout (the whole exchange must finish
  // within the timeout), a broken connection, or a response that does not parse.
  http_response request(const std::string& method, const std::string& target,
                        const std::string& body = "", const header_list& headers = {});

  http_response get(const std::string& target, const header_list& headers = {});
  // POST with the JSON serialization of `body` and Content-Type: application/json (unless
  // `headers` names another Content-Type).
  http_response post_json(const std::string& target, const nlohmann::json& body,
                          const header_list& headers = {});
  http_response patch_json(const std::string& target, const nlohmann::json& body,
                           const header_list& headers = {});
  http_response del(const std::string& target, const header_list& headers = {});

  void set_timeout(std::chrono::milliseconds timeout);
  // Drops the kept-alive connection; the next request opens a new one.
  void close();
  // Connections opened so far (a test of keep-alive or of server-side closing can look).
  [[nodiscard]] int connections_opened() const;

  [[nodiscard]] const std::string& host() const;
  [[nodiscard]] uint16_t port() const;

 private:
  struct state;
  std::unique_ptr<state> state_;
};

// Opens a fresh connection, writes `raw_bytes` exactly as given (malformed requests
// welcome), and reads one response. Returns status 0 (and any bytes received in `body`) if
// the server closed the connection or reset it without a parsable response. Throws
// std::runtime_error on connect failure or if nothing happened within `timeout`.
http_response raw_exchange(const std::string& host, uint16_t port, const std::string& raw_bytes,
                           std::chrono::milliseconds timeout = http_timeout_default);

}  // namespace tally::test
