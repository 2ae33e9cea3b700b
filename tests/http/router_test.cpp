// tests/http/router_test.cpp: covers http/router.cpp. The router decides 404 vs 405 vs a
// handler, and its parameters reach SQL as ids, so refused paths get as many cases as matches.
#include "http/router.hpp"

#include <string>

#include <catch2/catch.hpp>

using tally::http::match_kind;

namespace {

// A slice of the real route table.
struct fixture {
  tally::http::router table;
  std::size_t get_reservation = table.add("GET", "/v1/credits/reservations/{id}");
  std::size_t commit = table.add("POST", "/v1/credits/reservations/{id}/commit");
  std::size_t release = table.add("POST", "/v1/credits/reservations/{id}/release");
  std::size_t create_reservation = table.add("POST", "/v1/credits/reservations");
  std::size_t get_workflow = table.add("GET", "/v1/workflows/{id}");
  std::size_t patch_workflow = table.add("PATCH", "/v1/workflows/{id}");
  std::size_t delete_workflow = table.add("DELETE", "/v1/workflows/{id}");
  std::size_t list_runs = table.add("GET", "/v1/workflows/{workflow_id}/runs");
  std::size_t stream = table.add("GET", "/v1/events/stream");
  std::size_t replay =
      table.add("POST", "/v1/admin/webhook-endpoints/{id}/deliveries/{delivery_id}/replay");
  std::size_t health = table.add("GET", "/health/live");
  std::size_t root = table.add("GET", "/");
};

}  // namespace

TEST_CASE("route indices follow registration order", "[http][router]") {
  fixture f;
  CHECK(f.get_reservation == 0);
  CHECK(f.commit == 1);
  CHECK(f.root == 11);
}

TEST_CASE("a literal path matches its route with no parameters", "[http][router]") {
  fixture f;
  const auto match = f.table.match("GET", "/health/live");
  REQUIRE(match.kind == match_kind::found);
  CHECK(match.route_index == f.health);
  CHECK(match.pattern == "/health/live");
  CHECK(match.params.empty());
  CHECK(f.table.match("GET", "/").route_index == f.root);
}

TEST_CASE("a parameter segment captures its value under its name", "[http][router]") {
  fixture f;
  const auto match = f.table.match("POST", "/v1/credits/reservations/res_123/commit");
  REQUIRE(match.kind == match_kind::found);
  CHECK(match.route_index == f.commit);
  CHECK(match.pattern == "/v1/credits/reservations/{id}/commit");
  REQUIRE(match.params.size() == 1);
  CHECK(match.params[0].name == "id");
  CHECK(match.param("id") == std::string_view("res_123"));
  CHECK_FALSE(match.param("other"));
}

TEST_CASE("several parameters are captured in order", "[http][router]") {
  fixture f;
  const auto match = f.table.match("POST", "/v1/admin/webhook-endpoints/e1/deliveries/d2/replay");
  REQUIRE(match.kind == match_kind::found);
  CHECK(match.route_index == f.replay);
  REQUIRE(match.params.size() == 2);
  CHECK(match.params[0].name == "id");
  CHECK(match.params[0].value == "e1");
  CHECK(match.params[1].name == "delivery_id");
  CHECK(match.params[1].value == "d2");
}

TEST_CASE("parameter names may differ between routes sharing a position", "[http][router]") {
  fixture f;
  const auto runs = f.table.match("GET", "/v1/workflows/wf1/runs");
  REQUIRE(runs.kind == match_kind::found);
  CHECK(runs.route_index == f.list_runs);
  CHECK(runs.param("workflow_id") == std::string_view("wf1"));
  const auto workflow = f.table.match("GET", "/v1/workflows/wf1");
  REQUIRE(workflow.kind == match_kind::found);
  CHECK(workflow.param("id") == std::string_view("wf1"));
}

TEST_CASE("parameter values are percent-decoded", "[http][router]") {
  fixture f;
  const auto match = f.table.match("GET", "/v1/workflows/a%20b%2Bc%e0%b8%9a");
  REQUIRE(match.kind == match_kind::found);
  CHECK(match.param("id") == std::string_view("a b+c\xe0\xb8\x9a"));
  // '+' in a path is a plus, not a space.
  CHECK(f.table.match("GET", "/v1/workflows/a+b").param("id") == std::string_view("a+b"));
}

