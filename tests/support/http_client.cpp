// tests/support/http_client.cpp: Beast's timeouts only apply to asynchronous operations, so
// each step starts one async operation and runs this client's own io_context until it
// completes; the stream's deadline, set once per exchange, bounds the whole exchange.
#include "tests/support/http_client.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <sstream>
#include <stdexcept>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace tally::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

// Generous: tests read pages and OpenAPI documents, never anything near this.
constexpr std::uint64_t response_body_bytes_max = 64ULL * 1024 * 1024;
constexpr std::uint32_t response_header_bytes_max = 64 * 1024;
constexpr std::size_t describe_body_bytes_max = 2048;

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// Starts `start(handler)` and runs `ioc` until the handler ran; returns its error code.
template <class Start>
beast::error_code run_one(asio::io_context& ioc, Start&& start) {
  std::optional<beast::error_code> result;
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  while (!result && ioc.run_one() > 0) {
  }
  if (!result) {
    return asio::error::operation_aborted;
  }
  return *result;
}

std::string endpoint_text(const std::string& host, uint16_t port) {
  return host + ":" + std::to_string(port);
}

// Resolves and connects `stream`, whose deadline must already be set.
beast::error_code connect(asio::io_context& ioc, beast::tcp_stream& stream, const std::string& host,
                          uint16_t port) {
  tcp::resolver resolver(ioc);
  beast::error_code ec;
  auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (ec) {
    return ec;
  }
  return run_one(ioc, [&](auto handler) { stream.async_connect(endpoints, std::move(handler)); });
}

http_response to_response(http::response<http::string_body>&& message) {
  http_response response;
  response.status = static_cast<int>(message.result_int());
  response.reason = std::string(message.reason());
  for (const auto& field : message) {
    auto name = lower(std::string(field.name_string()));
    auto value = std::string(field.value());
    auto [it, inserted] = response.headers.emplace(name, value);
    if (!inserted) {
      it->second += ", " + value;
    }
  }
  response.body = std::move(message.body());
  return response;
}

void set_limits(http::response_parser<http::string_body>& parser) {
  parser.body_limit(response_body_bytes_max);
  parser.header_limit(response_header_bytes_max);
}

// True if a kept-alive connection can no longer carry a request: the server closed it
// (read would return end of file), reset it, or sent bytes nobody asked for.
bool is_stale(beast::tcp_stream& stream) {
  auto& socket = stream.socket();
  beast::error_code ec;
  socket.non_blocking(true, ec);
  if (ec) {
    return true;
  }
  char byte = 0;
  socket.receive(asio::buffer(&byte, 1), tcp::socket::message_peek, ec);
  beast::error_code ignored;
  socket.non_blocking(false, ignored);
  return ec != asio::error::would_block;
}

bool is_connection_lost(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted;
}

http::request<http::string_body> build_request(const std::string& method, const std::string& target,
                                               const std::string& body, const header_list& headers,
                                               const std::string& host_header) {
  http::request<http::string_body> message;
  auto verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) {
    message.method_string(method);
  } else {
    message.method(verb);
  }
  message.target(target);
  message.version(11);
  message.set(http::field::host, host_header);
  message.set(http::field::user_agent, "tally-integration-tests");
  message.body() = body;
  bool wants_length = !body.empty() || verb == http::verb::post || verb == http::verb::put ||
                      verb == http::verb::patch;
  if (wants_length) {
    message.content_length(body.size());
  }
  // Erase every default a caller header replaces, then add the caller's (repeats allowed).
  for (const auto& [name, value] : headers) {
    message.erase(name);
  }
  for (const auto& [name, value] : headers) {
    message.insert(name, value);
  }
  return message;
}

}  // namespace

nlohmann::json http_response::json() const {
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& error) {
    throw std::runtime_error("response body is not JSON (" + std::string(error.what()) +
                             "): " + describe());
  }
}

std::string http_response::header(const std::string& name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? std::string() : it->second;
}

bool http_response::has_header(const std::string& name) const {
  return headers.count(lower(name)) > 0;
}

std::string http_response::describe() const {
  std::ostringstream out;
  out << "HTTP " << status;
  if (!reason.empty()) {
    out << ' ' << reason;
  }
  auto type = header("content-type");
  if (!type.empty()) {
    out << ", content-type: " << type;
  }
  out << ", body (" << body.size() << " bytes): ";
  if (body.size() > describe_body_bytes_max) {
    out << body.substr(0, describe_body_bytes_max) << "...";
  } else {
    out << body;
  }
  return out.str();
}

std::ostream& operator<<(std::ostream& out, const http_response& response) {
  return out << response.describe();
}

std::pair<std::string, std::string> bearer(const std::string& token) {
  return {"Authorization", "Bearer " + token};
}

struct http_client::state {
  std::string host;
  uint16_t port;
  std::chrono::milliseconds timeout;
  asio::io_context ioc;
  std::optional<beast::tcp_stream> stream;  // engaged while a connection is open
  beast::flat_buffer buffer;
  int connections_opened = 0;

  state(std::string host_name, uint16_t port_number, std::chrono::milliseconds limit)
      : host(std::move(host_name)), port(port_number), timeout(limit) {}

  void drop_connection() {
    if (stream) {
      beast::error_code ignored;
      stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream->socket().close(ignored);
      stream.reset();
    }
    buffer.clear();
  }

