// tests/outbound/target_policy_test.cpp: covers outbound/target_policy.cpp.
// Each address class, IPv4 inside IPv6, the allow/deny lists and the URL check.
#include "outbound/target_policy.hpp"

#include <string>

#include <catch2/catch.hpp>

namespace {

using tally::outbound::address_class;
using tally::outbound::classify;
using tally::outbound::ip_address;
using tally::outbound::parse_ip_address;
using tally::outbound::target_policy;
using tally::outbound::target_policy_settings;

ip_address address(const std::string& text) {
  const auto parsed = parse_ip_address(text);
  INFO(text);
  REQUIRE(parsed.has_value());
  return *parsed;
}

address_class class_of(const std::string& text) {
  return classify(address(text));
}

target_policy make(const target_policy_settings& settings) {
  auto policy = target_policy::make(settings);
  REQUIRE(policy);
  return *policy;
}

bool allows(const target_policy& policy, const std::string& host, const std::string& text) {
  return policy.check_address(host, address(text)).is_allowed;
}

}  // namespace

TEST_CASE("addresses parse strictly", "[outbound][policy]") {
  CHECK(parse_ip_address("10.0.0.1").has_value());
  CHECK(parse_ip_address("255.255.255.255").has_value());
  CHECK(parse_ip_address("::1").has_value());
  CHECK(parse_ip_address("::ffff:10.0.0.1").has_value());
  for (const char* bad : {"", "127.1", "010.0.0.1", "10.0.0.256", "10.0.0", "10.0.0.1.2",
                          "0x7f.0.0.1", "2130706433", "fe80::1%eth0", "[::1]", "::g", "1.2.3.4 "}) {
    INFO(bad);
    CHECK_FALSE(parse_ip_address(bad).has_value());
  }
  CHECK(tally::outbound::to_string(address("::ffff:10.0.0.1")) == "::ffff:10.0.0.1");
  CHECK(tally::outbound::to_string(address("192.168.1.20")) == "192.168.1.20");
}

TEST_CASE("IPv4 addresses are classified", "[outbound][policy]") {
  CHECK(class_of("8.8.8.8") == address_class::global);
  CHECK(class_of("93.184.216.34") == address_class::global);
  CHECK(class_of("127.0.0.1") == address_class::loopback);
  CHECK(class_of("127.255.1.2") == address_class::loopback);
  CHECK(class_of("10.1.2.3") == address_class::private_network);
  CHECK(class_of("172.16.0.1") == address_class::private_network);
  CHECK(class_of("172.31.255.255") == address_class::private_network);
  CHECK(class_of("172.32.0.1") == address_class::global);
  CHECK(class_of("172.15.255.255") == address_class::global);
  CHECK(class_of("192.168.1.1") == address_class::private_network);
  CHECK(class_of("100.64.0.1") == address_class::shared);
  CHECK(class_of("100.127.255.255") == address_class::shared);
  CHECK(class_of("100.128.0.1") == address_class::global);
  CHECK(class_of("169.254.169.254") == address_class::link_local);
  CHECK(class_of("0.0.0.0") == address_class::unspecified);
  CHECK(class_of("0.1.2.3") == address_class::unspecified);
  CHECK(class_of("224.0.0.1") == address_class::multicast);
  CHECK(class_of("239.255.255.250") == address_class::multicast);
  CHECK(class_of("255.255.255.255") == address_class::broadcast);
  CHECK(class_of("240.0.0.1") == address_class::reserved);
  CHECK(class_of("192.0.2.1") == address_class::reserved);
  CHECK(class_of("198.18.0.1") == address_class::reserved);
  CHECK(class_of("203.0.113.9") == address_class::reserved);
}

