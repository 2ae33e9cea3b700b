#include "http/server.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <unordered_set>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "config/limits.hpp"
#include "domain/assert.hpp"
#include "http/problem.hpp"
#include "http/request_context.hpp"
#include "http/router.hpp"
#include "logging/log.hpp"

namespace tally::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

class connection;

// One io thread's world: its context, acceptor and open connections.
// Members are destroyed in reverse order: the acceptor first, then the context, whose
// destructor destroys still-queued handlers and with them the last references to
// connections; ~connection locks connections_mutex and erases itself from connections, so
// both must outlive the context (declared before it).
struct io_worker {
  std::mutex connections_mutex;  // connections may be destroyed off this thread
  std::unordered_set<connection*> connections;
  net::io_context context{1};
  std::optional<tcp::acceptor> acceptor;
};

struct shared_state {
  server_settings settings;
  request_sink* sink = nullptr;
  std::atomic<bool> draining{false};
  std::atomic<int64_t> open_connections{0};
  std::atomic<int64_t> busy_connections{0};
};

// Problems the transport answers itself, before a request becomes an exchange.
problem transport_problem(int status) {
  switch (status) {
    case 413:
      return payload_too_large();
    case 431: {
      problem p = malformed_json();
      p.status = 431;
      p.code = "header_too_large";
      p.title = "Request header fields too large";
      p.detail = "The request's header section exceeds the configured limit.";
      return p;
    }
    default: {
      problem p = malformed_json();
      p.code = "bad_request";
      p.title = "Bad request";
      p.detail = "The request is not valid HTTP/1.1.";
      return p;
    }
  }
}

// Beast 1.74 speaks boost::string_view.
std::string_view sv(beast::string_view text) {
  return {text.data(), text.size()};
}

bool is_webhook_path(std::string_view target) {
  return target.rfind("/v1/webhooks/", 0) == 0;
}

// A stream may send nothing but heartbeats for hours, and a peer that vanished without a FIN
// or RST (a dropped NAT entry, a powered-off laptop) would hold its slot (the per-user cap)
// until the kernel's default retransmission timeout (~15 min). Keepalive probes after one
// heartbeat of silence, and TCP_USER_TIMEOUT bounding unacknowledged data (the heartbeats)
// to two heartbeats, end such a stream within a heartbeat or two. Best effort: a failing
// setsockopt leaves the defaults.
constexpr int stream_probe_interval_s_min = 1;
constexpr int stream_probe_count = 3;
constexpr int stream_user_timeout_s_min = 10;

void set_stream_keepalive(int fd, std::chrono::milliseconds heartbeat) {
  const int heartbeat_s = std::max<int>(
      1, static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(heartbeat).count()));
  const int on = 1;
  const int idle_s = heartbeat_s;
  const int interval_s = std::max(stream_probe_interval_s_min, heartbeat_s / stream_probe_count);
  const int count = stream_probe_count;
  const unsigned int user_timeout_ms =
      static_cast<unsigned int>(std::max(stream_user_timeout_s_min, 2 * heartbeat_s)) * 1000U;
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof idle_s);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_s, sizeof interval_s);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms);
}

