// tests/integration/events_stream_test.cpp: GET /v1/events/stream (docs/events.md "The live
// stream") against the real engine: a user's stream carries that user's events, in order,
// with increasing cursors, and nobody else's; a reconnect with Last-Event-ID gets exactly the
// events it missed (ledger and workflow events, checked against the journal's sequence and a
// full replay), then live ones again; the per-user cap answers 429, the total cap 503;
// heartbeats arrive and a stream outlives the idle timeout; no Bearer is 401; SIGTERM ends
// streams at once.
//
// The SSE client here is a raw socket and a parser written from the WHATWG SSE format, not
// the engine's code.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/support/test_env.hpp"

namespace {

using nlohmann::json;
using tally::test::bearer;
using tally::test::engine_fixture;
using tally::test::http_client;
using tally::test::pg_scalar;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* password_ok = "correct horse battery";

std::string unique_name(const std::string& prefix) {
  static std::atomic<int> sequence{0};
  return prefix + std::to_string(::getpid()) + "-" + std::to_string(++sequence);
}

// ---------------------------------------------------------------------------------------------
// A Server-Sent Events client on a raw socket: sends one GET, parses the response head, then
// dispatches messages as the SSE format defines them (fields until a blank line; lines that
// start with ':' are comments).

struct sse_message {
  std::string id;  // "" when the message had no id field
  std::string event;
  std::string data;
  bool has_id = false;
  bool has_data = false;
};

class sse_reader {
 public:
  sse_reader(uint16_t port, const std::vector<std::pair<std::string, std::string>>& headers,
             const std::string& target = "/v1/events/stream") {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) {
      throw std::runtime_error("socket() failed");
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ::close(fd_);
      throw std::runtime_error("connect to the engine failed");
    }
    std::string request =
        "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "Accept: text/event-stream\r\n";
    for (const auto& [name, value] : headers) {
      request += name + ": " + value + "\r\n";
    }
    request += "\r\n";
    if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
      throw std::runtime_error("send failed");
    }
    read_head();
  }
  ~sse_reader() { close(); }
  sse_reader(const sse_reader&) = delete;
  sse_reader& operator=(const sse_reader&) = delete;

  int status() const { return status_; }
  std::string header(const std::string& name) const {
    auto it = headers_.find(name);
    return it == headers_.end() ? "" : it->second;
  }
  // The body of a response that is not a stream (read until Content-Length or close).
  const std::string& body() const { return buffer_; }
  int comments_seen() const { return comments_; }
  bool is_closed_by_server() const { return is_eof_; }

  // The next dispatched message, or nullopt when none came within `timeout` or the server
  // closed the stream (is_closed_by_server()).
  std::optional<sse_message> next(std::chrono::milliseconds timeout) {
    const auto deadline = clock_type::now() + timeout;
    while (true) {
      if (auto message = parse_message()) {
        return message;
      }
      if (is_eof_ || !fill(deadline)) {
        return std::nullopt;
      }
    }
  }

  // Messages that carry data, until none arrives for `quiet` (or `limit` passes).
  std::vector<sse_message> events_until_quiet(std::chrono::milliseconds quiet,
                                              std::chrono::milliseconds limit = 20s) {
    std::vector<sse_message> out;
    const auto deadline = clock_type::now() + limit;
    while (clock_type::now() < deadline) {
      auto message = next(quiet);
      if (!message) {
        break;
      }
      if (message->has_data) {
        out.push_back(std::move(*message));
      }
    }
    return out;
  }

  // Reads until `count` data messages arrived or `limit` passed.
  std::vector<sse_message> events(std::size_t count, std::chrono::milliseconds limit = 15s) {
    std::vector<sse_message> out;
    const auto deadline = clock_type::now() + limit;
    while (out.size() < count && clock_type::now() < deadline) {
      auto message =
          next(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()));
      if (!message) {
        break;
      }
      if (message->has_data) {
        out.push_back(std::move(*message));
      }
    }
    return out;
  }

  void close() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

 private:
  // Appends what arrives before `deadline`; false on timeout or end of stream.
  bool fill(clock_type::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
    if (left <= 0ms) {
      return false;
    }
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready <= 0) {
      return false;
    }
    char chunk[4096];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      is_eof_ = true;
      return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  void read_head() {
    const auto deadline = clock_type::now() + 15s;
    std::size_t end = std::string::npos;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(deadline)) {
        throw std::runtime_error("no response head from the engine: '" + buffer_ + "'");
      }
    }
    const std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    status_ = std::stoi(head.substr(head.find(' ') + 1, 3));
    std::size_t line_start = head.find("\r\n") + 2;
    while (line_start < head.size()) {
      std::size_t line_end = head.find("\r\n", line_start);
      if (line_end == std::string::npos) {
        line_end = head.size();
      }
      const std::string line = head.substr(line_start, line_end - line_start);
      const std::size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      headers_[name] = value;
      line_start = line_end + 2;
    }
    if (status_ != 200) {  // a problem+json answer: read its body
      const std::size_t length =
          headers_.count("content-length") ? std::stoul(headers_["content-length"]) : 0;
      while (buffer_.size() < length && fill(deadline)) {
      }
    }
  }

  // One message from the buffer if a complete one (ended by a blank line) is there.
  std::optional<sse_message> parse_message() {
    while (true) {
      const std::size_t end = buffer_.find("\n\n");
      if (end == std::string::npos) {
        return std::nullopt;
      }
      const std::string block = buffer_.substr(0, end);
      buffer_.erase(0, end + 2);
      sse_message message;
      bool has_field = false;
      std::size_t start = 0;
      while (start <= block.size()) {
        std::size_t stop = block.find('\n', start);
        if (stop == std::string::npos) {
          stop = block.size();
        }
        const std::string line = block.substr(start, stop - start);
        start = stop + 1;
        if (line.empty()) {
          continue;
        }
        if (line[0] == ':') {
          ++comments_;
          continue;
        }
        const std::size_t colon = line.find(':');
        const std::string field = line.substr(0, colon);
        std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
        if (!value.empty() && value[0] == ' ') {
          value.erase(0, 1);
        }
        has_field = true;
        if (field == "id") {
          message.id = value;
          message.has_id = true;
        } else if (field == "event") {
          message.event = value;
        } else if (field == "data") {
          message.data += (message.has_data ? "\n" : "") + value;
          message.has_data = true;
        }
      }
      if (has_field) {
        return message;
      }
    }
  }

  int fd_ = -1;
  int status_ = 0;
  std::map<std::string, std::string> headers_;
  std::string buffer_;
  int comments_ = 0;
  bool is_eof_ = false;
};

