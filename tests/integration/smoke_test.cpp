// tests/integration/smoke_test.cpp: the harness end to end. A fresh database, the real
// engine started against it, one HTTP round trip. If this fails, every other integration
// test would fail the same way: read its message (it quotes the engine log) first.
#include <catch2/catch.hpp>

#include "tests/support/test_env.hpp"

TEST_CASE("a freshly started engine reports itself live", "[integration][health]") {
  tally::test::engine_fixture fixture;
  auto client = fixture.client();

  auto response = client.get("/health/live");

  INFO(response);
  CHECK(response.status == 200);
}
