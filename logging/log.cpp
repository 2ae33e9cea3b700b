#include "logging/log.hpp"

#include <chrono>
#include <ctime>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace tally::log {
namespace {

spdlog::level::level_enum to_spdlog(level lvl) {
  switch (lvl) {
    case level::trace: return spdlog::level::trace;
    case level::debug: return spdlog::level::debug;
    case level::info: return spdlog::level::info;
    case level::warn: return spdlog::level::warn;
    case level::error: return spdlog::level::err;
    case level::critical: return spdlog::level::critical;
  }
  return spdlog::level::info;
}

const char* level_name(level lvl) {
  switch (lvl) {
    case level::trace: return "trace";
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warn: return "warn";
    case level::error: return "error";
    case level::critical: return "critical";
  }
  return "info";
}

std::string utc_now_iso() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  const std::time_t t = system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(ms));
  return buffer;
}

void scrub(nlohmann::json& value) {
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    if (s.size() >= 13) {
      value = redact_card_numbers(s);
    }
  } else if (value.is_structured()) {
    for (auto& item : value) {
      scrub(item);
    }
  }
}

bool luhn_ok(const std::string& digits) {
  int sum = 0;
  bool twice = false;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    int d = *it - '0';
    if (twice) {
      d *= 2;
      if (d > 9) {
        d -= 9;
      }
    }
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

}  // namespace

void init(std::string_view level_name_text) {
  auto logger = spdlog::stderr_logger_mt("tally");
  logger->set_pattern("%v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(std::string(level_name_text)));
  spdlog::flush_on(spdlog::level::warn);
}

bool enabled(level lvl) {
  return spdlog::default_logger_raw()->should_log(to_spdlog(lvl));
}

void write(level lvl, std::string_view event, nlohmann::json fields) {
  if (!enabled(lvl)) {
    return;
  }
  scrub(fields);
  nlohmann::json line = nlohmann::json::object();
  line["ts"] = utc_now_iso();
  line["level"] = level_name(lvl);
  line["event"] = event;
  if (fields.is_object()) {
    for (auto& [key, value] : fields.items()) {
      line[key] = std::move(value);
    }
  }
  spdlog::default_logger_raw()->log(
      to_spdlog(lvl), line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

std::string redact_card_numbers(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] < '0' || text[i] > '9') {
      out.push_back(text[i++]);
      continue;
    }
    // Collect a run of digits with single spaces/dashes between them.
    std::size_t end = i;
    std::string digits;
    while (end < text.size()) {
      char c = text[end];
      if (c >= '0' && c <= '9') {
        digits.push_back(c);
        ++end;
      } else if ((c == ' ' || c == '-') && end + 1 < text.size() && text[end + 1] >= '0' &&
                 text[end + 1] <= '9') {
        ++end;
      } else {
        break;
      }
    }
    if (digits.size() >= 13 && digits.size() <= 19 && luhn_ok(digits)) {
      out += "[redacted-card]";
    } else {
      out.append(text.substr(i, end - i));
    }
    i = end;
  }
  return out;
}

}  // namespace tally::log
