#include "vulnscan/feed.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace privstack::vulnscan {
namespace {

namespace json = boost::json;

std::string string_field(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v) return {};
  if (const auto* s = v->if_string()) return std::string(*s);
  return {};
}

void keep_package(Feed& feed, std::string source, const json::value& v) {
  const auto* cves = v.if_object();
  if (!cves) throw FeedError("feed: package " + source + " is not an object");
  std::vector<FeedEntry> kept;
  for (const auto& [id, entry] : *cves) {
    const auto* e = entry.if_object();
    if (!e) throw FeedError("feed: " + source + "/" + std::string(id) + " is not an object");
    const auto* releases = e->if_contains("releases");
    if (!releases || !releases->is_object()) continue;
    const auto* rel = releases->as_object().if_contains(feed.release);
    if (!rel || !rel->is_object()) continue;
    const auto& r = rel->as_object();
    FeedEntry fe;
    fe.id = std::string(id);
    fe.status = string_field(r, "status");
    fe.fixed_version = string_field(r, "fixed_version");
    fe.urgency = string_field(r, "urgency");
    fe.nodsa = string_field(r, "nodsa");
    fe.nodsa_reason = string_field(r, "nodsa_reason");
    fe.scope = string_field(*e, "scope");
    fe.description = string_field(*e, "description");
    if (fe.description.size() > kMaxDescription) fe.description.resize(kMaxDescription);
    kept.push_back(std::move(fe));
  }
  feed.packages_read++;
  if (kept.empty()) return;
  feed.entries_kept += kept.size();
  auto& slot = feed.by_source[std::move(source)];
  for (auto& k : kept) slot.push_back(std::move(k));
}

// Splits the top-level object into (key, value text) pairs without parsing
// the values: a small lexer tracks strings, escapes and nesting depth.
class TopLevelSplitter {
 public:
  TopLevelSplitter(Feed& feed, std::size_t limit) : feed_(feed), limit_(limit) {}

  void feed(const char* data, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) step(data[i]);
  }

  void finish() {
    if (state_ != State::done) throw FeedError("feed: truncated JSON (the top-level object is not closed)");
  }

 private:
  enum class State { start, before_key, key, after_key, before_value, value, after_value, done };

  void fail(const char* why) { throw FeedError(std::string("feed: ") + why + " at byte " + std::to_string(offset_)); }
  static bool ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

  void step(char c) {
    ++offset_;
    switch (state_) {
      case State::start:
        if (ws(c)) return;
        if (c != '{') fail("expected an object");
        state_ = State::before_key;
        return;
      case State::before_key:
        if (ws(c)) return;
        if (c == '}' && !seen_member_) { state_ = State::done; return; }
        if (c != '"') fail("expected a package name");
        key_ = "\"";
        in_escape_ = false;
        state_ = State::key;
        return;
      case State::key:
        key_ += c;
        if (key_.size() > 4096) fail("package name too long");
        if (in_escape_) { in_escape_ = false; return; }
        if (c == '\\') { in_escape_ = true; return; }
        if (c == '"') state_ = State::after_key;
        return;
      case State::after_key:
        if (ws(c)) return;
        if (c != ':') fail("expected ':'");
        state_ = State::before_value;
        return;
      case State::before_value:
        if (ws(c)) return;
        value_.clear();
        depth_ = 0;
        in_string_ = in_escape_ = false;
        state_ = State::value;
        [[fallthrough]];
      case State::value:
        value_ += c;
        if (value_.size() > limit_) fail("one package's data exceeds the limit");
        if (in_string_) {
          if (in_escape_) in_escape_ = false;
          else if (c == '\\') in_escape_ = true;
          else if (c == '"') in_string_ = false;
          return;
        }
        if (c == '"') { in_string_ = true; return; }
        if (c == '{' || c == '[') { ++depth_; return; }
        if (c == '}' || c == ']') {
          if (--depth_ < 0) fail("unbalanced brackets");
          if (depth_ == 0) emit();
          return;
        }
        if (depth_ == 0) fail("a package's value is not an object");
        return;
      case State::after_value:
        if (ws(c)) return;
        if (c == ',') { state_ = State::before_key; return; }
        if (c == '}') { state_ = State::done; return; }
        fail("expected ',' or '}'");
        return;
      case State::done:
        if (!ws(c)) fail("data after the top-level object");
        return;
    }
  }

  void emit() {
    json::error_code ec;
    const json::value k = json::parse(key_, ec);
    if (ec || !k.is_string()) fail("malformed package name");
    json::value v = json::parse(value_, ec);
    if (ec) fail(("malformed JSON in package " + std::string(k.as_string()) + ": " + ec.message()).c_str());
    keep_package(feed_, std::string(k.as_string()), v);
    value_.clear();
    value_.shrink_to_fit();  // a large package (linux) must not pin its buffer
    seen_member_ = true;
    state_ = State::after_value;
  }

  Feed& feed_;
  std::size_t limit_;
  State state_ = State::start;
  std::string key_, value_;
  int depth_ = 0;
  bool in_string_ = false, in_escape_ = false, seen_member_ = false;
  std::size_t offset_ = 0;
};

}  // namespace

Feed parse_feed(std::istream& in, std::string_view release, std::size_t max_package_bytes) {
  Feed feed;
  feed.release = std::string(release);
  TopLevelSplitter splitter(feed, max_package_bytes);
  std::vector<char> buf(1u << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto got = in.gcount();
    if (got <= 0) break;
    splitter.feed(buf.data(), static_cast<std::size_t>(got));
  }
  if (in.bad()) throw FeedError("feed: read error");
  splitter.finish();
  return feed;
}

}  // namespace privstack::vulnscan
