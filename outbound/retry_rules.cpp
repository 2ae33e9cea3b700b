#include "outbound/retry_rules.hpp"

#include <cctype>
#include <cstdint>

namespace tally::outbound {

bool is_retryable_status(int status) {
  if (status == 429) {
    return true;
  }
  return status >= 500 && status <= 599 && status != 501 && status != 505;
}

bool has_retry_after_semantics(int status) {
  return status == 429 || status == 503;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
    value.remove_prefix(1);
  }
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
    value.remove_suffix(1);
  }
  // Ten digits cannot overflow int64_t; anything longer is past the cap anyway.
  if (value.empty() || value.size() > 10) {
    return std::nullopt;
  }
  int64_t seconds = 0;
  for (char c : value) {
    if (!std::isdigit(static_cast<unsigned char>(c))) {
      return std::nullopt;
    }
    seconds = seconds * 10 + (c - '0');
  }
  if (seconds > retry_after_max.count()) {
    return std::nullopt;
  }
  return std::chrono::seconds(seconds);
}

}  // namespace tally::outbound