// The cursor of an id, as docs/events.md defines it: "1-<ledger>-<payments>-<workflows>".
std::tuple<int64_t, int64_t, int64_t> cursor_of(const std::string& id) {
  int64_t ledger = -1;
  int64_t payments = -1;
  int64_t workflows = -1;
  if (std::sscanf(id.c_str(), "1-%ld-%ld-%ld", &ledger, &payments, &workflows) != 3) {
    throw std::runtime_error("not a stream cursor: " + id);
  }
  return {ledger, payments, workflows};
}

// Each id moves at least one position forward and none back.
bool ids_increase(const std::string& before, const std::string& after) {
  const auto [l1, p1, w1] = cursor_of(before);
  const auto [l2, p2, w2] = cursor_of(after);
  return l2 >= l1 && p2 >= p1 && w2 >= w1 && (l2 > l1 || p2 > p1 || w2 > w1);
}

// ---------------------------------------------------------------------------------------------

using tally::test::test_user;

test_user register_user(http_client& client) {
  return tally::test::register_test_user(client, "stream");
}

std::string grant(http_client& client, const std::string& user_id, int64_t amount) {
  return tally::test::grant_credits(client, user_id, amount, "stream test");
}

std::string spend(http_client& client, const test_user& user, int64_t amount) {
  auto response = client.post_json("/v1/credits/spend", {{"amount", amount}},
                                   {bearer(user.token), {"Idempotency-Key", unique_name("k")}});
  if (response.status != 201) {
    throw std::runtime_error("spend failed: " + response.describe());
  }
  return response.json()["entry_id"].get<std::string>();
}

// Runs a noop workflow costing `cost` to the end; returns the run id.
std::string run_workflow(http_client& client, const test_user& user, int64_t cost) {
  auto created = client.post_json(
      "/v1/workflows",
      {{"name", unique_name("wf-")}, {"credit_cost", cost}, {"executor", {{"type", "noop"}}}},
      {bearer(user.token)});
  if (created.status != 201) {
    throw std::runtime_error("create workflow failed: " + created.describe());
  }
  const std::string workflow_id = created.json()["id"].get<std::string>();
  auto run = client.post_json("/v1/workflows/" + workflow_id + "/runs?wait=true", json::object(),
                              {bearer(user.token)});
  if (run.status != 200 || run.json()["status"] != "succeeded") {
    throw std::runtime_error("run failed: " + run.describe());
  }
  return run.json()["id"].get<std::string>();
}

