// tests/outbound/http_client_test.cpp: covers outbound/http_client.cpp over
// plain HTTP against scripted servers on loopback (tests/outbound/test_server.hpp):
// the round trip, keep-alive reuse, the retry rules, timeouts and ambiguity,
// limits, and the SSRF policy applied to resolved addresses.
#include "outbound/http_client.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "outbound/target_policy.hpp"
#include "tests/outbound/test_server.hpp"

namespace {

using namespace std::chrono_literals;
using tally::errc;
using tally::outbound::client_options;
using tally::outbound::http_client;
using tally::outbound::outcome;
using tally::outbound::request;
using tally::outbound::retry_mode;
using tally::outbound::retry_policy;
using tally::test::server_action;
using tally::test::test_server;
using steady = std::chrono::steady_clock;

// Short delays so that retry tests take milliseconds, not seconds.
retry_policy fast_retries(retry_mode mode, uint32_t attempts_max = 3) {
  retry_policy policy;
  policy.mode = mode;
  policy.attempts_max = attempts_max;
  policy.delay_min = 5ms;
  policy.delay_max = 20ms;
  policy.budget = 20s;
  return policy;
}

request get(const std::string& url) {
  request req;
  req.url = url;
  req.connect_timeout = 2s;
  req.timeout = 5s;
  return req;
}

server_action ok_answer(const tally::test::seen_request&, std::size_t) {
  return server_action::reply(200, "ok");
}

}  // namespace

TEST_CASE("a POST arrives with its method, target, headers and body", "[outbound][http]") {
  test_server server([](const tally::test::seen_request& seen, std::size_t) {
    return server_action::reply(201, "echo:" + seen.body,
                                {{"X-Reply", "yes"}, {"Content-Type", "text/plain"}});
  });
  http_client client;
  request req = get(server.base_url() + "/v1/charges?expand=1");
  req.method = "POST";
  req.headers = {{"Authorization", "Bearer skey_test"}, {"X-Trace", "t-1"}};
  req.body = "amount=100";

  const outcome out = client.send(req);

  REQUIRE(out.ok());
  CHECK(out.attempts == 1);
  CHECK(out.response->status == 201);
  CHECK(out.response->body == "echo:amount=100");
  CHECK(out.response->header("x-reply") == "yes");  // any case
  CHECK(out.response->header("X-REPLY") == "yes");
  CHECK(out.response->header("X-Absent").empty());
  CHECK(out.detail.find("skey_test") == std::string::npos);
  const auto seen = server.requests();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].method == "POST");
  CHECK(seen[0].target == "/v1/charges?expand=1");
  CHECK(seen[0].body == "amount=100");
  CHECK(seen[0].header("Authorization") == "Bearer skey_test");
  CHECK(seen[0].header("X-Trace") == "t-1");
  CHECK(seen[0].header("Content-Length") == "10");
  CHECK(seen[0].header("Host") == "127.0.0.1:" + std::to_string(server.port()));
  CHECK(seen[0].header("User-Agent") == "tally/0.1");
}

TEST_CASE("a GET to localhost by name reaches the loopback server", "[outbound][http]") {
  test_server server(ok_answer);
  http_client client;
  const outcome out = client.send(get("http://localhost:" + std::to_string(server.port()) + "/x"));
  REQUIRE(out.ok());
  CHECK(out.response->body == "ok");
  CHECK(server.requests()[0].header("Host") == "localhost:" + std::to_string(server.port()));
}

TEST_CASE("two sends to one origin share one keep-alive connection", "[outbound][http]") {
  test_server server(ok_answer);
  http_client client;
  REQUIRE(client.send(get(server.base_url() + "/a")).ok());
  REQUIRE(client.send(get(server.base_url() + "/b")).ok());
  CHECK(server.requests_seen() == 2);
  CHECK(server.connections_accepted() == 1);
}

