#pragma once
// The HTTP front end's transport: Boost.Beast over plain TCP.
//
// One io_context per io thread, each with its own acceptor on the same port
// (SO_REUSEPORT), so a connection lives on one thread for its whole life and
// needs no strand. Each connection reads one request at a time (no
// pipelining), with limits on header size, body size (per route family),
// requests per connection and idle/read time, and hands complete requests to
// the dispatcher on its io thread. Nothing here blocks an io thread.
//
// A handler may instead turn its connection into a stream (exchange::start_stream,
// Server-Sent Events): the head is written at once, then whatever the handler
// queues, one write at a time; the idle and read deadlines stop applying, each
// write must finish within the read timeout, and heartbeats and the stream's end
// time run on timers of the same io context.
//
// Shutdown (SIGTERM/SIGINT): stop accepting, close idle connections and end
// streams, let in-flight requests finish (each answered with Connection: close),
// then return from run() — at the latest after limits::shutdown_grace.

#include <cstdint>
#include <memory>
#include <string>

#include "http/exchange.hpp"

namespace tally::http {

struct server_settings {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  uint32_t io_threads = 1;
  std::size_t body_bytes_max = 64 * 1024;
  std::size_t webhook_body_bytes_max = 256 * 1024;
  std::size_t header_bytes_max = 8 * 1024;
  uint32_t requests_per_connection_max = 10'000;
  uint32_t connections_max = 10'000;
  uint32_t idle_timeout_s = 30;
  uint32_t read_timeout_s = 15;
};

// What the transport calls: the dispatcher (routing, auth, handlers) and the
// observer of finished exchanges (access log, metrics).
class request_sink {
 public:
  virtual ~request_sink() = default;
  // Called on the connection's io thread for every complete request.
  virtual void dispatch(const exchange_ptr& ex) = 0;
  // Called on the io thread once a response has been written (or failed to be).
  virtual void completed(const request_data& request, std::string_view route,
                         const std::string& request_id, const std::string& user_id, int status,
                         double duration_s) = 0;
};

class server {
 public:
  server(server_settings settings, request_sink& sink);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds the listening sockets. Returns false and sets `error` on failure.
  bool listen(std::string& error);

  // Runs the io threads until a stop signal (SIGTERM/SIGINT) or stop() has
  // drained the server. Blocks the calling thread (it runs one io context).
  void run();

  // Starts a graceful drain from any thread.
  void stop();

  // The port actually bound (useful when settings.port is 0).
  uint16_t bound_port() const;

  // Connections currently open (for /metrics).
  int64_t open_connections() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace tally::http
