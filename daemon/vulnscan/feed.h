// Debian's security tracker data (https://security-tracker.debian.org/tracker/data/json):
//   { source_package: { "CVE-…" | "TEMP-…": { "description": …, "scope": …,
//       "releases": { codename: { "status": "resolved"|"open"|"undetermined",
//         "fixed_version": …, "urgency": …, "repositories": {…},
//         "nodsa": …, "nodsa_reason": "postponed"|"ignored"|"" } } } } }
// The real file is about 60 MB. It is read in bounded chunks and parsed one
// source package at a time, keeping only the entries of one release, so
// memory is the kept entries plus the largest single package.
#pragma once

#include <cstddef>
#include <istream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace privstack::vulnscan {

struct FeedEntry {
  std::string id;             // "CVE-2023-0464", "TEMP-0000000-1D5E1B"
  std::string status;         // resolved | open | undetermined
  std::string fixed_version;  // "" when none; "0": the release was never affected
  std::string urgency;        // low, medium, high, unimportant, "not yet assigned", end-of-life, …
  std::string nodsa;          // the tracker's no-DSA note, "" when none
  std::string nodsa_reason;   // postponed | ignored | ""
  std::string scope;          // local | remote | ""
  std::string description;    // first kMaxDescription bytes
};
inline constexpr std::size_t kMaxDescription = 300;

struct Feed {
  std::string release;
  std::unordered_map<std::string, std::vector<FeedEntry>> by_source;
  std::size_t packages_read = 0;  // source packages in the file, any release
  std::size_t entries_kept = 0;
};

struct FeedError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Limits: one source package's JSON may not exceed max_package_bytes.
// Throws FeedError on malformed JSON or an unexpected shape.
Feed parse_feed(std::istream& in, std::string_view release,
                std::size_t max_package_bytes = 64u << 20);

}  // namespace privstack::vulnscan