TEST_CASE("with no idle connections kept, every send connects anew", "[outbound][http]") {
  test_server server(ok_answer);
  client_options options;
  options.idle_connections_max = 0;
  http_client client(options);
  REQUIRE(client.send(get(server.base_url() + "/a")).ok());
  REQUIRE(client.send(get(server.base_url() + "/b")).ok());
  CHECK(server.connections_accepted() == 2);
}

TEST_CASE("an idle connection the server closed is replaced before the request is sent",
          "[outbound][http]") {
  test_server server([](const tally::test::seen_request&, std::size_t) {
    server_action action = server_action::reply(200, "ok");
    action.close_after = true;  // says keep-alive, then drops the connection
    return action;
  });
  http_client client;
  REQUIRE(client.send(get(server.base_url() + "/a")).ok());
  std::this_thread::sleep_for(100ms);  // let the FIN arrive
  const outcome second =
      client.send(get(server.base_url() + "/b"), fast_retries(retry_mode::never));
  REQUIRE(second.ok());
  CHECK(second.attempts == 1);
  CHECK_FALSE(second.ambiguous);
  CHECK(server.connections_accepted() == 2);
  CHECK(server.requests_seen() == 2);
}

TEST_CASE("503, 503, 200 succeeds on the third attempt", "[outbound][retry]") {
  test_server server([](const tally::test::seen_request&, std::size_t index) {
    return index < 2 ? server_action::reply(503, "busy") : server_action::reply(200, "done");
  });
  http_client client;
  const outcome out =
      client.send(get(server.base_url() + "/charge"), fast_retries(retry_mode::unambiguous));
  REQUIRE(out.ok());
  CHECK(out.response->status == 200);
  CHECK(out.response->body == "done");
  CHECK(out.attempts == 3);
  CHECK_FALSE(out.ambiguous);
  CHECK(server.requests_seen() == 3);
}

TEST_CASE("retries stop at attempts_max and return the last answer", "[outbound][retry]") {
  test_server server([](const tally::test::seen_request&, std::size_t) {
    return server_action::reply(502, "bad gateway");
  });
  http_client client;
  const outcome out =
      client.send(get(server.base_url() + "/x"), fast_retries(retry_mode::unambiguous, 2));
  REQUIRE(out.ok());
  CHECK(out.response->status == 502);
  CHECK(out.attempts == 2);
  CHECK(server.requests_seen() == 2);
}

TEST_CASE("retry_mode::never sends once whatever the answer", "[outbound][retry]") {
  test_server server([](const tally::test::seen_request&, std::size_t) {
    return server_action::reply(503, "busy");
  });
  http_client client;
  const outcome out = client.send(get(server.base_url() + "/x"), fast_retries(retry_mode::never));
  REQUIRE(out.ok());
  CHECK(out.response->status == 503);
  CHECK(out.attempts == 1);
  CHECK(server.requests_seen() == 1);
}

TEST_CASE("4xx answers other than 429 are not retried", "[outbound][retry]") {
  test_server server([](const tally::test::seen_request&, std::size_t) {
    return server_action::reply(400, "bad request");
  });
  http_client client;
  const outcome out =
      client.send(get(server.base_url() + "/x"), fast_retries(retry_mode::idempotent));
  REQUIRE(out.ok());
  CHECK(out.response->status == 400);
  CHECK(out.attempts == 1);
}

TEST_CASE("retries stop when the budget would be exceeded", "[outbound][retry]") {
  test_server server([](const tally::test::seen_request&, std::size_t) {
    return server_action::reply(503, "busy");
  });
  http_client client;
  retry_policy policy = fast_retries(retry_mode::unambiguous, 10);
  policy.delay_min = 200ms;
  policy.delay_max = 200ms;
  policy.budget = 700ms;
  const auto started = steady::now();
  const outcome out = client.send(get(server.base_url() + "/x"), policy);
  const auto elapsed = steady::now() - started;
  REQUIRE(out.ok());
  CHECK(out.response->status == 503);
  // 200 ms apart within 700 ms: at most four attempts start, never ten.
  CHECK(out.attempts >= 2);
  CHECK(out.attempts <= 4);
  CHECK(elapsed < 700ms + 300ms);
}

