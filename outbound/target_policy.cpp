#include "outbound/target_policy.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <utility>

#include <arpa/inet.h>
#include <caf/error.hpp>

#include "domain/assert.hpp"
#include "domain/error.hpp"
#include "outbound/url.hpp"

namespace tally::outbound {

namespace {

ip_address v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  ip_address out;
  out.bytes[0] = a;
  out.bytes[1] = b;
  out.bytes[2] = c;
  out.bytes[3] = d;
  return out;
}

// The IPv4 address carried inside an IPv6 one by the forms a resolver or a
// NAT can route to IPv4: mapped (::ffff:0:0/96), NAT64 (64:ff9b::/96) and 6to4
// (2002::/16). Compatible addresses (::/96) are not unwrapped: they are
// deprecated and classified as reserved.
std::optional<ip_address> embedded_v4(const ip_address& address) {
  if (!address.is_v6) {
    return std::nullopt;
  }
  const auto& b = address.bytes;
  const bool is_mapped = std::all_of(b.begin(), b.begin() + 10, [](uint8_t x) { return x == 0; }) &&
                         b[10] == 0xff && b[11] == 0xff;
  const bool is_nat64 =
      b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b &&
      std::all_of(b.begin() + 4, b.begin() + 12, [](uint8_t x) { return x == 0; });
  if (is_mapped || is_nat64) {
    return v4(b[12], b[13], b[14], b[15]);
  }
  if (b[0] == 0x20 && b[1] == 0x02) {
    return v4(b[2], b[3], b[4], b[5]);
  }
  return std::nullopt;
}

address_class classify_v4(const std::array<uint8_t, 16>& b) {
  const uint8_t a0 = b[0];
  const uint8_t a1 = b[1];
  const uint8_t a2 = b[2];
  if (a0 == 0) {
    return address_class::unspecified;  // "this network"; 0.0.0.0 connects to the local host
  }
  if (a0 == 127) {
    return address_class::loopback;
  }
  if (a0 == 10 || (a0 == 172 && (a1 & 0xf0) == 16) || (a0 == 192 && a1 == 168)) {
    return address_class::private_network;
  }
  if (a0 == 100 && (a1 & 0xc0) == 64) {
    return address_class::shared;
  }
  if (a0 == 169 && a1 == 254) {
    return address_class::link_local;
  }
  if (a0 >= 224 && a0 <= 239) {
    return address_class::multicast;
  }
  if (a0 == 255 && a1 == 255 && a2 == 255 && b[3] == 255) {
    return address_class::broadcast;
  }
  const bool is_special = a0 >= 240 ||                             // reserved
                          (a0 == 192 && a1 == 0 && a2 == 0) ||     // IETF protocol assignments
                          (a0 == 192 && a1 == 0 && a2 == 2) ||     // TEST-NET-1
                          (a0 == 198 && a1 == 51 && a2 == 100) ||  // TEST-NET-2
                          (a0 == 203 && a1 == 0 && a2 == 113) ||   // TEST-NET-3
                          (a0 == 198 && (a1 & 0xfe) == 18) ||      // benchmarking
                          (a0 == 192 && a1 == 88 && a2 == 99);     // 6to4 relay anycast
  return is_special ? address_class::reserved : address_class::global;
}

address_class classify_v6(const std::array<uint8_t, 16>& b) {
  const bool is_first_15_zero =
      std::all_of(b.begin(), b.begin() + 15, [](uint8_t x) { return x == 0; });
  if (is_first_15_zero && b[15] == 0) {
    return address_class::unspecified;
  }
  if (is_first_15_zero && b[15] == 1) {
    return address_class::loopback;
  }
  if (b[0] == 0xff) {
    return address_class::multicast;
  }
  if ((b[0] & 0xfe) == 0xfc) {
    return address_class::private_network;  // unique local fc00::/7
  }
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) {
    return address_class::link_local;
  }
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0x00 &&
      b[5] == 0x01) {
    return address_class::private_network;  // local-use NAT64 64:ff9b:1::/48
  }
  const bool is_ietf = b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && (b[3] & 0xfe) == 0x00;
  const bool is_documentation = b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8;
  // Only 2000::/3 is allocated as global unicast; the rest (compatible
  // ::/96, 100::/64 discard, site-local fec0::/10, ...) is reserved.
  if (is_ietf || is_documentation || (b[0] & 0xe0) != 0x20) {
    return address_class::reserved;
  }
  return address_class::global;
}

bool is_private_class(address_class value) {
  return value == address_class::loopback || value == address_class::private_network ||
         value == address_class::shared || value == address_class::link_local;
}

std::string normalize_host(std::string_view host) {
  std::string out(host);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  if (!out.empty() && out.back() == '.') {
    out.pop_back();
  }
  return out;
}

