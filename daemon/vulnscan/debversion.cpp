#include "vulnscan/debversion.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

namespace privstack::vulnscan {
namespace {

// The C locale's classes, as dpkg's c_isdigit/c_isalpha/c_isblank/c_isspace.
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

VersionParse refuse(const char* why) {
  VersionParse r;
  r.rejected = true;
  r.problem = why;
  return r;
}

// dpkg's sort weight of one character in a non-digit run: '~' before the
// end of the string, the end before letters, letters before everything else.
int order(char c) {
  if (is_digit(c)) return 0;
  if (is_alpha(c)) return static_cast<unsigned char>(c);
  if (c == '~') return -1;
  if (c != '\0') return static_cast<unsigned char>(c) + 256;
  return 0;
}

// verrevcmp over a std::string's NUL-terminated buffer (c_str): the
// algorithm reads one past the last character, where '\0' weighs 0.
int verrevcmp(const char* a, const char* b) {
  while (*a || *b) {
    int first_diff = 0;
    while ((*a && !is_digit(*a)) || (*b && !is_digit(*b))) {
      const int ac = order(*a);
      const int bc = order(*b);
      if (ac != bc) return ac - bc;
      a++;
      b++;
    }
    while (*a == '0') a++;
    while (*b == '0') b++;
    while (is_digit(*a) && is_digit(*b)) {
      if (!first_diff) first_diff = *a - *b;
      a++;
      b++;
    }
    if (is_digit(*a)) return 1;
    if (is_digit(*b)) return -1;
    if (first_diff) return first_diff;
  }
  return 0;
}

}  // namespace

VersionParse parse_version(std::string_view text) {
  // dpkg trims leading blanks and trailing white space; anything after
  // trailing space is an embedded space.
  std::size_t begin = 0;
  while (begin < text.size() && is_blank(text[begin])) begin++;
  if (begin == text.size()) return refuse("version string is empty");
  std::size_t end = begin;
  while (end < text.size() && !is_space(text[end])) end++;
  for (std::size_t i = end; i < text.size(); ++i)
    if (!is_space(text[i])) return refuse("version string has embedded spaces");
  // dpkg stops at a NUL byte (C string); a std::string_view would not.
  const std::string s(text.substr(begin, end - begin));
  if (std::strlen(s.c_str()) != s.size()) return refuse("version string has embedded spaces");

  DebVersion v;
  std::string rest = s;
  if (const auto colon = s.find(':'); colon != std::string::npos) {
    // strtol as dpkg: optional sign, digits, and the colon right after them.
    const char* start = s.c_str();
    char* stop = nullptr;
    errno = 0;
    const long epoch = std::strtol(start, &stop, 10);
    if (stop == start) return refuse("epoch in version is empty");
    if (stop != start + colon) return refuse("epoch in version is not number");
    if (epoch < 0) return refuse("epoch in version is negative");
    if (epoch > INT_MAX || errno == ERANGE) return refuse("epoch in version is too big");
    if (colon + 1 == s.size()) return refuse("nothing after colon in version number");
    v.epoch = epoch;
    rest = s.substr(colon + 1);
  }
  if (const auto hyphen = rest.rfind('-'); hyphen != std::string::npos) {
    v.revision = rest.substr(hyphen + 1);
    rest.resize(hyphen);
    if (v.revision.empty()) return refuse("revision number is empty");
  }
  v.upstream = std::move(rest);
  if (v.upstream.empty()) return refuse("version number is empty");

  VersionParse r;
  if (!is_digit(v.upstream.front())) {
    r.problem = "version number does not start with digit";
  } else {
    for (char c : v.upstream)
      if (!is_digit(c) && !is_alpha(c) && !std::strchr(".-+~:", c)) {
        r.problem = "invalid character in version number";
        break;
      }
    if (r.problem.empty())
      for (char c : v.revision)
        if (!is_digit(c) && !is_alpha(c) && !std::strchr(".+~", c)) {
          r.problem = "invalid character in revision number";
          break;
        }
  }
  r.version = std::move(v);
  return r;
}

int compare_versions(const DebVersion& a, const DebVersion& b) {
  if (a.epoch != b.epoch) return a.epoch < b.epoch ? -1 : 1;
  if (const int r = verrevcmp(a.upstream.c_str(), b.upstream.c_str()); r != 0) return r;
  return verrevcmp(a.revision.c_str(), b.revision.c_str());
}

std::optional<int> compare_versions(std::string_view a, std::string_view b) {
  const auto pa = parse_version(a);
  const auto pb = parse_version(b);
  if (!pa.version || !pb.version) return std::nullopt;
  return compare_versions(*pa.version, *pb.version);
}

}  // namespace privstack::vulnscan
