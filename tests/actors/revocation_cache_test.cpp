// tests/actors/revocation_cache_test.cpp: covers actors/revocation_cache.cpp
// (the node-local copy of the access-token deny list).
#include <catch2/catch.hpp>

#include "actors/revocation_cache.hpp"

using tally::revocation_cache;
using verdict = revocation_cache::verdict;

TEST_CASE("an unsynced cache defers to Postgres for every token", "[actors][revocation]") {
  revocation_cache cache;
  cache.add("s1.a", 2000);
  CHECK(cache.check("s1.a", 1000) == verdict::unknown);
  CHECK(cache.check("s1.b", 1000) == verdict::unknown);
}

TEST_CASE("a synced cache answers from memory", "[actors][revocation]") {
  revocation_cache cache;
  cache.set_synced(true);
  cache.add("s1.a", 2000);
  CHECK(cache.check("s1.a", 1000) == verdict::revoked);
  CHECK(cache.check("s1.b", 1000) == verdict::not_revoked);
}

TEST_CASE("a denied session revokes every token whose jti it prefixes", "[actors][revocation]") {
  revocation_cache cache;
  cache.set_synced(true);
  cache.add(revocation_cache::session_key("s1"), 2000);
  CHECK(cache.check("s1.first", 1000) == verdict::revoked);
  CHECK(cache.check("s1.second", 1000) == verdict::revoked);
  CHECK(cache.check("s2.other", 1000) == verdict::not_revoked);
}

TEST_CASE("an entry past its expiry no longer revokes and is pruned", "[actors][revocation]") {
  revocation_cache cache;
  cache.set_synced(true);
  cache.add("s1.a", 1000);
  CHECK(cache.check("s1.a", 1000) == verdict::revoked);
  CHECK(cache.check("s1.a", 1001) == verdict::not_revoked);
  CHECK(cache.prune(1001) == 0);
}

TEST_CASE("losing the subscription makes the cache untrusted again", "[actors][revocation]") {
  revocation_cache cache;
  cache.set_synced(true);
  cache.set_synced(false);
  CHECK(cache.check("s1.a", 1000) == verdict::unknown);
}
