#pragma once
// The one type-ID block: every message type and atom Tally's actors exchange
// (STYLE 2.7). Atoms are at most 10 characters (CAF 0.17).

#include <caf/atom.hpp>
#include <caf/type_id.hpp>

#include "actors/messages.hpp"

CAF_BEGIN_TYPE_ID_BLOCK(tally, caf::first_custom_type_id)
  CAF_ADD_TYPE_ID(tally, (tally::credentials))
  CAF_ADD_TYPE_ID(tally, (tally::auth_grant))
  CAF_ADD_TYPE_ID(tally, (tally::refresh_request))
  CAF_ADD_TYPE_ID(tally, (tally::logout_request))
  CAF_ADD_TYPE_ID(tally, (tally::user_profile))
  CAF_ADD_TYPE_ID(tally, (tally::rate_count))
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
CAF_END_TYPE_ID_BLOCK(tally)
