#pragma once
// The one type-ID block: every message type and atom Tally's actors exchange
// (STYLE 2.7). Atoms are at most 10 characters (CAF 0.17).

#include <caf/atom.hpp>
#include <caf/type_id.hpp>

#include "domain/ledger_records.hpp"
#include "actors/messages.hpp"

CAF_BEGIN_TYPE_ID_BLOCK(tally, caf::first_custom_type_id)
  CAF_ADD_TYPE_ID(tally, (tally::credentials))
  CAF_ADD_TYPE_ID(tally, (tally::auth_grant))
  CAF_ADD_TYPE_ID(tally, (tally::refresh_request))
  CAF_ADD_TYPE_ID(tally, (tally::logout_request))
  CAF_ADD_TYPE_ID(tally, (tally::user_profile))
  CAF_ADD_TYPE_ID(tally, (tally::rate_count))
  CAF_ADD_TYPE_ID(tally, (tally::ledger_request))
  CAF_ADD_TYPE_ID(tally, (tally::ledger_receipt))
  CAF_ADD_TYPE_ID(tally, (tally::balance_view))
  CAF_ADD_TYPE_ID(tally, (tally::journal_item))
  CAF_ADD_TYPE_ID(tally, (tally::journal_ack))
  CAF_ADD_TYPE_ID(tally, (tally::pending_reservation))
  CAF_ADD_TYPE_ID(tally, (tally::account_snapshot))
  CAF_ADD_TYPE_ID(tally, (tally::reservation_row))
  CAF_ADD_TYPE_ID(tally, (tally::entries_query))
  CAF_ADD_ATOM(tally, tally, register_atom, "register")
  CAF_ADD_ATOM(tally, tally, login_atom, "login")
  CAF_ADD_ATOM(tally, tally, refresh_atom, "refresh")
  CAF_ADD_ATOM(tally, tally, logout_atom, "logout")
  CAF_ADD_ATOM(tally, tally, profile_atom, "profile")
  CAF_ADD_ATOM(tally, tally, revoked_atom, "revoked")
  CAF_ADD_ATOM(tally, tally, deny_atom, "deny")
  CAF_ADD_ATOM(tally, tally, denied_atom, "denied")
  CAF_ADD_ATOM(tally, tally, rate_atom, "rate")
  CAF_ADD_ATOM(tally, tally, ping_atom, "ping")
  CAF_ADD_ATOM(tally, tally, prune_atom, "prune")
  CAF_ADD_ATOM(tally, tally, restart_atom, "restart")
  CAF_ADD_ATOM(tally, tally, mutate_atom, "mutate")
  CAF_ADD_ATOM(tally, tally, balance_atom, "balance")
  CAF_ADD_ATOM(tally, tally, append_atom, "append")
  CAF_ADD_ATOM(tally, tally, flush_atom, "flush")
  CAF_ADD_ATOM(tally, tally, load_atom, "load")
  CAF_ADD_ATOM(tally, tally, lookup_atom, "lookup")
  CAF_ADD_ATOM(tally, tally, reserv_atom, "reserv")
  CAF_ADD_ATOM(tally, tally, entries_atom, "entries")
  CAF_ADD_ATOM(tally, tally, expired_atom, "expired")
  CAF_ADD_ATOM(tally, tally, reconcile_atom, "reconcile")
  CAF_ADD_ATOM(tally, tally, idle_atom, "idle")
  CAF_ADD_ATOM(tally, tally, stop_atom, "stop")
  CAF_ADD_ATOM(tally, tally, tick_atom, "tick")
  CAF_ADD_ATOM(tally, tally, open_atom, "open")
CAF_END_TYPE_ID_BLOCK(tally)
