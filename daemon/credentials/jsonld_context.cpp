// JSON-LD 1.1 Context Processing, Create Term Definition and IRI Expansion
// (https://www.w3.org/TR/json-ld11-api/ sections 4.1, 4.2, 5.2); step
// numbers in comments are the specification's.
#include "credentials/jsonld_context.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <mutex>

namespace privstack::credentials::jsonld {

JsonLdError::JsonLdError(std::string jsonld_code, const std::string& what)
    : Error(ErrorCode::invalid_argument, "JSON-LD: " + jsonld_code + (what.empty() ? "" : ": " + what)),
      jsonld_code_(std::move(jsonld_code)) {
  with_reason("jsonld_invalid");
}

LimitExceeded::LimitExceeded(const std::string& what)
    : Error(ErrorCode::invalid_argument, "JSON-LD limit: " + what) {
  with_reason("jsonld_limit");
}

namespace detail {

void fail(const std::string& code, const std::string& what) { throw JsonLdError(code, what); }

bool is_keyword(std::string_view s) {
  static constexpr std::array<std::string_view, 23> kKeywords = {
      "@base",  "@container", "@context", "@default", "@direction", "@embed",    "@explicit", "@graph",
      "@id",    "@import",    "@included", "@index",  "@json",      "@language", "@list",     "@nest",
      "@none",  "@omitDefault", "@prefix", "@preserve", "@protected", "@requireAll", "@reverse"};
  static constexpr std::array<std::string_view, 6> kMore = {"@set", "@type", "@value", "@version", "@vocab",
                                                            "@propagate"};
  return std::find(kKeywords.begin(), kKeywords.end(), s) != kKeywords.end() ||
         std::find(kMore.begin(), kMore.end(), s) != kMore.end();
}

// "@" followed by one or more ALPHA: reserved for future keywords (ignored).
bool looks_like_keyword(std::string_view s) {
  if (s.size() < 2 || s[0] != '@') return false;
  return std::all_of(s.begin() + 1, s.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)); });
}

