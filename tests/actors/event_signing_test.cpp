#include <catch2/catch.hpp>

#include "actors/events.hpp"

namespace tally {

TEST_CASE("sign_webhook matches the Standard Webhooks reference vector", "[webhook_signing]") {
  // The reference libraries' test vector (standard-webhooks / svix).
  const std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const std::string id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
  const std::string body = R"({"test": 2432232314})";
  CHECK(sign_webhook(secret, id, 1614265330, body) ==
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  // Any change to what is signed changes the signature.
  CHECK(sign_webhook(secret, id, 1614265331, body) !=
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  CHECK(sign_webhook(secret, id + "x", 1614265330, body) !=
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  CHECK(sign_webhook(secret, id, 1614265330, body + " ") !=
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  CHECK(sign_webhook("not-a-secret", id, 1614265330, body).empty());
}

}  // namespace tally
