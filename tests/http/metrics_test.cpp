// tests/http/metrics_test.cpp: covers http/metrics.cpp. The output must parse as Prometheus text
// 0.0.4, and no client input may grow the number of series without bound.
#include "http/metrics.hpp"

#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

namespace {

bool contains(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

}  // namespace

TEST_CASE("a counter renders HELP, TYPE and one line per label set", "[http][metrics]") {
  tally::http::registry metrics;
  auto& requests = metrics.add_counter("http_requests_total", "Requests served.",
                                       {"http_request_method", "http_response_status_code"});
  requests.inc({"GET", "200"});
  requests.inc({"GET", "200"}, 2);
  requests.inc({"POST", "201"});
  const auto text = metrics.render();
  CHECK(text ==
        "# HELP http_requests_total Requests served.\n"
        "# TYPE http_requests_total counter\n"
        "http_requests_total{http_request_method=\"GET\",http_response_status_code=\"200\"} 3\n"
        "http_requests_total{http_request_method=\"POST\",http_response_status_code=\"201\"} 1\n");
}

TEST_CASE("an unlabelled metric is exported as zero before its first use", "[http][metrics]") {
  tally::http::registry metrics;
  metrics.add_counter("credits_purchased_total", "Credits bought.");
  metrics.add_gauge("http_server_active_requests", "Requests in flight.");
  const auto text = metrics.render();
  CHECK(contains(text, "\ncredits_purchased_total 0\n"));
  CHECK(contains(text, "\nhttp_server_active_requests 0\n"));
}

TEST_CASE("a gauge is set and moved both ways", "[http][metrics]") {
  tally::http::registry metrics;
  auto& in_flight = metrics.add_gauge("http_server_active_requests", "Requests in flight.");
  in_flight.add(3);
  in_flight.add(-1);
  CHECK(contains(metrics.render(), "\nhttp_server_active_requests 2\n"));
  in_flight.set(0.5);
  CHECK(contains(metrics.render(),
                 "# TYPE http_server_active_requests gauge\n"
                 "http_server_active_requests 0.5\n"));
  auto& pool = metrics.add_gauge("db_pool_connections", "Open connections.", {"context"});
  pool.set({"ledger"}, 8);
  CHECK(contains(metrics.render(), "db_pool_connections{context=\"ledger\"} 8\n"));
}

TEST_CASE("a histogram renders cumulative buckets, +Inf, _sum and _count", "[http][metrics]") {
  tally::http::registry metrics;
  auto& duration = metrics.add_histogram("http_server_request_duration_seconds", "Time to answer.",
                                         {"http_route"}, {0.1, 1, 2.5});
  duration.observe({"/v1/x"}, 0.05);
  duration.observe({"/v1/x"}, 0.1);  // on a bound: counted in that bucket (le = less or equal)
  duration.observe({"/v1/x"}, 2);
  duration.observe({"/v1/x"}, 30);
  const auto text = metrics.render();
  CHECK(text ==
        "# HELP http_server_request_duration_seconds Time to answer.\n"
        "# TYPE http_server_request_duration_seconds histogram\n"
        "http_server_request_duration_seconds_bucket{http_route=\"/v1/x\",le=\"0.1\"} 2\n"
        "http_server_request_duration_seconds_bucket{http_route=\"/v1/x\",le=\"1\"} 2\n"
        "http_server_request_duration_seconds_bucket{http_route=\"/v1/x\",le=\"2.5\"} 3\n"
        "http_server_request_duration_seconds_bucket{http_route=\"/v1/x\",le=\"+Inf\"} 4\n"
        "http_server_request_duration_seconds_sum{http_route=\"/v1/x\"} 32.15\n"
        "http_server_request_duration_seconds_count{http_route=\"/v1/x\"} 4\n");
}

TEST_CASE("histograms default to the OpenTelemetry duration buckets", "[http][metrics]") {
  tally::http::registry metrics;
  auto& duration = metrics.add_histogram("d_seconds", "Durations.");
  duration.observe(0.003);
  const auto text = metrics.render();
  CHECK(contains(text, "d_seconds_bucket{le=\"0.005\"} 1\n"));
  CHECK(contains(text, "d_seconds_bucket{le=\"0.075\"} 1\n"));
  CHECK(contains(text, "d_seconds_bucket{le=\"7.5\"} 1\n"));
  CHECK(contains(text, "d_seconds_bucket{le=\"10\"} 1\n"));
  CHECK(contains(text, "d_seconds_bucket{le=\"+Inf\"} 1\n"));
  CHECK(contains(text, "d_seconds_count 1\n"));
  std::size_t buckets = 0;
  for (std::size_t at = text.find("_bucket{"); at != std::string::npos;
       at = text.find("_bucket{", at + 1)) {
    ++buckets;
  }
  CHECK(buckets == tally::http::duration_buckets_seconds.size() + 1);
}

TEST_CASE("NaN observations are ignored", "[http][metrics]") {
  tally::http::registry metrics;
  auto& sizes = metrics.add_histogram("body_bytes", "Body sizes.", {}, {10, 100});
  sizes.observe(std::numeric_limits<double>::quiet_NaN());
  sizes.observe(5);
  const auto text = metrics.render();
  CHECK(contains(text, "body_bytes_sum 5\n"));
  CHECK(contains(text, "body_bytes_count 1\n"));
}

TEST_CASE("label values and help text are escaped", "[http][metrics]") {
  tally::http::registry metrics;
  auto& events = metrics.add_counter("events_total", "Line one\nback\\slash", {"kind"});
  events.inc({"a\"b\\c\nd"});
  const auto text = metrics.render();
  CHECK(contains(text, "# HELP events_total Line one\\nback\\\\slash\n"));
  CHECK(contains(text, "events_total{kind=\"a\\\"b\\\\c\\nd\"} 1\n"));
}

TEST_CASE("label sets that look alike stay apart", "[http][metrics]") {
  tally::http::registry metrics;
  auto& pairs = metrics.add_counter("pairs_total", "Pairs.", {"a", "b"});
  pairs.inc({"1:x", ""});
  pairs.inc({"1", ":x"});
  CHECK(pairs.series_count() == 2);
}

TEST_CASE("label sets beyond the cap fold into one \"other\" series", "[http][metrics]") {
  tally::http::registry metrics(4);
  auto& requests = metrics.add_counter("requests_total", "Requests.", {"route", "method"});
  for (int i = 0; i < 100; ++i) {
    requests.inc({"/r" + std::to_string(i), "GET"});
  }
  CHECK(requests.series_count() == 5);  // four real series and the overflow series
  const auto text = metrics.render();
  CHECK(contains(text, "requests_total{route=\"other\",method=\"other\"} 96\n"));
  CHECK(contains(text, "requests_total{route=\"/r0\",method=\"GET\"} 1\n"));
  CHECK_FALSE(contains(text, "/r4\""));
  // Series that existed before the cap keep counting on their own.
  requests.inc({"/r1", "GET"});
  CHECK(contains(metrics.render(), "requests_total{route=\"/r1\",method=\"GET\"} 2\n"));
}

TEST_CASE("a real all-\"other\" label set is reused as the overflow series", "[http][metrics]") {
  tally::http::registry metrics(2);
  auto& requests = metrics.add_counter("requests_total", "Requests.", {"route"});
  requests.inc({"other"});
  requests.inc({"/a"});
  requests.inc({"/b"});
  CHECK(requests.series_count() == 2);
  CHECK(contains(metrics.render(), "requests_total{route=\"other\"} 2\n"));
}

TEST_CASE("metrics render in registration order and end with a newline", "[http][metrics]") {
  tally::http::registry metrics;
  metrics.add_gauge("b_gauge", "B.");
  metrics.add_counter("a_total", "A.");
  const auto text = metrics.render();
  CHECK(text.find("b_gauge") < text.find("a_total"));
  CHECK(text.back() == '\n');
  CHECK(tally::http::metrics_content_type == "text/plain; version=0.0.4; charset=utf-8");
}

TEST_CASE("concurrent recording from many threads loses no increments", "[http][metrics]") {
  tally::http::registry metrics;
  auto& requests = metrics.add_counter("requests_total", "Requests.", {"route"});
  auto& duration = metrics.add_histogram("duration_seconds", "Durations.", {"route"});
  auto& in_flight = metrics.add_gauge("in_flight", "In flight.");
  constexpr int threads_count = 8;
  constexpr int iterations = 20'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < threads_count; ++t) {
    threads.emplace_back([&, t] {
      const std::string route = "/r" + std::to_string(t % 3);
      for (int i = 0; i < iterations; ++i) {
        requests.inc({route});
        duration.observe({route}, 0.5);
        in_flight.add(1);
        in_flight.add(-1);
        if (i % 1000 == 0) {
          static_cast<void>(metrics.render());
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  uint64_t total = 0;
  for (const char* route : {"/r0", "/r1", "/r2"}) {
    total += requests.with({route}).value();
  }
  CHECK(total == uint64_t{threads_count} * iterations);
  const auto text = metrics.render();
  CHECK(contains(text, "\nin_flight 0\n"));
  // Threads 0, 3 and 6 use /r0.
  CHECK(contains(text, "duration_seconds_count{route=\"/r0\"} " + std::to_string(3 * iterations)));
}