TEST_CASE("a 429 with Retry-After: 1 waits a second before the next attempt", "[outbound][retry]") {
  test_server server([](const tally::test::seen_request&, std::size_t index) {
    return index == 0 ? server_action::reply(429, "slow down", {{"Retry-After", "1"}})
                      : server_action::reply(200, "ok");
  });
  http_client client;
  const outcome out =
      client.send(get(server.base_url() + "/x"), fast_retries(retry_mode::unambiguous));
  REQUIRE(out.ok());
  CHECK(out.response->status == 200);
  CHECK(out.attempts == 2);
  const auto seen = server.requests();
  REQUIRE(seen.size() == 2);
  // The computed delay is at most 20 ms; only Retry-After explains a second.
  CHECK(seen[1].received_at - seen[0].received_at >= 950ms);
}

TEST_CASE("a Retry-After past the budget returns the 429 at once", "[outbound][retry]") {
  test_server server([](const tally::test::seen_request&, std::size_t) {
    return server_action::reply(429, "slow down", {{"Retry-After", "30"}});
  });
  http_client client;
  retry_policy policy = fast_retries(retry_mode::unambiguous);
  policy.budget = 2s;
  const auto started = steady::now();
  const outcome out = client.send(get(server.base_url() + "/x"), policy);
  REQUIRE(out.ok());
  CHECK(out.response->status == 429);
  CHECK(out.attempts == 1);
  CHECK(steady::now() - started < 1s);
}

TEST_CASE("a Retry-After is ignored when honour_retry_after is off", "[outbound][retry]") {
  test_server server([](const tally::test::seen_request&, std::size_t index) {
    return index == 0 ? server_action::reply(503, "busy", {{"Retry-After", "30"}})
                      : server_action::reply(200, "ok");
  });
  http_client client;
  retry_policy policy = fast_retries(retry_mode::unambiguous);
  policy.honour_retry_after = false;
  const auto started = steady::now();
  const outcome out = client.send(get(server.base_url() + "/x"), policy);
  REQUIRE(out.ok());
  CHECK(out.response->status == 200);
  CHECK(steady::now() - started < 2s);
}

TEST_CASE("a refused connection is gateway_unavailable, unambiguous, and retried",
          "[outbound][retry]") {
  http_client client;
  const uint16_t port = tally::test::closed_port();
  const outcome out = client.send(get("http://127.0.0.1:" + std::to_string(port) + "/x"),
                                  fast_retries(retry_mode::unambiguous, 3));
  REQUIRE_FALSE(out.ok());
  CHECK(out.error == errc::gateway_unavailable);
  CHECK_FALSE(out.ambiguous);
  CHECK(out.attempts == 3);
  CHECK(out.detail.find("connect") != std::string::npos);
}

TEST_CASE("a server that never answers is an ambiguous timeout, not retried in unambiguous mode",
          "[outbound][retry]") {
  test_server server(
      [](const tally::test::seen_request&, std::size_t) { return server_action::hang(); });
  http_client client;
  request req = get(server.base_url() + "/charges");
  req.method = "POST";
  req.body = "amount=100";
  req.timeout = 300ms;
  const auto started = steady::now();
  const outcome out = client.send(req, fast_retries(retry_mode::unambiguous, 3));
  REQUIRE_FALSE(out.ok());
  CHECK(out.error == errc::upstream_timeout);
  CHECK(out.ambiguous);
  CHECK(out.attempts == 1);
  CHECK(server.requests_seen() == 1);
  CHECK(steady::now() - started >= 250ms);
  CHECK(steady::now() - started < 3s);
}

