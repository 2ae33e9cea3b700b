#pragma once
// Private to the ledger's actors: the interfaces between router, account
// actors and writers, and their spawn functions.

#include <string>

#include "actors/ledger.hpp"
#include "actors/pool_stats.hpp"

namespace tally {

// The router also hears from its account actors when they go idle.
using ledger_router_actor =
    ledger_actor::extend<caf::reacts_to<idle_atom, std::string, caf::actor_addr>>;

// An account actor also takes stop (from the router) and its own idle ticks.
using account_actor =
    ledger_actor::extend<caf::reacts_to<stop_atom>, caf::reacts_to<tick_atom, uint64_t>>;

struct account_settings {
  uint32_t in_flight_max = 64;
  std::chrono::milliseconds idle{30'000};
  std::chrono::milliseconds request_timeout{5'000};
};

journal_writer_actor spawn_journal_writer(caf::actor_system& sys, const std::string& database_url,
                                          uint32_t batch_max, uint32_t flush_delay_us);

ledger_reader_actor spawn_ledger_reader(caf::actor_system& sys, const std::string& database_url,
                                        uint32_t workers, uint32_t depth_max,
                                        std::chrono::milliseconds timeout, pool_stats_ptr stats);

account_actor spawn_account(caf::actor_system& sys, std::string account_id,
                            journal_writer_actor writer, ledger_reader_actor reader,
                            ledger_router_actor router, account_settings settings);

}  // namespace tally