TEST_CASE("IPv6 addresses are classified", "[outbound][policy]") {
  CHECK(class_of("2606:4700::1111") == address_class::global);
  CHECK(class_of("::1") == address_class::loopback);
  CHECK(class_of("::") == address_class::unspecified);
  CHECK(class_of("fc00::1") == address_class::private_network);
  CHECK(class_of("fd12:3456::1") == address_class::private_network);
  CHECK(class_of("fe80::1") == address_class::link_local);
  CHECK(class_of("febf::1") == address_class::link_local);
  CHECK(class_of("fec0::1") == address_class::reserved);  // site-local, deprecated
  CHECK(class_of("ff02::1") == address_class::multicast);
  CHECK(class_of("2001:db8::1") == address_class::reserved);
  CHECK(class_of("2001::1") == address_class::reserved);     // Teredo
  CHECK(class_of("::10.0.0.1") == address_class::reserved);  // IPv4-compatible, deprecated
  CHECK(class_of("100::1") == address_class::reserved);
}

TEST_CASE("IPv4 carried in IPv6 is judged as the IPv4 address", "[outbound][policy]") {
  CHECK(class_of("::ffff:127.0.0.1") == address_class::loopback);
  CHECK(class_of("::ffff:10.0.0.1") == address_class::private_network);
  CHECK(class_of("::ffff:169.254.169.254") == address_class::link_local);
  CHECK(class_of("::ffff:8.8.8.8") == address_class::global);
  CHECK(class_of("64:ff9b::a00:1") == address_class::private_network);  // NAT64 of 10.0.0.1
  CHECK(class_of("2002:7f00:1::1") == address_class::loopback);         // 6to4 of 127.0.0.1
  CHECK(class_of("2002:808:808::1") == address_class::global);          // 6to4 of 8.8.8.8
  CHECK(tally::outbound::is_metadata_address(address("::ffff:169.254.169.254")));
}

TEST_CASE("the default policy allows public addresses only", "[outbound][policy]") {
  const target_policy policy;
  CHECK(allows(policy, "api.omise.co", "8.8.8.8"));
  CHECK(allows(policy, "", "2606:4700::1111"));
  for (const char* refused :
       {"127.0.0.1", "10.0.0.1", "172.20.1.1", "192.168.0.10", "100.64.1.1", "169.254.169.254",
        "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fd00::1", "fe80::1",
        "::ffff:127.0.0.1", "::ffff:192.168.0.1", "64:ff9b::7f00:1", "2002:c0a8:1::1"}) {
    INFO(refused);
    CHECK_FALSE(allows(policy, "evil.example", refused));
  }
  CHECK(std::string(policy.check_address("", address("10.0.0.1")).reason) == "private address");
}

TEST_CASE("dev mode allows private addresses but not metadata or non-unicast",
          "[outbound][policy]") {
  target_policy_settings settings;
  settings.allow_private = true;
  const target_policy policy = make(settings);
  for (const char* allowed : {"127.0.0.1", "10.0.0.1", "192.168.0.10", "100.64.1.1", "169.254.1.1",
                              "::1", "fd00::1", "fe80::1", "8.8.8.8"}) {
    INFO(allowed);
    CHECK(allows(policy, "host.test", allowed));
  }
  for (const char* refused :
       {"169.254.169.254", "::ffff:169.254.169.254", "100.100.100.200", "fd00:ec2::254", "0.0.0.0",
        "::", "224.0.0.1", "255.255.255.255", "240.0.0.1"}) {
    INFO(refused);
    CHECK_FALSE(allows(policy, "host.test", refused));
  }
}

TEST_CASE("allow-listed names and networks open private addresses", "[outbound][policy]") {
  target_policy_settings settings;
  settings.allow_hosts = {"Hooks.Internal.Example.", "10.20.0.0/16", "fd12::/16", "192.168.5.5"};
  const target_policy policy = make(settings);
  CHECK(allows(policy, "hooks.internal.example", "10.9.9.9"));  // by name, any private address
  CHECK(allows(policy, "hooks.internal.example", "::1"));
  CHECK_FALSE(allows(policy, "other.example", "10.9.9.9"));
  CHECK(allows(policy, "other.example", "10.20.1.2"));  // by network, any name
  CHECK(allows(policy, "other.example", "::ffff:10.20.1.2"));
  CHECK_FALSE(allows(policy, "other.example", "10.21.0.1"));
  CHECK(allows(policy, "", "fd12:1::5"));
  CHECK_FALSE(allows(policy, "", "fd13::5"));
  CHECK(allows(policy, "", "192.168.5.5"));
  CHECK_FALSE(allows(policy, "", "192.168.5.6"));
  // A name does not unlock metadata or non-unicast; only a network entry could.
  CHECK_FALSE(allows(policy, "hooks.internal.example", "169.254.169.254"));
  CHECK_FALSE(allows(policy, "hooks.internal.example", "0.0.0.0"));
}

