// The records API (docs/openapi.yaml) and control commands.
#include <boost/json.hpp>
#include <charconv>
#include <memory>

#include "audit/routes.h"
#include "auth/permissions.h"
#include "http/body.h"
#include "core/log.h"
#include "core/time.h"
#include "records/records.h"

namespace privstack::records {

namespace asio = boost::asio;
namespace json = boost::json;
using http::Request;
using http::Response;

namespace {

std::optional<std::int64_t> to_int(std::string_view s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::int64_t id_param(const Request& r) {
  auto it = r.params.find("id");
  if (it == r.params.end()) return 0;
  auto v = to_int(it->second);
  return v && *v > 0 ? *v : 0;
}

std::optional<std::int64_t> int_query(const Request& r, std::string_view name, std::int64_t min, std::int64_t max) {
  auto v = r.query_param(name);
  if (!v) return std::nullopt;
  auto i = to_int(*v);
  if (!i || *i < min || *i > max) {
    throw Error(ErrorCode::invalid_argument, std::string(name) + ": an integer from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return i;
}

std::optional<std::int64_t> time_query(const Request& r, std::string_view name) {
  auto v = r.query_param(name);
  if (!v) return std::nullopt;
  auto t = audit::parse_time(*v);
  if (!t) throw Error(ErrorCode::invalid_argument, std::string(name) + ": YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or Unix seconds");
  return t;
}

json::object parse_body(const Request& r) {
  // An empty body is not an object here: every records write needs fields.
  return http::read_json_object(r, {.empty_is_object = false});
}

Response validation_problem(const std::vector<FieldError>& errors) {
  Error e(ErrorCode::validation_failed, "Some fields are not valid.");
  e.field_errors = errors;
  return Response::problem(e);
}

std::string list_detail(std::size_t n, std::int64_t first, std::int64_t last, const std::vector<std::string>& filters) {
  std::string d = std::to_string(n) + " returned";
  if (n > 0) d += " (ids " + std::to_string(first) + ".." + std::to_string(last) + ")";
  if (!filters.empty()) {
    d += "; filters:";
    for (const auto& f : filters) d += " " + f;
  }
  return d;
}

template <class T>
json::object page_json(const std::vector<T>& items, int limit) {
  json::array arr;
  for (const auto& i : items) arr.push_back(to_json(i));
  json::object doc;
  doc["items"] = std::move(arr);
  if (!items.empty() && static_cast<int>(items.size()) == limit) doc["next_cursor"] = std::to_string(items.back().id);
  else doc["next_cursor"] = nullptr;
  return doc;
}

// Adds validation errors for fields that have no (type) error yet.
void merge_errors(std::vector<FieldError>& errors, const std::vector<FieldError>& more) {
  for (const auto& e : more) {
    bool seen = false;
    for (const auto& x : errors) seen = seen || x.field == e.field;
    if (!seen) errors.push_back(e);
  }
}

struct Caller {
  std::string actor;
  std::string source;
  std::string user;
  bool support = false;
};

}  // namespace

RecordsService::RecordsService(store::Store& store, audit::AuditLog& audit, Settings settings, Clock& clock)
    : store_(store), audit_(audit), settings_(settings), clock_(clock) {
  Repository::migrate(store_);
}

void RecordsService::register_routes(http::Router& router) {
  store::Store* st = &store_;
  audit::AuditLog* al = &audit_;
  Clock* clk = &clock_;
  Settings settings = settings_;

  // Runs `body` in one write transaction together with its audit entry
  // (`action` on `object`, which body may refine). A support caller needs an
  // active access grant; its reason goes into the entry. `body` runs in a
  // savepoint: when it throws an Error or returns an error status, its
  // changes are undone but the audit entry of the attempt is kept.
  using Body = std::function<Response(store::Connection&, audit::Entry&)>;
  auto run = [st, al, clk](const Request& r, std::string action, std::string object,
                      Body body) -> asio::awaitable<Response> {
    if (!r.identity) co_return Response::problem(ErrorCode::unauthenticated, "Sign in first.");
    // Without records_read_any (support), each access needs an active grant.
    bool needs_grant = !auth::role_has(r.identity->role, auth::Permission::records_read_any);
    Caller caller{audit::actor_of(r), r.remote_address, r.identity->user, needs_grant};
    auto work = [al, clk, caller, action, object, body](store::Connection& c) -> Response {
      audit::Entry e;
      e.actor = caller.actor;
      e.source = caller.source;
      e.action = action;
      e.object = object;
      if (caller.support) {
        auto grant = Repository::active_grant(c, caller.user, clk->unix_seconds());
        if (!grant) {
          e.outcome = std::string(audit::kDenied);
          e.detail = "no active access grant";
          al->append(c, e);
          return Response::problem(Error(ErrorCode::forbidden,
                                         "Support access to customer data needs a stated reason: create an "
                                         "access grant (POST /api/v1/records/access-grants) first.")
                                       .with_reason("reason_required"));
        }
        e.reason = grant->audit_reason();
        e.detail = "grant " + std::to_string(grant->id);
      }
      Response res;
      {
        store::Transaction sp(c);
        try {
          res = body(c, e);
        } catch (const Error& refused) {
          // A conflict (external_id taken, no such recipient): undone, and
          // the attempt is audited as a failure. Store failures propagate.
          if (refused.code() != ErrorCode::conflict) throw;
          res = Response::problem(refused);
          if (e.detail.empty()) e.detail = refused.message();
        }
        if (res.status < 400) sp.commit();
      }
      e.outcome = std::string(res.status < 400 ? audit::kSuccess : audit::kFailure);
      al->append(c, e);
      return res;
    };
    co_return co_await st->async_write(std::move(work));
  };
  auto add_detail = [](audit::Entry& e, const std::string& d) {
    e.detail = e.detail.empty() ? d : e.detail + "; " + d;
  };

  // ---- recipients
  router.add("GET", "/api/v1/recipients", [run, add_detail](Request& r) -> asio::awaitable<Response> {
    RecipientFilter f;
    std::vector<std::string> used;
    f.after_id = int_query(r, "cursor", 0, INT64_MAX).value_or(0);
    f.limit = static_cast<int>(int_query(r, "limit", 1, 1000).value_or(100));
    f.external_id = r.query_param("external_id");
    f.email = r.query_param("email");
    f.group = r.query_param("group");
    for (auto n : {"external_id", "email", "group"}) {
      if (r.query_param(n)) used.emplace_back(n);
    }
    // Named first: GCC 12 destroys temporaries in co_await expressions twice.
    auto op = run(r, "records.recipient.list", "recipients", [f, used, add_detail](store::Connection& c, audit::Entry& e) {
      auto items = Repository::list(c, f);
      add_detail(e, list_detail(items.size(), items.empty() ? 0 : items.front().id,
                                items.empty() ? 0 : items.back().id, used));
      return Response::json(200, page_json(items, f.limit));
    });
    co_return co_await std::move(op);
  });

  router.add("POST", "/api/v1/recipients", [run, clk](Request& r) -> asio::awaitable<Response> {
    json::object in;
    in = parse_body(r);
    Recipient rec;
    std::vector<FieldError> errors;
    apply_json(in, rec, true, errors);
    merge_errors(errors, validate(rec));
    if (!errors.empty()) co_return validation_problem(errors);
    // Named first: GCC 12 destroys temporaries in co_await expressions twice.
    auto op = run(r, "records.recipient.create", "recipient", [rec, clk](store::Connection& c, audit::Entry& e) mutable {
      Repository::insert(c, rec, *clk);
      e.object = "recipient:" + std::to_string(rec.id);
      Response res = Response::json(201, to_json(rec));
      res.set_header("Location", "/api/v1/recipients/" + std::to_string(rec.id));
      return res;
    });
    co_return co_await std::move(op);
  });

  router.add("GET", "/api/v1/recipients/{id}", [run](Request& r) -> asio::awaitable<Response> {
    std::int64_t id = id_param(r);
    // Named first: GCC 12 destroys temporaries in co_await expressions twice.
    auto op = run(r, "records.recipient.read", "recipient:" + std::to_string(id),
                           [id](store::Connection& c, audit::Entry&) {
                             auto rec = Repository::recipient(c, id);
                             if (!rec) return Response::problem(ErrorCode::not_found, "No such recipient.");
                             return Response::json(200, to_json(*rec));
                           });
    co_return co_await std::move(op);
  });

  router.add("PATCH", "/api/v1/recipients/{id}", [run, clk](Request& r) -> asio::awaitable<Response> {
    std::int64_t id = id_param(r);
    json::object in;
    in = parse_body(r);
    // Named first: GCC 12 destroys temporaries in co_await expressions twice.
    auto op = run(r, "records.recipient.update", "recipient:" + std::to_string(id),
                           [id, in, clk](store::Connection& c, audit::Entry& e) {
                             auto rec = Repository::recipient(c, id);
                             if (!rec) return Response::problem(ErrorCode::not_found, "No such recipient.");
                             std::vector<FieldError> errors;
                             apply_json(in, *rec, false, errors);
                             merge_errors(errors, validate(*rec));
                             if (!errors.empty()) return validation_problem(errors);
                             std::string fields;
                             for (const auto& [k, v] : in) fields += (fields.empty() ? "" : ",") + std::string(k);
                             e.detail = e.detail.empty() ? "fields " + fields : e.detail + "; fields " + fields;
                             Repository::update(c, *rec, *clk);
                             return Response::json(200, to_json(*Repository::recipient(c, id)));
                           });
    co_return co_await std::move(op);
  });

  router.add("DELETE", "/api/v1/recipients/{id}", [run](Request& r) -> asio::awaitable<Response> {
    std::int64_t id = id_param(r);
    // Named first: GCC 12 destroys temporaries in co_await expressions twice.
    auto op = run(r, "records.recipient.delete", "recipient:" + std::to_string(id),
                           [id](store::Connection& c, audit::Entry&) {
                             if (!Repository::delete_recipient(c, id)) {
                               return Response::problem(ErrorCode::not_found, "No such recipient.");
                             }
                             Response res;
                             res.status = 204;
                             return res;
                           });
    co_return co_await std::move(op);
  });

  // ---- results
  router.add("GET", "/api/v1/results", [run, add_detail](Request& r) -> asio::awaitable<Response> {
    ResultFilter f;
    std::vector<std::string> used;
    f.after_id = int_query(r, "cursor", 0, INT64_MAX).value_or(0);
    f.limit = static_cast<int>(int_query(r, "limit", 1, 1000).value_or(100));
    f.recipient_id = int_query(r, "recipient_id", 1, INT64_MAX);
    f.completed_from = time_query(r, "completed_from");
    f.completed_to = time_query(r, "completed_to");
    f.status = r.query_param("status");
    f.achievement = r.query_param("achievement");
    for (auto n : {"recipient_id", "status", "achievement", "completed_from", "completed_to"}) {
      if (r.query_param(n)) used.emplace_back(n);
    }
    // Named first: GCC 12 destroys temporaries in co_await expressions twice.
    auto op = run(r, "records.result.list", "results", [f, used, add_detail](store::Connection& c, audit::Entry& e) {
      auto items = Repository::list(c, f);
      add_detail(e, list_detail(items.size(), items.empty() ? 0 : items.front().id,
                                items.empty() ? 0 : items.back().id, used));
      return Response::json(200, page_json(items, f.limit));
    });
    co_return co_await std::move(op);
  });

  router.add("POST", "/api/v1/results", [run, clk](Request& r) -> asio::awaitable<Response> {
    json::object in;
    in = parse_body(r);
    Result res_in;
    std::vector<FieldError> errors;
    apply_json(in, res_in, true, errors);
    merge_errors(errors, validate(res_in));
    if (!errors.empty()) co_return validation_problem(errors);
    // Named first: GCC 12 destroys temporaries in co_await expressions twice.
    auto op = run(r, "records.result.create", "result", [res_in, clk](store::Connection& c, audit::Entry& e) mutable {
      if (!Repository::recipient(c, res_in.recipient_id)) {
        return validation_problem({{"recipient_id", "no recipient has this id"}});
      }
      Repository::insert(c, res_in, *clk);
      e.object = "result:" + std::to_string(res_in.id);
      e.detail = "recipient " + std::to_string(res_in.recipient_id);
      Response res = Response::json(201, to_json(res_in));
      res.set_header("Location", "/api/v1/results/" + std::to_string(res_in.id));
      return res;
    });
    co_return co_await std::move(op);
  });

  router.add("GET", "/api/v1/results/{id}", [run](Request& r) -> asio::awaitable<Response> {
    std::int64_t id = id_param(r);
    // Named first: GCC 12 destroys temporaries in co_await expressions twice.
    auto op = run(r, "records.result.read", "result:" + std::to_string(id),
                           [id](store::Connection& c, audit::Entry&) {
                             auto rec = Repository::result(c, id);
                             if (!rec) return Response::problem(ErrorCode::not_found, "No such result.");
                             return Response::json(200, to_json(*rec));
                           });
    co_return co_await std::move(op);
  });

  router.add("PATCH", "/api/v1/results/{id}", [run, clk](Request& r) -> asio::awaitable<Response> {
    std::int64_t id = id_param(r);
    json::object in;
    in = parse_body(r);
    // Named first: GCC 12 destroys temporaries in co_await expressions twice.
    auto op = run(r, "records.result.update", "result:" + std::to_string(id),
                           [id, in, clk](store::Connection& c, audit::Entry& e) {
                             auto rec = Repository::result(c, id);
                             if (!rec) return Response::problem(ErrorCode::not_found, "No such result.");
                             std::vector<FieldError> errors;
                             apply_json(in, *rec, false, errors);
                             merge_errors(errors, validate(*rec));
                             if (errors.empty() && !Repository::recipient(c, rec->recipient_id)) {
                               errors.push_back({"recipient_id", "no recipient has this id"});
                             }
                             if (!errors.empty()) return validation_problem(errors);
                             std::string fields;
                             for (const auto& [k, v] : in) fields += (fields.empty() ? "" : ",") + std::string(k);
                             e.detail = e.detail.empty() ? "fields " + fields : e.detail + "; fields " + fields;
                             Repository::update(c, *rec, *clk);
                             return Response::json(200, to_json(*Repository::result(c, id)));
                           });
    co_return co_await std::move(op);
  });

  router.add("DELETE", "/api/v1/results/{id}", [run](Request& r) -> asio::awaitable<Response> {
    std::int64_t id = id_param(r);
    // Named first: GCC 12 destroys temporaries in co_await expressions twice.
    auto op = run(r, "records.result.delete", "result:" + std::to_string(id),
                           [id](store::Connection& c, audit::Entry&) {
                             if (!Repository::delete_result(c, id)) {
                               return Response::problem(ErrorCode::not_found, "No such result.");
                             }
                             Response res;
                             res.status = 204;
                             return res;
                           });
    co_return co_await std::move(op);
  });

  // ---- support access grants
  router.add("POST", "/api/v1/records/access-grants", [st, al, clk, settings](Request& r) -> asio::awaitable<Response> {
    if (!r.identity) co_return Response::problem(ErrorCode::unauthenticated, "Sign in first.");
    json::object in;
    in = parse_body(r);
    std::vector<FieldError> errors;
    std::string ticket, reason;
    std::int64_t minutes = settings.default_grant.count() / 60;
    for (const auto& [k, v] : in) {
      if (k == "ticket" && v.is_string()) ticket = std::string(v.as_string());
      else if (k == "reason" && v.is_string()) reason = std::string(v.as_string());
      else if (k == "minutes" && v.is_int64()) minutes = v.as_int64();
      else errors.push_back({std::string(k), k == "ticket" || k == "reason" || k == "minutes"
                                                 ? "has the wrong type"
                                                 : "is not a field of an access grant"});
    }
    if (auto e = check_text(ticket, 1, 64)) errors.push_back({"ticket", *e});
    if (auto e = check_text(reason, 10, 500)) errors.push_back({"reason", *e});
    if (minutes < 1 || minutes * 60 > settings.max_grant.count()) {
      errors.push_back({"minutes", "must be from 1 to " + std::to_string(settings.max_grant.count() / 60)});
    }
    if (!errors.empty()) co_return validation_problem(errors);
    std::string user = r.identity->user;
    audit::Entry e;
    e.actor = audit::actor_of(r);
    e.source = r.remote_address;
    e.action = "records.access_grant.create";
    e.outcome = std::string(audit::kSuccess);
    auto work = [al, clk, user, ticket, reason, minutes, e](store::Connection& c) mutable {
      Grant g = Repository::create_grant(c, user, ticket, reason, std::chrono::minutes(minutes), *clk);
      e.object = "access-grant:" + std::to_string(g.id);
      e.reason = g.audit_reason();
      e.detail = "expires " + format_rfc3339(g.expires_at);
      al->append(c, e);
      return g;
    };
    Grant g = co_await st->async_write(std::move(work));
    log::emit(log::events::records_access_granted,
              "support access to customer data granted to " + user + " (ticket " + ticket + ")",
              {{"USER", user}, {"TICKET", ticket}, {"GRANT_ID", g.id}, {"EXPIRES", format_rfc3339(g.expires_at)}});
    json::object doc{{"id", g.id},           {"user", g.user},
                     {"ticket", g.ticket},   {"reason", g.reason},
                     {"created_at", format_rfc3339(g.created_at)}, {"expires_at", format_rfc3339(g.expires_at)}};
    co_return Response::json(201, doc);
  });

  router.add("GET", "/api/v1/records/access-grants", [st, clk](Request& r) -> asio::awaitable<Response> {
    if (!r.identity) co_return Response::problem(ErrorCode::unauthenticated, "Sign in first.");
    std::optional<std::string> user;
    if (!auth::role_has(r.identity->role, auth::Permission::records_grants_all)) user = r.identity->user;
    auto work = [user, clk](store::Connection& c) { return Repository::grants(c, user, clk->unix_seconds()); };
    auto grants = co_await st->async_read(std::move(work));
    json::array items;
    for (const auto& g : grants) {
      items.push_back(json::object{{"id", g.id},
                                   {"user", g.user},
                                   {"ticket", g.ticket},
                                   {"reason", g.reason},
                                   {"created_at", format_rfc3339(g.created_at)},
                                   {"expires_at", format_rfc3339(g.expires_at)}});
    }
    co_return Response::json(200, json::object{{"items", std::move(items)}});
  });

  // ---- portability
  // Bulk export needs records_export (the permission table): support reads
  // single records under a grant and is denied by the matrix.
  auto start_export = [al](const Request& r, std::string object) -> asio::awaitable<std::optional<Response>> {
    if (!r.identity) co_return Response::problem(ErrorCode::unauthenticated, "Sign in first.");
    audit::Entry e;
    e.actor = audit::actor_of(r);
    e.source = r.remote_address;
    e.action = "records.export";
    e.object = std::move(object);
    e.outcome = std::string(audit::kSuccess);
    e.detail = "started";
    co_await al->async_append(std::move(e));
    co_return std::nullopt;
  };
  auto finish_export = [al](std::string actor, std::string source, std::string object,
                            std::int64_t rows) -> asio::awaitable<void> {
    audit::Entry e;
    e.actor = actor;
    e.source = source;
    e.action = "records.export";
    e.object = object;
    e.outcome = std::string(audit::kSuccess);
    e.detail = "completed: " + std::to_string(rows) + " rows";
    co_await al->async_append(std::move(e));
    log::emit(log::events::records_exported, "customer records exported (" + object + ", " + std::to_string(rows) + " rows)",
              {{"ACTOR", actor}, {"OBJECT", object}, {"ROWS", rows}});
  };

  router.add("GET", "/api/v1/export/records.csv", [st, start_export, finish_export, settings](Request& r) -> asio::awaitable<Response> {
    std::string object = "export:records.csv";
    auto start = start_export(r, object);
    if (auto denied = co_await std::move(start)) co_return std::move(*denied);
    struct State {
      std::optional<ExportCursor> cursor = ExportCursor{};
      bool header = false;
      std::int64_t rows = 0;
      bool finished = false;
    };
    auto state = std::make_shared<State>();
    std::string actor = audit::actor_of(r), source = r.remote_address;
    int page_rows = settings.export_page_rows;
    Response res;
    res.set_header("Content-Type", "text/csv; charset=utf-8; header=present");
    res.set_header("Content-Disposition", "attachment; filename=\"records.csv\"");
    res.stream = [st, state, actor, source, page_rows, finish_export]() -> asio::awaitable<std::optional<std::string>> {
      if (!state->header) {
        state->header = true;
        co_return csv_header();
      }
      if (!state->cursor) {
        if (!state->finished) {
          state->finished = true;
          auto fin = finish_export(actor, source, "export:records.csv", state->rows);
          co_await std::move(fin);
        }
        co_return std::nullopt;
      }
      ExportCursor after = *state->cursor;
      auto work = [after, page_rows](store::Connection& c) { return export_csv_page(c, after, page_rows); };
      ExportPage page = co_await st->async_read(std::move(work));
      state->rows += page.rows;
      state->cursor = page.next;
      co_return std::move(page.data);
    };
    co_return res;
  });

  router.add("GET", "/api/v1/export/records.jsonl", [st, start_export, finish_export, settings](Request& r) -> asio::awaitable<Response> {
    std::string object = "export:records.jsonl";
    auto start = start_export(r, object);
    if (auto denied = co_await std::move(start)) co_return std::move(*denied);
    struct State {
      int phase = 0;
      std::int64_t after = 0;
      std::int64_t rows = 0;
      bool finished = false;
    };
    auto state = std::make_shared<State>();
    std::string actor = audit::actor_of(r), source = r.remote_address;
    int page_rows = settings.export_page_rows;
    Response res;
    res.set_header("Content-Type", "application/jsonl");
    res.set_header("Content-Disposition", "attachment; filename=\"records.jsonl\"");
    res.stream = [st, state, actor, source, page_rows, finish_export]() -> asio::awaitable<std::optional<std::string>> {
      if (state->phase >= 2) {
        if (!state->finished) {
          state->finished = true;
          auto fin = finish_export(actor, source, "export:records.jsonl", state->rows);
          co_await std::move(fin);
        }
        co_return std::nullopt;
      }
      int phase = state->phase;
      std::int64_t after = state->after;
      auto work = [phase, after, page_rows](store::Connection& c) { return export_jsonl_page(c, phase, after, page_rows); };
      JsonlPage page = co_await st->async_read(std::move(work));
      state->rows += page.rows;
      state->phase = page.phase;
      state->after = page.after;
      co_return std::move(page.data);
    };
    co_return res;
  });

  router.add("POST", "/api/v1/import/records.csv", [st, al, clk](Request& r) -> asio::awaitable<Response> {
    if (!r.identity) co_return Response::problem(ErrorCode::unauthenticated, "Sign in first.");
    audit::Entry e;
    e.actor = audit::actor_of(r);
    e.source = r.remote_address;
    e.action = "records.import";
    e.object = "import:records.csv";
    auto body = std::make_shared<std::string>(std::move(r.body));
    auto work = [al, clk, e, body](store::Connection& c) mutable {
      ImportReport rep;
      {
        store::Transaction sp(c);
        rep = import_csv(c, *body, *clk);
        if (rep.ok) sp.commit();
      }
      e.outcome = std::string(rep.ok ? audit::kSuccess : audit::kFailure);
      e.detail = rep.ok ? "rows " + std::to_string(rep.rows) + "; recipients +" + std::to_string(rep.recipients_created) +
                              " ~" + std::to_string(rep.recipients_updated) + "; results +" +
                              std::to_string(rep.results_created) + " ~" + std::to_string(rep.results_updated)
                        : "rejected: " + std::to_string(rep.error_count) + " errors";
      al->append(c, e);
      return rep;
    };
    ImportReport rep = co_await st->async_write(std::move(work));
    if (rep.ok) {
      log::emit(log::events::records_imported, "customer records imported (" + std::to_string(rep.rows) + " rows)",
                {{"ACTOR", e.actor}, {"ROWS", rep.rows}});
    } else {
      log::emit(log::events::records_import_rejected,
                "records import rejected: " + std::to_string(rep.error_count) + " errors; nothing changed",
                {{"ACTOR", e.actor}, {"ERRORS", rep.error_count}});
    }
    co_return Response::json(rep.ok ? 200 : 422, rep.to_json());
  });
}

void RecordsService::register_control(http::ControlServer& control) {
  store::Store* st = &store_;
  audit::AuditLog* al = &audit_;
  Clock* clk = &clock_;
  int page_rows = settings_.export_page_rows;

  // Paged: {"format": "csv"|"jsonl", "cursor": TEXT} -> {"data", "next_cursor", "count"}.
  control.add("records export", [st, al, page_rows](const http::ControlRequest& r) -> asio::awaitable<json::value> {
    std::string format = "csv";
    if (auto* v = r.args.if_contains("format"); v && v->is_string()) format = std::string(v->as_string());
    if (format != "csv" && format != "jsonl") throw Error(ErrorCode::invalid_argument, "--format is csv or jsonl");
    std::string cursor;
    if (auto* v = r.args.if_contains("cursor"); v && v->is_string()) cursor = std::string(v->as_string());
    audit::Entry e;
    e.actor = audit::actor_of(r);
    e.source = std::string(audit::kControlSource);
    e.action = "records.export";
    e.object = "export:records." + format;
    e.outcome = std::string(audit::kSuccess);
    e.detail = cursor.empty() ? "started" : "page after " + cursor;
    json::object doc;
    if (format == "csv") {
      ExportCursor after;
      if (!cursor.empty()) {
        auto c = ExportCursor::parse(cursor);
        if (!c) throw Error(ErrorCode::invalid_argument, "malformed cursor");
        after = *c;
      }
      // Entry and page in one transaction: no page without its audit entry.
      auto work = [al, e, after, page_rows](store::Connection& c) {
        al->append(c, e);
        return export_csv_page(c, after, page_rows);
      };
      ExportPage page = co_await st->async_write(std::move(work));
      doc["data"] = cursor.empty() ? csv_header() + page.data : page.data;
      doc["count"] = page.rows;
      if (page.next) doc["next_cursor"] = page.next->to_string(); else doc["next_cursor"] = nullptr;
    } else {
      int phase = 0;
      std::int64_t after = 0;
      if (!cursor.empty()) {
        auto dot = cursor.find('.');
        auto p = dot == std::string::npos ? std::nullopt : to_int(std::string_view(cursor).substr(0, dot));
        auto a = dot == std::string::npos ? std::nullopt : to_int(std::string_view(cursor).substr(dot + 1));
        if (!p || !a || *p < 0 || *p > 1) throw Error(ErrorCode::invalid_argument, "malformed cursor");
        phase = static_cast<int>(*p);
        after = *a;
      }
      auto work = [al, e, phase, after, page_rows](store::Connection& c) {
        al->append(c, e);
        return export_jsonl_page(c, phase, after, page_rows);
      };
      JsonlPage page = co_await st->async_write(std::move(work));
      doc["data"] = page.data;
      doc["count"] = page.rows;
      if (page.phase < 2) doc["next_cursor"] = std::to_string(page.phase) + "." + std::to_string(page.after);
      else doc["next_cursor"] = nullptr;
    }
    co_return doc;
  });

  control.add("records import", [st, al, clk](const http::ControlRequest& r) -> asio::awaitable<json::value> {
    auto* v = r.args.if_contains("content");
    if (!v || !v->is_string()) throw Error(ErrorCode::invalid_argument, "the file content is required");
    auto body = std::make_shared<std::string>(v->as_string().data(), v->as_string().size());
    std::string file;
    if (auto* f = r.args.if_contains("file"); f && f->is_string()) file = std::string(f->as_string());
    audit::Entry e;
    e.actor = audit::actor_of(r);
    e.source = std::string(audit::kControlSource);
    e.action = "records.import";
    e.object = "import:records.csv";
    auto work = [al, clk, e, body](store::Connection& c) mutable {
      ImportReport rep;
      {
        store::Transaction sp(c);
        rep = import_csv(c, *body, *clk);
        if (rep.ok) sp.commit();
      }
      e.outcome = std::string(rep.ok ? audit::kSuccess : audit::kFailure);
      e.detail = rep.ok ? "rows " + std::to_string(rep.rows) : "rejected: " + std::to_string(rep.error_count) + " errors";
      al->append(c, e);
      return rep;
    };
    ImportReport rep = co_await st->async_write(std::move(work));
    if (!rep.ok) {
      log::emit(log::events::records_import_rejected,
                "records import rejected: " + std::to_string(rep.error_count) + " errors; nothing changed",
                {{"ACTOR", e.actor}, {"ERRORS", rep.error_count}});
      throw Error(ErrorCode::validation_failed, "import rejected, nothing was changed (" + std::to_string(rep.error_count) +
                               " errors):\n" + rep.describe_errors());
    }
    log::emit(log::events::records_imported, "customer records imported (" + std::to_string(rep.rows) + " rows)",
              {{"ACTOR", e.actor}, {"ROWS", rep.rows}});
    co_return rep.to_json();
  });
}

}  // namespace privstack::records
