// The audit log's routes and control commands as a module (the log itself
// is infrastructure: daemon_app opens it before any module, every module
// writes to it through ModuleContext::audit).
#include "audit/routes.h"
#include "core/module.h"

namespace privstack::audit {
namespace {

class AuditModule final : public Module {
 public:
  explicit AuditModule(AuditLog& log) : log_(log) {}
  std::string_view name() const override { return "audit"; }
  void register_routes(http::Router& router) override { audit::register_routes(log_, router); }
  void register_control_commands(http::ControlServer& control) override { audit::register_control(log_, control); }

 private:
  AuditLog& log_;
};

}  // namespace

std::unique_ptr<Module> make_module(ModuleContext& ctx) { return std::make_unique<AuditModule>(ctx.audit); }

}  // namespace privstack::audit
