// Incidents as a module. It observes the journal from the moment it is made
// (before serving), so the events of the start itself are seen.
#include "core/module.h"
#include "incidents/incidents.h"

namespace privstack::incidents {
namespace {

class IncidentsModule final : public Module {
 public:
  explicit IncidentsModule(ModuleContext& ctx) : service_(ctx.store, ctx.config, ctx.clock) { service_.start(); }
  ~IncidentsModule() override { service_.stop(); }
  std::string_view name() const override { return "incidents"; }
  void register_routes(http::Router& router) override { service_.register_routes(router); }
  void register_control_commands(http::ControlServer& control) override { service_.register_control(control); }
  void reload(const Config& next) override { service_.reload(next); }
  void stopped() override { service_.stop(); }

 private:
  IncidentService service_;
};

}  // namespace

std::unique_ptr<Module> make_module(ModuleContext& ctx) { return std::make_unique<IncidentsModule>(ctx); }

}  // namespace privstack::incidents
