#pragma once
// The route table: maps (method, path) to the index of a route registered at start-up.
//
// Patterns are absolute paths whose segments are literals or `{name}` parameters, e.g.
// "/v1/credits/reservations/{id}/commit". At each position a literal beats a parameter; when a
// literal branch cannot complete the match, the parameter branch is tried. A path that matches
// some pattern, but none with the request's method, is 405 with an Allow list; HEAD is not
// implied by GET (the caller decides). Matching is by raw segment; parameter values are
// percent-decoded, and a value that is empty, badly encoded or decodes to '/' or NUL matches
// nothing (404), so an id can never smuggle a path separator.
//
// Lifetime and threads: build the router once on one thread (add), then share it; match and
// routes are const and may run concurrently on any number of threads. Nothing here throws.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tally::http {

// Longer paths and paths with more segments never match (404), whatever the routes.
inline constexpr std::size_t path_bytes_max = 2048;
inline constexpr std::size_t path_segments_max = 32;

enum class match_kind { found, not_found, method_not_allowed };

struct path_param {
  std::string name;
  std::string value;  // percent-decoded; never empty, never holds '/' or NUL
};

struct route_match {
  match_kind kind = match_kind::not_found;
  // found: the value add() returned for the route. Otherwise 0.
  std::size_t route_index = 0;
  // found: the registered pattern, a low-cardinality label for metrics and logs; it points into
  // the router and stays valid as long as the router (no add() follows a match). Else empty.
  std::string_view pattern;
  // found: one entry per {name} in the pattern, in order.
  std::vector<path_param> params;
  // method_not_allowed: the Allow header value, e.g. "GET, PATCH" (sorted, unique).
  std::string allow;

  // The value of parameter `name`, or std::nullopt.
  std::optional<std::string_view> param(std::string_view name) const;
};

class router {
 public:
  router();
  ~router();
  router(const router&) = delete;
  router& operator=(const router&) = delete;

  // Registers `pattern` for `method` and returns its route index (0, 1, 2, ... in call order).
  // REQUIRES: start-up, before any match. `method` is a non-empty upper-case token; `pattern`
  // starts with '/', has no empty segment (except "/" itself), at most path_segments_max
  // segments, parameters spanning whole segments with unique non-empty names, no '?', and no
  // earlier route with the same method and the same shape (parameter names aside).
  // A broken REQUIRES is a programmer error and aborts (TALLY_ASSERT).
  std::size_t add(std::string_view method, std::string_view pattern);

  // Matches an origin-form path without its query (see split_target).
  route_match match(std::string_view method, std::string_view path) const;

  // (method, pattern) of every route in registration order, for the OpenAPI comparison test.
  std::vector<std::pair<std::string, std::string>> routes() const;

 private:
  struct node;
  struct route;
  struct request_path;
  // The first route (literal before parameter) matching `path` with `method`, or nullptr; the
  // methods of path-matching routes seen on the way are appended to `allowed`.
  const std::pair<std::string, std::size_t>* search(std::string_view method,
                                                    const request_path& path,
                                                    std::vector<std::string_view>& allowed) const;
  std::unique_ptr<node> root_;
  std::vector<route> routes_;
};

struct target_parts {
  std::string_view path;
  std::string_view query;  // without the '?'; empty when there is none
};

// Splits a request target at the first '?'.
target_parts split_target(std::string_view target);

// Returns the decoded value of the first `name` parameter in `query` (form encoding: '+' is a
// space, %XX is a byte), "" for a bare "name" or "name=", or std::nullopt when absent. Pairs
// whose name or value is not valid percent-encoding are skipped as if absent.
std::optional<std::string> query_param(std::string_view query, std::string_view name);

// Returns `text` with %XX sequences decoded (and '+' as a space when `plus` says so), or
// std::nullopt when a '%' is not followed by two hex digits.
enum class plus_sign { literal, space };
std::optional<std::string> percent_decode(std::string_view text, plus_sign plus);

}  // namespace tally::http
