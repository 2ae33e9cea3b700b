// Flag and environment parsing for `tally sandbox` (sandbox.hpp).

#include <functional>
#include <limits>

#include "domain/base64.hpp"
#include "sandbox/limits.hpp"
#include "sandbox/sandbox.hpp"

namespace tally::sandbox {

namespace {

// A setting's flag, environment variable and parser. The parser returns an
// error sentence, or "" when the value was taken.
struct option {
  const char* flag;
  const char* env;
  const char* help;
  std::function<std::string(settings&, const std::string&)> set;
};

std::optional<int64_t> parse_int(const std::string& text, int64_t min, int64_t max) {
  if (text.empty() || text.size() > 18) {
    return std::nullopt;
  }
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + (c - '0');
  }
  if (value < min || value > max) {
    return std::nullopt;
  }
  return value;
}

std::optional<double> parse_ratio(const std::string& text) {
  if (text.empty() || text.size() > 20) {
    return std::nullopt;
  }
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;  // std::stod's only way to say "not a number"
  }
  if (used != text.size() || !(value >= 0.0 && value <= 1.0)) {
    return std::nullopt;
  }
  return value;
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost" || host == "::1") {
    return true;
  }
  // 127.0.0.0/8, dotted quad.
  if (host.rfind("127.", 0) != 0) {
    return false;
  }
  int parts = 0;
  std::size_t at = 0;
  while (at <= host.size()) {
    auto dot = host.find('.', at);
    if (dot == std::string::npos) {
      dot = host.size();
    }
    if (!parse_int(host.substr(at, dot - at), 0, 255)) {
      return false;
    }
    ++parts;
    at = dot + 1;
  }
  return parts == 4;
}

std::string set_listen(settings& s, const std::string& value) {
  const auto colon = value.rfind(':');
  if (colon == std::string::npos) {
    return "listen address must be host:port";
  }
  std::string host = value.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const auto port = parse_int(value.substr(colon + 1), 0, 65535);
  if (!port) {
    return "listen port must be 0..65535";
  }
  if (!is_loopback_host(host)) {
    return "the sandbox listens on loopback only (127.0.0.0/8, ::1, localhost), not " + host;
  }
  s.listen_host = host == "localhost" ? "127.0.0.1" : host;
  s.listen_port = static_cast<uint16_t>(*port);
  return "";
}

std::string set_key(std::string& into, const std::string& value, const char* prefix) {
  if (!value.empty() && value.rfind(prefix, 0) != 0) {
    return std::string("key must start with ") + prefix;
  }
  into = value;
  return "";
}

std::function<std::string(settings&, const std::string&)> int_setter(int64_t settings::*member,
                                                                     int64_t min, int64_t max,
                                                                     const char* name) {
  return [=](settings& s, const std::string& value) -> std::string {
    const auto parsed = parse_int(value, min, max);
    if (!parsed) {
      return std::string(name) + " must be an integer in " + std::to_string(min) + ".." +
             std::to_string(max);
    }
    s.*member = *parsed;
    return "";
  };
}

std::function<std::string(settings&, const std::string&)> chaos_ms_setter(
    int64_t chaos_settings::*member, int64_t max, const char* name) {
  return [=](settings& s, const std::string& value) -> std::string {
    const auto parsed = parse_int(value, 0, max);
    if (!parsed) {
      return std::string(name) + " must be an integer in 0.." + std::to_string(max);
    }
    s.chaos.*member = *parsed;
    return "";
  };
}

std::function<std::string(settings&, const std::string&)> chaos_ratio_setter(
    double chaos_settings::*member, const char* name) {
  return [=](settings& s, const std::string& value) -> std::string {
    const auto parsed = parse_ratio(value);
    if (!parsed) {
      return std::string(name) + " must be a number in 0..1";
    }
    s.chaos.*member = *parsed;
    return "";
  };
}

