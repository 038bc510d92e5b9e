// The daemon process: wires the modules together and runs the lifecycle
// that systemd sees (Type=notify): READY=1 once the listener is bound,
// WATCHDOG=1 from the io loop, RELOADING=1/READY=1 around SIGHUP,
// STOPPING=1 and a drain of in-flight requests on SIGTERM.
#pragma once

#include <memory>

#include "core/config.h"

namespace privstack {

class DaemonApp {
 public:
  explicit DaemonApp(Config config);
  ~DaemonApp();
  // Runs until SIGTERM/SIGINT; returns the process exit code.
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace privstack