// A connection reads one request at a time and answers it (send), or turns into a stream
// for the rest of its life (open_stream: Server-Sent Events). A stream has no read deadline:
// a read stays posted only to notice the client leaving; each write must finish within the
// read timeout, or the stream ends.
class connection : public connection_port,
                   public response_stream,
                   public std::enable_shared_from_this<connection> {
 public:
  connection(tcp::socket socket, io_worker& worker, shared_state& shared)
      : stream_(std::move(socket)), worker_(worker), shared_(shared) {
    beast::error_code ec;
    auto endpoint = stream_.socket().remote_endpoint(ec);
    source_ip_ = ec ? "" : endpoint.address().to_string();
    ++shared_.open_connections;
  }

  ~connection() override {
    --shared_.open_connections;
    std::lock_guard<std::mutex> lock(worker_.connections_mutex);
    worker_.connections.erase(this);
  }

  void start() {
    {
      std::lock_guard<std::mutex> lock(worker_.connections_mutex);
      worker_.connections.insert(this);
    }
    read_header();
  }

  // Called on the io thread during a drain, under the worker's connections lock: an idle
  // connection closes now, a busy one closes after its response, a stream ends (posted: its
  // owner's callbacks must not run under the lock).
  void close_if_idle() {
    if (streaming_) {
      if (auto self = weak_from_this().lock()) {
        net::post(worker_.context, [self] { self->end_stream(); });
      }
      return;
    }
    if (!busy_) {
      beast::error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      stream_.socket().close(ec);
    }
  }

  void post(std::function<void()> work) override { net::post(worker_.context, std::move(work)); }

  void send(response_data data) override {
    TALLY_ASSERT(busy_);
    // The exchange may be gone by the time the write completes: keep what the access log
    // and the metrics need now.
    if (auto ex = current_.lock()) {
      route_ = std::string(ex->route());
      user_id_ = ex->caller().user_id;
    }
    write_response(std::move(data));
  }

  std::shared_ptr<response_stream> open_stream(response_data head,
                                               stream_options options) override {
    TALLY_ASSERT(busy_);
    TALLY_ASSERT(!streaming_);
    if (auto ex = current_.lock()) {
      route_ = std::string(ex->route());
      user_id_ = ex->caller().user_id;
    }
    streaming_ = true;
    status_ = head.status;
    ++requests_;
    stream_options_ = std::move(options);
    bhttp::response<bhttp::empty_body> response;
    response.version(11);
    response.result(static_cast<unsigned>(head.status));
    if (!head.content_type.empty()) {
      response.set(bhttp::field::content_type, head.content_type);
    }
    response.set("X-Request-Id", request_id_);
    for (auto& [name, value] : head.headers) {
      response.insert(name, value);
    }
    response.keep_alive(false);  // the body ends when the connection does
    std::ostringstream header_text;
    header_text << response.base();
    // No deadline on reading: the stream lasts until either side ends it (or the peer
    // vanishes: keepalive).
    stream_.expires_never();
    set_stream_keepalive(stream_.socket().native_handle(), stream_options_.heartbeat);
    // The request-duration histogram gets the time until the stream's head was queued (what
    // the client waited for), not the stream's lifetime, which would swamp the latencies.
    opened_duration_s_ =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    read_while_streaming();
    arm_heartbeat();
    if (stream_options_.close_at != std::chrono::steady_clock::time_point::max()) {
      deadline_timer_.emplace(worker_.context);
      deadline_timer_->expires_at(stream_options_.close_at);
      deadline_timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
        if (!ec) {
          self->end_stream();
        }
      });
    }
    write(header_text.str());
    if (shared_.draining.load()) {  // opened after the drain looked: end it the same way
      net::post(worker_.context, [self = shared_from_this()] { self->end_stream(); });
    }
    return shared_from_this();
  }

  // response_stream: io thread only.
  void write(std::string bytes) override {
    if (!is_open() || bytes.empty()) {  // nothing to write: flush_stream needs bytes
      return;
    }
    stream_queued_ += bytes;
    if (!stream_writing_) {
      flush_stream();
    }
  }

  bool is_writing() const override { return stream_writing_ || !stream_queued_.empty(); }

  bool is_open() const override { return streaming_ && !stream_ended_; }

  void close() override { end_stream(); }

 private:
  void flush_stream() {
    TALLY_ASSERT(!stream_writing_);
    TALLY_ASSERT(!stream_queued_.empty());
    stream_in_flight_.swap(stream_queued_);
    stream_queued_.clear();
    stream_writing_ = true;
    stream_.expires_after(std::chrono::seconds(shared_.settings.read_timeout_s));
    net::async_write(stream_, net::buffer(stream_in_flight_),
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       self->on_stream_written(ec);
                     });
  }

  void on_stream_written(beast::error_code ec) {
    stream_writing_ = false;
    stream_in_flight_.clear();
    if (stream_ended_) {
      return;
    }
    if (ec) {  // the client is gone, or it did not take the bytes in time
      return end_stream();
    }
    if (!stream_queued_.empty()) {
      return flush_stream();
    }
    if (stream_options_.on_idle) {
      auto on_idle = stream_options_.on_idle;  // it may end the stream, dropping the original
      on_idle();
    }
  }

  // A streaming client sends nothing after its request; reading notices when it leaves.
  void read_while_streaming() {
    stream_.async_read_some(net::buffer(stream_discard_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec || self->stream_ended_) {
                                return self->end_stream();
                              }
                              self->read_while_streaming();
                            });
  }

  void arm_heartbeat() {
    if (stream_options_.heartbeat <= std::chrono::milliseconds::zero()) {
      return;
    }
    if (!heartbeat_timer_) {
      heartbeat_timer_.emplace(worker_.context);
    }
    heartbeat_timer_->expires_after(stream_options_.heartbeat);
    heartbeat_timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->stream_ended_) {
        return;
      }
      if (!self->is_writing()) {  // a write in flight is sign of life enough
        self->write(self->stream_options_.heartbeat_bytes);
      }
      if (self->stream_options_.on_heartbeat) {
        auto on_heartbeat = self->stream_options_.on_heartbeat;  // it may end the stream
        on_heartbeat();
        if (self->stream_ended_) {
          return;
        }
      }
      self->arm_heartbeat();
    });
  }

  // Ends a stream once: closes the socket, records the exchange (access log, metrics) and
  // tells the stream's owner.
  void end_stream() {
    if (!streaming_ || stream_ended_) {
      return;
    }
    stream_ended_ = true;
    if (heartbeat_timer_) {
      heartbeat_timer_->cancel();
    }
    if (deadline_timer_) {
      deadline_timer_->cancel();
    }
    stream_queued_.clear();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
    if (request_) {
      shared_.sink->completed(*request_, route_, request_id_, user_id_, status_,
                              opened_duration_s_);
    }
    current_.reset();
    request_.reset();
    busy_ = false;
    --shared_.busy_connections;
    auto on_closed = std::move(stream_options_.on_closed);
    stream_options_ = stream_options{};  // drops the owner's callbacks: no cycle remains
    if (on_closed) {
      on_closed();
    }
  }

  void read_header() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(shared_.settings.header_bytes_max));
    // Beast checks Content-Length against this while parsing the header, before the path is
    // known: allow the largest of the per-path limits here, and on_header applies the path's.
    parser_->body_limit(
        std::max(shared_.settings.body_bytes_max, shared_.settings.webhook_body_bytes_max));
    stream_.expires_after(std::chrono::seconds(shared_.settings.idle_timeout_s));
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec) {
      return fail_before_request(ec);
    }
    busy_ = true;
    ++shared_.busy_connections;
    started_ = std::chrono::steady_clock::now();
    const auto& header = parser_->get();
    const std::size_t limit = is_webhook_path(sv(header.target()))
                                  ? shared_.settings.webhook_body_bytes_max
                                  : shared_.settings.body_bytes_max;
    // Refuse an oversized declared body before reading a byte of it.
    if (parser_->content_length() && *parser_->content_length() > limit) {
      return reject(transport_problem(413), true);
    }
    parser_->body_limit(limit);
    stream_.expires_after(std::chrono::seconds(shared_.settings.read_timeout_s));
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code e, std::size_t) { self->on_body(e); });
  }

  void on_body(beast::error_code ec) {
    if (ec == bhttp::error::body_limit) {
      return reject(transport_problem(413), true);
    }
    if (ec) {
      return finish_failed();
    }
    auto message = parser_->release();
    keep_alive_ = message.keep_alive();
    request_data request;
    request.method = std::string(sv(message.method_string()));
    request.target = std::string(sv(message.target()));
    auto parts = split_target(request.target);
    request.path = std::string(parts.path);
    request.query = std::string(parts.query);
    request.source_ip = source_ip_;
    for (const auto& field : message) {
      std::string name(sv(field.name_string()));
      for (auto& c : name) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      request.headers.emplace_back(std::move(name), std::string(sv(field.value())));
    }
    request.body = std::move(message.body());
    auto incoming_id = message.find("x-request-id");
    std::optional<std::string_view> id_header;
    if (incoming_id != message.end()) {
      id_header = sv(incoming_id->value());
    }
    auto incoming_trace = message.find("traceparent");
    std::optional<std::string_view> trace_header;
    if (incoming_trace != message.end()) {
      trace_header = sv(incoming_trace->value());
    }
    request_context context = make_request_context(id_header, trace_header);
    std::string request_id = context.request_id;
    std::string traceparent = format_traceparent(context.trace);
    request_ = std::make_unique<request_data>(request);  // kept for the access log
    request_->body.clear();
    request_id_ = request_id;
    auto ex = std::make_shared<exchange>(shared_from_this(), std::move(request),
                                         std::move(request_id), std::move(traceparent));
    current_ = ex;
    shared_.sink->dispatch(ex);
  }

  // Answers a request that never became an exchange (too large, malformed) and
  // closes the connection afterwards.
  void reject(const problem& p, bool had_header) {
    if (!busy_) {
      busy_ = true;
      ++shared_.busy_connections;
      started_ = std::chrono::steady_clock::now();
    }
    keep_alive_ = false;
    request_id_ = new_request_id();
    request_ = std::make_unique<request_data>();
    if (had_header && parser_) {
      const auto& header = parser_->get();
      request_->method = std::string(sv(header.method_string()));
      request_->path = std::string(split_target(sv(header.target())).path);
    }
    request_->source_ip = source_ip_;
    response_data data;
    data.status = p.status;
    data.content_type = std::string(problem_content_type);
    data.body = to_json_body(p, request_id_);
    write_response(std::move(data));
  }

  void fail_before_request(beast::error_code ec) {
    if (ec == bhttp::error::header_limit) {
      return reject(transport_problem(431), false);
    }
    if (ec == bhttp::error::body_limit) {  // a Content-Length above every limit
      return reject(transport_problem(413), false);
    }
    if (ec == beast::error::timeout || ec == bhttp::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset ||
        ec == net::error::bad_descriptor) {
      return close_connection();
    }
    // Anything else is a malformed request line or header.
    return reject(transport_problem(400), false);
  }

  void finish_failed() {
    // The body could not be read (timeout, reset, bad chunking): nothing can
    // be answered reliably; log and close.
    --shared_.busy_connections;
    busy_ = false;
    close_connection();
  }

  void write_response(response_data data) {
    ++requests_;
    const bool keep_alive = keep_alive_ && !shared_.draining.load() &&
                            requests_ < shared_.settings.requests_per_connection_max;
    auto response = std::make_shared<bhttp::response<bhttp::string_body>>();
    response->version(11);
    response->result(static_cast<unsigned>(data.status));
    if (!data.content_type.empty()) {
      response->set(bhttp::field::content_type, data.content_type);
    }
    response->set("X-Request-Id", request_id_);
    for (auto& [name, value] : data.headers) {
      response->insert(name, value);
    }
    response->body() = std::move(data.body);
    response->keep_alive(keep_alive);
    response->prepare_payload();
    status_ = data.status;
    stream_.expires_after(std::chrono::seconds(shared_.settings.read_timeout_s));
    bhttp::async_write(stream_, *response,
                       [self = shared_from_this(), response, keep_alive](
                           beast::error_code ec, std::size_t) { self->on_write(ec, keep_alive); });
  }

  void on_write(beast::error_code ec, bool keep_alive) {
    const double duration_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    if (request_) {
      shared_.sink->completed(*request_, route_, request_id_, user_id_, ec ? 499 : status_,
                              duration_s);
    }
    current_.reset();
    request_.reset();
    route_.clear();
    user_id_.clear();
    busy_ = false;
    --shared_.busy_connections;
    if (ec || !keep_alive) {
      return close_connection();
    }
    read_header();
  }

  void close_connection() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  io_worker& worker_;
  shared_state& shared_;
  std::string source_ip_;
  std::string request_id_;
  std::unique_ptr<request_data> request_;
  std::weak_ptr<exchange> current_;
  std::string route_;    // of the response being written, from send()
  std::string user_id_;  // of the response being written, from send()
  std::chrono::steady_clock::time_point started_;
  uint32_t requests_ = 0;
  int status_ = 0;
  bool keep_alive_ = true;
  bool busy_ = false;
  // Streaming (open_stream).
  bool streaming_ = false;
  bool stream_ended_ = false;
  bool stream_writing_ = false;
  std::string stream_queued_;     // bytes behind the write in flight
  std::string stream_in_flight_;  // bytes of the write in flight
  std::array<char, 512> stream_discard_{};
  stream_options stream_options_;
  double opened_duration_s_ = 0;  // request start to the stream's head, for the metrics
  std::optional<net::steady_timer> heartbeat_timer_;
  std::optional<net::steady_timer> deadline_timer_;
};

}  // namespace

