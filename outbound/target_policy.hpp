#pragma once
// Which destinations outbound calls may reach (SSRF defence for workflow
// `http` executors and subscriber webhooks). Pure: no DNS, no sockets. The
// http_client applies check_address() to every *resolved* address right
// before connecting, so a name that resolves (or re-resolves, DNS rebinding)
// to an internal address is refused whatever the URL looked like.
//
// Decision for one address, first match wins:
//   1. the URL's host name is in deny_hosts, or the address is in a denied
//      CIDR                                                   -> refused
//   2. the address is in an allowed CIDR                      -> allowed
//   3. the address is unspecified (0.0.0.0/8, ::), multicast, broadcast or
//      reserved (documentation, benchmarking, 240/4, ...)     -> refused
//   4. a cloud metadata address (169.254.169.254, fd00:ec2::254,
//      100.100.100.200); only a CIDR in allow_hosts unlocks it -> refused
//   5. the URL's host name is in allow_hosts                  -> allowed
//   6. public unicast                                         -> allowed
//   7. loopback, private (RFC 1918, fc00::/7), shared (100.64/10) or
//      link-local (169.254/16, fe80::/10)                     -> allowed only
//      with allow_private (dev mode)
// IPv4 inside IPv6 (::ffff:a.b.c.d mapped, ::a.b.c.d compatible,
// 64:ff9b::/96 NAT64, 2002::/16 6to4) is unwrapped and judged as IPv4.
//
// Immutable once built: share one instance (std::shared_ptr<const>) across
// threads and clients.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

namespace tally::outbound {

// An IPv4 or IPv6 address as bytes (no Boost in this header).
struct ip_address {
  std::array<uint8_t, 16> bytes{};  // IPv4: the first 4 bytes, the rest zero
  bool is_v6 = false;
};

// Parses a strict textual address: dotted quad ("10.0.0.1", no leading zeros,
// no shorthand such as "127.1") or RFC 4291 IPv6 without brackets or zone id.
// Returns nullopt for anything else.
std::optional<ip_address> parse_ip_address(std::string_view text);

// "10.0.0.1", "::1".
std::string to_string(const ip_address& address);

enum class address_class {
  global,           // public unicast
  loopback,         // 127.0.0.0/8, ::1
  private_network,  // 10/8, 172.16/12, 192.168/16, fc00::/7
  shared,           // 100.64.0.0/10 (carrier-grade NAT)
  link_local,       // 169.254.0.0/16, fe80::/10
  unspecified,      // 0.0.0.0/8, ::
  multicast,        // 224.0.0.0/4, ff00::/8
  broadcast,        // 255.255.255.255
  reserved,         // 240/4, 192.0.0/24, documentation, benchmarking, fec0::/10, ...
};

const char* to_string(address_class value);

// The class of `address`, after unwrapping IPv4 carried inside IPv6.
address_class classify(const ip_address& address);

// True for 169.254.169.254, fd00:ec2::254 and 100.100.100.200 (also when
// wrapped in IPv6): cloud instance metadata, which hands out credentials.
bool is_metadata_address(const ip_address& address);

struct target_policy_settings {
  // Dev mode: loopback, private, shared and link-local addresses are allowed.
  bool allow_private = false;
  // Exact host names (case-insensitive, a trailing dot ignored) whose
  // addresses are allowed even when private, and addresses or CIDRs
  // ("10.1.0.0/16", "fd12::/16", "192.168.1.7") allowed whatever the host.
  std::vector<std::string> allow_hosts;
  // Host names and addresses/CIDRs always refused; deny wins over allow.
  std::vector<std::string> deny_hosts;
};

// Returns "" when every entry of allow_hosts and deny_hosts is a host name,
// an address or a CIDR; otherwise the first entry that is none (for the
// config loader's message).
std::string first_invalid_entry(const target_policy_settings& settings);

struct target_verdict {
  bool is_allowed = false;
  const char* reason = "";  // static text for logs: "private address", "deny list", ...
};

class target_policy {
 public:
  // The production default: public addresses only, no lists.
  target_policy();

  // Returns the policy, or errc::invalid_argument when an allow/deny entry is
  // invalid (see first_invalid_entry()).
  static caf::expected<target_policy> make(const target_policy_settings& settings);

  // May `address`, resolved from `host` (a URL's host as parse_url() returns
  // it: lower case, no brackets, no trailing dot; "" if unknown), be reached?
  target_verdict check_address(std::string_view host, const ip_address& address) const;

  // A check before any DNS lookup, for validating a configured URL: the URL
  // parses (parse_url()), its scheme is http or https, its host is not in
  // deny_hosts, an address literal passes check_address(), and "localhost"
  // (or "*.localhost") is judged as loopback. Passing does not mean the
  // resolved addresses will pass; http_client checks those too. The client's
  // own rule (plain http only to loopback) is not applied here.
  target_verdict check_url(std::string_view url) const;

 private:
  struct cidr {
    ip_address network;
    uint32_t prefix_bits = 0;  // of 32 for IPv4, of 128 for IPv6
  };
  struct host_list {
    std::vector<std::string> names;
    std::vector<cidr> networks;
  };
  bool allow_private_ = false;
  host_list allow_;
  host_list deny_;

  static bool contains(const host_list& list, std::string_view host, const ip_address& address);
};

}  // namespace tally::outbound
