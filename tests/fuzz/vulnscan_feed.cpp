// The security tracker feed reader (daemon/vulnscan/feed.cpp) on hostile
// input (an imported or downloaded file), then the matching against a small
// inventory. Malformed input may only throw FeedError, and the streaming
// splitter must agree with Boost.JSON reading the whole document at once:
// the feed is accepted exactly when the document is a JSON object of
// objects of objects.
#include <boost/json/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "vulnscan/feed.h"
#include "vulnscan/matching.h"

using namespace privstack::vulnscan;

namespace {

bool whole_document_has_feed_shape(const std::string& text) {
  boost::json::parse_options opt;
  opt.max_depth = 33;  // the splitter parses each package one level down with Boost's default 32
  boost::json::error_code ec;
  const auto v = boost::json::parse(text, ec, {}, opt);
  if (ec || !v.is_object()) return false;
  for (const auto& [_, pkg] : v.as_object()) {
    if (!pkg.is_object()) return false;
    for (const auto& [__, entry] : pkg.as_object())
      if (!entry.is_object()) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::istringstream in(text);
  bool accepted = true;
  Feed feed;
  try {
    feed = parse_feed(in, "bookworm");
  } catch (const FeedError&) {
    accepted = false;
  }
  if (accepted != whole_document_has_feed_shape(text)) std::abort();
  if (!accepted) return 0;
  InstalledPackage p;
  p.name = "libssl3";
  p.version = "3.0.11-1~deb12u2";
  p.architecture = "amd64";
  p.source = "openssl";
  p.source_version = p.version;
  InstalledPackage q = p;
  q.name = q.source = "a";
  q.source_version = q.version = "1:1.0~rc1-1";
  const auto r = match({p, q}, feed);
  for (const auto& f : r.findings)
    if (f.package != "libssl3" && f.package != "a") std::abort();
  return 0;
}