struct server::impl {
  shared_state shared;
  std::vector<std::unique_ptr<io_worker>> workers;
  uint16_t bound_port = 0;
  std::atomic<bool> stopping{false};

  void accept(io_worker& worker) {
    worker.acceptor->async_accept(
        worker.context, [this, &worker](beast::error_code ec, tcp::socket socket) {
          if (ec) {
            if (ec != net::error::operation_aborted && !shared.draining) {
              log::warn("accept_failed", {{"error", ec.message()}});
              accept(worker);
            }
            return;
          }
          if (shared.draining) {
            return;
          }
          if (shared.open_connections.load() >= shared.settings.connections_max) {
            beast::error_code ignored;
            socket.close(ignored);  // over the bound: refuse rather than queue
          } else {
            socket.set_option(tcp::no_delay(true), ec);
            std::make_shared<connection>(std::move(socket), worker, shared)->start();
          }
          accept(worker);
        });
  }

  // Stops accepting and closes idle connections on every io thread; runs on
  // any thread.
  void begin_drain() {
    if (shared.draining.exchange(true)) {
      return;
    }
    log::info("http_draining", {{"open_connections", shared.open_connections.load()}});
    for (auto& worker : workers) {
      net::post(worker->context, [w = worker.get()] {
        beast::error_code ec;
        if (w->acceptor) {
          w->acceptor->close(ec);
        }
        std::lock_guard<std::mutex> lock(w->connections_mutex);
        for (auto* c : w->connections) {
          c->close_if_idle();
        }
      });
    }
  }
};

