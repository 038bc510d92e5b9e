// The installed Debian packages, read from dpkg's status database
// (/var/lib/dpkg/status) in one pass: no dpkg-query per package. Each binary
// package carries its source package and the source's own version
// ("Source: openssl (3.0.11-1~deb12u2)"), which is what the security
// tracker's fixed versions refer to. RPM hosts (rpmdb) are out of scope: the
// feed is Debian's.
#pragma once

#include <filesystem>
#include <istream>
#include <stdexcept>
#include <string>
#include <vector>

namespace privstack::vulnscan {

struct InstalledPackage {
  std::string name;
  std::string version;
  std::string architecture;
  std::string source;          // the Source field's name, else the package's name
  std::string source_version;  // "Source: name (version)", else the package's version
  std::string status;          // "install ok installed", "hold ok installed"
};

struct InventoryError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Packages whose dpkg state (the Status field's third word) is "installed",
// as debsecan counts them: "hold ok installed" is installed too;
// config-files, half-installed and not-installed are not. Throws
// InventoryError (with the line) on a stanza without Package or with a
// malformed Source field.
std::vector<InstalledPackage> parse_dpkg_status(std::istream& in);
std::vector<InstalledPackage> read_dpkg_status(const std::filesystem::path& path);

}  // namespace privstack::vulnscan