std::vector<std::string> types_of(const std::vector<sse_message>& messages) {
  std::vector<std::string> types;
  for (const auto& m : messages) {
    types.push_back(m.event);
  }
  return types;
}

tally::test::env_map stream_env(tally::test::env_map extra = {}) {
  tally::test::env_map env = {{"TALLY_EVENTS_STREAM", unique_name("tally-test-stream-")},
                              {"TALLY_EVENTS_RELAY_PERIOD_MS", "50"}};
  for (auto& [name, value] : extra) {
    env[name] = value;
  }
  return env;
}

// Checks what every stream message must be: the event's own type and user, a valid cursor.
void check_own_events(const std::vector<sse_message>& messages, const std::string& user_id) {
  for (const auto& m : messages) {
    INFO("message: id=" << m.id << " event=" << m.event << " data=" << m.data);
    REQUIRE(m.has_id);
    const json envelope = json::parse(m.data);
    CHECK(envelope["specversion"] == "1.0");
    CHECK(envelope["type"] == m.event);
    CHECK(envelope["data"]["user_id"] == user_id);
  }
}

}  // namespace

TEST_CASE("a stream carries its user's events in order, with increasing ids, and no one else's",
          "[integration][events][stream]") {
  engine_fixture fixture(stream_env());
  auto client = fixture.client();
  const test_user alice = register_user(client);
  const test_user bob = register_user(client);

  sse_reader alice_stream(fixture.engine.port(), {bearer(alice.token)});
  REQUIRE(alice_stream.status() == 200);
  CHECK(alice_stream.header("content-type").rfind("text/event-stream", 0) == 0);
  CHECK(alice_stream.header("cache-control") == "no-store");
  CHECK(alice_stream.header("content-length").empty());
  CHECK_FALSE(alice_stream.header("x-request-id").empty());
  // The opening message: the starting cursor, no data (EventSource keeps the id only).
  auto opening = alice_stream.next(5s);
  REQUIRE(opening);
  CHECK(opening->has_id);
  CHECK_FALSE(opening->has_data);
  CHECK(opening->id == "1-0-0-0");  // a new account: nothing before
  sse_reader bob_stream(fixture.engine.port(), {bearer(bob.token)});
  REQUIRE(bob_stream.status() == 200);

  const std::string granted = grant(client, alice.id, 100);
  grant(client, bob.id, 50);
  const std::string first_spend = spend(client, alice, 10);
  spend(client, bob, 5);
  const std::string second_spend = spend(client, alice, 20);

  const auto events = alice_stream.events(6);
  REQUIRE(events.size() == 6);
  CHECK(types_of(events) == std::vector<std::string>{"credits.granted", "balance.updated",
                                                     "credits.spent", "balance.updated",
                                                     "credits.spent", "balance.updated"});
  check_own_events(events, alice.id);
  CHECK(json::parse(events[0].data)["id"] == granted + "_credits_granted");
  CHECK(json::parse(events[2].data)["id"] == first_spend + "_credits_spent");
  CHECK(json::parse(events[4].data)["id"] == second_spend + "_credits_spent");
  CHECK(json::parse(events[1].data)["data"]["available"] == 100);
  CHECK(json::parse(events[3].data)["data"]["available"] == 90);
  CHECK(json::parse(events[5].data)["data"]["available"] == 70);
  std::string previous = opening->id;
  for (const auto& e : events) {
    CHECK(ids_increase(previous, e.id));
    previous = e.id;
  }
  // Nothing else arrives: bob's four events went to bob only.
  CHECK(alice_stream.events_until_quiet(700ms).empty());
  const auto bobs = bob_stream.events(4);
  REQUIRE(bobs.size() == 4);
  check_own_events(bobs, bob.id);
  CHECK(bob_stream.events_until_quiet(300ms).empty());
}

