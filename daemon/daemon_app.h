// The daemon process: builds the infrastructure, makes the modules of its
// module list (core/module.h, docs/architecture.md) and runs the lifecycle
// that systemd sees (Type=notify): READY=1 once the listener is bound,
// WATCHDOG=1 from the io loop, RELOADING=1/READY=1 around SIGHUP,
// STOPPING=1 and a drain of in-flight requests on SIGTERM.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/config.h"

namespace privstack {

class DaemonApp {
 public:
  explicit DaemonApp(Config config);
  ~DaemonApp();
  // Runs until SIGTERM/SIGINT; returns the process exit code.
  int run();

  // "METHOD PATTERN" of every route the daemon serves, in registration
  // order: opens (or creates) the store of `config` and registers every
  // module's routes, without listening. For the test that the permission
  // table and the router are the same set.
  static std::vector<std::string> served_routes(Config config);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace privstack
