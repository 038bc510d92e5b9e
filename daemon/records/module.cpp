// Customer records as a module: recipients, results, support access grants,
// CSV/JSONL transfer (records.h).
#include "core/module.h"
#include "records/records.h"

namespace privstack::records {
namespace {

class RecordsModule final : public Module {
 public:
  explicit RecordsModule(ModuleContext& ctx) : service_(ctx.store, ctx.audit, {}, ctx.clock) {}
  std::string_view name() const override { return "records"; }
  void register_routes(http::Router& router) override { service_.register_routes(router); }
  void register_control_commands(http::ControlServer& control) override { service_.register_control(control); }

 private:
  RecordsService service_;
};

}  // namespace

std::unique_ptr<Module> make_module(ModuleContext& ctx) { return std::make_unique<RecordsModule>(ctx); }

}  // namespace privstack::records
