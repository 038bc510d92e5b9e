// Component health: GET /healthz (states), GET /api/v1/health and `privstackctl status` (with details).
#pragma once

#include <map>
#include <mutex>
#include <string>

namespace privstack {

enum class HealthState { ok, degraded, failed };
const char* to_string(HealthState state);

struct ComponentHealth {
  HealthState state = HealthState::ok;
  std::string detail;  // shown to authenticated callers and the CLI only
};

// Thread-safe; components report their own state.
class Health {
 public:
  void set(const std::string& component, HealthState state, std::string detail = {});
  std::map<std::string, ComponentHealth> snapshot() const;
  // The worst state of any component (ok when there are none).
  HealthState overall() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, ComponentHealth> components_;
};

}  // namespace privstack
