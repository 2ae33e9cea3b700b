#pragma once
// Strict parsing of the absolute http(s) URLs that outbound calls take. Pure.
// Strict on purpose: parsers that disagree about where the host ends (a
// backslash, an '@', "127.1") are how SSRF filters get bypassed, so anything
// ambiguous is refused rather than interpreted.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tally::outbound {

inline constexpr std::size_t url_bytes_max = 2048;
inline constexpr std::size_t host_bytes_max = 253;

struct url {
  std::string scheme;  // "http" or "https"
  // Lower case; an IPv6 literal without its brackets; a trailing dot removed.
  std::string host;
  uint16_t port = 0;         // explicit, or 80/443 from the scheme
  std::string target = "/";  // path and query, never empty, no fragment
  bool is_address = false;   // the host is an IPv4 or IPv6 literal
};

// Returns the parts of `text`, or nullopt with `*reason` (when not null) set to
// a static sentence. Refused: other schemes, userinfo ('@' in the authority),
// fragments, control characters, spaces, backslashes, raw non-ASCII, bad
// percent escapes, IPv6 zone ids, port 0 or past 65535, empty host, numeric
// hosts that are not a strict dotted quad ("127.1", "0x7f.1", "2130706433"),
// and more than url_bytes_max bytes.
std::optional<url> parse_url(std::string_view text, const char** reason = nullptr);

// "host:port" as it goes into the Host header: brackets around IPv6, the port
// left out when it is the scheme's default.
std::string host_header(const url& parts);

// "https://host:port" for logs: no path or query (they may carry tokens).
std::string origin(const url& parts);

}  // namespace tally::outbound
