#include "auth/utf8.hpp"

namespace tally::auth {
namespace {

constexpr char32_t code_point_max = 0x10FFFF;
constexpr char32_t surrogate_min = 0xD800;
constexpr char32_t surrogate_max = 0xDFFF;

struct sequence_shape {
  std::size_t continuation_count;  // bytes after the lead byte
  char32_t lead_bits;              // payload bits carried by the lead byte
  char32_t smallest_value;         // anything below is an overlong form
};

// Describes the sequence that `lead` starts, or nullopt when `lead` cannot start one.
std::optional<sequence_shape> shape_of(uint8_t lead) {
  if (lead < 0x80) {
    return sequence_shape{0, lead, 0};
  }
  if ((lead & 0xE0) == 0xC0) {
    return sequence_shape{1, lead & 0x1Fu, 0x80};
  }
  if ((lead & 0xF0) == 0xE0) {
    return sequence_shape{2, lead & 0x0Fu, 0x800};
  }
  if ((lead & 0xF8) == 0xF0) {
    return sequence_shape{3, lead & 0x07u, 0x10000};
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::vector<char32_t>> decode_utf8(std::string_view text) {
  std::vector<char32_t> code_points;
  code_points.reserve(text.size());
  std::size_t index = 0;
  while (index < text.size()) {
    const auto shape = shape_of(static_cast<uint8_t>(text[index]));
    if (!shape || text.size() - index - 1 < shape->continuation_count) {
      return std::nullopt;
    }
    char32_t value = shape->lead_bits;
    for (std::size_t k = 1; k <= shape->continuation_count; ++k) {
      const auto byte = static_cast<uint8_t>(text[index + k]);
      if ((byte & 0xC0) != 0x80) {
        return std::nullopt;
      }
      value = (value << 6) | (byte & 0x3Fu);
    }
    const bool is_surrogate = value >= surrogate_min && value <= surrogate_max;
    if (value < shape->smallest_value || value > code_point_max || is_surrogate) {
      return std::nullopt;
    }
    code_points.push_back(value);
    index += 1 + shape->continuation_count;
  }
  return code_points;
}

bool is_valid_utf8(std::string_view text) {
  return decode_utf8(text).has_value();
}

}  // namespace tally::auth
