#include "gateways/wire_encoding.hpp"

namespace tally::gateways {
namespace {

constexpr char hex_digits[] = "0123456789ABCDEF";
// A card number has at least 12 digits (ISO/IEC 7812 allows 8, but nothing
// shorter than 12 is issued for payment cards we could be sent).
constexpr std::size_t card_digits_min = 12;

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

void append_encoded(std::string& out, std::string_view text, bool keep_brackets) {
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c) || (keep_brackets && (c == '[' || c == ']'))) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex_digits[c >> 4]);
      out.push_back(hex_digits[c & 0x0F]);
    }
  }
}

}  // namespace

std::string percent_encode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  append_encoded(out, text, false);
  return out;
}

std::string form_encode(const form_fields& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty()) {
      out.push_back('&');
    }
    append_encoded(out, name, true);
    out.push_back('=');
    append_encoded(out, value, false);
  }
  return out;
}

bool is_object_id(std::string_view id) {
  if (id.empty() || id.size() > object_id_bytes_max) {
    return false;
  }
  for (const char c : id) {
    const bool is_allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!is_allowed) {
      return false;
    }
  }
  return true;
}

bool looks_like_card_number(std::string_view text) {
  std::size_t digits = 0;
  for (const char c : text) {
    if (c >= '0' && c <= '9') {
      if (++digits >= card_digits_min) {
        return true;
      }
    } else if (c != ' ' && c != '-') {
      digits = 0;
    }
  }
  return false;
}

}  // namespace tally::gateways