TEST_CASE("deny entries win over allow entries and over dev mode", "[outbound][policy]") {
  target_policy_settings settings;
  settings.allow_private = true;
  settings.allow_hosts = {"10.0.0.0/8", "blocked.example"};
  settings.deny_hosts = {"10.66.0.0/16", "blocked.example", "8.8.4.4"};
  const target_policy policy = make(settings);
  CHECK(allows(policy, "", "10.1.1.1"));
  CHECK_FALSE(allows(policy, "", "10.66.1.1"));
  CHECK_FALSE(allows(policy, "", "::ffff:10.66.1.1"));
  CHECK_FALSE(allows(policy, "blocked.example", "8.8.8.8"));
  CHECK_FALSE(allows(policy, "BLOCKED.example.", "8.8.8.8"));
  CHECK_FALSE(allows(policy, "", "8.8.4.4"));
  CHECK(allows(policy, "", "8.8.8.8"));
}

TEST_CASE("invalid list entries are reported and refused", "[outbound][policy]") {
  target_policy_settings settings;
  settings.allow_hosts = {"good.example", "10.0.0.0/8"};
  settings.deny_hosts = {"10.0.0.0/33"};
  CHECK(tally::outbound::first_invalid_entry(settings) == "10.0.0.0/33");
  CHECK_FALSE(target_policy::make(settings));
  for (const char* bad : {"", "http://x.example", "x.example:80", "bad host", "127.1", "fd00::/129",
                          "10.0.0.0/", "-x.example", "*.example.com"}) {
    INFO(bad);
    target_policy_settings one;
    one.allow_hosts = {bad};
    CHECK_FALSE(tally::outbound::first_invalid_entry(one).empty());
    CHECK_FALSE(target_policy::make(one));
  }
  target_policy_settings valid;
  valid.allow_hosts = {"a.example", "fd00::/8", "::1", "1.2.3.4/32"};
  CHECK(tally::outbound::first_invalid_entry(valid).empty());
}

TEST_CASE("URLs are checked before any lookup", "[outbound][policy]") {
  const target_policy strict;
  CHECK(strict.check_url("https://hooks.example.com/in").is_allowed);
  CHECK_FALSE(strict.check_url("https://127.0.0.1/in").is_allowed);
  CHECK_FALSE(strict.check_url("http://[::ffff:7f00:1]/in").is_allowed);
  CHECK_FALSE(strict.check_url("https://localhost:8080/in").is_allowed);
  CHECK_FALSE(strict.check_url("https://api.localhost/in").is_allowed);
  CHECK_FALSE(strict.check_url("https://169.254.169.254/latest/meta-data").is_allowed);
  CHECK_FALSE(strict.check_url("ftp://hooks.example.com/").is_allowed);
  CHECK_FALSE(strict.check_url("https://user@hooks.example.com/").is_allowed);
  CHECK_FALSE(strict.check_url("https://0x7f.1/").is_allowed);
  CHECK_FALSE(strict.check_url("https://2130706433/").is_allowed);

  target_policy_settings settings;
  settings.allow_private = true;
  settings.deny_hosts = {"internal.example"};
  const target_policy dev = make(settings);
  CHECK(dev.check_url("http://127.0.0.1:9000/hook").is_allowed);
  CHECK(dev.check_url("http://localhost:9000/hook").is_allowed);
  CHECK_FALSE(dev.check_url("https://internal.example/x").is_allowed);
  CHECK_FALSE(dev.check_url("https://Internal.Example./x").is_allowed);
}