TEST_CASE("a server that never answers is retried in idempotent mode", "[outbound][retry]") {
  test_server server(
      [](const tally::test::seen_request&, std::size_t) { return server_action::hang(); });
  http_client client;
  request req = get(server.base_url() + "/charges/chrg_1");
  req.timeout = 200ms;
  const outcome out = client.send(req, fast_retries(retry_mode::idempotent, 3));
  REQUIRE_FALSE(out.ok());
  CHECK(out.error == errc::upstream_timeout);
  CHECK(out.ambiguous);
  CHECK(out.attempts == 3);
  CHECK(server.requests_seen() == 3);
}

TEST_CASE("an ambiguous attempt stays ambiguous when a later attempt fails otherwise",
          "[outbound][retry]") {
  test_server server([](const tally::test::seen_request&, std::size_t index) {
    return index == 0 ? server_action::hang() : server_action::reply(503, "busy");
  });
  http_client client;
  request req = get(server.base_url() + "/x");
  req.timeout = 200ms;
  const outcome out = client.send(req, fast_retries(retry_mode::idempotent, 2));
  REQUIRE(out.ok());
  CHECK(out.response->status == 503);
  CHECK(out.attempts == 2);
  CHECK(out.ambiguous);  // the first attempt may have taken effect
}

TEST_CASE("a connection closed after the request is written is ambiguous", "[outbound][retry]") {
  test_server server(
      [](const tally::test::seen_request&, std::size_t) { return server_action::close(); });
  http_client client;
  request req = get(server.base_url() + "/charges");
  req.method = "POST";
  const outcome out = client.send(req, fast_retries(retry_mode::unambiguous, 3));
  REQUIRE_FALSE(out.ok());
  CHECK(out.error == errc::gateway_unavailable);
  CHECK(out.ambiguous);
  CHECK(out.attempts == 1);
  CHECK(server.requests_seen() == 1);
}

TEST_CASE("a response over response_bytes_max is an error and is not retried",
          "[outbound][limits]") {
  test_server server([](const tally::test::seen_request&, std::size_t) {
    return server_action::reply(200, std::string(4096, 'x'));
  });
  client_options options;
  options.response_bytes_max = 1024;
  http_client client(options);
  const outcome out =
      client.send(get(server.base_url() + "/big"), fast_retries(retry_mode::idempotent, 3));
  REQUIRE_FALSE(out.ok());
  CHECK(out.error == errc::gateway_unavailable);
  CHECK(out.attempts == 1);
  CHECK(out.detail.find("response_bytes_max") != std::string::npos);
  // A body of exactly the limit is fine.
  test_server exact([](const tally::test::seen_request&, std::size_t) {
    return server_action::reply(200, std::string(1024, 'y'));
  });
  const outcome fits = client.send(get(exact.base_url() + "/fits"));
  REQUIRE(fits.ok());
  CHECK(fits.response->body.size() == 1024);
}

TEST_CASE("plain http to a host that is not loopback is refused without connecting",
          "[outbound][limits]") {
  http_client client;
  for (const char* url : {"http://10.1.2.3/", "http://192.168.0.1:8080/x", "http://[fd00::1]/"}) {
    const outcome out = client.send(get(url));
    INFO(url);
    REQUIRE_FALSE(out.ok());
    CHECK(out.error == errc::invalid_argument);
    CHECK(out.attempts == 0);
    CHECK_FALSE(out.ambiguous);
  }
}

TEST_CASE("malformed URLs and requests are invalid_argument before any connection",
          "[outbound][limits]") {
  test_server server(ok_answer);
  http_client client;
  const std::string base = server.base_url();
  std::vector<request> bad;
  bad.push_back(get("ftp://127.0.0.1/"));
  bad.push_back(get("http://user:pass@127.0.0.1:" + std::to_string(server.port()) + "/"));
  bad.push_back(get(base + "/x#frag"));
  bad.push_back(get(base + "/x\r\nX-Injected: 1"));
  bad.push_back(get(base + "/" + std::string(3000, 'a')));
  request injected = get(base + "/x");
  injected.headers = {{"X-Note", "a\r\nX-Injected: 1"}};
  bad.push_back(injected);
  request smuggled = get(base + "/x");
  smuggled.headers = {{"Content-Length", "5"}};
  bad.push_back(smuggled);
  request method = get(base + "/x");
  method.method = "CONNECT";
  bad.push_back(method);
  for (const auto& req : bad) {
    const outcome out = client.send(req);
    INFO(req.url.substr(0, 80));
    CHECK_FALSE(out.ok());
    CHECK(out.error == errc::invalid_argument);
    CHECK(out.attempts == 0);
    CHECK(out.detail.find("pass") == std::string::npos);
  }
  CHECK(server.connections_accepted() == 0);
}

