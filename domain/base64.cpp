#include "domain/base64.hpp"

#include <array>
#include <cstdint>

#include "domain/assert.hpp"

namespace tally {
namespace {

constexpr std::string_view standard_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view url_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static_assert(standard_alphabet.size() == 64 && url_alphabet.size() == 64);

// Marks a byte that is not in the alphabet in a reverse table.
constexpr uint8_t invalid_sextet = 0xFF;

// The 6-bit value of each byte in an alphabet, invalid_sextet for every other byte.
using sextet_table = std::array<uint8_t, 256>;

constexpr sextet_table make_sextet_table(std::string_view alphabet) {
  sextet_table table{};
  for (auto& entry : table) {
    entry = invalid_sextet;
  }
  for (std::size_t i = 0; i < alphabet.size(); ++i) {
    table[static_cast<unsigned char>(alphabet[i])] = static_cast<uint8_t>(i);
  }
  return table;
}

constexpr sextet_table standard_sextets = make_sextet_table(standard_alphabet);
constexpr sextet_table url_sextets = make_sextet_table(url_alphabet);

// Characters for `byte_count` bytes without padding: 1 byte -> 2, 2 -> 3, 3 -> 4.
constexpr std::size_t unpadded_chars(std::size_t byte_count) {
  return (byte_count * 4 + 2) / 3;
}

// Appends `bytes` in `alphabet`, unpadded.
void encode_unpadded(std::string& out, std::string_view bytes, std::string_view alphabet) {
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
}

// Decodes unpadded `text` in the alphabet of `sextets`: nullopt for a byte outside it, a length
// no byte string encodes, or (when `trailing_bits` is zero) non-zero unused bits.
std::optional<std::string> decode_unpadded(std::string_view text, const sextet_table& sextets,
                                           base64_trailing_bits trailing_bits) {
  if (text.size() % 4 == 1) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t accumulator = 0;
  int bits_pending = 0;
  for (const char c : text) {
    const uint8_t sextet = sextets[static_cast<unsigned char>(c)];
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
  TALLY_ASSERT(bits_pending == 0 || bits_pending == 2 || bits_pending == 4);
  // What is left (2 or 4 bits) fills out the last character; canonical text has zeros there.
  if (trailing_bits == base64_trailing_bits::zero &&
      (accumulator & ((1U << bits_pending) - 1U)) != 0) {
    return std::nullopt;
  }
  TALLY_ASSERT(out.size() == text.size() * 3 / 4);
  return out;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  const std::size_t padded_chars = (bytes.size() + 2) / 3 * 4;
  out.reserve(padded_chars);
  encode_unpadded(out, bytes, standard_alphabet);
  out.append(padded_chars - out.size(), '=');
  TALLY_ASSERT(out.size() % 4 == 0);
  return out;
}

std::optional<std::string> base64_decode(std::string_view text, base64_padding padding,
                                         base64_trailing_bits trailing_bits) {
  const bool whole_groups = text.size() % 4 == 0;
  if (padding == base64_padding::required && !whole_groups) {
    return std::nullopt;
  }
  // Padding only ever completes the last group of four, so it is looked for only there; one
  // '=' too many, or '=' anywhere else, is left in the text and refused as a character.
  if (whole_groups) {
    for (int removed = 0; removed < 2 && !text.empty() && text.back() == '='; ++removed) {
      text.remove_suffix(1);
    }
  }
  return decode_unpadded(text, standard_sextets, trailing_bits);
}

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve(unpadded_chars(bytes.size()));
  encode_unpadded(out, bytes, url_alphabet);
  TALLY_ASSERT(out.size() == unpadded_chars(bytes.size()));
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  return decode_unpadded(text, url_sextets, base64_trailing_bits::zero);
}

}  // namespace tally
