#pragma once
// tests/outbound/test_server.hpp: a scripted HTTP/1.1 server on 127.0.0.1 for
// the outbound client's tests, plain or TLS. It runs its own io_context on a
// background thread; a test-supplied script decides, per request, whether to
// answer, to hang (accept the request and never answer) or to close without
// answering. It counts accepted connections and records every request.
//
// Test-only code: setup failures throw std::runtime_error, which Catch2 prints.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <openssl/ssl.h>

namespace tally::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;

struct seen_request {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::steady_clock::time_point received_at;

  std::string header(const std::string& name) const {
    for (const auto& [key, value] : headers) {
      if (beast::iequals(key, name)) {
        return value;
      }
    }
    return {};
  }
};

struct server_action {
  enum class kind { respond, hang, close };
  kind what = kind::respond;
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Answer, then close the connection although the answer said keep-alive:
  // what a server does when it drops an idle connection.
  bool close_after = false;

  static server_action reply(int status, std::string body = {},
                             std::vector<std::pair<std::string, std::string>> headers = {}) {
    server_action out;
    out.status = status;
    out.body = std::move(body);
    out.headers = std::move(headers);
    return out;
  }
  static server_action hang() {
    server_action out;
    out.what = kind::hang;
    return out;
  }
  static server_action close() {
    server_action out;
    out.what = kind::close;
    return out;
  }
};

// Called on the server thread with the request and its 0-based index.
using server_script = std::function<server_action(const seen_request&, std::size_t index)>;

class test_server {
 public:
  // `tls`: serve TLS with this context (it must outlive the server); null: plain.
  explicit test_server(server_script script, net::ssl::context* tls = nullptr)
      : script_(std::move(script)), tls_(tls), acceptor_(io_) {
    const tcp::endpoint endpoint{net::ip::make_address("127.0.0.1"), 0};
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }

  ~test_server() {
    io_.stop();
    thread_.join();
  }

  test_server(const test_server&) = delete;
  test_server& operator=(const test_server&) = delete;

  uint16_t port() const { return port_; }
  std::string base_url() const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
  }
  std::size_t connections_accepted() const { return connections_.load(); }
  std::size_t requests_seen() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_.size();
  }
  // The SNI host name of each completed TLS handshake ("" when none was sent).
  std::vector<std::string> server_names() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return server_names_;
  }
  std::vector<seen_request> requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }

 private:
  template <class Stream>
  struct session : std::enable_shared_from_this<session<Stream>> {
    session(test_server& owner, Stream connected) : server(owner), stream(std::move(connected)) {}

    test_server& server;
    Stream stream;
    beast::flat_buffer buffer;
    bhttp::request<bhttp::string_body> request;
    bhttp::response<bhttp::string_body> response;
    bool close_after = false;

    void read() {
      request = {};
      bhttp::async_read(stream, buffer, request,
                        [self = this->shared_from_this()](const beast::error_code& ec,
                                                          std::size_t) { self->on_read(ec); });
    }

    void on_read(const beast::error_code& ec) {
      if (ec) {
        return;  // the client went away; the session ends
      }
      seen_request seen;
      seen.method = std::string(request.method_string());
      seen.target = std::string(request.target());
      for (const auto& field : request) {
        seen.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
      }
      seen.body = request.body();
      seen.received_at = std::chrono::steady_clock::now();
      std::size_t index = 0;
      {
        std::lock_guard<std::mutex> lock(server.mutex_);
        index = server.requests_.size();
        server.requests_.push_back(seen);
      }
      const server_action action = server.script_(seen, index);
      if (action.what == server_action::kind::hang) {
        std::lock_guard<std::mutex> lock(server.mutex_);
        server.hung_.push_back(this->shared_from_this());
        return;
      }
      if (action.what == server_action::kind::close) {
        beast::get_lowest_layer(stream).close();
        return;
      }
      response = {};
      response.version(11);
      response.result(static_cast<unsigned>(action.status));
      for (const auto& [name, value] : action.headers) {
        response.insert(name, value);
      }
      response.body() = action.body;
      response.keep_alive(true);
      response.prepare_payload();
      close_after = action.close_after;
      bhttp::async_write(
          stream, response,
          [self = this->shared_from_this()](const beast::error_code& e, std::size_t) {
            if (e) {
              return;
            }
            if (self->close_after) {
              beast::get_lowest_layer(self->stream).close();
              return;
            }
            self->read();
          });
    }
  };

  void accept() {
    acceptor_.async_accept([this](const beast::error_code& ec, tcp::socket socket) {
      if (ec) {
        return;
      }
      ++connections_;
      if (tls_ != nullptr) {
        using tls_stream = net::ssl::stream<tcp::socket>;
        auto s = std::make_shared<session<tls_stream>>(*this, tls_stream(std::move(socket), *tls_));
        s->stream.async_handshake(
            net::ssl::stream_base::server, [this, s](const beast::error_code& e) {
              if (e) {
                return;
              }
              const char* sni =
                  SSL_get_servername(s->stream.native_handle(), TLSEXT_NAMETYPE_host_name);
              {
                std::lock_guard<std::mutex> lock(mutex_);
                server_names_.emplace_back(sni != nullptr ? sni : "");
              }
              s->read();
            });
      } else {
        std::make_shared<session<tcp::socket>>(*this, std::move(socket))->read();
      }
      accept();
    });
  }

  server_script script_;
  net::ssl::context* tls_;
  net::io_context io_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<std::size_t> connections_{0};
  mutable std::mutex mutex_;
  std::vector<seen_request> requests_;
  std::vector<std::string> server_names_;
  std::vector<std::shared_ptr<void>> hung_;  // sessions kept open, never answered
};

// A port on 127.0.0.1 where nothing listens (bound, then released).
inline uint16_t closed_port() {
  net::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint{net::ip::make_address("127.0.0.1"), 0});
  const uint16_t port = acceptor.local_endpoint().port();
  acceptor.close();
  return port;
}

}  // namespace tally::test