TEST_CASE("a retry policy out of range is invalid_argument", "[outbound][limits]") {
  http_client client;
  retry_policy zero = fast_retries(retry_mode::unambiguous);
  zero.attempts_max = 0;
  CHECK(client.send(get("http://127.0.0.1:1/"), zero).error == errc::invalid_argument);
  retry_policy inverted = fast_retries(retry_mode::unambiguous);
  inverted.delay_min = 2s;
  inverted.delay_max = 1s;
  CHECK(client.send(get("http://127.0.0.1:1/"), inverted).error == errc::invalid_argument);
}

TEST_CASE("a deny-private policy refuses loopback; the dev policy allows it",
          "[outbound][policy]") {
  test_server server(ok_answer);
  const std::string url = server.base_url() + "/hook";

  client_options strict;
  strict.policy = std::make_shared<const tally::outbound::target_policy>();
  http_client strict_client(strict);
  const outcome refused = strict_client.send(get(url), fast_retries(retry_mode::idempotent));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error == errc::forbidden);
  CHECK(refused.attempts == 1);  // not retried
  CHECK(refused.detail.find("loopback") != std::string::npos);
  const outcome by_name =
      strict_client.send(get("http://localhost:" + std::to_string(server.port()) + "/hook"));
  CHECK(by_name.error == errc::forbidden);
  CHECK(server.connections_accepted() == 0);

  tally::outbound::target_policy_settings dev;
  dev.allow_private = true;
  auto dev_policy = tally::outbound::target_policy::make(dev);
  REQUIRE(dev_policy);
  client_options relaxed;
  relaxed.policy = std::make_shared<const tally::outbound::target_policy>(*dev_policy);
  http_client dev_client(relaxed);
  const outcome allowed = dev_client.send(get(url));
  REQUIRE(allowed.ok());
  CHECK(server.connections_accepted() == 1);
}

TEST_CASE("an allow-listed CIDR opens loopback under the strict policy", "[outbound][policy]") {
  test_server server(ok_answer);
  tally::outbound::target_policy_settings settings;
  settings.allow_hosts = {"127.0.0.0/8"};
  auto policy = tally::outbound::target_policy::make(settings);
  REQUIRE(policy);
  client_options options;
  options.policy = std::make_shared<const tally::outbound::target_policy>(*policy);
  http_client client(options);
  const outcome out = client.send(get(server.base_url() + "/hook"));
  REQUIRE(out.ok());
  CHECK(out.response->status == 200);
}

TEST_CASE("clients on several threads each complete every request", "[outbound][concurrency]") {
  test_server server([&](const tally::test::seen_request& seen, std::size_t) {
    return server_action::reply(200, seen.target);
  });
  constexpr int threads_count = 4;
  constexpr int requests_per_thread = 25;
  std::atomic<int> successes{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < threads_count; ++t) {
    threads.emplace_back([&, t] {
      http_client client;  // one client per thread, as the header requires
      for (int i = 0; i < requests_per_thread; ++i) {
        const std::string target = "/t" + std::to_string(t) + "/" + std::to_string(i);
        const outcome out = client.send(get(server.base_url() + target));
        if (out.ok() && out.response->body == target) {
          ++successes;
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK(successes == threads_count * requests_per_thread);
  CHECK(server.requests_seen() == threads_count * requests_per_thread);
  // Each client reuses its one connection.
  CHECK(server.connections_accepted() == threads_count);
}
