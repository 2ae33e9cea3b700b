// The ledger router: finds (or spawns) the account actor for each request and
// delegates to it, so the account actor answers the original requester. It
// bounds how many account actors stay resident (least recently used are
// stopped first) and stops actors that report themselves idle. A stopped
// actor finishes its pipeline before quitting; if its account is needed again
// meanwhile, a new actor loads from the journal, and the conditional writes
// keep the two from ever both appending (the loser reloads).
//
// Also here: spawn_ledger (wiring) and the expirer (reservations and credit lots).

#include <functional>
#include <list>
#include <memory>
#include <unordered_map>

#include <caf/all.hpp>

#include "actors/ledger_internal.hpp"
#include "domain/assert.hpp"
#include "domain/ledger.hpp"
#include "logging/log.hpp"

namespace tally {
namespace {

struct resident {
  account_actor handle;
  std::list<std::string>::iterator age;  // position in the LRU list
};

struct router_state {
  static inline const char* name = "ledger_router";
  std::vector<journal_writer_actor> writers;
  ledger_reader_actor reader;
  account_settings settings;
  uint32_t resident_max = 100'000;
  std::unordered_map<std::string, resident> accounts;
  std::list<std::string> lru;  // least recently used first
  uint64_t spawned = 0;
  uint64_t passivated = 0;
};

using router_self = ledger_router_actor::stateful_pointer<router_state>;

void stop_account(router_self self, const std::string& account_id) {
  auto& st = self->state;
  auto it = st.accounts.find(account_id);
  if (it == st.accounts.end()) {
    return;
  }
  self->send(it->second.handle, stop_atom_v);
  st.lru.erase(it->second.age);
  st.accounts.erase(it);
  ++st.passivated;
}

account_actor& account_for(router_self self, const std::string& account_id) {
  auto& st = self->state;
  auto it = st.accounts.find(account_id);
  if (it != st.accounts.end()) {
    st.lru.splice(st.lru.end(), st.lru, it->second.age);  // most recently used
    return it->second.handle;
  }
  while (st.accounts.size() >= st.resident_max && !st.lru.empty()) {
    stop_account(self, st.lru.front());
  }
  // An account always writes through the same writer, so its entries stay in order.
  const std::size_t writer = std::hash<std::string>{}(account_id) % st.writers.size();
  auto handle = spawn_account(self->system(), account_id, st.writers[writer], st.reader,
                              caf::actor_cast<ledger_router_actor>(self), st.settings);
  st.lru.push_back(account_id);
  ++st.spawned;
  auto [inserted, ok] = st.accounts.emplace(account_id, resident{handle, std::prev(st.lru.end())});
  TALLY_ASSERT(ok);
  TALLY_ASSERT(st.accounts.size() <= st.resident_max);
  return inserted->second.handle;
}

ledger_router_actor::behavior_type router_behavior(router_self self,
                                                   std::vector<journal_writer_actor> writers,
                                                   ledger_reader_actor reader,
                                                   account_settings settings,
                                                   uint32_t resident_max) {
  TALLY_ASSERT(!writers.empty());
  auto& st = self->state;
  st.writers = std::move(writers);
  st.reader = std::move(reader);
  st.settings = settings;
  st.resident_max = resident_max;
  // Writers and the reader pool end with the router, whatever ends it. The
  // functors capture addresses, never the state (it is gone when they run).
  for (const auto& writer : st.writers) {
    self->attach_functor([address = writer.address()](const caf::error&) {
      caf::anon_send_exit(address, caf::exit_reason::user_shutdown);
    });
  }
  self->attach_functor([address = st.reader.address()](const caf::error&) {
    caf::anon_send_exit(address, caf::exit_reason::user_shutdown);
  });
  // At shutdown, resident account actors are told to stop while the state
  // that lists them still exists; each finishes its pipeline, then quits.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    for (auto& [id, entry] : self->state.accounts) {
      caf::anon_send_exit(entry.handle, caf::exit_reason::user_shutdown);
    }
    self->state.accounts.clear();
    self->state.lru.clear();
    self->quit(msg.reason);
  });
  return {
      [=](mutate_atom a, const ledger_request& request) {
        return self->delegate(account_for(self, request.account_id), a, request);
      },
      [=](balance_atom a, const std::string& account_id) {
        return self->delegate(account_for(self, account_id), a, account_id);
      },
      [=](open_atom a, const std::string& account_id) {
        return self->delegate(account_for(self, account_id), a, account_id);
      },
      [=](idle_atom, const std::string& account_id, const caf::actor_addr& who) {
        auto it = self->state.accounts.find(account_id);
        if (it != self->state.accounts.end() && it->second.handle.address() == who) {
          stop_account(self, account_id);
        }
      },
  };
}

