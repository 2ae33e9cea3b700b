#pragma once
// One HTTP request and its eventual response. Handlers receive an
// `exchange_ptr`, read the request, and call exactly one respond* function,
// from any thread: the response is posted back to the connection's io thread.
// The exchange keeps its connection alive until it is answered.
//
// No Beast types here: this header is included by every route file.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/fwd.hpp>
#include <nlohmann/json_fwd.hpp>

#include "domain/error.hpp"

namespace tally::http {

struct problem;

using header_list = std::vector<std::pair<std::string, std::string>>;

struct response_data {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  header_list headers;
};

// A response written in pieces for as long as it lasts (Server-Sent Events), obtained from
// exchange::start_stream. The connection ends with it. Every member is for the connection's
// io thread only (post there from elsewhere).
class response_stream {
 public:
  virtual ~response_stream() = default;
  // Queues `bytes` behind what is queued; they are written in order. Ignored once closed.
  virtual void write(std::string bytes) = 0;
  // True while queued bytes are not all written yet (stream_options::on_idle follows).
  [[nodiscard]] virtual bool is_writing() const = 0;
  [[nodiscard]] virtual bool is_open() const = 0;
  // Ends the stream now (unwritten bytes are dropped) and closes the connection.
  virtual void close() = 0;
};

struct stream_options {
  // Written whenever this long passes with no write in flight (an SSE comment keeps proxies
  // and clients from timing the stream out); zero: never.
  std::chrono::milliseconds heartbeat{0};
  std::string heartbeat_bytes;
  // The stream is closed at this time (e.g. when the caller's access token expires); the
  // default: never.
  std::chrono::steady_clock::time_point close_at = std::chrono::steady_clock::time_point::max();
  // Called on the io thread each time everything queued has been written.
  std::function<void()> on_idle;
  // Called on the io thread once every heartbeat period (after the heartbeat, if one was
  // due, was queued); unused when heartbeat is zero.
  std::function<void()> on_heartbeat;
  // Called on the io thread once, when the stream ends for any reason: the client went away,
  // a write failed or took longer than the server's read timeout, close_at passed, close(),
  // or the server is shutting down. The stream drops all callbacks afterwards.
  std::function<void()> on_closed;
};

// What the connection offers the exchange: a way back onto its io thread.
class connection_port {
 public:
  virtual ~connection_port() = default;
  // Runs `work` on the connection's io thread.
  virtual void post(std::function<void()> work) = 0;
  // Sends the response. Called on the io thread, once.
  virtual void send(response_data response) = 0;
  // Sends `head`'s status and headers with no Content-Length and `Connection: close`, and
  // turns the connection into a stream. Called on the io thread, once, instead of send().
  virtual std::shared_ptr<response_stream> open_stream(response_data head,
                                                       stream_options options) = 0;
};

// Who is calling, once authentication succeeded.
struct caller_identity {
  std::string user_id;
  std::string email;
  std::string jti;
  int64_t expires_at_s = 0;
  bool is_admin = false;
};

struct request_data {
  std::string method;
  std::string target;
  std::string path;
  std::string query;
  header_list headers;  // names lower-cased
  std::string body;
  std::string source_ip;
};

class exchange : public std::enable_shared_from_this<exchange> {
 public:
  exchange(std::shared_ptr<connection_port> connection, request_data request,
           std::string request_id, std::string traceparent);
  ~exchange();

  const request_data& request() const { return request_; }
  std::string_view method() const { return request_.method; }
  std::string_view path() const { return request_.path; }
  const std::string& body() const { return request_.body; }
  const std::string& source_ip() const { return request_.source_ip; }
  const std::string& request_id() const { return request_id_; }
  const std::string& traceparent() const { return traceparent_; }
  // The first header named `name` (lower-case), or nullopt.
  std::optional<std::string_view> header(std::string_view name) const;
  // A decoded query parameter, or nullopt.
  std::optional<std::string> query(std::string_view name) const;
  // A path parameter of the matched route ("" when absent).
  std::string_view param(std::string_view name) const;

  void set_params(std::vector<std::pair<std::string, std::string>> params);
  void set_route(std::string_view pattern) { route_ = pattern; }
  std::string_view route() const { return route_; }
  void set_caller(caller_identity caller) { caller_ = std::move(caller); }
  const caller_identity& caller() const { return caller_; }

  // Headers added to whatever response is sent (rate-limit headers, ...).
  void add_response_header(std::string name, std::string value);
  // Replaces every response header named `name` (case-sensitive) with one value.
  void set_response_header(std::string name, std::string value);
  // The value of a response header added so far, or nullopt.
  std::optional<std::string_view> response_header(std::string_view name) const;

  // Responses. Exactly one takes effect; later calls are ignored.
  void respond(int status, std::string body, std::string content_type = "application/json");
  void respond_json(int status, const nlohmann::json& body);
  void respond_empty(int status);
  void respond_problem(const problem& p);
  void respond_error(errc code, std::string detail = {});
  void respond_error(const caf::error& err);

  // Answers with a stream instead: `head` (its status, content type and headers, plus the
  // headers added so far; its body is ignored) is written at once, then whatever the caller
  // writes to the returned stream. Counts as this exchange's one response.
  // REQUIRES: on this exchange's io thread; not answered yet.
  std::shared_ptr<response_stream> start_stream(response_data head, stream_options options);

  // Runs `work` on this exchange's io thread (used by the actor bridge).
  void post(std::function<void()> work);

  bool answered() const { return answered_; }
  std::chrono::steady_clock::time_point started() const { return started_; }

 private:
  std::shared_ptr<connection_port> connection_;
  request_data request_;
  std::string request_id_;
  std::string traceparent_;
  std::vector<std::pair<std::string, std::string>> params_;
  std::string_view route_;
  caller_identity caller_;
  header_list extra_headers_;
  bool answered_ = false;  // touched on the io thread only
  std::chrono::steady_clock::time_point started_;
};

using exchange_ptr = std::shared_ptr<exchange>;

}  // namespace tally::http
