// tests/http/request_context_test.cpp: covers http/request_context.cpp. Client-supplied ids end
// up in logs and response headers, so anything but a plain token is replaced.
#include "http/request_context.hpp"

#include <set>
#include <string>

#include <catch2/catch.hpp>

namespace {

constexpr std::string_view valid_traceparent =
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

bool is_lower_hex(const std::string& text) {
  return text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

TEST_CASE("request ids of letters, digits, dots, dashes and underscores are sane",
          "[http][request_context]") {
  for (const char* id : {"a", "abc-123", "req_1.2", "3f2b8c1e-9d4a-4b6e-8f00-1a2b3c4d5e6f"}) {
    CAPTURE(id);
    CHECK(tally::http::is_sane_request_id(id));
  }
  CHECK(tally::http::is_sane_request_id(std::string(128, 'x')));
}

TEST_CASE("empty, long or unusual request ids are not sane", "[http][request_context]") {
  for (const char* id :
       {"", "a b", "a\"b", "a\nb", "a\rb", "<script>", "a/b", "a;b", "é", "a,b", "a%20b"}) {
    CAPTURE(id);
    CHECK_FALSE(tally::http::is_sane_request_id(id));
  }
  CHECK_FALSE(tally::http::is_sane_request_id(std::string(129, 'x')));
  CHECK_FALSE(tally::http::is_sane_request_id(std::string("a\0b", 3)));
}

TEST_CASE("new request ids are sane, 32 hex characters and distinct", "[http][request_context]") {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const auto id = tally::http::new_request_id();
    CHECK(id.size() == 32);
    CHECK(is_lower_hex(id));
    CHECK(tally::http::is_sane_request_id(id));
    seen.insert(id);
  }
  CHECK(seen.size() == 1000);
}

TEST_CASE("a version 00 traceparent is parsed into its fields", "[http][request_context]") {
  const auto trace = tally::http::parse_traceparent(valid_traceparent);
  REQUIRE(trace);
  CHECK(trace->trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(trace->parent_id == "00f067aa0ba902b7");
  CHECK(trace->flags == "01");
  CHECK(tally::http::format_traceparent(*trace) == valid_traceparent);
}

TEST_CASE("unknown flag bits are accepted", "[http][request_context]") {
  const auto trace =
      tally::http::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff");
  REQUIRE(trace);
  CHECK(trace->flags == "ff");
}

TEST_CASE("a future version is read by its version 00 prefix", "[http][request_context]") {
  const auto longer = tally::http::parse_traceparent(
      "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds");
  REQUIRE(longer);
  CHECK(longer->trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
  // Formatting downgrades to the version Tally speaks.
  CHECK(tally::http::format_traceparent(*longer) == valid_traceparent);
  CHECK(tally::http::parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
}

TEST_CASE("malformed traceparent headers are refused", "[http][request_context]") {
  for (const char* header : {
           "",
           "00",
           // version 00 must be exactly 55 characters
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
           // version ff is invalid; versions are lowercase hex
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           // upper case or non-hex ids and flags
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
           // all-zero trace-id or parent-id
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
           // wrong separators
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
           // a future version followed by something other than '-'
           "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
           // surrounding whitespace (HTTP parsing strips it before us)
           " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
       }) {
    CAPTURE(header);
    CHECK_FALSE(tally::http::parse_traceparent(header));
  }
}

TEST_CASE("formatting refuses fields that could not have been parsed", "[http][request_context]") {
  CHECK(tally::http::format_traceparent({"abc", "00f067aa0ba902b7", "01"}).empty());
  CHECK(tally::http::format_traceparent(
            {"00000000000000000000000000000000", "00f067aa0ba902b7", "01"})
            .empty());
}

TEST_CASE("new trace and span ids are well-formed hex", "[http][request_context]") {
  const auto trace_id = tally::http::new_trace_id();
  const auto span_id = tally::http::new_span_id();
  CHECK(trace_id.size() == 32);
  CHECK(span_id.size() == 16);
  CHECK(is_lower_hex(trace_id));
  CHECK(is_lower_hex(span_id));
  CHECK(tally::http::parse_traceparent("00-" + trace_id + "-" + span_id + "-00"));
}

TEST_CASE("a sane incoming request id and traceparent are carried on", "[http][request_context]") {
  const auto context =
      tally::http::make_request_context(std::string_view("client-42"), valid_traceparent);
  CHECK(context.request_id == "client-42");
  CHECK(context.trace.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(context.trace.flags == "01");
  CHECK(context.incoming_parent_id == "00f067aa0ba902b7");
  // Tally's own span is new: downstream calls are children of this request.
  CHECK(context.trace.parent_id != "00f067aa0ba902b7");
  CHECK(tally::http::parse_traceparent(tally::http::format_traceparent(context.trace)));
}

TEST_CASE("an insane request id or a broken traceparent is replaced", "[http][request_context]") {
  const auto context = tally::http::make_request_context(std::string_view("bad id\r\nX-Evil: 1"),
                                                         std::string_view("garbage"));
  CHECK(context.request_id != "bad id\r\nX-Evil: 1");
  CHECK(tally::http::is_sane_request_id(context.request_id));
  CHECK(context.incoming_parent_id.empty());
  CHECK(context.trace.flags == "00");
  CHECK(tally::http::parse_traceparent(tally::http::format_traceparent(context.trace)));

  const auto absent = tally::http::make_request_context(std::nullopt, std::nullopt);
  CHECK(tally::http::is_sane_request_id(absent.request_id));
  CHECK(absent.trace.trace_id.size() == 32);
}
