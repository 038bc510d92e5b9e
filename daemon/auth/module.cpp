// Authentication's routes, control commands and reloadable settings as a
// module. The AuthService itself is infrastructure (its middleware guards
// every route), so daemon_app makes it and hands it to this adapter.
#include "auth/auth.h"
#include "core/module.h"

namespace privstack::auth {
namespace {

class AuthModule final : public Module {
 public:
  explicit AuthModule(AuthService& service) : service_(service) {}
  std::string_view name() const override { return "auth"; }
  void register_routes(http::Router& router) override { service_.register_routes(router); }
  void register_control_commands(http::ControlServer& control) override { service_.register_control(control); }
  void reload(const Config& next) override { service_.update_settings(Settings::from_config(next)); }

 private:
  AuthService& service_;
};

}  // namespace

std::unique_ptr<Module> make_module(AuthService& service) { return std::make_unique<AuthModule>(service); }

}  // namespace privstack::auth