bool parse_prefix(std::string_view text, uint32_t bits_max, uint32_t& out) {
  if (text.empty() || text.size() > 3) {
    return false;
  }
  uint32_t value = 0;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) {
      return false;
    }
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  out = value;
  return value <= bits_max;
}

bool prefix_matches(const ip_address& network, uint32_t prefix_bits, const ip_address& address) {
  const uint32_t full_bytes = prefix_bits / 8;
  const uint32_t rest_bits = prefix_bits % 8;
  if (!std::equal(network.bytes.begin(), network.bytes.begin() + full_bytes,
                  address.bytes.begin())) {
    return false;
  }
  if (rest_bits == 0) {
    return true;
  }
  const auto mask = static_cast<uint8_t>(0xff << (8 - rest_bits));
  return (network.bytes[full_bytes] & mask) == (address.bytes[full_bytes] & mask);
}

enum class entry_kind { invalid, name, network };

struct parsed_entry {
  entry_kind kind = entry_kind::invalid;
  std::string name;
  ip_address network;
  uint32_t prefix_bits = 0;
};

parsed_entry parse_entry(std::string_view entry) {
  parsed_entry out;
  const std::size_t slash = entry.find('/');
  const auto address = parse_ip_address(entry.substr(0, slash));
  if (address) {
    const uint32_t bits_max = address->is_v6 ? 128 : 32;
    out.prefix_bits = bits_max;
    if (slash != std::string_view::npos &&
        !parse_prefix(entry.substr(slash + 1), bits_max, out.prefix_bits)) {
      return out;
    }
    out.kind = entry_kind::network;
    out.network = *address;
    return out;
  }
  if (slash != std::string_view::npos || entry.find(':') != std::string_view::npos) {
    return out;
  }
  // A host name is whatever parse_url() accepts as a non-address host.
  const auto parsed = parse_url("http://" + std::string(entry) + "/");
  if (!parsed || parsed->is_address) {
    return out;
  }
  out.kind = entry_kind::name;
  out.name = parsed->host;
  return out;
}

const char* refusal_reason(address_class value) {
  switch (value) {
    case address_class::loopback:
      return "loopback address";
    case address_class::private_network:
      return "private address";
    case address_class::shared:
      return "shared (carrier-grade NAT) address";
    case address_class::link_local:
      return "link-local address";
    case address_class::unspecified:
      return "unspecified address";
    case address_class::multicast:
      return "multicast address";
    case address_class::broadcast:
      return "broadcast address";
    case address_class::reserved:
      return "reserved address";
    case address_class::global:
      break;
  }
  return "address not allowed";
}

}  // namespace

std::optional<ip_address> parse_ip_address(std::string_view text) {
  if (text.empty() || text.size() > 45) {
    return std::nullopt;
  }
  ip_address out;
  if (text.find(':') != std::string_view::npos) {
    const std::string copy(text);  // inet_pton wants a terminated string
    if (inet_pton(AF_INET6, copy.c_str(), out.bytes.data()) != 1) {
      return std::nullopt;
    }
    out.is_v6 = true;
    return out;
  }
  // Strict dotted quad: four decimal parts 0..255 without leading zeros.
  std::size_t part_index = 0;
  std::size_t digit_count = 0;
  uint32_t value = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '.') {
      if (digit_count == 0 || part_index >= 4) {
        return std::nullopt;
      }
      out.bytes[part_index++] = static_cast<uint8_t>(value);
      digit_count = 0;
      value = 0;
      continue;
    }
    const char c = text[i];
    if (!std::isdigit(static_cast<unsigned char>(c)) || (digit_count == 1 && value == 0)) {
      return std::nullopt;
    }
    value = value * 10 + static_cast<uint32_t>(c - '0');
    ++digit_count;
    if (value > 255) {
      return std::nullopt;
    }
  }
  if (part_index != 4) {
    return std::nullopt;
  }
  return out;
}

std::string to_string(const ip_address& address) {
  char text[INET6_ADDRSTRLEN] = {};
  const int family = address.is_v6 ? AF_INET6 : AF_INET;
  if (inet_ntop(family, address.bytes.data(), text, sizeof(text)) == nullptr) {
    return "?";
  }
  return text;
}

const char* to_string(address_class value) {
  switch (value) {
    case address_class::global:
      return "global";
    case address_class::loopback:
      return "loopback";
    case address_class::private_network:
      return "private_network";
    case address_class::shared:
      return "shared";
    case address_class::link_local:
      return "link_local";
    case address_class::unspecified:
      return "unspecified";
    case address_class::multicast:
      return "multicast";
    case address_class::broadcast:
      return "broadcast";
    case address_class::reserved:
      return "reserved";
  }
  return "?";
}

