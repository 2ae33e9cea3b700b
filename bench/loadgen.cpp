// tally_loadgen: the load generator of the ledger benchmark (bench/README.md).
//
// A plain HTTP/1.1 client (Boost.Asio/Beast, keep-alive) that knows Tally
// only through its HTTP contract (shared API.md): it links none of Tally's
// libraries, so it measures the engine as any client sees it.
//
//   setup   accounts: registered (POST /v1/auth/register, or login when the
//           e-mail exists), inserted into identity.users (--accounts-from-db)
//           or random ids (--random-accounts); tokens from the engine or signed
//           with --jwt-key; credits from POST /v1/admin/users/{id}/grants
//   spend   POST /v1/credits/spend {"amount": A} on random accounts, each with
//           a fresh Idempotency-Key; throughput of 201 + 402 and latency
//   touch   one grant (and with --touch-spend one spend) on every account, for
//           the resident-memory figure with many accounts
//
// Exit status: 0 ok, 2 bad options, 3 setup failed, 4 the run had errors
// (statuses other than 201/402, transport errors, or nothing answered).

#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/loadgen/accounts.hpp"
#include "bench/loadgen/driver.hpp"
#include "bench/loadgen/jwt_signer.hpp"
#include "bench/loadgen/options.hpp"
#include "bench/loadgen/workloads.hpp"