server::server(server_settings settings, request_sink& sink) : impl_(std::make_unique<impl>()) {
  TALLY_ASSERT(settings.io_threads >= 1);
  impl_->shared.settings = std::move(settings);
  impl_->shared.sink = &sink;
  for (uint32_t i = 0; i < impl_->shared.settings.io_threads; ++i) {
    impl_->workers.push_back(std::make_unique<io_worker>());
  }
}

server::~server() = default;

bool server::listen(std::string& error) {
  beast::error_code ec;
  auto address = net::ip::make_address(impl_->shared.settings.host, ec);
  if (ec) {
    error = "invalid listen address " + impl_->shared.settings.host;
    return false;
  }
  uint16_t port = impl_->shared.settings.port;
  for (auto& worker : impl_->workers) {
    worker->acceptor.emplace(worker->context);
    tcp::endpoint endpoint{address, port};
    worker->acceptor->open(endpoint.protocol(), ec);
    worker->acceptor->set_option(net::socket_base::reuse_address(true), ec);
    int one = 1;
    ::setsockopt(worker->acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    worker->acceptor->bind(endpoint, ec);
    if (ec) {
      error = "cannot bind " + impl_->shared.settings.host + ":" + std::to_string(port) + ": " +
              ec.message();
      return false;
    }
    worker->acceptor->listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      error = "cannot listen: " + ec.message();
      return false;
    }
    port = worker->acceptor->local_endpoint().port();  // the others share it
  }
  impl_->bound_port = port;
  return true;
}

