// Runs the production host audit scan() in the current network namespace
// and prints its timings as one JSON line per run (bench/run-hostaudit).
// Host checks that run package tools are off: they measure apt, not us.
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "hostaudit/hostaudit.h"

int main(int argc, char** argv) {
  int runs = argc > 1 ? std::atoi(argv[1]) : 5;
  privstack::Config config;
  config.state_directory = "/nonexistent-bench-state";
  config.host_audit.allowed_ports = {{22, "tcp", {}}, {443, "tcp", {}}};
  for (int i = 0; i < runs; ++i) {
    privstack::hostaudit::ScanOptions options;
    options.run_commands = false;
    auto t = std::chrono::steady_clock::now();
    auto report = privstack::hostaudit::scan(config, options);
    double total = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
    std::size_t exposed = 0;
    for (const auto& s : report.sockets) exposed += s.exposure.verdict == privstack::hostaudit::Verdict::exposed;
    boost::json::object o{{"total_ms", total},
                          {"sockets_ms", report.sockets_ms},
                          {"firewall_ms", report.firewall_ms},
                          {"evaluate_ms", report.evaluate_ms},
                          {"checks_ms", report.checks_ms},
                          {"sockets", report.sockets.size()},
                          {"rules", report.rule_count},
                          {"exposed", exposed},
                          {"findings", report.findings.size()},
                          {"firewall_read", report.firewall_read}};
    std::cout << boost::json::serialize(o) << std::endl;
  }
  return 0;
}
