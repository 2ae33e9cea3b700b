#include "gateways/wire_encoding.hpp"

#include <array>
#include <cstdint>

namespace tally::gateways {
namespace {

constexpr char hex_digits[] = "0123456789ABCDEF";
constexpr char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
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

// The 6-bit value of a base64 character, or -1.
int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') {
    return c - 'A';
  }
  if (c >= 'a' && c <= 'z') {
    return c - 'a' + 26;
  }
  if (c >= '0' && c <= '9') {
    return c - '0' + 52;
  }
  if (c == '+') {
    return 62;
  }
  if (c == '/') {
    return 63;
  }
  return -1;
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

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t n = static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16 |
                       static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8 |
                       static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 2]));
    out.push_back(base64_alphabet[(n >> 18) & 63]);
    out.push_back(base64_alphabet[(n >> 12) & 63]);
    out.push_back(base64_alphabet[(n >> 6) & 63]);
    out.push_back(base64_alphabet[n & 63]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t n = static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) {
      n |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    }
    out.push_back(base64_alphabet[(n >> 18) & 63]);
    out.push_back(base64_alphabet[(n >> 12) & 63]);
    out.push_back(rest == 2 ? base64_alphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 == 0 && !text.empty()) {
    // Strip at most two padding characters; padding elsewhere is refused below.
    for (int pad = 0; pad < 2 && !text.empty() && text.back() == '='; ++pad) {
      text.remove_suffix(1);
    }
  }
  if (text.size() % 4 == 1) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t buffer = 0;
  int bits = 0;
  for (const char c : text) {
    const int value = base64_value(c);
    if (value < 0) {
      return std::nullopt;
    }
    buffer = (buffer << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  // Canonical only: the bits left over after the last byte must be zero.
  if (bits > 0 && (buffer & ((1u << bits) - 1)) != 0) {
    return std::nullopt;
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
