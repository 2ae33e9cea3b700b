#include "outbound/http_client.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <random>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include "domain/assert.hpp"
#include "domain/backoff.hpp"
#include "outbound/retry_rules.hpp"
#include "outbound/target_policy.hpp"
#include "outbound/url.hpp"

namespace tally::outbound {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using steady = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

// Bounds on what a caller may ask for and on what the far side may send back
// (STYLE 2.5). A request outside them is errc::invalid_argument.
inline constexpr uint32_t attempts_limit = 10;
inline constexpr std::chrono::milliseconds attempt_timeout_max{5 * 60'000};
inline constexpr std::chrono::milliseconds budget_max{15 * 60'000};
inline constexpr std::chrono::milliseconds delay_max_limit{5 * 60'000};
inline constexpr std::size_t request_body_bytes_max = 8 * 1024 * 1024;
inline constexpr std::size_t request_headers_count_max = 64;
inline constexpr std::size_t header_name_bytes_max = 256;
inline constexpr std::size_t header_value_bytes_max = 8 * 1024;
inline constexpr uint32_t response_header_bytes_max = 64 * 1024;
// 1xx interim answers skipped before the final one.
inline constexpr uint32_t interim_responses_max = 8;
// Addresses tried per connection (a name may resolve to many).
inline constexpr std::size_t resolved_addresses_max = 16;

// Header fields the client owns: letting a caller set them would allow
// request smuggling (two lengths) or break connection reuse.
bool is_reserved_header(std::string_view name) {
  static constexpr std::string_view reserved[] = {
      "host", "content-length", "transfer-encoding", "connection", "keep-alive",
      "te",   "trailer",        "upgrade",           "expect",     "proxy-connection",
  };
  std::string lowered(name);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  return std::find(std::begin(reserved), std::end(reserved), lowered) != std::end(reserved);
}

bool is_token_char(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Returns "" when `req`'s method and headers are acceptable, else why not.
const char* request_problem(const request& req, bhttp::verb& verb) {
  verb = bhttp::string_to_verb(req.method);
  const bool is_known_method = verb == bhttp::verb::get || verb == bhttp::verb::post ||
                               verb == bhttp::verb::put || verb == bhttp::verb::patch ||
                               verb == bhttp::verb::delete_ || verb == bhttp::verb::head;
  if (!is_known_method) {
    return "unsupported method";
  }
  if (req.headers.size() > request_headers_count_max) {
    return "too many request headers";
  }
  if (req.body.size() > request_body_bytes_max) {
    return "request body too large";
  }
  for (const auto& [name, value] : req.headers) {
    if (name.empty() || name.size() > header_name_bytes_max ||
        !std::all_of(name.begin(), name.end(), is_token_char)) {
      return "invalid request header name";
    }
    if (is_reserved_header(name)) {
      return "request header set by the client itself (Host, Content-Length, Connection, ...)";
    }
    // CR, LF or NUL in a value would start a header (or a request) of its own.
    const bool is_clean_value = value.size() <= header_value_bytes_max &&
                                std::none_of(value.begin(), value.end(), [](char c) {
                                  return c == '\r' || c == '\n' || c == '\0';
                                });
    if (!is_clean_value) {
      return "invalid request header value";
    }
  }
  if (req.connect_timeout <= std::chrono::milliseconds::zero() ||
      req.timeout <= std::chrono::milliseconds::zero() || req.timeout > attempt_timeout_max) {
    return "timeout out of range";
  }
  return "";
}

const char* policy_problem(const retry_policy& retry) {
  if (retry.attempts_max < 1 || retry.attempts_max > attempts_limit) {
    return "retry attempts_max out of range";
  }
  if (retry.delay_min < std::chrono::milliseconds::zero() || retry.delay_min > retry.delay_max ||
      retry.delay_max > delay_max_limit) {
    return "retry delays out of range";
  }
  if (retry.budget <= std::chrono::milliseconds::zero() || retry.budget > budget_max) {
    return "retry budget out of range";
  }
  return "";
}

// What one attempt ended with. Either `answer`, or `error` with the flags
// that the retry loop needs.
struct attempt_result {
  std::optional<outbound::response> answer;
  errc error = errc::internal;
  bool is_ambiguous = false;
  bool is_retryable = false;  // for a failure that is not ambiguous
  std::string detail;
};

// A step of an attempt (resolve, connect, handshake) ends with nothing, or
// with the failure that ends the attempt.
using step_failure = std::optional<attempt_result>;

attempt_result failure(errc error, bool is_ambiguous, bool is_retryable, std::string detail) {
  attempt_result out;
  out.error = error;
  out.is_ambiguous = is_ambiguous;
  out.is_retryable = is_retryable;
  out.detail = std::move(detail);
  return out;
}

// One keep-alive connection, plain or TLS.
struct connection {
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

  // True if nothing says the peer has gone: no FIN, no reset, no stray bytes.
  // Peeking costs one system call and catches the usual way a keep-alive
  // connection dies (the server closed it while idle) before a request is
  // risked on it.
  bool looks_alive() {
    if (buffer.size() != 0 || !lowest().socket().is_open()) {
      return false;
    }
    char byte = 0;
    const ssize_t n = ::recv(lowest().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
};

struct idle_connection {
  std::string key;  // scheme://host:port
  std::unique_ptr<connection> conn;
  steady::time_point idle_since;
};

std::string describe(const error_code& ec) {
  return ec.message();
}

}  // namespace

std::string_view response::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) {
      return value;
    }
  }
  return {};
}

struct http_client::impl {
  client_options options;
  net::io_context io{1};
  ssl::context tls_context{ssl::context::tls_client};
  std::string tls_setup_error;        // non-empty: every https call fails with it
  std::vector<idle_connection> idle;  // oldest first, <= options.idle_connections_max
  std::mt19937_64 random{std::random_device{}()};

  explicit impl(client_options o) : options(std::move(o)) { set_up_tls(); }

  void set_up_tls() {
    SSL_CTX* ctx = tls_context.native_handle();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    tls_context.set_options(ssl::context::default_workarounds | ssl::context::no_compression);
    error_code ec;
    tls_context.set_default_verify_paths(ec);
    if (ec) {
      tls_setup_error = "system CA store: " + describe(ec);
      return;
    }
    if (!options.ca_file.empty()) {
      tls_context.load_verify_file(options.ca_file, ec);
      if (ec) {
        tls_setup_error = "ca_file could not be loaded: " + describe(ec);
      }
    }
  }

  // Runs handlers until `done`. Callers start only operations bounded by a
  // Beast stream expiry, so this returns by that deadline.
  void wait(const bool& done) {
    io.restart();
    while (!done && io.run_one() > 0) {
    }
    TALLY_ASSERT(done);
  }

  double unit_random() {
    std::uniform_real_distribution<double> draw(0.0, 1.0);
    return std::min(draw(random), std::nextafter(1.0, 0.0));
  }

  // --- connection pool ---------------------------------------------------

  void drop_expired(steady::time_point now) {
    idle.erase(std::remove_if(idle.begin(), idle.end(),
                              [&](const idle_connection& c) {
                                return now - c.idle_since >= options.idle_keep;
                              }),
               idle.end());
  }

  std::unique_ptr<connection> take_idle(const std::string& key) {
    drop_expired(steady::now());
    for (auto it = idle.rbegin(); it != idle.rend(); ++it) {
      if (it->key == key) {
        auto conn = std::move(it->conn);
        idle.erase(std::next(it).base());
        return conn;
      }
    }
    return nullptr;
  }

  void keep_idle(const std::string& key, std::unique_ptr<connection> conn) {
    if (options.idle_connections_max == 0) {
      return;
    }
    while (idle.size() >= options.idle_connections_max) {
      idle.erase(idle.begin());
    }
    idle.push_back(idle_connection{key, std::move(conn), steady::now()});
    TALLY_ASSERT(idle.size() <= options.idle_connections_max);
  }

  // --- one attempt, step by step -------------------------------------------

  // Resolves `target` and checks every address: plain HTTP only to loopback,
  // then the SSRF policy. On success fills `endpoints`.
  step_failure resolve(const url& target, steady::time_point deadline,
                       std::vector<tcp::endpoint>& endpoints) {
    struct state_type {
      bool done = false;
      error_code ec;
      tcp::resolver::results_type results;
    };
    // Shared with the handler: getaddrinfo() cannot be interrupted, so a
    // lookup past its deadline is abandoned and completes later into this.
    auto state = std::make_shared<state_type>();
    tcp::resolver resolver{io};
    const auto flags = target.is_address
                           ? tcp::resolver::numeric_host | tcp::resolver::numeric_service
                           : tcp::resolver::numeric_service;
    resolver.async_resolve(target.host, std::to_string(target.port), flags,
                           [state](const error_code& ec, tcp::resolver::results_type results) {
                             state->ec = ec;
                             state->results = std::move(results);
                             state->done = true;
                           });
    io.restart();
    while (!state->done && io.run_one_until(deadline) > 0) {
    }
    if (!state->done) {
      resolver.cancel();
      return failure(errc::gateway_unavailable, false, true, "DNS lookup timed out");
    }
    if (state->ec || state->results.empty()) {
      // An authoritative "no such host" will not change on retry.
      const bool is_permanent = state->ec == net::error::host_not_found;
      return failure(errc::gateway_unavailable, false, !is_permanent,
                     "DNS lookup failed: " + describe(state->ec));
    }
    for (const auto& entry : state->results) {
      if (endpoints.size() == resolved_addresses_max) {
        break;
      }
      endpoints.push_back(entry.endpoint());
    }
    return check_addresses(target, endpoints);
  }

  step_failure check_addresses(const url& target, const std::vector<tcp::endpoint>& endpoints) {
    for (const auto& endpoint : endpoints) {
      ip_address address;
      const auto ip = endpoint.address();
      if (ip.is_v4()) {
        const auto bytes = ip.to_v4().to_bytes();
        std::copy(bytes.begin(), bytes.end(), address.bytes.begin());
      } else {
        const auto bytes = ip.to_v6().to_bytes();
        std::copy(bytes.begin(), bytes.end(), address.bytes.begin());
        address.is_v6 = true;
      }
      if (target.scheme == "http" && classify(address) != address_class::loopback) {
        return failure(errc::invalid_argument, false, false,
                       "plain http to a host that is not loopback: " + origin(target));
      }
      if (options.policy) {
        const target_verdict verdict = options.policy->check_address(target.host, address);
        if (!verdict.is_allowed) {
          return failure(errc::forbidden, false, false,
                         "target refused by policy (" + std::string(verdict.reason) +
                             "): " + origin(target) + " -> " + to_string(address));
        }
      }
    }
    return std::nullopt;
  }

  // Connects (and for https, handshakes) to one of `endpoints`. The TCP
  // connect and the TLS handshake share `deadline`: both happen before any
  // request byte is sent, so every failure here is unambiguous.
  step_failure connect(const url& target, const std::vector<tcp::endpoint>& endpoints,
                       steady::time_point deadline, std::unique_ptr<connection>& out) {
    auto conn = std::make_unique<connection>();
    if (target.scheme == "https") {
      if (!tls_setup_error.empty()) {
        return failure(errc::invalid_argument, false, false, tls_setup_error);
      }
      conn->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(io, tls_context);
      if (!configure_verification(*conn->tls, target)) {
        return failure(errc::internal, false, false, "TLS host name setup failed");
      }
    } else {
      conn->plain = std::make_unique<beast::tcp_stream>(io);
    }
    bool done = false;
    error_code ec;
    conn->lowest().expires_at(deadline);
    conn->lowest().async_connect(endpoints, [&](const error_code& e, const tcp::endpoint&) {
      ec = e;
      done = true;
    });
    wait(done);
    if (ec) {
      const bool is_timeout = ec == beast::error::timeout;
      return failure(errc::gateway_unavailable, false, true,
                     "connect " + origin(target) + ": " +
                         (is_timeout ? std::string("timed out") : describe(ec)));
    }
    if (conn->tls) {
      if (step_failure failed = handshake(*conn, target, deadline)) {
        return failed;
      }
    }
    out = std::move(conn);
    return std::nullopt;
  }

  static bool configure_verification(beast::ssl_stream<beast::tcp_stream>& stream,
                                     const url& target) {
    SSL* handle = stream.native_handle();
    // SNI carries names only (RFC 6066 §3): not for an address literal.
    if (!target.is_address && SSL_set_tlsext_host_name(handle, target.host.c_str()) != 1) {
      return false;
    }
    X509_VERIFY_PARAM* param = SSL_get0_param(handle);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const int set = target.is_address ? X509_VERIFY_PARAM_set1_ip_asc(param, target.host.c_str())
                                      : X509_VERIFY_PARAM_set1_host(param, target.host.c_str(), 0);
    if (set != 1) {
      return false;
    }
    stream.set_verify_mode(ssl::verify_peer);
    return true;
  }

  step_failure handshake(connection& conn, const url& target, steady::time_point deadline) {
    bool done = false;
    error_code ec;
    conn.lowest().expires_at(deadline);
    conn.tls->async_handshake(ssl::stream_base::client, [&](const error_code& e) {
      ec = e;
      done = true;
    });
    wait(done);
    if (!ec) {
      return std::nullopt;
    }
    const long verify_result = SSL_get_verify_result(conn.tls->native_handle());
    if (verify_result != X509_V_OK) {
      // A certificate that does not verify will not verify on the next try.
      return failure(errc::gateway_unavailable, false, false,
                     "TLS certificate verification failed for " + origin(target) + ": " +
                         X509_verify_cert_error_string(verify_result));
    }
    const bool is_timeout = ec == beast::error::timeout;
    return failure(errc::gateway_unavailable, false, true,
                   "TLS handshake with " + origin(target) + ": " +
                       (is_timeout ? std::string("timed out") : describe(ec)));
  }

  // Writes `message`. Returns an empty error_code on success.
  error_code write(connection& conn, bhttp::request<bhttp::string_body>& message,
                   steady::time_point deadline) {
    bool done = false;
    error_code ec;
    conn.lowest().expires_at(deadline);
    auto handler = [&](const error_code& e, std::size_t) {
      ec = e;
      done = true;
    };
    if (conn.tls) {
      bhttp::async_write(*conn.tls, message, handler);
    } else {
      bhttp::async_write(*conn.plain, message, handler);
    }
    wait(done);
    return ec;
  }

  // Reads one response into `parser`; parser.got_some() then says whether
  // any byte of it arrived (the server had started answering).
  error_code read(connection& conn, bhttp::response_parser<bhttp::string_body>& parser,
                  steady::time_point deadline) {
    bool done = false;
    error_code ec;
    conn.lowest().expires_at(deadline);
    auto handler = [&](const error_code& e, std::size_t) {
      ec = e;
      done = true;
    };
    // The header first, on its own: Beast 1.74's eager body parsing (what
    // async_read does) loses the body_limit error for a Content-Length past
    // the limit when header and body arrive in one read, and accepts the body.
    if (conn.tls) {
      bhttp::async_read_header(*conn.tls, conn.buffer, parser, handler);
    } else {
      bhttp::async_read_header(*conn.plain, conn.buffer, parser, handler);
    }
    wait(done);
    if (ec || parser.is_done()) {
      return ec;
    }
    const auto length = parser.content_length();
    if (length && *length > options.response_bytes_max) {
      return bhttp::error::body_limit;
    }
    done = false;
    if (conn.tls) {
      bhttp::async_read(*conn.tls, conn.buffer, parser, handler);
    } else {
      bhttp::async_read(*conn.plain, conn.buffer, parser, handler);
    }
    wait(done);
    return ec;
  }

  // Opens a fresh connection to `target`: resolve, check, connect, handshake.
  step_failure open(const url& target, steady::time_point connect_deadline,
                    std::unique_ptr<connection>& out) {
    std::vector<tcp::endpoint> endpoints;
    if (step_failure failed = resolve(target, connect_deadline, endpoints)) {
      return failed;
    }
    return connect(target, endpoints, connect_deadline, out);
  }

  attempt_result attempt(const url& target, bhttp::request<bhttp::string_body>& message,
                         bool is_head, steady::time_point deadline,
                         steady::time_point connect_deadline) {
    const std::string key = origin(target);
    std::unique_ptr<connection> conn = take_idle(key);
    if (conn && !conn->looks_alive()) {
      conn.reset();
    }
    bool is_reused = conn != nullptr;
    if (!conn) {
      if (step_failure failed = open(target, connect_deadline, conn)) {
        return std::move(*failed);
      }
    }
    error_code ec = write(*conn, message, deadline);
    if (ec && is_reused && ec != beast::error::timeout) {
      // The reused connection died under the write. A request that was not
      // written whole cannot have been processed (the server waits for the
      // rest of it), so one fresh connection is tried within this attempt.
      conn.reset();
      is_reused = false;
      if (step_failure failed = open(target, connect_deadline, conn)) {
        return std::move(*failed);
      }
      ec = write(*conn, message, deadline);
    }
    if (ec) {
      // Not written whole: the far side cannot have acted on it.
      if (ec == beast::error::timeout) {
        return failure(errc::upstream_timeout, false, true,
                       "timed out writing the request to " + key);
      }
      return failure(errc::gateway_unavailable, false, true,
                     "connection to " + key + " failed while writing: " + describe(ec));
    }
    return receive(target, std::move(conn), is_head, deadline);
  }

  // Reads the answer to a request that was written whole. From here on any
  // failure is ambiguous: the far side may have acted on the request.
  attempt_result receive(const url& target, std::unique_ptr<connection> conn, bool is_head,
                         steady::time_point deadline) {
    const std::string key = origin(target);
    for (uint32_t interim = 0; interim <= interim_responses_max; ++interim) {
      bhttp::response_parser<bhttp::string_body> parser;
      parser.body_limit(static_cast<uint64_t>(options.response_bytes_max));
      parser.header_limit(response_header_bytes_max);
      parser.skip(is_head);
      error_code ec = read(*conn, parser, deadline);
      if (ec == bhttp::error::body_limit) {
        // The same request would get the same answer: not retried.
        return failure(errc::gateway_unavailable, true, false,
                       "response from " + key + " exceeds response_bytes_max (" +
                           std::to_string(options.response_bytes_max) + " bytes)");
      }
      if (ec == beast::error::timeout) {
        return failure(errc::upstream_timeout, true, true,
                       "no complete answer from " + key + " in time");
      }
      if (ec) {
        const char* phase = parser.got_some() ? "in the middle of the answer" : "before answering";
        return failure(errc::gateway_unavailable, true, true,
                       "connection to " + key + " closed " + phase + ": " + describe(ec));
      }
      auto& message = parser.get();
      const int status = static_cast<int>(message.result_int());
      if (status >= 100 && status < 200) {
        continue;  // 100 Continue, 103 Early Hints: the final answer follows
      }
      attempt_result out;
      out.answer.emplace();
      out.answer->status = status;
      for (const auto& field : message) {
        out.answer->headers.emplace_back(std::string(field.name_string()),
                                         std::string(field.value()));
      }
      out.answer->body = std::move(message.body());
      if (parser.keep_alive() && conn->buffer.size() == 0) {
        keep_idle(key, std::move(conn));
      }
      return out;
    }
    return failure(errc::gateway_unavailable, true, true,
                   "too many interim (1xx) answers from " + key);
  }
};

http_client::http_client(client_options options)
    : impl_(std::make_unique<impl>(std::move(options))) {}

http_client::~http_client() = default;

namespace {

outcome invalid(std::string detail) {
  outcome out;
  out.error = errc::invalid_argument;
  out.detail = std::move(detail);
  return out;
}

}  // namespace

outcome http_client::send(const request& req, const retry_policy& retry) {
  const steady::time_point started = steady::now();
  const char* reason = "";
  const auto target = parse_url(req.url, &reason);
  if (!target) {
    return invalid(std::string("invalid URL: ") + reason);
  }
  bhttp::verb verb = bhttp::verb::unknown;
  if (const char* problem = request_problem(req, verb); *problem != '\0') {
    return invalid(problem);
  }
  if (const char* problem = policy_problem(retry); *problem != '\0') {
    return invalid(problem);
  }
  if (target->scheme == "http" && target->is_address) {
    const auto address = parse_ip_address(target->host);
    TALLY_ASSERT(address.has_value());
    if (classify(*address) != address_class::loopback) {
      return invalid("plain http to a host that is not loopback: " + origin(*target));
    }
  }

  bhttp::request<bhttp::string_body> message{verb, target->target, 11};
  message.set(bhttp::field::host, host_header(*target));
  for (const auto& [name, value] : req.headers) {
    message.insert(name, value);
  }
  if (message.find(bhttp::field::user_agent) == message.end()) {
    message.set(bhttp::field::user_agent, impl_->options.user_agent);
  }
  message.body() = req.body;
  message.keep_alive(true);
  message.prepare_payload();

  const steady::time_point budget_end = started + retry.budget;
  outcome out;
  for (uint32_t attempt_index = 0;; ++attempt_index) {
    const steady::time_point attempt_start = steady::now();
    const steady::time_point deadline = std::min(attempt_start + req.timeout, budget_end);
    const steady::time_point connect_deadline =
        std::min(attempt_start + req.connect_timeout, deadline);
    attempt_result result =
        impl_->attempt(*target, message, verb == bhttp::verb::head, deadline, connect_deadline);
    out.attempts = attempt_index + 1;
    // Sticky: once an attempt may have taken effect, the outcome says so.
    out.ambiguous = out.ambiguous || result.is_ambiguous;

    bool may_retry = false;
    if (result.answer) {
      may_retry = is_retryable_status(result.answer->status);
    } else if (result.is_ambiguous) {
      may_retry = result.is_retryable && retry.mode == retry_mode::idempotent;
    } else {
      may_retry = result.is_retryable;
    }
    may_retry = may_retry && retry.mode != retry_mode::never && out.attempts < retry.attempts_max;

    std::chrono::milliseconds delay{0};
    if (may_retry) {
      delay = backoff_delay(attempt_index, retry.delay_min, retry.delay_max, impl_->unit_random());
      if (result.answer && retry.honour_retry_after &&
          has_retry_after_semantics(result.answer->status)) {
        if (const auto after = parse_retry_after(result.answer->header("Retry-After"))) {
          delay = *after;
        }
      }
      // No retry starts past the budget.
      may_retry = steady::now() + delay < budget_end;
    }

    if (!may_retry) {
      if (result.answer) {
        out.response = std::move(result.answer);
        out.detail = "HTTP " + std::to_string(out.response->status) + " from " + origin(*target) +
                     " after " + std::to_string(out.attempts) + " attempt(s)";
      } else {
        out.error = result.error;
        out.detail = result.detail + " (attempt " + std::to_string(out.attempts) + ")";
      }
      return out;
    }
    std::this_thread::sleep_for(delay);
  }
}

}  // namespace tally::outbound