TEST_CASE("a literal segment wins over a parameter at the same position", "[http][router]") {
  tally::http::router table;
  const auto by_id = table.add("GET", "/v1/runs/{id}");
  const auto stats = table.add("GET", "/v1/runs/stats");
  CHECK(table.match("GET", "/v1/runs/stats").route_index == stats);
  CHECK(table.match("GET", "/v1/runs/r1").route_index == by_id);
}

TEST_CASE("a parameter branch is tried when the literal branch cannot finish", "[http][router]") {
  tally::http::router table;
  const auto literal = table.add("GET", "/a/b/c");
  const auto param = table.add("GET", "/a/{x}/d");
  CHECK(table.match("GET", "/a/b/c").route_index == literal);
  const auto match = table.match("GET", "/a/b/d");
  REQUIRE(match.kind == match_kind::found);
  CHECK(match.route_index == param);
  CHECK(match.param("x") == std::string_view("b"));
}

TEST_CASE("a literal path with another method falls back to a parameter route with this method",
          "[http][router]") {
  tally::http::router table;
  table.add("POST", "/v1/runs/stats");
  const auto by_id = table.add("GET", "/v1/runs/{id}");
  CHECK(table.match("GET", "/v1/runs/stats").route_index == by_id);
}

TEST_CASE("routes() lists method and pattern in registration order", "[http][router]") {
  fixture f;
  const auto listing = f.table.routes();
  REQUIRE(listing.size() == 12);
  CHECK(listing[0] ==
        std::make_pair(std::string("GET"), std::string("/v1/credits/reservations/{id}")));
  CHECK(listing[11] == std::make_pair(std::string("GET"), std::string("/")));
}

TEST_CASE("a known path with an unregistered method is 405 with a sorted Allow list",
          "[http][router]") {
  fixture f;
  const auto match = f.table.match("PUT", "/v1/workflows/wf1");
  CHECK(match.kind == match_kind::method_not_allowed);
  CHECK(match.allow == "DELETE, GET, PATCH");
  CHECK(match.pattern.empty());
  CHECK(match.params.empty());
}

TEST_CASE("HEAD is not implied by GET", "[http][router]") {
  fixture f;
  const auto match = f.table.match("HEAD", "/health/live");
  CHECK(match.kind == match_kind::method_not_allowed);
  CHECK(match.allow == "GET");
}

TEST_CASE("methods are case-sensitive", "[http][router]") {
  fixture f;
  CHECK(f.table.match("get", "/health/live").kind == match_kind::method_not_allowed);
}

TEST_CASE("the Allow list merges every route the path matches", "[http][router]") {
  tally::http::router table;
  table.add("POST", "/v1/runs/stats");
  table.add("GET", "/v1/runs/{id}");
  table.add("DELETE", "/v1/runs/{id}");
  const auto match = table.match("PUT", "/v1/runs/stats");
  CHECK(match.kind == match_kind::method_not_allowed);
  CHECK(match.allow == "DELETE, GET, POST");
}

TEST_CASE("unknown paths are not found", "[http][router]") {
  fixture f;
  for (const char* path :
       {"/v2/workflows/x", "/v1/workflows", "/v1/workflows/x/runs/y",
        "/v1/credits/reservations/r1/cancel", "/health", "/health/live/x", "/HEALTH/LIVE"}) {
    CAPTURE(path);
    const auto match = f.table.match("GET", path);
    CHECK(match.kind == match_kind::not_found);
    CHECK(match.allow.empty());
  }
}

TEST_CASE("paths that are not absolute are not found", "[http][router]") {
  fixture f;
  for (const char* path : {"", "health/live", "*", "http://x/health/live"}) {
    CAPTURE(path);
    CHECK(f.table.match("GET", path).kind == match_kind::not_found);
  }
}

TEST_CASE("a trailing slash or an empty segment is not found", "[http][router]") {
  fixture f;
  CHECK(f.table.match("GET", "/health/live/").kind == match_kind::not_found);
  CHECK(f.table.match("GET", "/v1/workflows/").kind == match_kind::not_found);
  CHECK(f.table.match("GET", "/v1//workflows/x").kind == match_kind::not_found);
  CHECK(f.table.match("GET", "//").kind == match_kind::not_found);
}

TEST_CASE("a parameter that decodes to a slash or NUL is not found", "[http][router]") {
  fixture f;
  for (const char* path : {"/v1/workflows/a%2Fb", "/v1/workflows/a%2fb", "/v1/workflows/%00",
                           "/v1/workflows/..%2F..%2Fadmin", "/v1/workflows/%2F/runs"}) {
    CAPTURE(path);
    CHECK(f.table.match("GET", path).kind == match_kind::not_found);
  }
  CHECK(f.table.match("GET", std::string_view("/v1/workflows/a\0b", 17)).kind ==
        match_kind::not_found);
}

