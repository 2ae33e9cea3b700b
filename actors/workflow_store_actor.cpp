// The workflow store: detached workers, each owning one Postgres connection to the workflows
// schema (cfg.databases.workflows), behind a bounded pool (actors/worker_pool.hpp). Every
// request is one short transaction; nothing here blocks a cooperative actor or an io thread.

#include <chrono>

#include "actors/worker_pool.hpp"
#include "actors/workflow_internal.hpp"
#include "logging/log.hpp"
#include "persistence/pg.hpp"
#include "persistence/workflow_store.hpp"

namespace tally {
namespace {

using namespace persistence;

struct store_worker_state {
  static inline const char* name = "workflow_store_worker";
  std::unique_ptr<pg_session> db;
};

using store_worker = workflow_store_actor::stateful_pointer<store_worker_state>;

// Runs `body` in one read-write transaction and answers its value, `missing` when it
// produced none, or the storage error.
template <class T, class Body>
caf::result<T> in_transaction(store_worker self, errc missing, Body body) {
  std::optional<T> value;
  const errc failure = self->state.db->run([&](pqxx::connection& connection) {
    pqxx::work tx{connection};
    value = body(tx);
    tx.commit();
  });
  if (failure != errc{}) {
    log::warn("workflow_store_failed", {{"error", to_string(failure)}});
    return failure;
  }
  if (!value) {
    return missing;
  }
  return std::move(*value);
}

workflow_store_actor::behavior_type store_worker_behavior(store_worker self, std::string url,
                                                          std::chrono::milliseconds timeout) {
  self->state.db = std::make_unique<pg_session>(std::move(url), timeout);
  const errc none = errc::internal;  // for bodies that always produce a value
  return {
      [=](wfcreate_atom, const workflow_row& row, const std::string& request_id) {
        return in_transaction<workflow_row>(self, none, [&](pqxx::work& tx) {
          return std::optional<workflow_row>(insert_workflow(tx, row, request_id));
        });
      },
      [=](wfget_atom, const std::string& owner, const std::string& id) {
        return in_transaction<workflow_row>(self, errc::workflow_not_found, [&](pqxx::work& tx) {
          return find_workflow(tx, owner, id);
        });
      },
      [=](wflist_atom, const page_query& query) {
        return in_transaction<workflow_page>(self, none, [&](pqxx::work& tx) {
          return std::optional<workflow_page>(list_workflows(tx, query));
        });
      },
      [=](wfupdate_atom, const workflow_change& change) {
        return in_transaction<workflow_row>(self, errc::workflow_not_found, [&](pqxx::work& tx) {
          return update_workflow(tx, change);
        });
      },
      [=](wfdelete_atom, const std::string& owner, const std::string& id,
          const std::string& request_id) {
        return in_transaction<bool>(self, errc::workflow_not_found, [&](pqxx::work& tx) {
          return delete_workflow(tx, owner, id, request_id) ? std::optional<bool>(true)
                                                            : std::nullopt;
        });
      },
      [=](runcreate_atom, const run_row& run, int64_t lease_ms) {
        return in_transaction<run_row>(self, none, [&](pqxx::work& tx) {
          return std::optional<run_row>(insert_run(tx, run, lease_ms));
        });
      },
      [=](runget_atom, const std::string& owner, const std::string& id) {
        return in_transaction<run_row>(self, errc::run_not_found,
                                       [&](pqxx::work& tx) { return find_run(tx, owner, id); });
      },
      [=](runlist_atom, const page_query& query) {
        return in_transaction<run_page>(self, errc::workflow_not_found,
                                        [&](pqxx::work& tx) { return list_runs(tx, query); });
      },
      [=](steplog_atom, const step_write& write) {
        return in_transaction<bool>(
            self, none, [&](pqxx::work& tx) { return std::optional<bool>(write_step(tx, write)); });
      },
      [=](runclaim_atom, int64_t limit, int64_t lease_ms) {
        return in_transaction<run_page>(self, none, [&](pqxx::work& tx) {
          run_page page;
          page.items = claim_unfinished_runs(tx, limit, lease_ms);
          return std::optional<run_page>(std::move(page));
        });
      },
  };
}

using store_pool = pool_interface<workflow_store_actor>;
using store_pool_state = worker_pool_state<workflow_store_actor>;

store_pool::behavior_type store_pool_behavior(store_pool::stateful_pointer<store_pool_state> self,
                                              uint32_t workers, uint32_t depth_max,
                                              std::chrono::milliseconds timeout, std::string url,
                                              pool_stats_ptr stats) {
  auto& sys = self->system();
  pool_start<workflow_store_actor>(
      self, workers, depth_max, timeout,
      [&sys, url, timeout] {
        return sys.spawn<caf::detached>(store_worker_behavior, url, timeout);
      },
      std::move(stats));
  return {
      [=](wfcreate_atom a, const workflow_row& row, const std::string& request_id) {
        return pool_forward<workflow_row>(self, a, row, request_id);
      },
      [=](wfget_atom a, const std::string& owner, const std::string& id) {
        return pool_forward<workflow_row>(self, a, owner, id);
      },
      [=](wflist_atom a, const page_query& query) {
        return pool_forward<workflow_page>(self, a, query);
      },
      [=](wfupdate_atom a, const workflow_change& change) {
        return pool_forward<workflow_row>(self, a, change);
      },
      [=](wfdelete_atom a, const std::string& owner, const std::string& id,
          const std::string& request_id) {
        return pool_forward<bool>(self, a, owner, id, request_id);
      },
      [=](runcreate_atom a, const run_row& run, int64_t lease_ms) {
        return pool_forward<run_row>(self, a, run, lease_ms);
      },
      [=](runget_atom a, const std::string& owner, const std::string& id) {
        return pool_forward<run_row>(self, a, owner, id);
      },
      [=](runlist_atom a, const page_query& query) {
        return pool_forward<run_page>(self, a, query);
      },
      [=](steplog_atom a, const step_write& write) { return pool_forward<bool>(self, a, write); },
      [=](runclaim_atom a, int64_t limit, int64_t lease_ms) {
        return pool_forward<run_page>(self, a, limit, lease_ms);
      },
      [=](restart_atom, uint64_t index) { pool_restart<workflow_store_actor>(self, index); },
  };
}

}  // namespace

workflow_store_actor spawn_workflow_store(caf::actor_system& sys, const config::config& cfg,
                                          pool_stats_ptr stats) {
  auto pool =
      sys.spawn(store_pool_behavior, cfg.workflows.db_workers, cfg.actors.db_queue_depth_max,
                std::chrono::milliseconds(cfg.actors.request_timeout_ms), cfg.databases.workflows,
                std::move(stats));
  return caf::actor_cast<workflow_store_actor>(pool);
}

}  // namespace tally
