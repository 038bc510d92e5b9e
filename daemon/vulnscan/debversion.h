// Debian package versions ([epoch:]upstream[-revision]) parsed and ordered
// exactly as dpkg does (lib/dpkg/parsehelp.c parseversion, lib/dpkg/version.c
// verrevcmp), so that "is the installed version older than the fixed one"
// gives dpkg's answer. tests/integration/test_debversion.py checks the
// ordering against libapt and `dpkg --compare-versions` on generated pairs.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace privstack::vulnscan {

struct DebVersion {
  long epoch = 0;
  std::string upstream;
  std::string revision;  // "" when the version has none
};

// dpkg distinguishes errors (the version is refused: `dpkg --compare-versions`
// exits 2) from warnings (accepted with "has bad syntax": an upstream part not
// starting with a digit, characters outside [A-Za-z0-9.+~:-]). We do the same:
// `version` is set unless `rejected`; `problem` names the error or warning.
struct VersionParse {
  std::optional<DebVersion> version;
  bool rejected = false;
  std::string problem;  // dpkg's message, "" for a clean version
};

VersionParse parse_version(std::string_view text);

// <0, 0, >0 as a is older than, equal to, newer than b.
int compare_versions(const DebVersion& a, const DebVersion& b);

// Parses both and compares; nullopt when dpkg would refuse either.
std::optional<int> compare_versions(std::string_view a, std::string_view b);

}  // namespace privstack::vulnscan