TEST_CASE("a parameter with broken percent-encoding is not found", "[http][router]") {
  fixture f;
  for (const char* path : {"/v1/workflows/%", "/v1/workflows/%2", "/v1/workflows/%zz",
                           "/v1/workflows/a%g1", "/v1/workflows/%%41"}) {
    CAPTURE(path);
    CHECK(f.table.match("GET", path).kind == match_kind::not_found);
  }
}

TEST_CASE("literal segments are compared raw, not decoded", "[http][router]") {
  fixture f;
  CHECK(f.table.match("GET", "/health/l%69ve").kind == match_kind::not_found);
}

TEST_CASE("paths over the length or segment limits are not found", "[http][router]") {
  tally::http::router table;
  table.add("GET", "/files/{name}");
  const std::string long_name(tally::http::path_bytes_max, 'a');
  CHECK(table.match("GET", "/files/" + long_name).kind == match_kind::not_found);
  CHECK(table.match("GET", "/files/" + long_name.substr(0, 100)).kind == match_kind::found);

  std::string deep;
  for (std::size_t i = 0; i < tally::http::path_segments_max; ++i) {
    deep += "/{p" + std::to_string(i) + "}";
  }
  tally::http::router deep_table;
  deep_table.add("GET", deep);
  std::string path_at_limit;
  for (std::size_t i = 0; i < tally::http::path_segments_max; ++i) {
    path_at_limit += "/x";
  }
  CHECK(deep_table.match("GET", path_at_limit).kind == match_kind::found);
  CHECK(deep_table.match("GET", path_at_limit + "/x").kind == match_kind::not_found);
  CHECK(deep_table.match("GET", std::string(100'000, '/')).kind == match_kind::not_found);
}

TEST_CASE("a request target splits at the first question mark", "[http][router]") {
  auto parts = tally::http::split_target("/v1/credits/ledger?limit=5&cursor=abc?d");
  CHECK(parts.path == "/v1/credits/ledger");
  CHECK(parts.query == "limit=5&cursor=abc?d");
  parts = tally::http::split_target("/health/live");
  CHECK(parts.path == "/health/live");
  CHECK(parts.query.empty());
  parts = tally::http::split_target("/x?");
  CHECK(parts.path == "/x");
  CHECK(parts.query.empty());
}

TEST_CASE("query parameters are found and form-decoded", "[http][router]") {
  const std::string_view query = "limit=5&kind=spend+refund&cursor=a%2Bb%3D&wait";
  CHECK(tally::http::query_param(query, "limit") == std::string("5"));
  CHECK(tally::http::query_param(query, "kind") == std::string("spend refund"));
  CHECK(tally::http::query_param(query, "cursor") == std::string("a+b="));
  CHECK(tally::http::query_param(query, "wait") == std::string(""));
  CHECK(tally::http::query_param("a=&b=2", "a") == std::string(""));
  CHECK(tally::http::query_param("st%61tus=ok", "status") == std::string("ok"));
}

TEST_CASE("the first occurrence of a repeated query parameter wins", "[http][router]") {
  CHECK(tally::http::query_param("limit=5&limit=50", "limit") == std::string("5"));
}

TEST_CASE("absent or badly encoded query parameters are absent", "[http][router]") {
  CHECK_FALSE(tally::http::query_param("", "limit"));
  CHECK_FALSE(tally::http::query_param("limits=5&xlimit=3", "limit"));
  CHECK_FALSE(tally::http::query_param("&&&", "limit"));
  CHECK_FALSE(tally::http::query_param("limit=%zz", "limit"));
  CHECK_FALSE(tally::http::query_param("li%mit=5", "limit"));
  // A badly encoded first occurrence does not hide a good second one.
  CHECK(tally::http::query_param("limit=%&limit=7", "limit") == std::string("7"));
}

TEST_CASE("percent_decode refuses truncated or non-hex escapes", "[http][router]") {
  using tally::http::plus_sign;
  CHECK(tally::http::percent_decode("a%41%62+", plus_sign::literal) == std::string("aAb+"));
  CHECK(tally::http::percent_decode("a+b", plus_sign::space) == std::string("a b"));
  CHECK_FALSE(tally::http::percent_decode("%", plus_sign::literal));
  CHECK_FALSE(tally::http::percent_decode("%4", plus_sign::literal));
  CHECK_FALSE(tally::http::percent_decode("%4x", plus_sign::literal));
}
