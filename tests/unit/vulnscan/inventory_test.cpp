#include <gtest/gtest.h>

#include <sstream>

#include "vulnscan/inventory.h"

namespace privstack::vulnscan {
namespace {

std::vector<InstalledPackage> parse(const std::string& text) {
  std::istringstream in(text);
  return parse_dpkg_status(in);
}

TEST(Inventory, ReadsInstalledPackagesWithTheirSource) {
  const auto pkgs = parse(
      "Package: libssl3\n"
      "Status: install ok installed\n"
      "Priority: optional\n"
      "Architecture: amd64\n"
      "Multi-Arch: same\n"
      "Source: openssl (3.0.11-1~deb12u2)\n"
      "Version: 3.0.11-1~deb12u2+b1\n"
      "Description: Secure Sockets Layer toolkit\n"
      " This package is part of the OpenSSL project.\n"
      " .\n"
      " Source: not-a-field (continuation lines are skipped)\n"
      "\n"
      "Package: bash\n"
      "Status: hold ok installed\n"
      "Architecture: amd64\n"
      "Version: 5.2.15-2+b2\n"
      "\n"
      "Package: zlib1g\n"
      "Status: install ok installed\n"
      "Architecture: amd64\n"
      "Source: zlib\n"
      "Version: 1:1.2.13.dfsg-1\n");
  ASSERT_EQ(pkgs.size(), 3u);
  EXPECT_EQ(pkgs[0].name, "libssl3");
  EXPECT_EQ(pkgs[0].source, "openssl");
  EXPECT_EQ(pkgs[0].source_version, "3.0.11-1~deb12u2");
  EXPECT_EQ(pkgs[0].version, "3.0.11-1~deb12u2+b1");
  EXPECT_EQ(pkgs[0].architecture, "amd64");
  EXPECT_EQ(pkgs[1].source, "bash");  // no Source: the package is its own source
  EXPECT_EQ(pkgs[1].source_version, "5.2.15-2+b2");
  EXPECT_EQ(pkgs[2].source, "zlib");  // Source without a version: the binary's version
  EXPECT_EQ(pkgs[2].source_version, "1:1.2.13.dfsg-1");
}

TEST(Inventory, SkipsWhatIsNotInstalled) {
  const auto pkgs = parse(
      "Package: old\nStatus: deinstall ok config-files\nVersion: 1.0\n\n"
      "Package: broken\nStatus: install reinstreq half-installed\nVersion: 1.0\n\n"
      "Package: gone\nStatus: purge ok not-installed\n\n\n"
      "Package: kept\nStatus: install ok installed\nVersion: 2.0\n");
  ASSERT_EQ(pkgs.size(), 1u);
  EXPECT_EQ(pkgs[0].name, "kept");
}

TEST(Inventory, RejectsMalformedStanzas) {
  EXPECT_THROW(parse("Status: install ok installed\nVersion: 1\n"), InventoryError);
  EXPECT_THROW(parse("Package: a\nStatus: install ok installed\nSource: x (1.0\nVersion: 1\n"), InventoryError);
  EXPECT_THROW(parse("Package: a\nnot a field\n"), InventoryError);
}

TEST(Inventory, ReadsThisHostsStatusFileWithoutErrors) {
  // The machine's own database: every installed package has a name and version.
  const auto pkgs = read_dpkg_status("/var/lib/dpkg/status");
  ASSERT_FALSE(pkgs.empty());
  for (const auto& p : pkgs) {
    EXPECT_FALSE(p.name.empty());
    EXPECT_FALSE(p.version.empty()) << p.name;
    EXPECT_FALSE(p.source.empty()) << p.name;
  }
  EXPECT_THROW(read_dpkg_status("/nonexistent/status"), InventoryError);
}

}  // namespace
}  // namespace privstack::vulnscan
