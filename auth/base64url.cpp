#include "auth/base64url.hpp"

#include <array>
#include <cstdint>

namespace tally::auth {
namespace {

constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static_assert(alphabet.size() == 64);

// Marks a byte that is not in the alphabet in the reverse table.
constexpr uint8_t invalid_sextet = 0xFF;

constexpr std::array<uint8_t, 256> make_reverse_table() {
  std::array<uint8_t, 256> table{};
  for (auto& entry : table) {
    entry = invalid_sextet;
  }
  for (std::size_t i = 0; i < alphabet.size(); ++i) {
    table[static_cast<unsigned char>(alphabet[i])] = static_cast<uint8_t>(i);
  }
  return table;
}

constexpr std::array<uint8_t, 256> reverse_table = make_reverse_table();

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  uint32_t accumulator = 0;
  int bits_pending = 0;
  for (const char c : bytes) {
    accumulator = (accumulator << 8) | static_cast<unsigned char>(c);
    bits_pending += 8;
    while (bits_pending >= 6) {
      bits_pending -= 6;
      out.push_back(alphabet[(accumulator >> bits_pending) & 0x3F]);
    }
  }
  if (bits_pending > 0) {
    out.push_back(alphabet[(accumulator << (6 - bits_pending)) & 0x3F]);
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t accumulator = 0;
  int bits_pending = 0;
  for (const char c : text) {
    const uint8_t sextet = reverse_table[static_cast<unsigned char>(c)];
    if (sextet == invalid_sextet) {
      return std::nullopt;
    }
    accumulator = ((accumulator << 6) | sextet) & 0xFFFF;
    bits_pending += 6;
    if (bits_pending >= 8) {
      bits_pending -= 8;
      out.push_back(static_cast<char>((accumulator >> bits_pending) & 0xFF));
    }
  }
  // What is left (2 or 4 bits) is padding inside the last character; it must be zero.
  if ((accumulator & ((1U << bits_pending) - 1U)) != 0) {
    return std::nullopt;
  }
  return out;
}

}  // namespace tally::auth
