// The ledger's read side: a pool of detached workers, each owning one
// Postgres connection (see ledger.hpp).

#include "actors/ledger_internal.hpp"
#include "actors/worker_pool.hpp"
#include "persistence/ledger_store.hpp"
#include "persistence/pg.hpp"

namespace tally {
namespace {

using namespace persistence;

struct reader_state {
  static inline const char* name = "ledger_reader";
  std::unique_ptr<pg_session> db;
};

using reader_self = ledger_reader_actor::stateful_pointer<reader_state>;

// Runs `body` on the worker's connection; converts failures to errc.
template <class T, class Body>
caf::result<T> query(reader_self self, Body body) {
  T value{};
  const errc failure = self->state.db->run([&](pqxx::connection& c) { value = body(c); });
  if (failure != errc{}) {
    return failure;
  }
  return value;
}

ledger_reader_actor::behavior_type reader_behavior(reader_self self, std::string database_url) {
  self->state.db = std::make_unique<pg_session>(database_url, std::chrono::seconds(30));
  return {
      [=](load_atom, const std::string& account) {
        return query<account_snapshot>(self, [&](auto& c) { return load_account(c, account); });
      },
      [=](lookup_atom, const std::string& account,
          const std::string& key) -> caf::result<ledger_receipt, std::string> {
        std::optional<std::pair<ledger_receipt, std::string>> found;
        const errc failure = self->state.db->run(
            [&](pqxx::connection& c) { found = find_keyed_entry(c, account, key); });
        if (failure != errc{}) {
          return failure;
        }
        if (!found) {
          return errc::not_found;
        }
        return caf::result<ledger_receipt, std::string>(found->first, found->second);
      },
      [=](reserv_atom, const std::string& account,
          const std::string& id) -> caf::result<reservation_row> {
        std::optional<reservation_row> row;
        const errc failure =
            self->state.db->run([&](pqxx::connection& c) { row = find_reservation(c, account, id); });
        if (failure != errc{}) {
          return failure;
        }
        if (!row) {
          return errc::reservation_not_found;
        }
        return *row;
      },
      [=](entries_atom, const entries_query& q) {
        return query<std::string>(self, [&](auto& c) { return entries_page_json(c, q); });
      },
      [=](expired_atom, int64_t limit) {
        return query<std::vector<std::string>>(
            self, [&](auto& c) { return expired_reservations(c, limit); });
      },
      [=](lotsweep_atom, int64_t limit) {
        return query<std::vector<std::string>>(self,
                                               [&](auto& c) { return expired_lots(c, limit); });
      },
      [=](open_atom, const std::string& account) {
        return query<bool>(self, [&](auto& c) { return open_account(c, account); });
      },
      [=](ping_atom) {
        return query<bool>(self, [&](auto& c) {
          pqxx::nontransaction tx{c};
          tx.exec("SELECT 1");
          return true;
        });
      },
  };
}

using reader_pool = pool_interface<ledger_reader_actor>;

reader_pool::behavior_type reader_pool_behavior(
    reader_pool::stateful_pointer<worker_pool_state<ledger_reader_actor>> self, uint32_t workers,
    uint32_t depth_max, std::chrono::milliseconds timeout, std::string database_url,
    pool_stats_ptr stats) {
  auto& sys = self->system();
  pool_start<ledger_reader_actor>(self, workers, depth_max, timeout, [&sys, database_url] {
    return sys.spawn<caf::detached>(reader_behavior, database_url);
  }, stats);
  return {
      [=](load_atom a, const std::string& id) { return pool_forward<account_snapshot>(self, a, id); },
      [=](lookup_atom a, const std::string& account, const std::string& key) {
        return pool_forward<ledger_receipt, std::string>(self, a, account, key);
      },
      [=](reserv_atom a, const std::string& account, const std::string& id) {
        return pool_forward<reservation_row>(self, a, account, id);
      },
      [=](entries_atom a, const entries_query& q) { return pool_forward<std::string>(self, a, q); },
      [=](expired_atom a, int64_t limit) {
        return pool_forward<std::vector<std::string>>(self, a, limit);
      },
      [=](lotsweep_atom a, int64_t limit) {
        return pool_forward<std::vector<std::string>>(self, a, limit);
      },
      [=](open_atom a, const std::string& id) { return pool_forward<bool>(self, a, id); },
      [=](ping_atom a) { return pool_forward<bool>(self, a); },
      [=](restart_atom, uint64_t index) { pool_restart<ledger_reader_actor>(self, index); },
  };
}

}  // namespace

ledger_reader_actor spawn_ledger_reader(caf::actor_system& sys, const std::string& database_url,
                                        uint32_t workers, uint32_t depth_max,
                                        std::chrono::milliseconds timeout, pool_stats_ptr stats) {
  auto pool = sys.spawn(reader_pool_behavior, workers, depth_max, timeout, database_url,
                        std::move(stats));
  return caf::actor_cast<ledger_reader_actor>(pool);
}

}  // namespace tally
