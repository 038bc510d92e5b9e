// A test peer driver for the vulnerability scan's core, so that integration
// tests can compare it with Debian's own implementations in one process:
//   vulnscan_testtool compare            stdin: "A<TAB>B" per line; stdout: -1, 0, 1 or "error"
//   vulnscan_testtool scan STATUS FEED RELEASE
//                                    stdout: "CVE<TAB>package<TAB>fixed-or-empty<TAB>status<TAB>severity";
//                                    stderr: "parse_seconds=… peak_rss_kib=… entries=…"
#include <chrono>
#include <fstream>
#include <iostream>
#include <string>

#include "vulnscan/debversion.h"
#include "vulnscan/feed.h"
#include "vulnscan/inventory.h"
#include "vulnscan/matching.h"

namespace vs = privstack::vulnscan;

namespace {

// The peak resident set of this process image (VmHWM). Not getrusage's
// ru_maxrss: that keeps the peak of the forked parent before exec (a large
// Python test process).
long peak_rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

int compare_lines() {
  std::string line;
  while (std::getline(std::cin, line)) {
    const auto tab = line.find('\t');
    if (tab == std::string::npos) {
      std::cout << "error\n";
      continue;
    }
    const auto r = vs::compare_versions(std::string_view(line).substr(0, tab), std::string_view(line).substr(tab + 1));
    if (!r) std::cout << "error\n";
    else std::cout << (*r < 0 ? -1 : *r > 0 ? 1 : 0) << '\n';
  }
  return 0;
}

int scan(const char* status, const char* feed_path, const char* release) {
  const auto installed = vs::read_dpkg_status(status);
  std::ifstream in(feed_path, std::ios::binary);
  if (!in) {
    std::cerr << "cannot read " << feed_path << '\n';
    return 1;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const auto feed = vs::parse_feed(in, release);
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
  const long rss = peak_rss_kib();
  const auto result = vs::match(installed, feed);
  for (const auto& f : result.findings)
    std::cout << f.cve << '\t' << f.package << '\t' << f.fixed_version << '\t' << f.status << '\t'
              << vs::to_string(f.severity) << '\n';
  std::cerr << "parse_seconds=" << took.count() << " peak_rss_kib=" << rss
            << " packages=" << feed.packages_read << " entries=" << feed.entries_kept
            << " installed=" << installed.size() << " findings=" << result.findings.size()
            << " unparseable=" << result.unparseable.size() << '\n';
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "compare" && argc == 2) return compare_lines();
    if (cmd == "scan" && argc == 5) return scan(argv[2], argv[3], argv[4]);
    std::cerr << "usage: vulnscan_testtool compare | scan STATUS FEED RELEASE\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "vulnscan_testtool: " << e.what() << '\n';
    return 1;
  }
}
