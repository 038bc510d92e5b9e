// The nftables JSON reader (daemon/hostaudit/nft_ruleset.cpp) and what the
// host audit does with a ruleset (exposure.cpp): `nft -j list ruleset`
// output is parsed, fingerprinted and evaluated for a few listening sockets.
// Malformed input may only throw NftError.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "hostaudit/exposure.h"
#include "hostaudit/nft_ruleset.h"
#include "hostaudit/sockets.h"

using namespace privstack::hostaudit;

namespace {

Socket listening(const char* proto, const char* address, std::uint16_t port) {
  Socket s;
  s.proto = proto;
  s.family = std::string_view(address).find(':') != std::string_view::npos ? 6 : 4;
  s.address = address;
  s.port = port;
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Ruleset rs;
  try {
    rs = parse_ruleset(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const NftError&) {
    return 0;
  }
  rs.fingerprint();
  rs.rule_count();
  has_input_filter(rs);
  input_policy_accept(rs);
  EvaluationContext context;
  context.interfaces = {"eth0", "wg0"};
  context.extra_prefixes = {*Prefix::parse("10.0.0.0/8"), *Prefix::parse("fd00::/8")};
  ExposureEvaluator evaluator(&rs, context);
  for (const Socket& s : {listening("tcp", "0.0.0.0", 22), listening("udp", "::", 53), listening("tcp", "192.0.2.1", 443)}) {
    evaluator.evaluate(s);
    close_command(s, &rs);
  }
  return 0;
}
