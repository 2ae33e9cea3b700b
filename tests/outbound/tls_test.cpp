// tests/outbound/tls_test.cpp: covers the TLS half of outbound/http_client.cpp
// against a loopback TLS server whose self-signed certificate the test makes
// with the OpenSSL 3 API: verification against the system store and against
// ca_file, host-name and address checks, SNI, and reuse of TLS connections.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

#include <boost/asio/ssl/context.hpp>
#include <catch2/catch.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include "outbound/http_client.hpp"
#include "tests/outbound/test_server.hpp"

namespace {

using namespace std::chrono_literals;
using tally::errc;
using tally::outbound::client_options;
using tally::outbound::http_client;
using tally::outbound::outcome;
using tally::outbound::request;
using tally::outbound::retry_mode;
using tally::outbound::retry_policy;
using tally::test::server_action;
using tally::test::test_server;

struct tls_identity {
  std::string certificate_pem;
  std::string key_pem;
};

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(size));
}

void check(bool ok, const char* what) {
  if (!ok) {
    throw std::runtime_error(std::string("OpenSSL: ") + what);
  }
}

// A self-signed P-256 certificate valid for the next hour. `alt_names` is an
// OpenSSL subjectAltName value such as "DNS:localhost,IP:127.0.0.1".
tls_identity make_identity(const std::string& common_name, const std::string& alt_names) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  check(key != nullptr, "EVP_EC_gen");
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  check(cert != nullptr, "X509_new");
  check(X509_set_version(cert.get(), 2) == 1, "X509_set_version");
  static std::atomic<long> serial{1};
  check(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++) == 1, "serial");
  check(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60) != nullptr, "notBefore");
  check(X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600) != nullptr, "notAfter");
  check(X509_set_pubkey(cert.get(), key.get()) == 1, "X509_set_pubkey");
  X509_NAME* name = X509_get_subject_name(cert.get());
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                   -1, 0) == 1,
        "CN");
  check(X509_set_issuer_name(cert.get(), name) == 1, "issuer");
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, cert.get(), cert.get(), nullptr, nullptr, 0);
  X509_EXTENSION* extension =
      X509V3_EXT_conf_nid(nullptr, &context, NID_subject_alt_name, alt_names.c_str());
  check(extension != nullptr, "subjectAltName");
  check(X509_add_ext(cert.get(), extension, -1) == 1, "X509_add_ext");
  X509_EXTENSION_free(extension);
  check(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0, "X509_sign");

  std::unique_ptr<BIO, decltype(&BIO_free)> cert_bio(BIO_new(BIO_s_mem()), BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> key_bio(BIO_new(BIO_s_mem()), BIO_free);
  check(PEM_write_bio_X509(cert_bio.get(), cert.get()) == 1, "PEM_write_bio_X509");
  check(PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) ==
            1,
        "PEM_write_bio_PrivateKey");
  return {bio_text(cert_bio.get()), bio_text(key_bio.get())};
}

std::unique_ptr<boost::asio::ssl::context> server_context(const tls_identity& identity) {
  auto context = std::make_unique<boost::asio::ssl::context>(boost::asio::ssl::context::tls_server);
  context->use_certificate(boost::asio::buffer(identity.certificate_pem),
                           boost::asio::ssl::context::pem);
  context->use_private_key(boost::asio::buffer(identity.key_pem), boost::asio::ssl::context::pem);
  return context;
}

// A PEM file in the temp folder, removed when the test ends.
class temp_file {
 public:
  explicit temp_file(const std::string& text) {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("tally_outbound_ca_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) +
             ".pem");
    std::ofstream(path_) << text;
  }
  ~temp_file() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

server_action ok_answer(const tally::test::seen_request&, std::size_t) {
  return server_action::reply(200, "secure");
}

request get(const std::string& url) {
  request req;
  req.url = url;
  req.connect_timeout = 3s;
  req.timeout = 5s;
  return req;
}

retry_policy three_attempts() {
  retry_policy policy;
  policy.mode = retry_mode::unambiguous;
  policy.attempts_max = 3;
  policy.delay_min = 5ms;
  policy.delay_max = 20ms;
  return policy;
}

}  // namespace

