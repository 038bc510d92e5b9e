#include "core/metrics.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>

namespace privstack::metrics {

namespace {

std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// `a="x",b="y"` in the order given (callers always pass the same order).
std::string label_key(std::initializer_list<Label> labels) {
  std::string key;
  for (const auto& [k, v] : labels) {
    if (!key.empty()) key += ',';
    key += k;
    key += "=\"";
    key += escape_label(v);
    key += '"';
  }
  return key;
}

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    return buf;
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

struct Histogram {
  std::vector<std::uint64_t> counts;  // per bucket (non-cumulative)
  std::uint64_t count = 0;
  double sum = 0;
};

struct Family {
  Type type;
  std::string help;
  std::vector<double> buckets;
  std::map<std::string, double> values;        // counters and gauges
  std::map<std::string, Histogram> histograms;  // histograms
};

std::string sample(std::string_view name, const std::string& labels, std::string_view extra = {}) {
  std::string out(name);
  if (!labels.empty() || !extra.empty()) {
    out += '{';
    out += labels;
    if (!labels.empty() && !extra.empty()) out += ',';
    out += extra;
    out += '}';
  }
  return out;
}

}  // namespace

struct Registry::Impl {
  mutable std::mutex mutex;
  std::map<std::string, Family, std::less<>> families;
};

Registry::Registry() : impl_(new Impl) {}
Registry::~Registry() { delete impl_; }

void Registry::declare(std::string_view name, Type type, std::string_view help, std::vector<double> buckets) {
  std::lock_guard lock(impl_->mutex);
  if (impl_->families.find(name) != impl_->families.end()) return;
  Family f;
  f.type = type;
  f.help = std::string(help);
  f.buckets = std::move(buckets);
  impl_->families.emplace(std::string(name), std::move(f));
}

void Registry::inc(std::string_view name, std::initializer_list<Label> labels, double by) {
  std::string key = label_key(labels);
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->families.find(name);
  if (it == impl_->families.end() || it->second.type == Type::histogram) return;
  if (it->second.type == Type::counter && by < 0) return;
  it->second.values[key] += by;
}

void Registry::set(std::string_view name, double value, std::initializer_list<Label> labels) {
  std::string key = label_key(labels);
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->families.find(name);
  if (it == impl_->families.end() || it->second.type != Type::gauge) return;
  it->second.values[key] = value;
}

void Registry::observe(std::string_view name, double value, std::initializer_list<Label> labels) {
  std::string key = label_key(labels);
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->families.find(name);
  if (it == impl_->families.end() || it->second.type != Type::histogram) return;
  Family& f = it->second;
  Histogram& h = f.histograms[key];
  if (h.counts.size() != f.buckets.size()) h.counts.assign(f.buckets.size(), 0);
  for (std::size_t i = 0; i < f.buckets.size(); ++i) {
    if (value <= f.buckets[i]) {
      ++h.counts[i];
      break;
    }
  }
  ++h.count;
  h.sum += value;
}

void Registry::clear(std::string_view name) {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->families.find(name);
  if (it == impl_->families.end() || it->second.type != Type::gauge) return;
  it->second.values.clear();
}

double Registry::value(std::string_view name, std::initializer_list<Label> labels) const {
  std::string key = label_key(labels);
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->families.find(name);
  if (it == impl_->families.end()) return 0;
  auto v = it->second.values.find(key);
  return v == it->second.values.end() ? 0 : v->second;
}

std::string Registry::render() const {
  std::string out;
  std::lock_guard lock(impl_->mutex);
  for (const auto& [name, f] : impl_->families) {
    out += "# HELP " + name + " " + escape_help(f.help) + "\n";
    out += "# TYPE " + name + " " +
           (f.type == Type::counter ? "counter" : f.type == Type::gauge ? "gauge" : "histogram") + "\n";
    if (f.type != Type::histogram) {
      for (const auto& [labels, v] : f.values) out += sample(name, labels) + " " + number(v) + "\n";
      continue;
    }
    for (const auto& [labels, h] : f.histograms) {
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < f.buckets.size(); ++i) {
        cumulative += i < h.counts.size() ? h.counts[i] : 0;
        out += sample(name + "_bucket", labels, "le=\"" + number(f.buckets[i]) + "\"") + " " +
               std::to_string(cumulative) + "\n";
      }
      out += sample(name + "_bucket", labels, "le=\"+Inf\"") + " " + std::to_string(h.count) + "\n";
      out += sample(name + "_sum", labels) + " " + number(h.sum) + "\n";
      out += sample(name + "_count", labels) + " " + std::to_string(h.count) + "\n";
    }
  }
  return out;
}

namespace {

void declare_standard_metrics(Registry& r) {
  using namespace names;
  r.declare(build_info, Type::gauge, "Build information of privstackd (always 1).");
  r.declare(start_time, Type::gauge, "Start time of the daemon, seconds since the Unix epoch.");
  r.declare(uptime, Type::gauge, "Seconds since the daemon started.");
  r.declare(http_requests, Type::counter, "HTTP requests handled, by method, route pattern and status code.");
  r.declare(http_duration, Type::histogram, "Time to produce an HTTP response, by route pattern.",
            {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  r.declare(tls_handshake_failures, Type::counter, "TLS handshakes that failed or timed out.");
  r.declare(logins, Type::counter, "Console and API logins, by outcome (succeeded, failed, throttled, lockout).");
  r.declare(permission_denied, Type::counter, "Requests refused by the permission matrix, CSRF or Origin checks.");
  r.declare(events, Type::counter, "Journal events emitted, by priority.");
  r.declare(incidents_open, Type::gauge, "Incidents not yet resolved, by severity.");
  r.declare(incidents_opened, Type::counter, "Incidents opened, by rule.");
  r.declare(webhook_deliveries, Type::counter, "Webhook delivery attempts, by result (delivered, failed).");
  r.declare(email_deliveries, Type::counter,
            "Email notifications handed to the sendmail program, by result (delivered, failed).");
  r.declare(hostaudit_findings, Type::gauge, "Open host audit findings of the latest scan (not accepted as a known risk), by severity.");
  r.declare(store_size, Type::gauge, "Size of the encrypted store database file (with its WAL), bytes.");
  r.declare(backup_last_success, Type::gauge, "Time of the last successful backup, seconds since the Unix epoch.");
  r.declare(backup_last_size, Type::gauge, "Size of the last successful backup archive, bytes.");
  r.declare(backup_duration, Type::gauge, "Duration of the last backup run, seconds.");
  r.declare(backup_failures, Type::counter, "Backup runs that failed, including runs whose upload failed.");
  r.declare(backup_s3_retries, Type::counter, "S3 requests sent again after a 5xx, SlowDown or network error.");
  r.declare(wallet_locked, Type::gauge, "1 while the issuing wallet is locked, 0 while unlocked.");
  r.declare(health_component, Type::gauge,
            "Component health: 0 ok, 1 degraded, 2 failed (same components as /healthz).");
}

}  // namespace

Registry& global() {
  static Registry* r = [] {
    auto* reg = new Registry;  // never destroyed: used from detached threads at exit
    declare_standard_metrics(*reg);
    return reg;
  }();
  return *r;
}

}  // namespace privstack::metrics
