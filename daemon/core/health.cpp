#include "core/health.h"

namespace privstack {

const char* to_string(HealthState state) {
  switch (state) {
    case HealthState::ok: return "ok";
    case HealthState::degraded: return "degraded";
    case HealthState::failed: return "failed";
  }
  return "failed";
}

void Health::set(const std::string& component, HealthState state, std::string detail) {
  std::lock_guard lock(mutex_);
  components_[component] = {state, std::move(detail)};
}

std::map<std::string, ComponentHealth> Health::snapshot() const {
  std::lock_guard lock(mutex_);
  return components_;
}

HealthState Health::overall() const {
  std::lock_guard lock(mutex_);
  HealthState worst = HealthState::ok;
  for (const auto& [name, c] : components_) {
    if (static_cast<int>(c.state) > static_cast<int>(worst)) worst = c.state;
  }
  return worst;
}

}  // namespace privstack