TEST_CASE("https to a server whose certificate is in ca_file succeeds, by address and by name",
          "[outbound][tls]") {
  const tls_identity identity = make_identity("localhost", "DNS:localhost,IP:127.0.0.1");
  const auto context = server_context(identity);
  test_server server(ok_answer, context.get());
  const temp_file ca(identity.certificate_pem);
  client_options options;
  options.ca_file = ca.path();
  http_client client(options);

  const outcome by_address = client.send(get(server.base_url() + "/a"));
  REQUIRE(by_address.ok());
  CHECK(by_address.response->body == "secure");

  const outcome by_name =
      client.send(get("https://localhost:" + std::to_string(server.port()) + "/b"));
  REQUIRE(by_name.ok());
  CHECK(by_name.response->status == 200);

  const auto names = server.server_names();
  REQUIRE(names.size() == 2);  // two origins, two connections
  CHECK(names[0].empty());     // no SNI for an address (RFC 6066)
  CHECK(names[1] == "localhost");
}

TEST_CASE("TLS connections are reused", "[outbound][tls]") {
  const tls_identity identity = make_identity("localhost", "DNS:localhost,IP:127.0.0.1");
  const auto context = server_context(identity);
  test_server server(ok_answer, context.get());
  const temp_file ca(identity.certificate_pem);
  client_options options;
  options.ca_file = ca.path();
  http_client client(options);
  for (int i = 0; i < 3; ++i) {
    REQUIRE(client.send(get(server.base_url() + "/r")).ok());
  }
  CHECK(server.requests_seen() == 3);
  CHECK(server.connections_accepted() == 1);
}

TEST_CASE("a self-signed certificate not in the trust store fails, unambiguously, once",
          "[outbound][tls]") {
  const tls_identity identity = make_identity("localhost", "DNS:localhost,IP:127.0.0.1");
  const auto context = server_context(identity);
  test_server server(ok_answer, context.get());
  http_client client;  // system CA store only

  const outcome out = client.send(get(server.base_url() + "/a"), three_attempts());
  REQUIRE_FALSE(out.ok());
  CHECK(out.error == errc::gateway_unavailable);
  CHECK_FALSE(out.ambiguous);
  CHECK(out.attempts == 1);  // a certificate that fails will fail again
  CHECK(out.detail.find("verification") != std::string::npos);
  CHECK(server.requests_seen() == 0);
}

TEST_CASE("a trusted certificate for another host name fails", "[outbound][tls]") {
  const tls_identity identity = make_identity("other.example", "DNS:other.example");
  const auto context = server_context(identity);
  test_server server(ok_answer, context.get());
  const temp_file ca(identity.certificate_pem);
  client_options options;
  options.ca_file = ca.path();
  http_client client(options);

  for (const std::string host : {"127.0.0.1", "localhost"}) {
    INFO(host);
    const outcome out = client.send(
        get("https://" + host + ":" + std::to_string(server.port()) + "/a"), three_attempts());
    REQUIRE_FALSE(out.ok());
    CHECK(out.error == errc::gateway_unavailable);
    CHECK_FALSE(out.ambiguous);
    CHECK(out.attempts == 1);
    CHECK(out.detail.find("verification") != std::string::npos);
  }
  CHECK(server.requests_seen() == 0);
}

TEST_CASE("a certificate naming the address but not the name fails for the name",
          "[outbound][tls]") {
  const tls_identity identity = make_identity("ip-only", "IP:127.0.0.1");
  const auto context = server_context(identity);
  test_server server(ok_answer, context.get());
  const temp_file ca(identity.certificate_pem);
  client_options options;
  options.ca_file = ca.path();
  http_client client(options);
  CHECK(client.send(get(server.base_url() + "/a")).ok());
  const outcome by_name =
      client.send(get("https://localhost:" + std::to_string(server.port()) + "/a"));
  REQUIRE_FALSE(by_name.ok());
  CHECK(by_name.error == errc::gateway_unavailable);
}

TEST_CASE("an unreadable ca_file fails https calls with invalid_argument", "[outbound][tls]") {
  client_options options;
  options.ca_file = "/nonexistent/tally-ca.pem";
  http_client client(options);
  const outcome out = client.send(get("https://127.0.0.1:1/"), three_attempts());
  REQUIRE_FALSE(out.ok());
  CHECK(out.error == errc::invalid_argument);
  CHECK(out.attempts == 1);
  CHECK(out.detail.find("ca_file") != std::string::npos);
}