bool is_absolute_iri(std::string_view s) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  if (!std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  for (std::size_t i = 1; i < colon; ++i) {
    const char c = s[i];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return false;
  }
  return std::none_of(s.begin() + colon, s.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
}

bool is_blank_node_id(std::string_view s) { return s.starts_with("_:"); }

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

namespace {

// RFC 3986 5.2.4.
std::string remove_dot_segments(std::string_view path) {
  std::string input(path);
  std::string output;
  while (!input.empty()) {
    if (input.starts_with("../")) {
      input.erase(0, 3);
    } else if (input.starts_with("./")) {
      input.erase(0, 2);
    } else if (input.starts_with("/./")) {
      input.erase(0, 2);
    } else if (input == "/.") {
      input = "/";
    } else if (input.starts_with("/../") || input == "/..") {
      input = input == "/.." ? "/" : input.substr(3);
      const auto slash = output.rfind('/');
      output.erase(slash == std::string::npos ? 0 : slash);
    } else if (input == "." || input == "..") {
      input.clear();
    } else {
      const auto next = input.find('/', input[0] == '/' ? 1 : 0);
      output += input.substr(0, next);
      input.erase(0, next == std::string::npos ? input.size() : next);
    }
  }
  return output;
}

struct UriParts {
  std::optional<std::string> scheme, authority, query, fragment;
  std::string path;
};

UriParts split_uri(std::string_view s) {
  UriParts p;
  if (is_absolute_iri(s)) {
    const auto colon = s.find(':');
    p.scheme = std::string(s.substr(0, colon));
    s.remove_prefix(colon + 1);
  }
  if (const auto hash = s.find('#'); hash != std::string_view::npos) {
    p.fragment = std::string(s.substr(hash + 1));
    s = s.substr(0, hash);
  }
  if (const auto q = s.find('?'); q != std::string_view::npos) {
    p.query = std::string(s.substr(q + 1));
    s = s.substr(0, q);
  }
  if (s.starts_with("//")) {
    s.remove_prefix(2);
    const auto slash = s.find('/');
    p.authority = std::string(s.substr(0, slash));
    s = slash == std::string_view::npos ? std::string_view{} : s.substr(slash);
  }
  p.path = std::string(s);
  return p;
}

}  // namespace

// RFC 3986 5.2.2 (strict), with 5.2.3's merge.
std::string resolve_iri(std::string_view base, std::string_view relative) {
  if (base.empty()) return std::string(relative);
  const UriParts r = split_uri(relative);
  const UriParts b = split_uri(base);
  UriParts t;
  if (r.scheme) {
    t = r;
    t.path = remove_dot_segments(r.path);
  } else {
    t.scheme = b.scheme;
    if (r.authority) {
      t.authority = r.authority;
      t.path = remove_dot_segments(r.path);
      t.query = r.query;
    } else {
      t.authority = b.authority;
      if (r.path.empty()) {
        t.path = b.path;
        t.query = r.query ? r.query : b.query;
      } else {
        if (r.path[0] == '/') {
          t.path = remove_dot_segments(r.path);
        } else {
          std::string merged;
          if (b.authority && b.path.empty()) {
            merged = "/" + r.path;
          } else {
            const auto slash = b.path.rfind('/');
            merged = (slash == std::string::npos ? std::string{} : b.path.substr(0, slash + 1)) + r.path;
          }
          t.path = remove_dot_segments(merged);
        }
        t.query = r.query;
      }
    }
    t.fragment = r.fragment;
  }
  std::string out;
  if (t.scheme) out += *t.scheme + ":";
  if (t.authority) out += "//" + *t.authority;
  out += t.path;
  if (t.query) out += "?" + *t.query;
  if (t.fragment) out += "#" + *t.fragment;
  return out;
}

namespace {

using Defined = std::map<std::string, bool, std::less<>>;

// Processed remote contexts, shared by every call: a remote context's
// result depends only on the document (fixed per loader and URL) and the
// context it is applied to, which the key names by identity (the entry keeps
// that context alive, so the address is not reused). Credentials name the
// same two or three contexts, which then cost one lookup instead of
// processing the OB context's hundreds of terms (milliseconds) each time.
// Only loaders that promise fixed documents take part: bundled_contexts().
struct RemoteKey {
  const DocumentLoader* loader;
  const Context* active;
  std::string url;
  bool validate_scoped;
  auto operator<=>(const RemoteKey&) const = default;
};
struct RemoteEntry {
  ContextPtr active;
  ContextPtr result;
};

// A map shared by all threads, emptied when it reaches its capacity.
template <typename Key, typename Entry>
class BoundedCache {
 public:
  explicit BoundedCache(std::size_t capacity) : capacity_(capacity) {}
  ContextPtr find(const Key& key) {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : it->second.result;
  }
  void insert(const Key& key, Entry entry) {
    std::lock_guard lock(mutex_);
    if (entries_.size() >= capacity_) entries_.clear();
    entries_[key] = std::move(entry);
  }

 private:
  std::mutex mutex_;
  std::map<Key, Entry> entries_;
  std::size_t capacity_;
};

BoundedCache<RemoteKey, RemoteEntry>& remote_cache() {
  static BoundedCache<RemoteKey, RemoteEntry> cache(256);
  return cache;
}

bool cacheable(const DocumentLoader* loader) { return loader == &bundled_contexts(); }

ContextPtr cached_remote(const RemoteKey& key) { return cacheable(key.loader) ? remote_cache().find(key) : nullptr; }

void remember_remote(const RemoteKey& key, const ContextPtr& active, const ContextPtr& result) {
  if (cacheable(key.loader)) remote_cache().insert(key, RemoteEntry{active, result});
}

class ContextProcessor {
 public:
  explicit ContextProcessor(Budget& budget) : budget_(budget) {}

  ContextPtr process(const ContextPtr& active, const json::value& local_in, const std::string& base_url,
                     std::vector<std::string> remote_contexts, ContextFlags flags);

  void create_term(Context& active, const json::object& local, const std::string& term, Defined& defined,
                   const std::string& base_url, bool is_protected, bool override_protected,
                   const std::vector<std::string>& remote_contexts);

  std::optional<std::string> expand(Context& active, std::string_view value, bool document_relative, bool vocab,
                                    const json::object* local, Defined* defined, const std::string& base_url,
                                    const std::vector<std::string>& remote_contexts);

 private:
  std::shared_ptr<const json::value> dereference(const std::string& url, const char* error_code);
  Budget& budget_;
};

std::shared_ptr<const json::value> ContextProcessor::dereference(const std::string& url, const char* error_code) {
  if (++budget_.context_loads > budget_.options.limits.max_context_loads) {
    throw LimitExceeded("too many remote contexts loaded");
  }
  std::shared_ptr<const json::value> document;
  try {
    if (budget_.options.loader == nullptr) throw unknown_context(url);
    document = budget_.options.loader->load(url);
  } catch (const JsonLdError&) {
    throw;
  } catch (const privstack::Error& e) {
    // The specification's code, keeping the loader's reason (unknown_context).
    JsonLdError error("loading remote context failed", e.message());
    error.with_reason(e.reason().empty() ? "jsonld_invalid" : e.reason());
    throw error;
  }
  if (!document || !document->is_object() || !document->as_object().contains("@context")) {
    fail(error_code, url);
  }
  return document;
}

ContextPtr ContextProcessor::process(const ContextPtr& active, const json::value& local_in, const std::string& base_url,
                                     std::vector<std::string> remote_contexts, ContextFlags flags) {
  // 2-3: @propagate on a single map.
  if (local_in.is_object()) {
    if (const auto* p = local_in.as_object().if_contains("@propagate")) {
      if (!p->is_bool()) fail("invalid @propagate value");
      flags.propagate = p->as_bool();
    }
  }
  // `result` may be a context other calls share (a cached remote context):
  // writable() copies it before the first change.
  std::shared_ptr<Context> owned;
  ContextPtr result = active;
  auto writable = [&]() -> Context& {
    if (!owned) {
      owned = std::make_shared<Context>(*result);
      result = owned;
    }
    return *owned;
  };
  if (!flags.propagate && !result->previous) writable().previous = active;
  std::vector<const json::value*> locals;
  if (local_in.is_array()) {
    for (const auto& item : local_in.as_array()) locals.push_back(&item);
  } else {
    locals.push_back(&local_in);
  }
  for (const json::value* item_pointer : locals) {
    const json::value& item = *item_pointer;
    if (item.is_null()) {  // 5.1
      if (!flags.override_protected && result->has_protected_terms()) fail("invalid context nullification");
      auto fresh = std::make_shared<Context>();
      fresh->base = active->original_base;
      fresh->original_base = active->original_base;
      if (!flags.propagate) fresh->previous = result;
      owned = fresh;
      result = std::move(fresh);
      continue;
    }
    if (item.is_string()) {  // 5.2
      const std::string url = resolve_iri(base_url, std::string(item.as_string()));
      if (!flags.validate_scoped &&
          std::find(remote_contexts.begin(), remote_contexts.end(), url) != remote_contexts.end()) {
        continue;
      }
      if (remote_contexts.size() >= budget_.options.limits.max_context_loads) fail("context overflow", url);
      remote_contexts.push_back(url);
      ContextFlags inner;
      inner.validate_scoped = flags.validate_scoped;
      // Only the real processing is cached: validating a scoped context
      // (validate_scoped false) skips URLs by the chain that led there.
      const RemoteKey key{flags.validate_scoped ? budget_.options.loader : nullptr, result.get(), url, true};
      if (ContextPtr cached = cached_remote(key)) {
        result = std::move(cached);
      } else {
        const auto document = dereference(url, "invalid remote context");
        const json::value& context = document->as_object().at("@context");
        ContextPtr processed = process(result, context, url, remote_contexts, inner);
        remember_remote(key, result, processed);
        result = std::move(processed);
      }
      owned.reset();
      continue;
    }
    if (!item.is_object()) fail("invalid local context");  // 5.3
    Context& r = writable();
    // The context's entries; a copy only when @import merges another in.
    const json::object* context_pointer = &item.as_object();
    json::object merged_with_import;
    if (const auto* version = context_pointer->if_contains("@version")) {  // 5.5
      if (!version->is_number() || version->to_number<double>() != 1.1) fail("invalid @version value");
    }
    if (const auto* import = context_pointer->if_contains("@import")) {  // 5.6
      if (!import->is_string()) fail("invalid @import value");
      const std::string url = resolve_iri(base_url, std::string(import->as_string()));
      const auto document = dereference(url, "invalid remote context");
      const json::value& imported = document->as_object().at("@context");
      if (!imported.is_object()) fail("invalid remote context", url);
      if (imported.as_object().contains("@import")) fail("invalid context entry", url);
      merged_with_import = imported.as_object();
      for (const auto& [k, v] : *context_pointer) merged_with_import[k] = v;
      context_pointer = &merged_with_import;
    }
    const json::object& context = *context_pointer;
    if (const auto* base = context.if_contains("@base"); base && remote_contexts.empty()) {  // 5.7
      if (base->is_null()) {
        r.base.reset();
      } else if (!base->is_string()) {
        fail("invalid base IRI");
      } else {
        const std::string value(base->as_string());
        if (is_absolute_iri(value)) {
          r.base = value;
        } else if (r.base) {
          r.base = resolve_iri(*r.base, value);
        } else {
          fail("invalid base IRI", value);
        }
      }
    }
    if (const auto* vocab = context.if_contains("@vocab")) {  // 5.8
      if (vocab->is_null()) {
        r.vocab.reset();
      } else if (!vocab->is_string()) {
        fail("invalid vocab mapping");
      } else {
        Defined none;
        auto expanded = expand(r, std::string(vocab->as_string()), true, true, nullptr, nullptr, base_url,
                               remote_contexts);
        if (!expanded || !(is_absolute_iri(*expanded) || is_blank_node_id(*expanded) || expanded->empty())) {
          fail("invalid vocab mapping");
        }
        r.vocab = *expanded;
      }
    }
    if (const auto* language = context.if_contains("@language")) {  // 5.9
      if (language->is_null()) {
        r.language.reset();
      } else if (!language->is_string()) {
        fail("invalid default language");
      } else {
        r.language = to_lower(language->as_string());
      }
    }
    if (const auto* direction = context.if_contains("@direction")) {  // 5.10
      if (direction->is_null()) {
        r.direction.reset();
      } else if (!direction->is_string() || (direction->as_string() != "ltr" && direction->as_string() != "rtl")) {
        fail("invalid base direction");
      } else {
        r.direction = std::string(direction->as_string());
      }
    }
    bool is_protected = false;
    if (const auto* p = context.if_contains("@protected")) {
      if (!p->is_bool()) fail("invalid @protected value");
      is_protected = p->as_bool();
    }
    Defined defined;  // 5.12-5.13
    for (const auto& [key, _] : context) {
      static constexpr std::array<std::string_view, 8> kSkip = {"@base",     "@direction", "@import",  "@language",
                                                                "@propagate", "@protected", "@version", "@vocab"};
      if (std::find(kSkip.begin(), kSkip.end(), std::string_view(key)) != kSkip.end()) continue;
      create_term(r, context, std::string(key), defined, base_url, is_protected, flags.override_protected,
                  remote_contexts);
    }
  }
  return result;
}

bool valid_container(const std::set<std::string>& c) {
  static const std::set<std::string> kAllowed = {"@graph", "@id", "@index", "@language", "@list", "@set", "@type"};
  for (const auto& v : c) {
    if (!kAllowed.contains(v)) return false;
  }
  if (c.size() == 1) return true;
  if (c.contains("@list")) return false;
  std::set<std::string> rest = c;
  rest.erase("@set");
  if (rest.size() <= 1 && c.contains("@set")) return true;
  if (c.contains("@graph")) {
    rest.erase("@graph");
    return rest.size() == 1 && (rest.contains("@id") || rest.contains("@index"));
  }
  return false;
}

void ContextProcessor::create_term(Context& active, const json::object& local, const std::string& term,
                                   Defined& defined, const std::string& base_url, bool is_protected,
                                   bool override_protected, const std::vector<std::string>& remote_contexts) {
  if (auto it = defined.find(term); it != defined.end()) {  // 1
    if (it->second) return;
    fail("cyclic IRI mapping", term);
  }
  if (term.empty()) fail("invalid term definition", "empty term");  // 2
  if (++budget_.term_definitions > budget_.options.limits.max_term_definitions) {
    throw LimitExceeded("too many term definitions");
  }
  defined[term] = false;
  const json::value& given = local.at(term);  // 3
  if (term == "@type") {               // 4
    bool ok = given.is_object() && !given.as_object().empty();
    if (ok) {
      for (const auto& [k, v] : given.as_object()) {
        if (k == "@container" ? !(v.is_string() && v.as_string() == "@set") : k != "@protected") ok = false;
      }
    }
    if (!ok) fail("keyword redefinition", term);
  } else if (is_keyword(term)) {
    fail("keyword redefinition", term);
  } else if (looks_like_keyword(term)) {
    defined[term] = true;
    return;
  }
  std::optional<TermDefinition> previous;  // 5
  if (auto it = active.terms.find(term); it != active.terms.end()) {
    previous = it->second;
    active.terms.erase(it);
  }
  bool simple_term = false;
  json::object expanded_definition;  // for a null or string definition
  const json::object* definition_pointer = nullptr;
  if (given.is_null()) {  // 6-8
    expanded_definition = json::object{{"@id", nullptr}};
    definition_pointer = &expanded_definition;
  } else if (given.is_string()) {
    expanded_definition = json::object{{"@id", given}};
    definition_pointer = &expanded_definition;
    simple_term = true;
  } else if (!given.is_object()) {
    fail("invalid term definition", term);
  } else {
    definition_pointer = &given.as_object();
  }
  const json::object& v = *definition_pointer;
  TermDefinition definition;  // 9
  definition.is_protected = is_protected;
  if (const auto* p = v.if_contains("@protected")) {  // 10
    if (!p->is_bool()) fail("invalid @protected value");
    definition.is_protected = p->as_bool();
  }
  auto expand_here = [&](std::string_view s, bool document_relative, bool vocab) {
    return expand(active, s, document_relative, vocab, &local, &defined, base_url, remote_contexts);
  };
  if (const auto* type = v.if_contains("@type")) {  // 11
    if (!type->is_string()) fail("invalid type mapping", term);
    auto t = expand_here(type->as_string(), false, true);
    if (!t || (*t != "@id" && *t != "@json" && *t != "@none" && *t != "@vocab" && !is_absolute_iri(*t))) {
      fail("invalid type mapping", term);
    }
    definition.type = *t;
  }
  if (const auto* reverse = v.if_contains("@reverse")) {  // 12
    if (v.contains("@id") || v.contains("@nest")) fail("invalid reverse property", term);
    if (!reverse->is_string()) fail("invalid IRI mapping", term);
    if (looks_like_keyword(reverse->as_string())) {
      defined[term] = true;
      return;
    }
    auto id = expand_here(reverse->as_string(), false, true);
    if (!id || (!is_absolute_iri(*id) && !is_blank_node_id(*id))) fail("invalid IRI mapping", term);
    definition.id = *id;
    if (const auto* c = v.if_contains("@container")) {
      if (!c->is_null() &&
          !(c->is_string() && (c->as_string() == "@set" || c->as_string() == "@index"))) {
        fail("invalid reverse property", term);
      }
      if (c->is_string()) definition.container.insert(std::string(c->as_string()));
    }
    // A property-valued index on a reverse property (expand test 0131; the
    // spec's text returns before step 20, its test suite and jsonld.js do not).
    if (const auto* index = v.if_contains("@index")) {
      if (!definition.container.contains("@index") || !index->is_string()) fail("invalid term definition", term);
      definition.index = std::string(index->as_string());
    }
    definition.reverse = true;
    active.terms[term] = std::move(definition);
    defined[term] = true;
    return;
  }
  const json::value* id_entry = v.if_contains("@id");
  if (id_entry && !(id_entry->is_string() && id_entry->as_string() == term)) {  // 14
    if (id_entry->is_null()) {
      definition.id.reset();
    } else {
      if (!id_entry->is_string()) fail("invalid IRI mapping", term);
      const std::string_view raw = id_entry->as_string();
      if (!is_keyword(raw) && looks_like_keyword(raw)) {
        defined[term] = true;
        return;
      }
      auto id = expand_here(raw, false, true);
      if (!id || (!is_keyword(*id) && !is_absolute_iri(*id) && !is_blank_node_id(*id))) {
        fail("invalid IRI mapping", term);
      }
      if (*id == "@context") fail("invalid keyword alias", term);
      definition.id = *id;
      const auto colon = term.find(':', 1);
      if ((colon != std::string::npos && colon + 1 < term.size()) || term.find('/') != std::string::npos) {
        defined[term] = true;
        auto again = expand_here(term, false, true);
        if (again != id) fail("invalid IRI mapping", term);
      }
      if (term.find(':') == std::string::npos && term.find('/') == std::string::npos && simple_term) {
        static constexpr std::string_view kGenDelims = ":/?#[]@";
        definition.prefix =
            (!id->empty() && kGenDelims.find(id->back()) != std::string_view::npos) || is_blank_node_id(*id);
      }
    }
  } else if (term.find(':', 1) != std::string::npos) {  // 15
    const auto colon = term.find(':', 1);
    const std::string prefix = term.substr(0, colon);
    const std::string suffix = term.substr(colon + 1);
    if (local.contains(prefix)) {
      create_term(active, local, prefix, defined, base_url, is_protected, override_protected, remote_contexts);
    }
    const TermDefinition* p = active.find(prefix);
    if (p && p->id && !suffix.starts_with("//")) {
      definition.id = *p->id + suffix;
    } else {
      definition.id = term;
    }
  } else if (term.find('/') != std::string::npos) {  // 16: against the active context alone
    auto id = expand_iri(active, term, false, true);
    if (!id || !is_absolute_iri(*id)) fail("invalid IRI mapping", term);
    definition.id = *id;
  } else if (term == "@type") {  // 17
    definition.id = "@type";
  } else if (active.vocab) {  // 18
    definition.id = *active.vocab + term;
  } else {
    fail("invalid IRI mapping", term);
  }
  if (const auto* c = v.if_contains("@container")) {  // 19
    if (c->is_string()) {
      definition.container.insert(std::string(c->as_string()));
    } else if (c->is_array()) {
      for (const auto& e : c->as_array()) {
        if (!e.is_string()) fail("invalid container mapping", term);
        definition.container.insert(std::string(e.as_string()));
      }
    } else if (!c->is_null()) {
      fail("invalid container mapping", term);
    }
    if (!definition.container.empty() && !valid_container(definition.container)) {
      fail("invalid container mapping", term);
    }
    if (definition.container.contains("@type")) {
      if (!definition.type) definition.type = "@id";
      if (*definition.type != "@id" && *definition.type != "@vocab") fail("invalid type mapping", term);
    }
  }
  if (const auto* index = v.if_contains("@index")) {  // 20
    if (!definition.container.contains("@index") || !index->is_string()) fail("invalid term definition", term);
    auto i = expand_here(index->as_string(), false, true);
    if (!i || !is_absolute_iri(*i)) fail("invalid term definition", term);
    definition.index = std::string(index->as_string());
  }
  if (const auto* scoped = v.if_contains("@context")) {  // 21
    try {
      ContextFlags f;
      f.override_protected = true;
      f.validate_scoped = false;
      process(std::make_shared<Context>(active), *scoped, base_url, remote_contexts, f);
    } catch (const JsonLdError& e) {
      fail("invalid scoped context", term + ": " + e.jsonld_code());
    }
    definition.context = std::make_shared<const json::value>(*scoped);
    definition.base_url = base_url;
  }
  if (const auto* language = v.if_contains("@language"); language && !v.contains("@type")) {  // 22
    if (language->is_null()) {
      definition.language = std::optional<std::string>{};
    } else if (language->is_string()) {
      definition.language = to_lower(language->as_string());
    } else {
      fail("invalid language mapping", term);
    }
  }
  if (const auto* direction = v.if_contains("@direction"); direction && !v.contains("@type")) {  // 23
    if (direction->is_null()) {
      definition.direction = std::optional<std::string>{};
    } else if (direction->is_string() && (direction->as_string() == "ltr" || direction->as_string() == "rtl")) {
      definition.direction = std::string(direction->as_string());
    } else {
      fail("invalid base direction", term);
    }
  }
  if (const auto* nest = v.if_contains("@nest")) {  // 24
    if (!nest->is_string() || (is_keyword(nest->as_string()) && nest->as_string() != "@nest")) {
      fail("invalid @nest value", term);
    }
    definition.nest = std::string(nest->as_string());
  }
  if (const auto* prefix = v.if_contains("@prefix")) {  // 25
    if (term.find(':') != std::string::npos || term.find('/') != std::string::npos) {
      fail("invalid term definition", term);
    }
    if (!prefix->is_bool()) fail("invalid @prefix value", term);
    definition.prefix = prefix->as_bool();
    if (definition.prefix && definition.id && is_keyword(*definition.id)) fail("invalid term definition", term);
  }
  static const std::set<std::string_view> kEntries = {"@id",   "@reverse", "@container", "@context",
                                                      "@direction", "@index", "@language", "@nest",
                                                      "@prefix", "@protected", "@type"};
  for (const auto& [k, _] : v) {  // 26
    if (!kEntries.contains(std::string_view(k))) fail("invalid term definition", term);
  }
  if (!override_protected && previous && previous->is_protected) {  // 27
    if (!definition.same_except_protected(*previous)) fail("protected term redefinition", term);
    definition = *previous;
  }
  active.terms[term] = std::move(definition);  // 28
  defined[term] = true;
}

std::optional<std::string> ContextProcessor::expand(Context& active, std::string_view value, bool document_relative,
                                                    bool vocab, const json::object* local, Defined* defined,
                                                    const std::string& base_url,
                                                    const std::vector<std::string>& remote_contexts) {
  if (is_keyword(value)) return std::string(value);  // 1
  if (looks_like_keyword(value)) return std::nullopt;  // 2
  if (local && local->contains(value)) {                // 3
    auto it = defined->find(value);
    if (it == defined->end() || !it->second) {
      create_term(active, *local, std::string(value), *defined, base_url, false, false, remote_contexts);
    }
  }
  if (const TermDefinition* d = active.find(value)) {  // 4-5
    if (d->id && is_keyword(*d->id)) return d->id;
    if (vocab) return d->id;
  }
  if (const auto colon = value.find(':', 1); colon != std::string_view::npos) {  // 6
    const std::string_view prefix = value.substr(0, colon);
    const std::string_view suffix = value.substr(colon + 1);
    if (prefix == "_" || suffix.starts_with("//")) return std::string(value);
    if (local && local->contains(prefix)) {
      auto it = defined->find(prefix);
      if (it == defined->end() || !it->second) {
        create_term(active, *local, std::string(prefix), *defined, base_url, false, false, remote_contexts);
      }
    }
    if (const TermDefinition* d = active.find(prefix); d && d->id && d->prefix) {
      return *d->id + std::string(suffix);
    }
    if (is_absolute_iri(value)) return std::string(value);
  }
  if (vocab && active.vocab) return *active.vocab + std::string(value);  // 7
  if (document_relative) {                                               // 8
    if (active.base) return resolve_iri(*active.base, value);
  }
  return std::string(value);
}

}  // namespace

ContextPtr initial_context(const std::string& base) {
  static std::mutex mutex;
  static std::map<std::string, ContextPtr> initial;
  std::lock_guard lock(mutex);
  if (auto it = initial.find(base); it != initial.end()) return it->second;
  if (initial.size() >= 64) initial.clear();
  auto context = std::make_shared<Context>();
  if (!base.empty()) context->base = base;
  context->original_base = context->base;
  initial[base] = context;
  return context;
}

namespace {

// Scoped contexts applied during expansion, cached the same way: by the
// active context and the scoped context's own object (both kept alive by the
// entry), so a type-scoped context costs one lookup on every node after the first.
struct ScopedKey {
  const Context* active;
  const json::value* scoped;
  std::string base_url;
  bool override_protected;
  bool propagate;
  auto operator<=>(const ScopedKey&) const = default;
};
struct ScopedEntry {
  ContextPtr active;
  std::shared_ptr<const json::value> scoped;
  ContextPtr result;
};
// Bounded: an entry holds two contexts, so hostile documents that each
// bring their own contexts cannot grow memory past a few MiB.
BoundedCache<ScopedKey, ScopedEntry>& scoped_cache() {
  static BoundedCache<ScopedKey, ScopedEntry> cache(512);
  return cache;
}

}  // namespace

ContextPtr process_scoped_context(Budget& budget, const ContextPtr& active,
                                  const std::shared_ptr<const json::value>& scoped, const std::string& base_url,
                                  ContextFlags flags) {
  const bool use_cache = cacheable(budget.options.loader) && flags.validate_scoped;
  const ScopedKey key{active.get(), scoped.get(), base_url, flags.override_protected, flags.propagate};
  if (use_cache) {
    if (ContextPtr cached = scoped_cache().find(key)) return cached;
  }
  ContextPtr result = process_context(budget, active, *scoped, base_url, {}, flags);
  if (use_cache) scoped_cache().insert(key, ScopedEntry{active, scoped, result});
  return result;
}

ContextPtr process_context(Budget& budget, const ContextPtr& active, const json::value& local,
                           const std::string& base_url, std::vector<std::string> remote_contexts,
                           ContextFlags flags) {
  ContextProcessor processor(budget);
  return processor.process(active, local, base_url, std::move(remote_contexts), flags);
}

std::optional<std::string> expand_iri(const Context& active, std::string_view value, bool document_relative,
                                      bool vocab) {
  if (is_keyword(value)) return std::string(value);
  if (looks_like_keyword(value)) return std::nullopt;
  if (const TermDefinition* d = active.find(value)) {
    if (d->id && is_keyword(*d->id)) return d->id;
    if (vocab) return d->id;
  }
  if (const auto colon = value.find(':', 1); colon != std::string_view::npos) {
    const std::string_view prefix = value.substr(0, colon);
    const std::string_view suffix = value.substr(colon + 1);
    if (prefix == "_" || suffix.starts_with("//")) return std::string(value);
    if (const TermDefinition* d = active.find(prefix); d && d->id && d->prefix) {
      return *d->id + std::string(suffix);
    }
    if (is_absolute_iri(value)) return std::string(value);
  }
  if (vocab && active.vocab) return *active.vocab + std::string(value);
  if (document_relative && active.base) return resolve_iri(*active.base, value);
  return std::string(value);
}

}  // namespace detail
}  // namespace privstack::credentials::jsonld
