// Host audit as a module: scans on their own thread (a long apt-get
// simulation never delays a login's Argon2 on the shared pool), the
// schedule loop, and the findings gauge for /metrics.
#include <boost/asio/thread_pool.hpp>
#include <map>

#include "core/metrics.h"
#include "core/module.h"
#include "hostaudit/hostaudit.h"

namespace privstack::hostaudit {
namespace {

class HostAuditModule final : public Module {
 public:
  explicit HostAuditModule(ModuleContext& ctx)
      : ctx_(ctx), pool_(1), service_(ctx.store, &ctx.audit, pool_.get_executor(), ctx.config, ctx.clock) {}
  ~HostAuditModule() override { pool_.join(); }
  std::string_view name() const override { return "hostaudit"; }
  void register_routes(http::Router& router) override { service_.register_routes(router); }
  void register_control_commands(http::ControlServer& control) override { service_.register_control(control); }
  void start() override { ctx_.spawn(service_.schedule_loop(ctx_.stopping)); }

  boost::asio::awaitable<void> refresh_metrics() override {
    std::map<std::string, double> counts{{"info", 0}, {"low", 0}, {"medium", 0}, {"high", 0}, {"critical", 0}};
    try {
      boost::json::object findings = co_await service_.latest_findings();
      if (auto* list = findings.if_contains("findings"); list && list->is_array()) {
        for (const auto& f : list->as_array()) {
          // Accepted findings are not open: the gauge counts what is left to fix.
          if (f.is_object() && f.as_object().contains("accepted")) continue;
          const auto* sev = f.is_object() ? f.as_object().if_contains("severity") : nullptr;
          if (sev && sev->is_string()) counts[std::string(sev->as_string())] += 1;
        }
      }
    } catch (const std::exception&) {
      co_return;  // no scan yet or the store is busy: the previous values stand
    }
    for (const auto& [sev, n] : counts) metrics::set(metrics::names::hostaudit_findings, n, {{"severity", sev}});
  }

 private:
  ModuleContext& ctx_;
  boost::asio::thread_pool pool_;
  HostAuditService service_;
};

}  // namespace

std::unique_ptr<Module> make_module(ModuleContext& ctx) { return std::make_unique<HostAuditModule>(ctx); }

}  // namespace privstack::hostaudit
