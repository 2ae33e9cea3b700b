#include "bench/loadgen/options.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string_view>

namespace tally::bench {
namespace {

constexpr double spends_per_s_ceiling = 200'000;  // well above what one box can do

constexpr const char* help_text =
    R"(tally_loadgen: drives POST /v1/credits/spend and prints throughput and latency.

  --host=127.0.0.1 --port=8080     the engine
  --connections=64                 keep-alive connections (one request in flight each)
  --threads=1                      client threads (each runs its share of the connections)
  --duration-s=10 --warmup-s=2     measured window, after a warm-up that is not counted
  --rate=0                         0: closed loop; >0: open loop at this many requests/s in total,
                                   latency measured from each request's due time
  --accounts=1000                  accounts spent on (uniformly at random)
  --amount=1                       credits per spend
  --grant=N                        credits granted to each account at setup (default: enough)
  --admin-key=KEY                  TALLY_ADMIN_API_KEY (needed unless --skip-setup in spend mode)
  --setup-only | --skip-setup      only prepare accounts / reuse them from --tokens-file
  --tokens-file=PATH               cache of accounts and access tokens between runs
  --timeout-ms=10000               per request, connect included
  --json                           end with one JSON summary line
  --mode=spend|touch               touch: grant (--grant, default 1) once to every account
  --touch-spend                    touch mode: also spend --amount once on every account
  --accounts-from-db=URL           insert the users into identity.users at URL instead of
                                   registering them (argon2 is slow); needs --jwt-key
  --random-accounts                no users at all: random UUIDs (the ledger creates accounts
                                   lazily); spending needs --jwt-key. The engine grants only
                                   to existing users (404 otherwise): see bench/README.md
  --jwt-key=SECRET --jwt-kid=k1    the engine's TALLY_JWT_KEY/KID: sign access tokens locally
  --jwt-issuer=tally --jwt-audience=tally-api
)";

bool parse_number(const std::string& text, double& out) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value) || value < 0) {
    return false;
  }
  out = value;
  return true;
}

template <typename Integer>
bool parse_integer(const std::string& text, Integer minimum, Integer maximum, Integer& out) {
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end != text.c_str() + text.size() ||
      value < static_cast<long long>(minimum) || value > static_cast<long long>(maximum)) {
    return false;
  }
  out = static_cast<Integer>(value);
  return true;
}

bool parse_flag(const std::string& text, bool& out) {
  if (text.empty() || text == "1" || text == "true" || text == "yes") {
    out = true;
    return true;
  }
  if (text == "0" || text == "false" || text == "no") {
    out = false;
    return true;
  }
  return false;
}

using setter = std::function<bool(const std::string&)>;