namespace {

using namespace tally::bench;

constexpr int exit_setup_failed = 3;
constexpr int exit_run_errors = 4;
constexpr int64_t signed_token_ttl_s = 3600;
constexpr int64_t token_margin_s = 60;  // a token must outlive the run by this much

int64_t unix_now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What the phases of one invocation share.
struct session {
  const loadgen_options& options;
  std::string run_id;
  const request_writer& writer;
  const jwt_signer* signer;  // null without --jwt-key
  const token_source& tokens;
  std::vector<bench_account> accounts;  // [0, --accounts) are driven
  std::vector<bench_account> extra;     // read from the tokens file beyond that: kept
};

drive_settings base_settings(const loadgen_options& o) {
  drive_settings settings;
  settings.host = o.host;
  settings.port = o.port;
  settings.connection_count = o.connection_count;
  settings.thread_count = o.thread_count;
  settings.timeout = std::chrono::milliseconds(o.timeout_ms);
  return settings;
}

void print_failures(const char* phase, const std::vector<std::string>& samples) {
  for (const std::string& sample : samples) {
    std::fprintf(stderr, "tally_loadgen: %s: e.g. %s\n", phase, sample.c_str());
  }
}

// Runs one setup phase over its items, closed loop, printing progress. Returns
// false (after saying why) when any item failed.
bool run_phase(const session& s, const char* phase, item_workload& work, drive_stats& stats) {
  if (work.item_count() == 0) {
    return true;
  }
  drive_settings settings = base_settings(s.options);
  settings.on_progress = [&work, phase](double elapsed_s) {
    std::fprintf(stderr, "tally_loadgen: %s: %zu/%zu after %.0f s\n", phase, work.finished_count(),
                 work.item_count(), elapsed_s);
  };
  std::fprintf(stderr, "tally_loadgen: %s: %zu accounts over %u connections\n", phase,
               work.item_count(), settings.connection_count);
  std::string error;
  if (!drive(settings, work, stats, error)) {
    std::fprintf(stderr, "tally_loadgen: %s failed: %s\n", phase, error.c_str());
    return false;
  }
  if (work.failed_count() > 0) {
    std::fprintf(stderr, "tally_loadgen: %s failed for %zu of %zu accounts\n", phase,
                 work.failed_count(), work.item_count());
    print_failures(phase, work.failures());
    return false;
  }
  std::fprintf(stderr, "tally_loadgen: %s: %zu accounts in %.1f s\n", phase, work.item_count(),
               stats.measured_s);
  return true;
}

// Adds accounts until there are --accounts of them.
bool create_missing_accounts(session& s) {
  const std::size_t wanted = static_cast<std::size_t>(s.options.account_count);
  const std::size_t have = s.accounts.size();
  if (have >= wanted) {
    return true;
  }
  if (s.options.is_setup_skipped && !s.options.is_random_accounts) {
    std::fprintf(stderr, "tally_loadgen: --skip-setup: %s holds %zu accounts, --accounts is %zu\n",
                 s.options.tokens_file.c_str(), have, wanted);
    return false;
  }
  if (s.options.is_random_accounts) {
    for (std::size_t i = have; i < wanted; ++i) {
      s.accounts.push_back(bench_account{random_uuid(), {}, {}, 0});
    }
    return true;
  }
  if (!s.options.accounts_from_db.empty()) {
    std::string error;
    std::fprintf(stderr, "tally_loadgen: inserting %zu users into identity.users\n", wanted - have);
    if (!insert_users(s.options.accounts_from_db, s.run_id, have, wanted - have, s.accounts,
                      error)) {
      std::fprintf(stderr, "tally_loadgen: setup: %s\n", error.c_str());
      return false;
    }
    return true;
  }
  std::vector<std::size_t> items;
  for (std::size_t i = have; i < wanted; ++i) {
    s.accounts.push_back(bench_account{{}, bench_email(i, s.run_id), {}, 0});
    items.push_back(i);
  }
  identity_workload work(s.writer, s.accounts, std::move(items), identity_workload::register_step);
  drive_stats stats;
  return run_phase(s, "register", work, stats);
}

// Gives every driven account a token that outlives the run: signed, or by login.
bool refresh_tokens(session& s) {
  const int64_t now = unix_now_s();
  const auto needed_until =
      now + static_cast<int64_t>(std::ceil(s.options.warmup_s + s.options.duration_s)) +
      token_margin_s;
  std::vector<std::size_t> logins;
  for (std::size_t i = 0; i < s.accounts.size(); ++i) {
    bench_account& account = s.accounts[i];
    if (!account.access_token.empty() && account.expires_at_s >= needed_until) {
      continue;
    }
    if (s.signer != nullptr) {
      account.access_token =
          s.signer->sign(account.user_id, account.email, now, signed_token_ttl_s);
      account.expires_at_s = now + signed_token_ttl_s;
    } else if (!account.email.empty()) {
      logins.push_back(i);
    } else {
      std::fprintf(stderr,
                   "tally_loadgen: account %s has no e-mail to log in with: pass --jwt-key\n",
                   account.user_id.c_str());
      return false;
    }
  }
  identity_workload work(s.writer, s.accounts, std::move(logins), identity_workload::login_step);
  drive_stats stats;
  return run_phase(s, "login", work, stats);
}

bool grant_credits(session& s) {
  std::vector<std::size_t> items(s.accounts.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    items[i] = i;
  }
  grant_workload::settings settings{s.options.admin_key, effective_grant(s.options), 0, s.run_id,
                                    grant_workload::spend_after::no};
  std::fprintf(stderr, "tally_loadgen: granting %lld credits to each account\n",
               static_cast<long long>(settings.grant_credits));
  grant_workload work(s.writer, s.accounts, std::move(items), s.tokens, settings);
  drive_stats stats;
  return run_phase(s, "grant", work, stats);
}

bool prepare_accounts(session& s) {
  std::string error;
  if (!s.options.tokens_file.empty() &&
      !load_tokens_file(s.options.tokens_file, s.accounts, error)) {
    std::fprintf(stderr, "tally_loadgen: %s\n", error.c_str());
    return false;
  }
  const std::size_t wanted = static_cast<std::size_t>(s.options.account_count);
  if (s.accounts.size() > wanted) {
    s.extra.assign(
        std::make_move_iterator(s.accounts.begin() + static_cast<std::ptrdiff_t>(wanted)),
        std::make_move_iterator(s.accounts.end()));
    s.accounts.resize(wanted);
  }
  if (!create_missing_accounts(s)) {
    return false;
  }
  const bool needs_tokens = s.options.mode == run_mode::spend || s.options.is_touch_spend;
  if (needs_tokens && !refresh_tokens(s)) {
    return false;
  }
  if (s.options.mode == run_mode::spend && !s.options.is_setup_skipped && !grant_credits(s)) {
    return false;
  }
  if (!s.options.tokens_file.empty()) {
    std::vector<bench_account> all = s.accounts;
    all.insert(all.end(), s.extra.begin(), s.extra.end());
    if (!save_tokens_file(s.options.tokens_file, all, error)) {
      std::fprintf(stderr, "tally_loadgen: %s\n", error.c_str());
      return false;
    }
  }
  return true;
}

struct report {
  const char* mode = "";
  uint64_t ok = 0;     // 201 + 402 (spend); accounts touched (touch)
  uint64_t other = 0;  // answered with any other status
  double throughput_per_s = 0;
  std::vector<std::string> samples;
};

double ms(uint64_t us) {
  return static_cast<double>(us) / 1000.0;
}

void print_report(const session& s, const drive_stats& stats, const report& r) {
  const loadgen_options& o = s.options;
  const latency_histogram& h = stats.latency;
  std::printf("tally_loadgen %s: %u connections, %s, %llu accounts, %.1f s measured", r.mode,
              o.connection_count, o.rate_per_s > 0 ? "open loop" : "closed loop",
              static_cast<unsigned long long>(o.account_count), stats.measured_s);
  if (o.rate_per_s > 0) {
    std::printf(" at %.0f req/s", o.rate_per_s);
  }
  std::printf("%s\n", r.mode == std::string("spend") ? " after the warm-up" : "");
  std::printf("  answered     %llu (201: %llu, 402: %llu, other: %llu), transport errors: %llu\n",
              static_cast<unsigned long long>(stats.answered()),
              static_cast<unsigned long long>(stats.count(201)),
              static_cast<unsigned long long>(stats.count(402)),
              static_cast<unsigned long long>(r.other),
              static_cast<unsigned long long>(stats.transport_errors));
  std::printf("  throughput   %.1f %s/s\n", r.throughput_per_s,
              r.mode == std::string("spend") ? "spends (201+402)" : "accounts");
  std::printf("  latency ms   p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f\n",
              ms(h.value_at_quantile(0.50)), ms(h.value_at_quantile(0.90)),
              ms(h.value_at_quantile(0.99)), ms(h.value_at_quantile(0.999)), ms(h.max_us()),
              h.mean_us() / 1000.0);
  for (unsigned status = 0; status < status_slots; ++status) {
    if (stats.count(status) > 0 && status != 200 && status != 201 && status != 402) {
      std::printf("  status %u    %llu\n", status,
                  static_cast<unsigned long long>(stats.count(status)));
    }
  }
  for (const std::string& sample : r.samples) {
    std::printf("  e.g. %s\n", sample.c_str());
  }
  if (!o.is_json) {
    return;
  }
  nlohmann::ordered_json statuses = nlohmann::ordered_json::object();
  for (unsigned status = 0; status < status_slots; ++status) {
    if (stats.count(status) > 0) {
      statuses[std::to_string(status)] = stats.count(status);
    }
  }
  const nlohmann::ordered_json summary = {
      {"tool", "tally_loadgen"},
      {"mode", r.mode},
      {"connections", o.connection_count},
      {"threads", o.thread_count},
      {"rate", o.rate_per_s},
      {"accounts", o.account_count},
      {"duration_s", stats.measured_s},
      {"warmup_s", o.mode == run_mode::spend ? o.warmup_s : 0.0},
      {"answered", stats.answered()},
      {"ok", r.ok},
      {"status_201", stats.count(201)},
      {"status_402", stats.count(402)},
      {"other", r.other},
      {"transport_errors", stats.transport_errors},
      {"throughput_per_s", r.throughput_per_s},
      {"statuses", statuses},
      {"latency_ms",
       {{"p50", ms(h.value_at_quantile(0.50))},
        {"p90", ms(h.value_at_quantile(0.90))},
        {"p99", ms(h.value_at_quantile(0.99))},
        {"p999", ms(h.value_at_quantile(0.999))},
        {"max", ms(h.max_us())},
        {"mean", h.mean_us() / 1000.0}}},
      {"errors", r.samples}};
  std::printf(
      "%s\n",
      summary.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
}

int run_spend(const session& s) {
  spend_workload work(s.writer, s.accounts, s.accounts.size(), s.tokens, s.options.amount, s.run_id,
                      s.options.thread_count);
  drive_settings settings = base_settings(s.options);
  settings.rate_per_s = s.options.rate_per_s;
  using seconds_f = std::chrono::duration<double>;
  settings.warmup =
      std::chrono::duration_cast<bench_clock::duration>(seconds_f(s.options.warmup_s));
  settings.duration =
      std::chrono::duration_cast<bench_clock::duration>(seconds_f(s.options.duration_s));
  std::fprintf(stderr, "tally_loadgen: spending for %.1f s (+%.1f s warm-up)\n",
               s.options.duration_s, s.options.warmup_s);
  drive_stats stats;
  std::string error;
  if (!drive(settings, work, stats, error)) {
    std::fprintf(stderr, "tally_loadgen: spend run failed: %s\n", error.c_str());
    return exit_run_errors;
  }
  report r;
  r.mode = "spend";
  r.ok = stats.count(201) + stats.count(402);
  r.other = stats.answered() - r.ok;
  r.throughput_per_s = static_cast<double>(r.ok) / stats.measured_s;
  r.samples = work.unexpected().list();
  print_report(s, stats, r);
  return r.ok == 0 || r.other > 0 || stats.transport_errors > 0 ? exit_run_errors : 0;
}

int run_touch(const session& s) {
  std::vector<std::size_t> items(s.accounts.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    items[i] = i;
  }
  grant_workload::settings settings{s.options.admin_key, effective_grant(s.options),
                                    s.options.amount, s.run_id,
                                    s.options.is_touch_spend ? grant_workload::spend_after::yes
                                                             : grant_workload::spend_after::no};
  grant_workload work(s.writer, s.accounts, std::move(items), s.tokens, settings);
  drive_stats stats;
  const bool is_ok = run_phase(s, "touch", work, stats);
  report r;
  r.mode = "touch";
  r.ok = work.finished_count() - work.failed_count();
  r.other = stats.answered() - stats.count(200) - stats.count(201) - stats.count(402);
  r.throughput_per_s = stats.measured_s > 0 ? static_cast<double>(r.ok) / stats.measured_s : 0;
  r.samples = work.failures();
  print_report(s, stats, r);
  return is_ok ? 0 : exit_run_errors;
}

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  const auto options = parse_options(argc, argv, exit_code);
  if (!options) {
    return exit_code;
  }
  std::optional<jwt_signer> signer;
  if (!options->jwt_key.empty()) {
    signer.emplace(options->jwt_key, options->jwt_kid, options->jwt_issuer, options->jwt_audience);
  }
  const request_writer writer(options->host, options->port);
  const token_source tokens(signer ? &*signer : nullptr);
  session s{*options, random_hex(4), writer, signer ? &*signer : nullptr, tokens, {}, {}};
  std::fprintf(stderr, "tally_loadgen: run %s against %s:%u\n", s.run_id.c_str(),
               options->host.c_str(), options->port);
  if (!prepare_accounts(s)) {
    std::fprintf(stderr, "tally_loadgen: setup failed\n");
    return exit_setup_failed;
  }
  if (options->is_setup_only) {
    std::fprintf(stderr, "tally_loadgen: setup done: %zu accounts ready\n", s.accounts.size());
    return 0;
  }
  return options->mode == run_mode::touch ? run_touch(s) : run_spend(s);
}