TEST_CASE("a stream resumed with Last-Event-ID gets exactly the events it missed, then live ones",
          "[integration][events][stream]") {
  engine_fixture fixture(stream_env());
  auto client = fixture.client();
  const test_user user = register_user(client);

  std::vector<sse_message> seen;
  {
    sse_reader stream(fixture.engine.port(), {bearer(user.token)});
    REQUIRE(stream.status() == 200);
    grant(client, user.id, 200);
    spend(client, user, 10);
    seen = stream.events(4);
    REQUIRE(seen.size() == 4);
  }  // disconnected
  const std::string last_id = seen.back().id;

  // Missed while away: ledger events and a workflow run's (another outbox, another cursor part).
  const std::string missed_spend = spend(client, user, 20);
  const std::string run_id = run_workflow(client, user, 5);
  const std::string last_spend = spend(client, user, 30);

  sse_reader resumed(fixture.engine.port(), {bearer(user.token), {"Last-Event-ID", last_id}});
  REQUIRE(resumed.status() == 200);
  const auto missed = resumed.events_until_quiet(1500ms);
  check_own_events(missed, user.id);

  // No duplicates: nothing seen before comes again, nothing comes twice.
  std::set<std::string> ids;
  for (const auto& m : seen) {
    ids.insert(json::parse(m.data)["id"].get<std::string>());
  }
  for (const auto& m : missed) {
    const std::string id = json::parse(m.data)["id"].get<std::string>();
    INFO("event " << id);
    CHECK(ids.insert(id).second);
  }
  // No gaps in the ledger: one balance.updated per journal entry after the last one seen.
  const int64_t last_seq =
      pg_scalar(fixture.database.url(),
                "SELECT last_seq FROM ledger.accounts WHERE account_id = '" + user.id + "'");
  std::vector<int64_t> seqs;
  for (const auto& m : missed) {
    const json envelope = json::parse(m.data);
    if (m.event == "balance.updated") {
      seqs.push_back(envelope["data"]["seq"].get<int64_t>());
    }
  }
  std::vector<int64_t> expected_seqs;
  for (int64_t seq = 3; seq <= last_seq; ++seq) {  // 1: grant, 2: the first spend
    expected_seqs.push_back(seq);
  }
  CHECK(last_seq >= 6);  // spend, reserve, commit, spend
  CHECK(seqs == expected_seqs);
  const auto has = [&](const std::string& event_id) { return ids.count(event_id) == 1; };
  CHECK(has(missed_spend + "_credits_spent"));
  CHECK(has(last_spend + "_credits_spent"));
  int run_events = 0;
  for (const auto& m : missed) {
    const json envelope = json::parse(m.data);
    if (envelope["source"] == "/tally/workflows") {
      CHECK(envelope["subject"] == "runs/" + run_id);
      ++run_events;
    }
  }
  CHECK(run_events >= 2);  // run.started, run.succeeded
  const auto missed_types = types_of(missed);
  CHECK(std::count(missed_types.begin(), missed_types.end(), "run.succeeded") == 1);
  std::string previous = last_id;
  for (const auto& m : missed) {
    CHECK(ids_increase(previous, m.id));
    previous = m.id;
  }

  // The same events, in the same order, as a replay of the whole history shows after last_id.
  sse_reader replay(fixture.engine.port(), {bearer(user.token), {"Last-Event-ID", "1-0-0-0"}});
  REQUIRE(replay.status() == 200);
  const auto history = replay.events_until_quiet(1500ms);
  REQUIRE(history.size() == seen.size() + missed.size());
  for (std::size_t i = 0; i < seen.size(); ++i) {
    CHECK(history[i].data == seen[i].data);
  }
  for (std::size_t i = 0; i < missed.size(); ++i) {
    CHECK(history[seen.size() + i].id == missed[i].id);
    CHECK(history[seen.size() + i].data == missed[i].data);
  }

  // Caught up, the resumed stream is live.
  const std::string live_spend = spend(client, user, 1);
  const auto live = resumed.events(2);
  REQUIRE(live.size() == 2);
  CHECK(json::parse(live[0].data)["id"] == live_spend + "_credits_spent");
  CHECK(live[1].event == "balance.updated");
  CHECK(ids_increase(previous, live[0].id));
}

TEST_CASE("streams beyond the per-user cap are refused with 429 until one closes",
          "[integration][events][stream]") {
  engine_fixture fixture(stream_env({{"TALLY_EVENTS_SSE_PER_USER_MAX", "2"}}));
  auto client = fixture.client();
  const test_user user = register_user(client);
  const test_user other = register_user(client);

  auto first = std::make_unique<sse_reader>(
      fixture.engine.port(), std::vector<std::pair<std::string, std::string>>{bearer(user.token)});
  sse_reader second(fixture.engine.port(), {bearer(user.token)});
  REQUIRE(first->status() == 200);
  REQUIRE(second.status() == 200);
  sse_reader third(fixture.engine.port(), {bearer(user.token)});
  CHECK(third.status() == 429);
  CHECK_FALSE(third.header("retry-after").empty());
  CHECK(third.header("content-type").rfind("application/problem+json", 0) == 0);
  CHECK(json::parse(third.body())["code"] == "rate_limited");
  // The cap is per user.
  sse_reader others(fixture.engine.port(), {bearer(other.token)});
  CHECK(others.status() == 200);

  // Once one stream is closed, a new one is accepted (the engine notices the close).
  first.reset();
  bool accepted = false;
  const auto deadline = clock_type::now() + 10s;
  while (!accepted && clock_type::now() < deadline) {
    sse_reader again(fixture.engine.port(), {bearer(user.token)});
    accepted = again.status() == 200;
    if (!accepted) {
      std::this_thread::sleep_for(100ms);
    }
  }
  CHECK(accepted);
  // The second stream still works.
  grant(client, user.id, 5);
  CHECK(second.events(2).size() == 2);
}

