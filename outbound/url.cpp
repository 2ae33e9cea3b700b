#include "outbound/url.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

#include "outbound/target_policy.hpp"

namespace tally::outbound {

namespace {

bool is_hex(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}

char lower(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

std::string to_lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

// Printable ASCII without space; '\\' is refused because some parsers read it
// as '/', which moves the end of the authority.
bool is_url_char(char c) {
  return c > 0x20 && c < 0x7f && c != '\\';
}

bool has_valid_percent_escapes(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      continue;
    }
    if (i + 2 >= text.size() || !is_hex(text[i + 1]) || !is_hex(text[i + 2])) {
      return false;
    }
    i += 2;
  }
  return true;
}

// A DNS name: labels of letters, digits and inner hyphens, 1..63 bytes each.
bool is_host_name(std::string_view host) {
  if (host.empty() || host.size() > host_bytes_max) {
    return false;
  }
  std::size_t label_start = 0;
  for (std::size_t i = 0; i <= host.size(); ++i) {
    if (i < host.size() && host[i] != '.') {
      const char c = host[i];
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-')) {
        return false;
      }
      continue;
    }
    const std::size_t length = i - label_start;
    if (length == 0 || length > 63 || host[label_start] == '-' || host[i - 1] == '-') {
      return false;
    }
    label_start = i + 1;
  }
  return true;
}

// WHATWG URL treats a host whose last label is numeric (or 0x...) as an IPv4
// address in one of several shorthand forms; getaddrinfo() agrees. Such a
// host must be a strict dotted quad here, so that what the policy checks is
// what the resolver connects to.
bool looks_numeric(std::string_view host) {
  const std::size_t dot = host.rfind('.');
  const std::string_view last = dot == std::string_view::npos ? host : host.substr(dot + 1);
  if (last.empty()) {
    return false;
  }
  if (last.size() >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X')) {
    return true;
  }
  return std::all_of(last.begin(), last.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
}

std::optional<uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) {
    return std::nullopt;
  }
  uint32_t value = 0;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) {
      return std::nullopt;
    }
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value == 0 || value > 65535) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(value);
}

std::optional<url> fail(const char** reason, const char* why) {
  if (reason != nullptr) {
    *reason = why;
  }
  return std::nullopt;
}

// Splits "host[:port]" or "[v6][:port]" into `parts`.
std::optional<url> parse_authority(std::string_view authority, url parts, const char** reason) {
  std::string_view host;
  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return fail(reason, "unterminated IPv6 literal");
    }
    host = authority.substr(1, close - 1);
    const std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return fail(reason, "unexpected characters after the IPv6 literal");
      }
      has_port = true;
      port_text = rest.substr(1);
    }
    const auto address = parse_ip_address(host);
    if (!address || !address->is_v6) {
      return fail(reason, "invalid IPv6 literal (zone ids are not accepted)");
    }
    parts.host = to_string(*address);
    parts.is_address = true;
  } else {
    const std::size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
    if (!host.empty() && host.back() == '.') {
      host.remove_suffix(1);  // "example.com." is "example.com": one spelling per host
    }
    if (host.empty()) {
      return fail(reason, "empty host");
    }
    if (looks_numeric(host)) {
      const auto address = parse_ip_address(host);
      if (!address || address->is_v6) {
        return fail(reason, "numeric host that is not a dotted-quad IPv4 address");
      }
      parts.is_address = true;
    } else if (!is_host_name(host)) {
      return fail(reason, "invalid host name");
    }
    parts.host = to_lower(host);
  }
  if (has_port) {
    const auto port = parse_port(port_text);
    if (!port) {
      return fail(reason, "invalid port");
    }
    parts.port = *port;
  } else {
    parts.port = parts.scheme == "https" ? 443 : 80;
  }
  return parts;
}

}  // namespace

std::optional<url> parse_url(std::string_view text, const char** reason) {
  if (text.size() > url_bytes_max) {
    return fail(reason, "URL too long");
  }
  if (!std::all_of(text.begin(), text.end(), is_url_char)) {
    return fail(reason, "URL contains a control character, space, backslash or non-ASCII byte");
  }
  if (text.find('#') != std::string_view::npos) {
    return fail(reason, "URL has a fragment");
  }
  const std::size_t scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) {
    return fail(reason, "URL is not absolute");
  }
  url parts;
  parts.scheme = to_lower(text.substr(0, scheme_end));
  if (parts.scheme != "http" && parts.scheme != "https") {
    return fail(reason, "scheme is not http or https");
  }
  const std::string_view rest = text.substr(scheme_end + 3);
  const std::size_t authority_end = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, authority_end);
  if (authority.find('@') != std::string_view::npos) {
    return fail(reason, "URL has userinfo");
  }
  if (authority.find('%') != std::string_view::npos) {
    return fail(reason, "percent escape in the host");
  }
  auto parsed = parse_authority(authority, std::move(parts), reason);
  if (!parsed) {
    return std::nullopt;
  }
  if (authority_end != std::string_view::npos) {
    const std::string_view target = rest.substr(authority_end);
    if (!has_valid_percent_escapes(target)) {
      return fail(reason, "invalid percent escape");
    }
    parsed->target = target.front() == '?' ? "/" + std::string(target) : std::string(target);
  }
  return parsed;
}

std::string host_header(const url& parts) {
  const bool is_v6 = parts.host.find(':') != std::string::npos;
  std::string out = is_v6 ? "[" + parts.host + "]" : parts.host;
  const uint16_t default_port = parts.scheme == "https" ? 443 : 80;
  if (parts.port != default_port) {
    out += ':';
    out += std::to_string(parts.port);
  }
  return out;
}

std::string origin(const url& parts) {
  const bool is_v6 = parts.host.find(':') != std::string::npos;
  std::string out = parts.scheme + "://";
  out += is_v6 ? "[" + parts.host + "]" : parts.host;
  out += ':';
  out += std::to_string(parts.port);
  return out;
}

}  // namespace tally::outbound
