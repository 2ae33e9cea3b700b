#include "domain/email.hpp"

namespace tally {
namespace {

bool is_ascii_whitespace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view trim_ascii_whitespace(std::string_view text) {
  while (!text.empty() && is_ascii_whitespace(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && is_ascii_whitespace(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

bool is_local_part_character(char c) {
  const bool is_printable_ascii = c > ' ' && c <= '~';  // excludes space and DEL
  return is_printable_ascii && c != '"' && c != '<' && c != '>' && c != ',' && c != ';';
}

bool is_valid_local_part(std::string_view local) {
  if (local.empty() || local.size() > email_local_part_bytes_max) {
    return false;
  }
  for (const char c : local) {
    if (!is_local_part_character(c)) {
      return false;
    }
  }
  return true;
}

bool is_label_character(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

bool is_valid_label(std::string_view label) {
  if (label.empty() || label.size() > email_domain_label_bytes_max) {
    return false;
  }
  if (label.front() == '-' || label.back() == '-') {
    return false;
  }
  for (const char c : label) {
    if (!is_label_character(c)) {
      return false;
    }
  }
  return true;
}

bool is_valid_domain(std::string_view domain) {
  if (domain.empty() || domain.size() > email_domain_bytes_max) {
    return false;
  }
  if (domain.find('.') == std::string_view::npos) {
    return false;
  }
  // Each pass consumes one label and its dot, so this ends within domain.size() steps.
  std::string_view rest = domain;
  while (true) {
    const std::size_t dot = rest.find('.');
    if (!is_valid_label(rest.substr(0, dot))) {
      return false;
    }
    if (dot == std::string_view::npos) {
      return true;
    }
    rest.remove_prefix(dot + 1);
  }
}

char to_ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

std::optional<std::string> normalize_email(std::string_view raw) {
  const std::string_view address = trim_ascii_whitespace(raw);
  if (address.size() > email_bytes_max) {
    return std::nullopt;
  }
  const std::size_t at = address.find('@');
  if (at == std::string_view::npos || address.find('@', at + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  const std::string_view local = address.substr(0, at);
  const std::string_view domain = address.substr(at + 1);
  if (!is_valid_local_part(local) || !is_valid_domain(domain)) {
    return std::nullopt;
  }
  std::string normalized(local);
  normalized.push_back('@');
  for (const char c : domain) {
    normalized.push_back(to_ascii_lower(c));
  }
  return normalized;
}

}  // namespace tally
