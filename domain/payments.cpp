#include "domain/payments.hpp"

#include <cctype>
#include <vector>

#include <nlohmann/json.hpp>

#include "domain/assert.hpp"
#include "domain/time_format.hpp"

namespace tally {
namespace {

constexpr std::size_t card_digits_min = 13;
constexpr std::size_t card_digits_max = 19;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_separator(char c) {
  return c == ' ' || c == '-';
}

// Luhn over digits[first, first + count).
bool passes_luhn(const std::vector<int>& digits, std::size_t first, std::size_t count) {
  int sum = 0;
  for (std::size_t i = 0; i < count; ++i) {
    int d = digits[first + count - 1 - i];
    if (i % 2 == 1) {
      d *= 2;
      if (d > 9) {
        d -= 9;
      }
    }
    sum += d;
  }
  return sum % 10 == 0;
}

// A run of 13..19 digits that passes Luhn. Longer runs (ids, hashes) are not
// card numbers and are not scanned by window, which would flag most of them.
bool run_has_card_number(const std::vector<int>& digits) {
  return digits.size() >= card_digits_min && digits.size() <= card_digits_max &&
         passes_luhn(digits, 0, digits.size());
}

}  // namespace

bool is_currency_code(std::string_view text) {
  if (text.size() != 3) {
    return false;
  }
  for (char c : text) {
    if (c < 'A' || c > 'Z') {
      return false;
    }
  }
  return true;
}

bool is_package_id(std::string_view text) {
  if (text.empty() || text.size() > 64) {
    return false;
  }
  for (char c : text) {
    if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

bool contains_card_number(std::string_view text) {
  // A run is digits joined by at most one separator at a time ("4242 4242-4242 4242").
  std::vector<int> digits;
  digits.reserve(32);
  bool after_separator = false;
  for (char c : text) {
    if (is_digit(c)) {
      digits.push_back(c - '0');
      after_separator = false;
      continue;
    }
    if (is_separator(c) && !digits.empty() && !after_separator) {
      after_separator = true;
      continue;
    }
    if (run_has_card_number(digits)) {
      return true;
    }
    digits.clear();
    after_separator = false;
  }
  return run_has_card_number(digits);
}

bool json_contains_card_number(const nlohmann::json& body) {
  std::vector<const nlohmann::json*> pending{&body};
  while (!pending.empty()) {
    const nlohmann::json* node = pending.back();
    pending.pop_back();
    if (node->is_string()) {
      if (contains_card_number(node->get_ref<const std::string&>())) {
        return true;
      }
    } else if (node->is_number_integer() || node->is_number_unsigned()) {
      // {"card": 4242424242424242} is a card number too.
      if (contains_card_number(node->dump())) {
        return true;
      }
    } else if (node->is_object()) {
      for (auto it = node->begin(); it != node->end(); ++it) {
        if (contains_card_number(it.key())) {
          return true;
        }
        pending.push_back(&it.value());
      }
    } else if (node->is_array()) {
      for (const auto& item : *node) {
        pending.push_back(&item);
      }
    }
  }
  return false;
}

const char* to_string(purchase_status status) {
  switch (status) {
    case purchase_status::pending:
      return "pending";
    case purchase_status::completed:
      return "completed";
    case purchase_status::failed:
      return "failed";
    case purchase_status::expired:
      return "expired";
    case purchase_status::refunded:
      return "refunded";
  }
  return "unknown";
}

std::optional<purchase_status> parse_purchase_status(std::string_view text) {
  for (auto s : {purchase_status::pending, purchase_status::completed, purchase_status::failed,
                 purchase_status::expired, purchase_status::refunded}) {
    if (text == to_string(s)) {
      return s;
    }
  }
  return std::nullopt;
}

namespace {

bool same_currency(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) !=
        std::toupper(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

settle_action decide_settle(const purchase_facts& purchase, const charge_facts& charge) {
  TALLY_ASSERT(!purchase.purchase_id.empty());
  TALLY_ASSERT(purchase.amount > 0);
  if (charge.purchase_id != purchase.purchase_id || charge.amount != purchase.amount ||
      !same_currency(charge.currency, purchase.currency)) {
    return settle_action::mismatch;
  }
  if (purchase.status == purchase_status::completed ||
      purchase.status == purchase_status::refunded) {
    return settle_action::none;  // a terminal success is never downgraded
  }
  if (charge.charge_status == "successful" && charge.paid) {
    // Money was taken for this purchase: credit it, even if we had given up on it.
    return settle_action::grant_and_complete;
  }
  if (purchase.status != purchase_status::pending) {
    return settle_action::none;
  }
  if (charge.charge_status == "failed" || charge.charge_status == "reversed") {
    return settle_action::fail;
  }
  if (charge.charge_status == "expired") {
    return settle_action::expire;
  }
  return settle_action::none;  // pending, or successful but not yet paid (authorized only)
}

std::string next_action_json(std::string_view authorize_uri, std::string_view qr_image_url,
                             std::string_view expires_at) {
  if (!qr_image_url.empty()) {
    nlohmann::json out = {{"type", "qr"}, {"image_url", std::string(qr_image_url)}};
    out["expires_at"] = expires_at.empty() ? nlohmann::json(nullptr) : nlohmann::json(expires_at);
    return out.dump();
  }
  if (!authorize_uri.empty()) {
    return nlohmann::json{{"type", "redirect"}, {"url", std::string(authorize_uri)}}.dump();
  }
  return "null";
}

nlohmann::json purchase_api_json(const purchase_view& v) {
  auto text_or_null = [](const std::string& text) {
    return text.empty() ? nlohmann::json(nullptr) : nlohmann::json(text);
  };
  nlohmann::json next_action = nullptr;
  if (!v.next_action_json.empty()) {
    next_action = nlohmann::json::parse(v.next_action_json, nullptr, /*allow_exceptions=*/false);
    if (next_action.is_discarded()) {
      next_action = nullptr;
    }
  }
  return {{"id", v.id},
          {"status", v.status},
          {"package_id", v.package_id},
          {"credits", v.credits},
          {"amount", v.amount},
          {"currency", v.currency},
          {"gateway", v.gateway},
          {"method", v.method},
          {"charge_id", text_or_null(v.charge_id)},
          {"next_action", next_action},
          {"failure_code", text_or_null(v.failure_code)},
          {"failure_message", text_or_null(v.failure_message)},
          {"created_at", rfc3339_from_millis(v.created_at_ms)},
          {"completed_at", v.completed_at_ms > 0
                               ? nlohmann::json(rfc3339_from_millis(v.completed_at_ms))
                               : nlohmann::json(nullptr)}};
}

}  // namespace tally
