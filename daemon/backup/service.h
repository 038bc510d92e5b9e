// The backup service (docs/operations.md, "Backups"): takes a consistent
// snapshot of the store into an encrypted archive in backup.local_directory,
// ships it to S3 when backup.s3 is configured, and prunes both places with
// the retention planner. Runs per backup.schedule, never two at once, and
// always off the io threads.
//
//   POST /api/v1/backups          run a backup now (backup.manage)
//   GET  /api/v1/backups          local archives, retention preview, local and off-site copies, last run (backup.read)
//   privstackctl backup run [--json] | backup list [--json]
//
// Archives are written as ".<name>.partial" (0600), fsynced and renamed to
// "<id>.psbak", so a file with the final name is always complete; partial
// files left by a crash are removed at the next run and never listed.
#pragma once

#include "core/module.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <functional>
#include <memory>
#include <string>

#include "core/config.h"
#include "core/time.h"

namespace privstack {
class Health;
}
namespace privstack::audit {
class AuditLog;
}
namespace privstack::store {
class Store;
}
namespace privstack::http {
class Router;
class ControlServer;
}  // namespace privstack::http

namespace privstack::backup {

class BackupService {
 public:
  // `blocking` runs snapshots, uploads and pruning; `config` returns the
  // current configuration (reloads take effect at the next run); `health`
  // (optional) gets the "backup" component.
  BackupService(store::Store& store, audit::AuditLog* audit, boost::asio::any_io_executor blocking,
                std::function<std::shared_ptr<const Config>()> config, Health* health,
                Clock& clock = default_clock());
  ~BackupService();

  // Takes, ships and prunes one backup. Throws std::runtime_error when one
  // is already running ("already running") or when no archive was written.
  // An upload failure does not throw: it is in the result ("upload").
  boost::asio::awaitable<boost::json::object> run(std::string trigger, std::string actor, std::string source);
  // The local archives (newest first) with the retention preview, and
  // every copy, local and off-site ("copies"). The bucket's side comes from
  // a real listing: the last one when it is under a minute old (or a run
  // is going), else a new one; `refresh_remote` always lists anew.
  boost::asio::awaitable<boost::json::object> list(bool refresh_remote = false);

  // The keyless check of every stored copy (what backup.verify_schedule
  // runs): each local archive, and the newest one downloaded back from the
  // bucket, must still have the SHA-256 recorded at its test restore.
  // Damaged copies are logged (backup.verify_failed) and listed in the
  // result; never runs alongside a backup.
  boost::asio::awaitable<boost::json::object> verify_stored(std::string actor, std::string source);
  // Runs backups per backup.schedule, and verify_stored() per
  // backup.verify_schedule, until `stopping` is set; a backup missed while
  // the daemon was down runs at start-up.
  boost::asio::awaitable<void> schedule_loop(std::function<bool()> stopping);
  // The daemon is stopping: a backup or verification in progress ends at
  // its next chunk (the run fails with "cancelled"; nothing partial is kept,
  // and the next run starts afresh) instead of holding the stop for minutes.
  void cancel();

  // Start and SIGHUP: without a recovery key no backup can run, and the
  // "backup" health component says so before the first run fails.
  void check_configuration(const Config& c);

  void register_routes(http::Router& router);
  void register_control(http::ControlServer& control);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// This module as a daemon module (core/module.h).
std::unique_ptr<Module> make_module(ModuleContext& ctx);

}  // namespace privstack::backup