// The expirer: every tick, asks the reader for pending reservations past
// expires_at and for credit lots with credits left past expires_at, and sends
// each an `expire` mutation through the router, so the account actor (the only
// writer) decides and journals. One sweep of each kind at a time; the first
// sweep runs at start-up, which also expires what expired while the engine was
// down. The reader's scan is a hint: the actor's memory decides whether there
// is anything to expire, so a stale or repeated hint expires nothing twice.
struct expirer_state {
  static inline const char* name = "ledger_expirer";
  bool sweeping_reservations = false;
  bool sweeping_lots = false;
};

using expirer_actor = caf::typed_actor<caf::reacts_to<tick_atom, uint64_t>>;
using expirer_self = expirer_actor::stateful_pointer<expirer_state>;

constexpr int64_t expiry_batch_max = 500;

// Sends one expire mutation per (account_id, id) pair; clears `sweeping` when all answered.
void expire_each(expirer_self self, const ledger_actor& router, std::chrono::milliseconds timeout,
                 const std::vector<std::string>& pairs, bool expirer_state::*sweeping,
                 const std::function<void(ledger_request&, const std::string&)>& name_target) {
  auto remaining = std::make_shared<std::size_t>(pairs.size() / 2);
  if (*remaining == 0) {
    self->state.*sweeping = false;
    return;
  }
  auto done = [self, remaining, sweeping] {
    if (--*remaining == 0) {
      self->state.*sweeping = false;
    }
  };
  for (std::size_t i = 0; i + 1 < pairs.size(); i += 2) {
    ledger_request request;
    request.account_id = pairs[i];
    request.kind = static_cast<uint8_t>(entry_kind::expire);
    request.actor = "system";
    name_target(request, pairs[i + 1]);
    self->request(router, timeout, mutate_atom_v, request)
        .then([done](const ledger_receipt&) { done(); }, [done](const caf::error&) { done(); });
  }
}

expirer_actor::behavior_type expirer_behavior(expirer_self self, ledger_actor router,
                                              ledger_reader_actor reader,
                                              std::chrono::milliseconds tick,
                                              std::chrono::milliseconds timeout) {
  self->send(self, tick_atom_v, uint64_t{0});
  return {
      [=](tick_atom, uint64_t) {
        self->delayed_send(self, tick, tick_atom_v, uint64_t{0});
        auto& st = self->state;
        if (!st.sweeping_reservations) {
          st.sweeping_reservations = true;
          self->request(reader, timeout, expired_atom_v, expiry_batch_max)
              .then(
                  [=](std::vector<std::string>& pairs) {
                    expire_each(
                        self, router, timeout, pairs, &expirer_state::sweeping_reservations,
                        [](ledger_request& r, const std::string& id) { r.reservation_id = id; });
                  },
                  [=](const caf::error&) { self->state.sweeping_reservations = false; });
        }
        if (!st.sweeping_lots) {
          st.sweeping_lots = true;
          self->request(reader, timeout, lotsweep_atom_v, expiry_batch_max)
              .then(
                  [=](std::vector<std::string>& pairs) {
                    expire_each(self, router, timeout, pairs, &expirer_state::sweeping_lots,
                                [](ledger_request& r, const std::string& id) {
                                  r.reference_type = "credit_lot";
                                  r.reference_id = id;
                                });
                  },
                  [=](const caf::error&) { self->state.sweeping_lots = false; });
        }
      },
  };
}

}  // namespace

ledger_handles spawn_ledger(caf::actor_system& sys, const config::config& cfg,
                            pool_stats_ptr reader_stats) {
  const auto timeout = std::chrono::milliseconds(cfg.actors.request_timeout_ms);
  std::vector<journal_writer_actor> writers;
  for (uint32_t i = 0; i < cfg.ledger.journal_writers; ++i) {
    writers.push_back(spawn_journal_writer(sys, cfg.databases.ledger, cfg.ledger.journal_batch_max,
                                           cfg.ledger.journal_flush_delay_us));
  }
  auto reader = spawn_ledger_reader(sys, cfg.databases.ledger, cfg.ledger.readers,
                                    cfg.actors.db_queue_depth_max, std::chrono::seconds(60),
                                    std::move(reader_stats));
  account_settings settings;
  settings.in_flight_max = cfg.ledger.in_flight_max;
  settings.idle = std::chrono::milliseconds(cfg.ledger.idle_ms);
  settings.request_timeout = timeout;
  auto router = sys.spawn(router_behavior, writers, reader, settings, cfg.ledger.resident_max);
  ledger_actor public_router = caf::actor_cast<ledger_actor>(router);
  auto expirer = sys.spawn(expirer_behavior, public_router, reader,
                           std::chrono::milliseconds(cfg.ledger.expiry_tick_ms), timeout);
  // The expirer's lifetime follows the router's.
  router->attach_functor([expirer](const caf::error&) {
    caf::anon_send_exit(expirer, caf::exit_reason::user_shutdown);
  });
  return {public_router, reader};
}

}  // namespace tally