void server::run() {
  auto& first = *impl_->workers.front();
  net::signal_set signals(first.context, SIGINT, SIGTERM);
  signals.async_wait([this](beast::error_code ec, int signal_number) {
    if (!ec) {
      log::info("signal_received", {{"signal", signal_number}});
      stop();
    }
  });
  for (auto& worker : impl_->workers) {
    impl_->accept(*worker);
  }
  // Keeps io contexts alive while draining; stops them when in-flight work is
  // done or the grace period ends.
  net::steady_timer drain_timer(first.context);
  std::function<void()> watch;
  auto drain_deadline = std::make_shared<std::chrono::steady_clock::time_point>();
  watch = [&] {
    drain_timer.expires_after(std::chrono::milliseconds(50));
    drain_timer.async_wait([&](beast::error_code ec) {
      if (ec) {
        return;
      }
      if (impl_->shared.draining) {
        if (*drain_deadline == std::chrono::steady_clock::time_point{}) {
          *drain_deadline = std::chrono::steady_clock::now() + limits::shutdown_grace;
        }
        if (impl_->shared.busy_connections.load() <= 0 ||
            std::chrono::steady_clock::now() > *drain_deadline) {
          signals.cancel();
          for (auto& worker : impl_->workers) {
            worker->context.stop();
          }
          return;
        }
      }
      watch();
    });
  };
  watch();
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < impl_->workers.size(); ++i) {
    threads.emplace_back([w = impl_->workers[i].get()] {
      auto guard = net::make_work_guard(w->context);
      w->context.run();
    });
  }
  first.context.run();
  for (auto& t : threads) {
    t.join();
  }
  log::info("http_stopped", {{"open_connections", impl_->shared.open_connections.load()}});
}

void server::stop() {
  impl_->begin_drain();
}

uint16_t server::bound_port() const {
  return impl_->bound_port;
}

int64_t server::open_connections() const {
  return impl_->shared.open_connections.load();
}

}  // namespace tally::http
