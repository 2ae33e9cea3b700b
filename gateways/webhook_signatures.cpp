#include "gateways/webhook_signatures.hpp"

#include <optional>
#include <string>
#include <vector>

#include "auth/secrets.hpp"
#include "domain/assert.hpp"
#include "gateways/gateway.hpp"

namespace tally::gateways {
namespace {

// Unix seconds have at most 11 digits until the year 5138.
constexpr std::size_t timestamp_digits_max = 12;

caf::error refuse(const char* reason) {
  return make_failure(errc::invalid_signature,
                      failure_detail{0, "invalid_signature", reason, false});
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

std::optional<int64_t> parse_seconds(std::string_view text) {
  text = trim(text);
  if (text.empty() || text.size() > timestamp_digits_max) {
    return std::nullopt;
  }
  int64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + (c - '0');
  }
  return value;
}

bool is_fresh(int64_t timestamp_s, int64_t now_s) {
  const int64_t age_s = now_s - timestamp_s;
  return age_s <= webhook_tolerance_s && age_s >= -webhook_tolerance_s;
}

// Splits on ',' into at most signatures_max + 1 trimmed parts (one more than
// allowed, so the caller can tell "too many").
std::vector<std::string_view> split_list(std::string_view text) {
  std::vector<std::string_view> parts;
  while (parts.size() <= signatures_max) {
    const auto comma = text.find(',');
    parts.push_back(trim(text.substr(0, comma)));
    if (comma == std::string_view::npos) {
      break;
    }
    text.remove_prefix(comma + 1);
  }
  return parts;
}

// True when any candidate equals `expected_hex` (lower-case hex). Every
// candidate is compared in constant time; upper-case hex is accepted.
bool any_matches(const std::vector<std::string_view>& candidates, const std::string& expected_hex) {
  bool is_match = false;
  for (const auto candidate : candidates) {
    std::string lowered(candidate);
    for (char& c : lowered) {
      if (c >= 'A' && c <= 'F') {
        c = static_cast<char>(c - 'A' + 'a');
      }
    }
    // No early exit: the time does not depend on which candidate matched.
    is_match = auth::constant_time_equal(lowered, expected_hex) || is_match;
  }
  return is_match;
}

std::string signed_hex(std::string_view key, std::string_view timestamp, std::string_view body) {
  std::string message;
  message.reserve(timestamp.size() + 1 + body.size());
  message.append(timestamp).append(".").append(body);
  return auth::hex_encode(auth::hmac_sha256(key, message));
}

}  // namespace

caf::error verify_omise_signature(std::string_view raw_body, std::string_view signature_header,
                                  std::string_view timestamp_header, std::string_view secret,
                                  int64_t now_s) {
  TALLY_ASSERT(!secret.empty());
  if (signature_header.empty() || timestamp_header.empty()) {
    return refuse("Omise-Signature or Omise-Signature-Timestamp header missing");
  }
  if (signature_header.size() > signature_header_bytes_max) {
    return refuse("Omise-Signature header too long");
  }
  const auto timestamp_s = parse_seconds(timestamp_header);
  if (!timestamp_s) {
    return refuse("Omise-Signature-Timestamp is not Unix seconds");
  }
  if (!is_fresh(*timestamp_s, now_s)) {
    return refuse("timestamp outside the tolerance zone");
  }
  auto candidates = split_list(signature_header);
  if (candidates.size() > signatures_max) {
    return refuse("too many signatures");
  }
  for (auto& candidate : candidates) {
    if (candidate.rfind("v1=", 0) == 0) {
      candidate.remove_prefix(3);
    }
  }
  // Sign the timestamp text as sent (trimmed): that is what the sender signed.
  const std::string expected = signed_hex(secret, trim(timestamp_header), raw_body);
  if (!any_matches(candidates, expected)) {
    return refuse("no signature matches the payload");
  }
  return caf::none;
}

caf::error verify_stripe_signature(std::string_view raw_body, std::string_view signature_header,
                                   std::string_view secret, int64_t now_s) {
  if (secret.empty()) {
    return refuse("no Stripe webhook secret is configured");
  }
  if (signature_header.empty()) {
    return refuse("No stripe-signature header value was provided.");
  }
  if (signature_header.size() > signature_header_bytes_max) {
    return refuse("Stripe-Signature header too long");
  }
  std::optional<std::string_view> timestamp_text;
  std::vector<std::string_view> signatures;
  std::string_view rest = signature_header;
  // Each element is scheme=value; bounded by the header length check above.
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view item = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const auto equals = item.find('=');
    if (equals == std::string_view::npos) {
      continue;
    }
    const std::string_view scheme = item.substr(0, equals);
    const std::string_view value = item.substr(equals + 1);
    if (scheme == "t") {
      timestamp_text = value;
    } else if (scheme == "v1") {
      signatures.push_back(value);
    }
  }
  if (!timestamp_text || !parse_seconds(*timestamp_text)) {
    return refuse("Unable to extract timestamp and signatures from header");
  }
  if (signatures.empty()) {
    return refuse("No signatures found with expected scheme");
  }
  if (signatures.size() > signatures_max) {
    return refuse("too many signatures");
  }
  if (!is_fresh(*parse_seconds(*timestamp_text), now_s)) {
    return refuse("Timestamp outside the tolerance zone");
  }
  const std::string expected = signed_hex(secret, trim(*timestamp_text), raw_body);
  if (!any_matches(signatures, expected)) {
    return refuse("No signatures found matching the expected signature for payload.");
  }
  return caf::none;
}

}  // namespace tally::gateways