TEST_CASE("streams beyond the node's total cap are refused with 503, whoever asks",
          "[integration][events][stream]") {
  engine_fixture fixture(stream_env({{"TALLY_EVENTS_SSE_TOTAL_MAX", "1"}}));
  auto client = fixture.client();
  const test_user user = register_user(client);
  const test_user other = register_user(client);

  sse_reader first(fixture.engine.port(), {bearer(user.token)});
  REQUIRE(first.status() == 200);
  sse_reader second(fixture.engine.port(), {bearer(other.token)});
  CHECK(second.status() == 503);
  CHECK_FALSE(second.header("retry-after").empty());
  CHECK(second.header("content-type").rfind("application/problem+json", 0) == 0);
  CHECK(json::parse(second.body())["code"] == "overloaded");
}

TEST_CASE("a quiet stream gets heartbeats and outlives the idle timeout",
          "[integration][events][stream]") {
  engine_fixture fixture(
      stream_env({{"TALLY_EVENTS_SSE_HEARTBEAT_S", "1"}, {"TALLY_IDLE_TIMEOUT_S", "1"}}));
  auto client = fixture.client();
  const test_user user = register_user(client);
  sse_reader stream(fixture.engine.port(), {bearer(user.token)});
  REQUIRE(stream.status() == 200);
  // 3.5 s of nothing but comments: the opening message, then pings.
  const auto before = stream.events_until_quiet(3500ms, 3500ms);
  CHECK(before.empty());
  CHECK_FALSE(stream.is_closed_by_server());
  CHECK(stream.comments_seen() >= 2);
  // Still open past the 1 s idle timeout, and still delivering.
  grant(client, user.id, 7);
  const auto after = stream.events(2);
  REQUIRE(after.size() == 2);
  CHECK(after[0].event == "credits.granted");
}

TEST_CASE("the stream needs a Bearer token and a cursor it made", "[integration][events][stream]") {
  engine_fixture fixture(stream_env());
  auto client = fixture.client();
  const test_user user = register_user(client);

  sse_reader anonymous(fixture.engine.port(), {});
  CHECK(anonymous.status() == 401);
  CHECK(anonymous.header("www-authenticate") == "Bearer");
  CHECK(json::parse(anonymous.body())["code"] == "unauthorized");

  sse_reader forged(fixture.engine.port(), {{"Authorization", "Bearer not-a-token"}});
  CHECK(forged.status() == 401);

  sse_reader bad_cursor(fixture.engine.port(), {bearer(user.token), {"Last-Event-ID", "1-2-3"}});
  CHECK(bad_cursor.status() == 400);
  CHECK(json::parse(bad_cursor.body())["code"] == "invalid_cursor");
}

TEST_CASE("SIGTERM ends open streams at once and the engine exits cleanly",
          "[integration][events][stream]") {
  engine_fixture fixture(stream_env());
  auto client = fixture.client();
  const test_user user = register_user(client);
  sse_reader stream(fixture.engine.port(), {bearer(user.token)});
  REQUIRE(stream.status() == 200);
  REQUIRE(stream.next(5s));  // the opening message: the stream is live
  const auto started = clock_type::now();
  fixture.engine.send_signal(SIGTERM);
  // The stream ends at once, not after the grace that in-flight requests get (3 s leaves
  // room for a loaded CI machine; the process's whole exit, actors included, may take longer).
  CHECK_FALSE(stream.next(3s));
  CHECK(stream.is_closed_by_server());
  CHECK(clock_type::now() - started < 3s);
  // The engine exits cleanly within its shutdown grace (10 s, config/limits.hpp), with a
  // margin for the actors' shutdown after it.
  const auto exit_status = fixture.engine.wait_for_exit(15s);
  REQUIRE(exit_status.has_value());
  CHECK(*exit_status == 0);
}
