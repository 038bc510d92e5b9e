// Internal to the JSON-LD processor (jsonld.h): the active context, its term
// definitions, Context Processing and IRI Expansion (JSON-LD 1.1 API
// sections 4.1, 4.2, 5.2), shared by expansion (jsonld.cpp) and toRdf
// (jsonld_rdf.cpp).
#pragma once

#include "credentials/jsonld.h"

#include <boost/json.hpp>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace privstack::credentials::jsonld::detail {

namespace json = boost::json;

struct TermDefinition {
  // The IRI mapping: an IRI, a blank node identifier or a keyword; nullopt
  // for a term mapped to null.
  std::optional<std::string> id;
  bool reverse = false;
  bool prefix = false;
  bool is_protected = false;
  std::optional<std::string> type;
  // Outer optional: whether the definition has the entry; inner: null.
  std::optional<std::optional<std::string>> language;
  std::optional<std::optional<std::string>> direction;
  std::set<std::string> container;
  std::optional<std::string> index;
  std::optional<std::string> nest;
  // A scoped context (shared: contexts are copied often, their terms with them).
  std::shared_ptr<const json::value> context;
  std::string base_url;                // where the scoped context came from

  bool same_except_protected(const TermDefinition& o) const {
    return id == o.id && reverse == o.reverse && prefix == o.prefix && type == o.type && language == o.language &&
           direction == o.direction && container == o.container && index == o.index && nest == o.nest &&
           (context && o.context ? *context == *o.context : context == o.context) && base_url == o.base_url;
  }
  bool has_container(const char* c) const { return container.contains(c); }
};

struct Context;
using ContextPtr = std::shared_ptr<const Context>;

struct Context {
  std::map<std::string, TermDefinition, std::less<>> terms;
  std::optional<std::string> base;           // nullopt: null base
  std::optional<std::string> original_base;  // the document's base
  std::optional<std::string> vocab;
  std::optional<std::string> language;
  std::optional<std::string> direction;
  ContextPtr previous;

  const TermDefinition* find(std::string_view term) const {
    auto it = terms.find(term);
    return it == terms.end() ? nullptr : &it->second;
  }
  bool has_protected_terms() const {
    for (const auto& [_, d] : terms) {
      if (d.is_protected) return true;
    }
    return false;
  }
};

// The counters that Limits bound, for one call of expand or to_rdf.
struct Budget {
  const Options& options;
  std::size_t context_loads = 0;
  std::size_t term_definitions = 0;
  std::size_t expanded_values = 0;

  void count_value() {
    if (++expanded_values > options.limits.max_expanded_values) throw LimitExceeded("JSON-LD expansion output too large");
  }
};

[[noreturn]] void fail(const std::string& code, const std::string& what = {});

bool is_keyword(std::string_view s);
bool looks_like_keyword(std::string_view s);
bool is_absolute_iri(std::string_view s);
bool is_blank_node_id(std::string_view s);
std::string resolve_iri(std::string_view base, std::string_view relative);
std::string to_lower(std::string_view s);

struct ContextFlags {
  bool override_protected = false;
  bool propagate = true;
  bool validate_scoped = true;
};

// The initial active context for a document base (empty: none), one shared
// object per base so that the remote context cache recognizes it.
ContextPtr initial_context(const std::string& base);

ContextPtr process_context(Budget& budget, const ContextPtr& active, const json::value& local,
                           const std::string& base_url, std::vector<std::string> remote_contexts,
                           ContextFlags flags = {});

// process_context for a term definition's scoped context, cached across
// calls (while the loader is the bundled one) by the active context and the
// scoped context object.
ContextPtr process_scoped_context(Budget& budget, const ContextPtr& active,
                                  const std::shared_ptr<const json::value>& scoped, const std::string& base_url,
                                  ContextFlags flags = {});

// IRI Expansion against a finished context (no local context).
std::optional<std::string> expand_iri(const Context& active, std::string_view value, bool document_relative,
                                      bool vocab);

}  // namespace privstack::credentials::jsonld::detail