  [[noreturn]] void fail(const std::string& what, const std::string& method,
                         const std::string& target, const beast::error_code& ec) {
    drop_connection();
    std::string reason = ec == beast::error::timeout
                             ? "timed out after " + std::to_string(timeout.count()) + " ms"
                             : ec.message();
    throw std::runtime_error(what + " for " + method + " http://" + endpoint_text(host, port) +
                             target + ": " + reason);
  }

  enum class attempt_result { answered, retry };

  // One try at an exchange. Returns retry only if a reused connection broke before any
  // byte of the response arrived and `may_retry`.
  attempt_result attempt(http::request<http::string_body>& message, bool may_retry,
                         http_response& out) {
    if (stream && is_stale(*stream)) {
      drop_connection();
    }
    auto method = std::string(message.method_string());
    auto target = std::string(message.target());
    bool is_reused = stream.has_value();
    if (!is_reused) {
      stream.emplace(ioc);
    }
    stream->expires_after(timeout);  // one deadline for connect, write and read
    if (!is_reused) {
      if (auto ec = connect(ioc, *stream, host, port)) {
        fail("cannot connect", method, target, ec);
      }
      ++connections_opened;
    }
    buffer.clear();
    auto ec = run_one(
        ioc, [&](auto handler) { http::async_write(*stream, message, std::move(handler)); });
    if (ec) {
      if (is_reused && may_retry && is_connection_lost(ec)) {
        drop_connection();
        return attempt_result::retry;
      }
      fail("cannot send request", method, target, ec);
    }
    http::response_parser<http::string_body> parser;
    set_limits(parser);
    if (message.method() == http::verb::head) {
      parser.skip(true);
    }
    ec = run_one(
        ioc, [&](auto handler) { http::async_read(*stream, buffer, parser, std::move(handler)); });
    if (ec) {
      bool is_nothing_received = !parser.got_some() && buffer.size() == 0;
      if (is_reused && may_retry && is_nothing_received && is_connection_lost(ec)) {
        drop_connection();
        return attempt_result::retry;
      }
      fail("no complete response", method, target, ec);
    }
    auto response_message = parser.release();
    bool is_keep_alive = response_message.keep_alive();
    out = to_response(std::move(response_message));
    if (!is_keep_alive) {
      drop_connection();
    }
    return attempt_result::answered;
  }
};

http_client::http_client(std::string host, uint16_t port, std::chrono::milliseconds timeout)
    : state_(std::make_unique<state>(std::move(host), port, timeout)) {}

http_client::~http_client() = default;
http_client::http_client(http_client&&) noexcept = default;
http_client& http_client::operator=(http_client&&) noexcept = default;

http_response http_client::request(const std::string& method, const std::string& target,
                                   const std::string& body, const header_list& headers) {
  auto message =
      build_request(method, target, body, headers, endpoint_text(state_->host, state_->port));
  http_response response;
  if (state_->attempt(message, /*may_retry=*/true, response) == state::attempt_result::retry) {
    state_->attempt(message, /*may_retry=*/false, response);
  }
  return response;
}

http_response http_client::get(const std::string& target, const header_list& headers) {
  return request("GET", target, "", headers);
}

namespace {
header_list with_json_type(const header_list& headers) {
  for (const auto& [name, value] : headers) {
    if (lower(name) == "content-type") {
      return headers;
    }
  }
  header_list result{{"Content-Type", "application/json"}};
  result.insert(result.end(), headers.begin(), headers.end());
  return result;
}
}  // namespace

http_response http_client::post_json(const std::string& target, const nlohmann::json& body,
                                     const header_list& headers) {
  return request("POST", target, body.dump(), with_json_type(headers));
}

http_response http_client::patch_json(const std::string& target, const nlohmann::json& body,
                                      const header_list& headers) {
  return request("PATCH", target, body.dump(), with_json_type(headers));
}

http_response http_client::del(const std::string& target, const header_list& headers) {
  return request("DELETE", target, "", headers);
}

void http_client::set_timeout(std::chrono::milliseconds timeout) {
  state_->timeout = timeout;
}

void http_client::close() {
  state_->drop_connection();
}

int http_client::connections_opened() const {
  return state_->connections_opened;
}

const std::string& http_client::host() const {
  return state_->host;
}

uint16_t http_client::port() const {
  return state_->port;
}

http_response raw_exchange(const std::string& host, uint16_t port, const std::string& raw_bytes,
                           std::chrono::milliseconds timeout) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(timeout);
  auto where = "raw exchange with " + endpoint_text(host, port) + ": ";
  if (auto ec = connect(ioc, stream, host, port)) {
    throw std::runtime_error(where + "cannot connect: " + ec.message());
  }
  // A server may answer and close before reading everything (a header that is too large):
  // a failed write is not the end, the answer may already be waiting.
  auto write_error = run_one(ioc, [&](auto handler) {
    asio::async_write(stream, asio::buffer(raw_bytes), std::move(handler));
  });
  if (write_error == beast::error::timeout) {
    throw std::runtime_error(where + "could not send the request within " +
                             std::to_string(timeout.count()) + " ms");
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  set_limits(parser);
  auto ec = run_one(
      ioc, [&](auto handler) { http::async_read(stream, buffer, parser, std::move(handler)); });
  if (ec == beast::error::timeout) {
    throw std::runtime_error(where + "no response within " + std::to_string(timeout.count()) +
                             " ms" +
                             (write_error ? " (write: " + write_error.message() + ")" : ""));
  }
  if (ec) {
    http_response closed;
    closed.reason = "connection closed without a response (" + ec.message() + ")";
    closed.body = beast::buffers_to_string(buffer.data());
    return closed;
  }
  return to_response(parser.release());
}

}  // namespace tally::test
