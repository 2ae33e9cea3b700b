#include "actors/reconciler.hpp"

#include <chrono>

#include <caf/all.hpp>

#include "logging/log.hpp"
#include "persistence/pg.hpp"
#include "persistence/reconcile_store.hpp"

namespace tally {
namespace {

// Per statement: one page of accounts, its holds or its entries.
constexpr std::chrono::seconds page_statement_timeout{60};

struct reconciler_state {
  static inline const char* name = "ledger_reconciler";
  std::unique_ptr<persistence::pg_session> db;
  std::shared_ptr<const std::atomic<bool>> cancelled;
};

using reconciler_self = reconciler_actor::stateful_pointer<reconciler_state>;

reconciler_actor::behavior_type reconciler_behavior(
    reconciler_self self, std::string database_url,
    std::shared_ptr<const std::atomic<bool>> cancelled) {
  self->state.db = std::make_unique<persistence::pg_session>(database_url, page_statement_timeout);
  self->state.cancelled = std::move(cancelled);
  return {
      [=](reconcile_atom) -> caf::result<std::string> {
        auto& st = self->state;
        const auto started = std::chrono::steady_clock::now();
        std::optional<std::string> report;
        const errc failure = st.db->run([&](pqxx::connection& c) {
          report = persistence::reconcile_report_json(c, st.cancelled.get());
        });
        if (failure != errc{}) {
          return failure;
        }
        if (!report) {
          log::info("reconcile_cancelled");
          return errc::storage_unavailable;
        }
        log::info("reconcile_done", {{"ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::steady_clock::now() - started)
                                                .count()},
                                     {"ok", report->find("\"ok\":true") != std::string::npos}});
        return std::move(*report);
      },
  };
}

}  // namespace

reconciler_actor spawn_reconciler(caf::actor_system& sys, const std::string& database_url,
                                  std::shared_ptr<const std::atomic<bool>> cancelled) {
  return sys.spawn<caf::detached>(reconciler_behavior, database_url, std::move(cancelled));
}

}  // namespace tally