address_class classify(const ip_address& address) {
  if (const auto inner = embedded_v4(address)) {
    return classify_v4(inner->bytes);
  }
  return address.is_v6 ? classify_v6(address.bytes) : classify_v4(address.bytes);
}

bool is_metadata_address(const ip_address& address) {
  const ip_address plain = embedded_v4(address).value_or(address);
  const auto& b = plain.bytes;
  if (!plain.is_v6) {
    return (b[0] == 169 && b[1] == 254 && b[2] == 169 && b[3] == 254) ||
           (b[0] == 100 && b[1] == 100 && b[2] == 100 && b[3] == 200);
  }
  const auto aws_v6 = parse_ip_address("fd00:ec2::254");
  return aws_v6 && aws_v6->bytes == b;
}

std::string first_invalid_entry(const target_policy_settings& settings) {
  for (const auto* list : {&settings.allow_hosts, &settings.deny_hosts}) {
    for (const auto& entry : *list) {
      if (parse_entry(entry).kind == entry_kind::invalid) {
        return entry.empty() ? std::string("(empty entry)") : entry;
      }
    }
  }
  return {};
}

target_policy::target_policy() = default;

caf::expected<target_policy> target_policy::make(const target_policy_settings& settings) {
  target_policy out;
  out.allow_private_ = settings.allow_private;
  const std::pair<const std::vector<std::string>*, host_list*> lists[] = {
      {&settings.allow_hosts, &out.allow_},
      {&settings.deny_hosts, &out.deny_},
  };
  for (const auto& [entries, list] : lists) {
    for (const auto& entry : *entries) {
      const parsed_entry parsed = parse_entry(entry);
      switch (parsed.kind) {
        case entry_kind::invalid:
          return caf::make_error(errc::invalid_argument);
        case entry_kind::name:
          list->names.push_back(parsed.name);
          break;
        case entry_kind::network:
          list->networks.push_back(cidr{parsed.network, parsed.prefix_bits});
          break;
      }
    }
  }
  return out;
}

bool target_policy::contains(const host_list& list, std::string_view host,
                             const ip_address& address) {
  if (!host.empty() &&
      std::find(list.names.begin(), list.names.end(), normalize_host(host)) != list.names.end()) {
    return true;
  }
  const auto inner = embedded_v4(address);
  for (const auto& network : list.networks) {
    if (network.network.is_v6 == address.is_v6 &&
        prefix_matches(network.network, network.prefix_bits, address)) {
      return true;
    }
    if (!network.network.is_v6 && inner &&
        prefix_matches(network.network, network.prefix_bits, *inner)) {
      return true;
    }
  }
  return false;
}

target_verdict target_policy::check_address(std::string_view host,
                                            const ip_address& address) const {
  if (contains(deny_, host, address)) {
    return {false, "on the deny list"};
  }
  // Host names on the allow list do not pass through contains() here: they
  // must not unlock the classes below, only an explicit address or CIDR may.
  const host_list allow_networks_only{{}, allow_.networks};
  if (contains(allow_networks_only, "", address)) {
    return {true, "address on the allow list"};
  }
  const address_class kind = classify(address);
  if (kind == address_class::unspecified || kind == address_class::multicast ||
      kind == address_class::broadcast || kind == address_class::reserved) {
    return {false, refusal_reason(kind)};
  }
  if (is_metadata_address(address)) {
    return {false, "cloud metadata address"};
  }
  const host_list allow_names_only{allow_.names, {}};
  if (contains(allow_names_only, host, address)) {
    return {true, "host on the allow list"};
  }
  if (kind == address_class::global) {
    return {true, "public address"};
  }
  TALLY_ASSERT(is_private_class(kind));
  if (allow_private_) {
    return {true, "private address allowed in dev mode"};
  }
  return {false, refusal_reason(kind)};
}

target_verdict target_policy::check_url(std::string_view text) const {
  const char* reason = "";
  const auto parsed = parse_url(text, &reason);
  if (!parsed) {
    return {false, reason};
  }
  if (parsed->is_address) {
    const auto address = parse_ip_address(parsed->host);
    TALLY_ASSERT(address.has_value());
    return check_address(parsed->host, *address);
  }
  if (std::find(deny_.names.begin(), deny_.names.end(), parsed->host) != deny_.names.end()) {
    return {false, "on the deny list"};
  }
  const std::string_view host = parsed->host;
  const std::string_view suffix = ".localhost";
  const bool is_localhost =
      host == "localhost" ||
      (host.size() > suffix.size() && host.substr(host.size() - suffix.size()) == suffix);
  if (is_localhost) {
    return check_address(host, v4(127, 0, 0, 1));
  }
  return {true, "host name: its addresses are checked when connecting"};
}

}  // namespace tally::outbound