std::map<std::string, setter, std::less<>> setters(loadgen_options& o) {
  auto text = [](std::string& field) {
    return [&field](const std::string& value) {
      field = value;
      return !value.empty();
    };
  };
  auto flag = [](bool& field) {
    return [&field](const std::string& v) { return parse_flag(v, field); };
  };
  return {
      {"host", text(o.host)},
      {"port", [&o](const std::string& v) { return parse_integer<uint16_t>(v, 1, 65535, o.port); }},
      {"connections",
       [&o](const std::string& v) {
         return parse_integer<uint32_t>(v, 1, 20'000, o.connection_count);
       }},
      {"threads",
       [&o](const std::string& v) { return parse_integer<uint32_t>(v, 1, 64, o.thread_count); }},
      {"duration-s",
       [&o](const std::string& v) { return parse_number(v, o.duration_s) && o.duration_s > 0; }},
      {"warmup-s", [&o](const std::string& v) { return parse_number(v, o.warmup_s); }},
      {"rate", [&o](const std::string& v) { return parse_number(v, o.rate_per_s); }},
      {"accounts",
       [&o](const std::string& v) {
         return parse_integer<uint64_t>(v, 1, 100'000'000, o.account_count);
       }},
      {"amount",
       [&o](const std::string& v) {
         return parse_integer<int64_t>(v, 1, 1'000'000'000, o.amount);
       }},
      {"grant",
       [&o](const std::string& v) {
         return parse_integer<int64_t>(v, 1, 1'000'000'000'000, o.grant);
       }},
      {"timeout-ms",
       [&o](const std::string& v) {
         return parse_integer<uint32_t>(v, 100, 600'000, o.timeout_ms);
       }},
      {"admin-key", text(o.admin_key)},
      {"setup-only", flag(o.is_setup_only)},
      {"skip-setup", flag(o.is_setup_skipped)},
      {"tokens-file", text(o.tokens_file)},
      {"json", flag(o.is_json)},
      {"mode",
       [&o](const std::string& v) {
         o.mode = v == "touch" ? run_mode::touch : run_mode::spend;
         return v == "touch" || v == "spend";
       }},
      {"touch-spend", flag(o.is_touch_spend)},
      {"accounts-from-db", text(o.accounts_from_db)},
      {"random-accounts", flag(o.is_random_accounts)},
      {"jwt-key", text(o.jwt_key)},
      {"jwt-kid", text(o.jwt_kid)},
      {"jwt-issuer", text(o.jwt_issuer)},
      {"jwt-audience", text(o.jwt_audience)},
  };
}

// Returns what is wrong with a combination of options, or nullptr.
const char* conflict(const loadgen_options& o) {
  const bool needs_tokens = o.mode == run_mode::spend || o.is_touch_spend;
  if (o.is_setup_only && o.is_setup_skipped) {
    return "--setup-only and --skip-setup exclude each other";
  }
  if (!o.accounts_from_db.empty() && o.is_random_accounts) {
    return "--accounts-from-db and --random-accounts exclude each other";
  }
  if (!o.accounts_from_db.empty() && o.jwt_key.empty() && needs_tokens) {
    return "--accounts-from-db needs --jwt-key (users made in the database have no tokens)";
  }
  if (o.is_random_accounts && o.jwt_key.empty() && needs_tokens) {
    return "--random-accounts needs --jwt-key to spend";
  }
  if (o.admin_key.empty() && !(o.mode == run_mode::spend && o.is_setup_skipped)) {
    return "--admin-key is needed to grant credits";
  }
  if (o.is_setup_skipped && o.tokens_file.empty() && !o.is_random_accounts) {
    return "--skip-setup needs --tokens-file (or --random-accounts)";
  }
  return nullptr;
}

}  // namespace

std::optional<loadgen_options> parse_options(int argc, char** argv, int& exit_code) {
  loadgen_options options;
  const auto table = setters(options);
  exit_code = 2;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(help_text, stdout);
      exit_code = 0;
      return std::nullopt;
    }
    if (arg.substr(0, 2) != "--") {
      std::fprintf(stderr, "tally_loadgen: unexpected argument '%s' (try --help)\n", argv[i]);
      return std::nullopt;
    }
    const std::size_t eq = arg.find('=');
    const std::string_view name = arg.substr(2, eq == std::string_view::npos ? arg.npos : eq - 2);
    const std::string value = eq == std::string_view::npos ? "" : std::string(arg.substr(eq + 1));
    const auto entry = table.find(name);
    if (entry == table.end()) {
      std::fprintf(stderr, "tally_loadgen: unknown option --%.*s (try --help)\n",
                   static_cast<int>(name.size()), name.data());
      return std::nullopt;
    }
    if (!entry->second(value)) {
      std::fprintf(stderr, "tally_loadgen: bad value for --%.*s: '%s'\n",
                   static_cast<int>(name.size()), name.data(), value.c_str());
      return std::nullopt;
    }
  }
  if (const char* problem = conflict(options)) {
    std::fprintf(stderr, "tally_loadgen: %s\n", problem);
    return std::nullopt;
  }
  exit_code = 0;
  return options;
}

int64_t effective_grant(const loadgen_options& options) {
  if (options.grant > 0) {
    return options.grant;
  }
  if (options.mode == run_mode::touch) {
    return 1;
  }
  const double spends = spends_per_s_ceiling * (options.warmup_s + options.duration_s);
  const double per_account = std::ceil(spends / static_cast<double>(options.account_count));
  return static_cast<int64_t>(std::max(1000.0, per_account)) * options.amount;
}

}  // namespace tally::bench
