// Backups as a module: snapshots, uploads and pruning on their own two
// threads (one for a run, which RunSlot keeps to one at a time, one so that
// listings and the progress of that run answer during it).
#include <boost/asio/thread_pool.hpp>

#include "backup/service.h"
#include "core/module.h"

namespace privstack::backup {
namespace {

class BackupModule final : public Module {
 public:
  explicit BackupModule(ModuleContext& ctx)
      : ctx_(ctx), pool_(2), service_(ctx.store, &ctx.audit, pool_.get_executor(), ctx.config, &ctx.health, ctx.clock) {}
  ~BackupModule() override { pool_.join(); }
  std::string_view name() const override { return "backup"; }
  void register_routes(http::Router& router) override { service_.register_routes(router); }
  void register_control_commands(http::ControlServer& control) override { service_.register_control(control); }
  void start() override { ctx_.spawn(service_.schedule_loop(ctx_.stopping)); }
  void reload(const Config& next) override { service_.check_configuration(next); }
  void begin_drain() override { service_.cancel(); }  // a running snapshot or upload ends at its next check

 private:
  ModuleContext& ctx_;
  boost::asio::thread_pool pool_;
  BackupService service_;
};

}  // namespace

std::unique_ptr<Module> make_module(ModuleContext& ctx) { return std::make_unique<BackupModule>(ctx); }

}  // namespace privstack::backup