const std::vector<option>& options() {
  static const std::vector<option> all = {
      {"--listen", "TALLY_SANDBOX_LISTEN", "loopback host:port (default 127.0.0.1:8090)",
       set_listen},
      {"--public-url", "TALLY_SANDBOX_PUBLIC_URL",
       "base of URLs handed out (default http://<listen>)",
       [](settings& s, const std::string& v) -> std::string {
         if (!v.empty() && v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0) {
           return "public URL must start with http:// or https://";
         }
         s.public_url = v;
         while (!s.public_url.empty() && s.public_url.back() == '/') {
           s.public_url.pop_back();
         }
         return "";
       }},
      {"--public-key", "TALLY_SANDBOX_PUBLIC_KEY", "the only public key accepted (default any)",
       [](settings& s, const std::string& v) { return set_key(s.public_key, v, "pkey_"); }},
      {"--secret-key", "TALLY_SANDBOX_SECRET_KEY", "the only secret key accepted (default any)",
       [](settings& s, const std::string& v) { return set_key(s.secret_key, v, "skey_"); }},
      {"--webhook-url", "TALLY_SANDBOX_WEBHOOK_URL", "where events are POSTed (default none)",
       [](settings& s, const std::string& v) -> std::string {
         if (!v.empty() && v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0) {
           return "webhook URL must start with http:// or https://";
         }
         s.webhook_url = v;
         return "";
       }},
      {"--webhook-secret", "TALLY_SANDBOX_WEBHOOK_SECRET",
       "base64 secret for Omise-Signature (default: unsigned)",
       [](settings& s, const std::string& v) -> std::string {
         if (!v.empty()) {
           const auto decoded =
               base64_decode(v, base64_padding::optional, base64_trailing_bits::any);
           if (!decoded || decoded->empty()) {
             return "webhook secret must be non-empty base64";
           }
         }
         s.webhook_secret = v;
         return "";
       }},
      {"--webhook-events", "TALLY_SANDBOX_WEBHOOK_EVENTS", "charge.complete (default) or all",
       [](settings& s, const std::string& v) -> std::string {
         if (v != "all" && v != "charge.complete") {
           return "webhook events must be charge.complete or all";
         }
         s.is_every_event_delivered = v == "all";
         return "";
       }},
      {"--webhook-attempts", "TALLY_SANDBOX_WEBHOOK_ATTEMPTS",
       "delivery attempts per event (default 5)",
       [](settings& s, const std::string& v) -> std::string {
         const auto parsed = parse_int(v, 1, limits::webhook_attempts_max);
         if (!parsed) {
           return "webhook attempts must be 1.." + std::to_string(limits::webhook_attempts_max);
         }
         s.webhook_attempts = static_cast<uint32_t>(*parsed);
         return "";
       }},
      {"--webhook-timeout-ms", "TALLY_SANDBOX_WEBHOOK_TIMEOUT_MS",
       "one delivery attempt's timeout (default 5000)",
       int_setter(&settings::webhook_timeout_ms, 100, 60'000, "webhook timeout")},
      {"--seed", "TALLY_SANDBOX_SEED", "makes ids and chaos draws repeatable",
       [](settings& s, const std::string& v) -> std::string {
         const auto parsed = parse_int(v, 0, std::numeric_limits<int64_t>::max());
         if (!parsed) {
           return "seed must be a non-negative integer";
         }
         s.seed = static_cast<uint64_t>(*parsed);
         return "";
       }},
      {"--promptpay-ttl-s", "TALLY_SANDBOX_PROMPTPAY_TTL_S",
       "seconds before a pending PromptPay charge expires (default 3600)",
       int_setter(&settings::promptpay_ttl_s, 1, limits::promptpay_ttl_s_max, "PromptPay TTL")},
      {"--amount-min", "TALLY_SANDBOX_AMOUNT_MIN",
       "smallest charge in minor units (default 2000, Omise's THB 20)",
       int_setter(&settings::amount_min, 1, limits::amount_max, "amount min")},
      {"--latency-ms", "TALLY_SANDBOX_LATENCY_MS", "chaos: delay before every API answer",
       chaos_ms_setter(&chaos_settings::latency_ms, limits::latency_ms_max, "latency")},
      {"--fail-ratio", "TALLY_SANDBOX_FAIL_RATIO", "chaos: share of API requests answered 500",
       chaos_ratio_setter(&chaos_settings::fail_ratio, "fail ratio")},
      {"--timeout-ratio", "TALLY_SANDBOX_TIMEOUT_RATIO",
       "chaos: share of API requests answered only after --timeout-hold-ms",
       chaos_ratio_setter(&chaos_settings::timeout_ratio, "timeout ratio")},
      {"--timeout-hold-ms", "TALLY_SANDBOX_TIMEOUT_HOLD_MS",
       "chaos: how long a timed-out answer is held (default 30000)",
       chaos_ms_setter(&chaos_settings::timeout_hold_ms, limits::timeout_hold_ms_max,
                       "timeout hold")},
      {"--webhook-delay-ms", "TALLY_SANDBOX_WEBHOOK_DELAY_MS",
       "chaos: delay before each event's first delivery",
       chaos_ms_setter(&chaos_settings::webhook_delay_ms, limits::webhook_delay_ms_max,
                       "webhook delay")},
      {"--webhook-duplicate-ratio", "TALLY_SANDBOX_WEBHOOK_DUPLICATE_RATIO",
       "chaos: share of events delivered twice",
       chaos_ratio_setter(&chaos_settings::webhook_duplicate_ratio, "webhook duplicate ratio")},
      {"--webhook-reorder", "TALLY_SANDBOX_WEBHOOK_REORDER",
       "chaos: true to deliver events newest first",
       [](settings& s, const std::string& v) -> std::string {
         if (v != "true" && v != "false" && v != "1" && v != "0") {
           return "webhook reorder must be true or false";
         }
         s.chaos.webhook_reorder = v == "true" || v == "1";
         return "";
       }},
      {"--webhook-drop-ratio", "TALLY_SANDBOX_WEBHOOK_DROP_RATIO",
       "chaos: share of events never delivered",
       chaos_ratio_setter(&chaos_settings::webhook_drop_ratio, "webhook drop ratio")},
      {"--log-level", "TALLY_LOG_LEVEL", "trace|debug|info|warn|error|off (default info)",
       [](settings& s, const std::string& v) -> std::string {
         if (v != "trace" && v != "debug" && v != "info" && v != "warn" && v != "error" &&
             v != "off") {
           return "log level must be trace, debug, info, warn, error or off";
         }
         s.log_level = v;
         return "";
       }},
  };
  return all;
}

const option* find_flag(const std::string& flag) {
  for (const auto& o : options()) {
    if (flag == o.flag) {
      return &o;
    }
  }
  return nullptr;
}

}  // namespace

bool parse_settings(const std::vector<std::string>& args, const env_map& env, settings& out,
                    std::vector<std::string>& errors) {
  const std::size_t before = errors.size();
  for (const auto& o : options()) {
    const auto it = env.find(o.env);
    if (it != env.end() && !it->second.empty()) {
      if (auto error = o.set(out, it->second); !error.empty()) {
        errors.push_back(std::string(o.env) + ": " + error);
      }
    }
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::optional<std::string> value;
    if (const auto equals = flag.find('='); equals != std::string::npos) {
      value = flag.substr(equals + 1);
      flag = flag.substr(0, equals);
    }
    const option* o = find_flag(flag);
    if (o == nullptr) {
      errors.push_back("unknown argument " + flag);
      continue;
    }
    if (!value) {
      const bool is_bare_switch =
          flag == "--webhook-reorder" && (i + 1 >= args.size() || args[i + 1].rfind("--", 0) == 0);
      if (is_bare_switch) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        errors.push_back(flag + " needs a value");
        continue;
      }
    }
    if (auto error = o->set(out, *value); !error.empty()) {
      errors.push_back(flag + ": " + error);
    }
  }
  return errors.size() == before;
}

std::string usage() {
  std::string text = "usage: tally sandbox [flags]   (each flag also reads its variable)\n";
  for (const auto& o : options()) {
    std::string line = std::string("  ") + o.flag;
    line.resize(28, ' ');
    line += std::string(o.env);
    line.resize(68, ' ');
    text += line + o.help + "\n";
  }
  return text;
}

}  // namespace tally::sandbox
