// A small Prometheus metrics registry: counters, gauges and histograms with
// labels, rendered in the text exposition format (version 0.0.4) by
// GET /metrics.
//
// Every metric family the daemon exposes is declared once, by name, in
// metrics.cpp (declare_standard_metrics); modules only call the setters
// below with that name. A name that was never declared is ignored, so a
// typo cannot add a family with the wrong type. Calls are cheap (one mutex,
// no allocation for an existing series besides the label key) and never log,
// so they are safe from inside a log observer.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace privstack::metrics {

using Label = std::pair<std::string_view, std::string_view>;

enum class Type { counter, gauge, histogram };

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Declares a family; declaring an existing name again is a no-op.
  // `buckets` (upper bounds, ascending) only for histograms.
  void declare(std::string_view name, Type type, std::string_view help, std::vector<double> buckets = {});

  void inc(std::string_view name, std::initializer_list<Label> labels = {}, double by = 1);
  void set(std::string_view name, double value, std::initializer_list<Label> labels = {});
  void observe(std::string_view name, double value, std::initializer_list<Label> labels = {});
  // Drops every series of a gauge family (before setting a fresh set of
  // label combinations, e.g. findings by severity after a scan).
  void clear(std::string_view name);

  // The value of one counter or gauge series (0 when absent); for tests.
  double value(std::string_view name, std::initializer_list<Label> labels = {}) const;

  // The whole registry in Prometheus text format.
  std::string render() const;

 private:
  struct Impl;
  Impl* impl_;
};

// The process-wide registry, with the standard families declared.
Registry& global();

// Shorthands on global().
inline void inc(std::string_view name, std::initializer_list<Label> labels = {}, double by = 1) {
  global().inc(name, labels, by);
}
inline void set(std::string_view name, double value, std::initializer_list<Label> labels = {}) {
  global().set(name, value, labels);
}
inline void observe(std::string_view name, double value, std::initializer_list<Label> labels = {}) {
  global().observe(name, value, labels);
}

// Names of the standard families (so callers do not repeat string literals).
namespace names {
inline constexpr std::string_view build_info = "privstack_build_info";
inline constexpr std::string_view start_time = "privstack_start_time_seconds";
inline constexpr std::string_view uptime = "privstack_uptime_seconds";
inline constexpr std::string_view http_requests = "privstack_http_requests_total";
inline constexpr std::string_view http_duration = "privstack_http_request_duration_seconds";
inline constexpr std::string_view tls_handshake_failures = "privstack_tls_handshake_failures_total";
inline constexpr std::string_view logins = "privstack_logins_total";
inline constexpr std::string_view permission_denied = "privstack_permission_denied_total";
inline constexpr std::string_view events = "privstack_log_events_total";
inline constexpr std::string_view incidents_open = "privstack_incidents_open";
inline constexpr std::string_view incidents_opened = "privstack_incidents_opened_total";
inline constexpr std::string_view webhook_deliveries = "privstack_webhook_deliveries_total";
inline constexpr std::string_view email_deliveries = "privstack_email_deliveries_total";
inline constexpr std::string_view hostaudit_findings = "privstack_hostaudit_findings";
inline constexpr std::string_view store_size = "privstack_store_size_bytes";
inline constexpr std::string_view backup_last_success = "privstack_backup_last_success_timestamp_seconds";
inline constexpr std::string_view backup_last_size = "privstack_backup_last_size_bytes";
inline constexpr std::string_view backup_duration = "privstack_backup_duration_seconds";
inline constexpr std::string_view backup_failures = "privstack_backup_failures_total";
inline constexpr std::string_view backup_s3_retries = "privstack_backup_s3_retries_total";
inline constexpr std::string_view wallet_locked = "privstack_wallet_locked";
inline constexpr std::string_view health_component = "privstack_health_component_state";
}  // namespace names

}  // namespace privstack::metrics
