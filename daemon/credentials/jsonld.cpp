// JSON-LD 1.1 Expansion and Value Expansion
// (https://www.w3.org/TR/json-ld11-api/ sections 5.1, 5.3); step numbers in
// comments are the specification's. Context processing is in
// jsonld_context.cpp, toRdf in jsonld_rdf.cpp.
#include "credentials/jsonld_context.h"

#include <algorithm>

namespace privstack::credentials::jsonld {

namespace detail {
namespace {

json::array to_array(const json::value& v) { return v.is_array() ? v.as_array() : json::array{v}; }

void append(json::object& o, std::string_view key, const json::value& v) {
  if (auto* existing = o.if_contains(key); existing && !existing->is_array()) {
    *existing = json::array{*existing};
  }
  json::value& slot = o[key];
  if (!slot.is_array()) slot = json::array{};
  if (v.is_array()) {
    for (const auto& e : v.as_array()) slot.as_array().push_back(e);
  } else {
    slot.as_array().push_back(v);
  }
}

bool is_value_object(const json::value& v) { return v.is_object() && v.as_object().contains("@value"); }
bool is_list_object(const json::value& v) { return v.is_object() && v.as_object().contains("@list"); }
bool is_graph_object(const json::value& v) {
  if (!v.is_object() || !v.as_object().contains("@graph")) return false;
  for (const auto& [k, _] : v.as_object()) {
    if (k != "@graph" && k != "@id" && k != "@index" && k != "@context") return false;
  }
  return true;
}

std::vector<std::string> sorted_keys(const json::object& o) {
  std::vector<std::string> keys;
  keys.reserve(o.size());
  for (const auto& [k, _] : o) keys.emplace_back(k);
  std::sort(keys.begin(), keys.end());
  return keys;
}

class Expander {
 public:
  Expander(Budget& budget) : budget_(budget) {}

  json::value expand(ContextPtr active, const std::optional<std::string>& active_property, const json::value& element,
                     const std::string& base_url, bool from_map, std::size_t depth);

 private:
  void expand_object(ContextPtr active, const ContextPtr& type_scoped, const std::optional<std::string>& active_property,
                     const json::object& element, json::object& result, const std::optional<std::string>& input_type,
                     const std::string& base_url, std::size_t depth);
  json::value expand_value(const Context& active, const std::string& property, const json::value& value);
  const TermDefinition* definition(const Context& active, const std::optional<std::string>& property) {
    return property ? active.find(*property) : nullptr;
  }
  Budget& budget_;
};

json::value Expander::expand_value(const Context& active, const std::string& property, const json::value& value) {
  const TermDefinition* d = active.find(property);
  if (d && d->type && value.is_string()) {
    if (*d->type == "@id") {  // 1
      auto iri = expand_iri(active, value.as_string(), true, false);
      return json::object{{"@id", iri ? json::value(*iri) : json::value(nullptr)}};
    }
    if (*d->type == "@vocab") {  // 2
      auto iri = expand_iri(active, value.as_string(), true, true);
      return json::object{{"@id", iri ? json::value(*iri) : json::value(nullptr)}};
    }
  }
  json::object result{{"@value", value}};  // 3
  if (d && d->type && *d->type != "@id" && *d->type != "@vocab" && *d->type != "@none") {
    result["@type"] = *d->type;  // 4
  } else if (value.is_string()) {  // 5
    std::optional<std::string> language = d && d->language ? *d->language : active.language;
    std::optional<std::string> direction = d && d->direction ? *d->direction : active.direction;
    if (language) result["@language"] = *language;
    if (direction) result["@direction"] = *direction;
  }
  return result;
}

json::value Expander::expand(ContextPtr active, const std::optional<std::string>& active_property,
                             const json::value& element, const std::string& base_url, bool from_map,
                             std::size_t depth) {
  if (depth > budget_.options.limits.max_depth) throw LimitExceeded("JSON-LD document nested too deeply");
  if (element.is_null()) return nullptr;  // 1
  budget_.count_value();
  const TermDefinition* property_definition = definition(*active, active_property);
  const std::shared_ptr<const json::value> property_scoped =
      property_definition ? property_definition->context : nullptr;  // 3
  if (!element.is_object() && !element.is_array()) {  // 4
    if (!active_property || *active_property == "@graph") return nullptr;
    if (property_scoped) active = process_scoped_context(budget_, active, property_scoped, property_definition->base_url);
    return expand_value(*active, *active_property, element);
  }
  if (element.is_array()) {  // 5
    json::array result;
    const bool list_container = property_definition && property_definition->has_container("@list");
    for (const auto& item : element.as_array()) {
      json::value expanded = expand(active, active_property, item, base_url, from_map, depth + 1);
      if (list_container && expanded.is_array()) expanded = json::object{{"@list", expanded}};
      if (expanded.is_array()) {
        for (auto& e : expanded.as_array()) result.push_back(std::move(e));
      } else if (!expanded.is_null()) {
        result.push_back(std::move(expanded));
      }
    }
    return result;
  }
  const json::object& object = element.as_object();  // 6
  if (active->previous && !from_map) {              // 7
    bool keep = false;
    bool only_id = object.size() == 1;
    for (const auto& [k, _] : object) {
      auto e = expand_iri(*active, k, false, true);
      if (e && *e == "@value") keep = true;
      if (!e || *e != "@id") only_id = false;
    }
    if (!keep && !only_id) active = active->previous;
  }
  if (property_scoped) {  // 8
    ContextFlags f;
    f.override_protected = true;
    active = process_scoped_context(budget_, active, property_scoped, property_definition->base_url, f);
  }
  if (const auto* c = object.if_contains("@context")) active = process_context(budget_, active, *c, base_url, {});  // 9
  const ContextPtr type_scoped = active;  // 10
  std::optional<std::string> input_type;
  for (const std::string& key : sorted_keys(object)) {  // 11
    auto e = expand_iri(*active, key, false, true);
    if (!e || *e != "@type") continue;
    json::array types = to_array(object.at(key));
    std::vector<std::string> terms;
    for (const auto& t : types) {
      if (t.is_string()) terms.emplace_back(t.as_string());
    }
    if (!input_type && !terms.empty() && types.back().is_string()) {
      input_type = expand_iri(*type_scoped, std::string(types.back().as_string()), false, true);
    }
    std::sort(terms.begin(), terms.end());
    for (const auto& term : terms) {
      const TermDefinition* d = type_scoped->find(term);
      if (d && d->context) {
        ContextFlags f;
        f.propagate = false;
        active = process_scoped_context(budget_, active, d->context, d->base_url, f);
      }
    }
  }
  json::object result;
  expand_object(active, type_scoped, active_property, object, result, input_type, base_url, depth);
  if (const auto* value = result.if_contains("@value")) {  // 15
    for (const auto& [k, _] : result) {
      if (k != "@direction" && k != "@index" && k != "@language" && k != "@type" && k != "@value") {
        fail("invalid value object", std::string(k));
      }
    }
    if (result.contains("@type") && (result.contains("@language") || result.contains("@direction"))) {
      fail("invalid value object");
    }
    const json::value* type = result.if_contains("@type");
    if (type && type->is_string() && type->as_string() == "@json") {
      // any value
    } else if (value->is_null() || (value->is_array() && value->as_array().empty())) {
      return nullptr;
    } else if (value->is_object() || value->is_array()) {
      fail("invalid value object value");
    } else if (!value->is_string() && result.contains("@language")) {
      fail("invalid language-tagged value");
    } else if (type && (!type->is_string() || !is_absolute_iri(type->as_string()))) {
      fail("invalid typed value");
    }
  } else if (const auto* type = result.if_contains("@type"); type && !type->is_array()) {  // 16
    result["@type"] = json::array{*type};
  } else if (result.contains("@set") || result.contains("@list")) {  // 17
    for (const auto& [k, _] : result) {
      if (k != "@set" && k != "@list" && k != "@index") fail("invalid set or list object");
    }
    if (result.size() > 2 || (result.size() == 2 && !result.contains("@index"))) fail("invalid set or list object");
    if (result.contains("@set")) return result.at("@set");
  }
  if (result.size() == 1 && result.contains("@language")) return nullptr;  // 18
  if (!active_property || *active_property == "@graph") {                    // 19
    if (result.empty() || result.contains("@value") || result.contains("@list")) return nullptr;
    if (result.size() == 1 && result.contains("@id")) return nullptr;
  }
  return result;
}

void Expander::expand_object(ContextPtr active, const ContextPtr& type_scoped,
                             const std::optional<std::string>& active_property, const json::object& element,
                             json::object& result, const std::optional<std::string>& input_type,
                             const std::string& base_url, std::size_t depth) {
  std::vector<std::string> nests;
  const bool input_is_json = input_type && *input_type == "@json";
  for (const std::string& key : sorted_keys(element)) {  // 13
    const json::value& value = element.at(key);
    if (key == "@context") continue;  // 13.1
    const auto expanded_property = expand_iri(*active, key, false, true);
    if (!expanded_property || (expanded_property->find(':') == std::string::npos && !is_keyword(*expanded_property))) {
      continue;  // 13.3
    }
    const std::string& ep = *expanded_property;
    if (is_keyword(ep)) {  // 13.4
      if (active_property && *active_property == "@reverse") fail("invalid reverse property map");
      if (result.contains(ep) && ep != "@included" && ep != "@type") fail("colliding keywords", ep);
      json::value expanded_value;
      if (ep == "@id") {
        if (!value.is_string()) fail("invalid @id value");
        auto iri = expand_iri(*active, value.as_string(), true, false);
        expanded_value = iri ? json::value(*iri) : json::value(nullptr);
      } else if (ep == "@type") {
        json::array types;
        if (value.is_string()) {
          types.push_back(value);
        } else if (value.is_array()) {
          types = value.as_array();
        } else {
          fail("invalid type value");
        }
        json::array expanded_types;
        for (const auto& t : types) {
          if (!t.is_string()) fail("invalid type value");
          auto iri = expand_iri(*type_scoped, t.as_string(), true, true);
          if (iri) expanded_types.push_back(json::value(*iri));
        }
        if (const auto* existing = result.if_contains("@type")) {
          json::array merged = to_array(*existing);
          for (auto& t : expanded_types) merged.push_back(t);
          expanded_types = std::move(merged);
        }
        expanded_value = value.is_string() && expanded_types.size() == 1 ? expanded_types[0]
                                                                           : json::value(expanded_types);
      } else if (ep == "@graph") {
        expanded_value = to_array(expand(active, std::string("@graph"), value, base_url, false, depth + 1));
      } else if (ep == "@included") {
        json::array included = to_array(expand(active, std::nullopt, value, base_url, false, depth + 1));
        for (const auto& i : included) {
          if (!i.is_object() || is_value_object(i) || is_list_object(i)) fail("invalid @included value");
        }
        if (const auto* existing = result.if_contains("@included")) {
          json::array merged = existing->as_array();
          for (auto& i : included) merged.push_back(i);
          included = std::move(merged);
        }
        expanded_value = included;
      } else if (ep == "@value") {
        if (input_is_json) {
          expanded_value = value;
        } else if (!value.is_null() && (value.is_object() || value.is_array())) {
          fail("invalid value object value");
        } else {
          expanded_value = value;
          if (value.is_null()) {
            result["@value"] = nullptr;
            continue;
          }
        }
      } else if (ep == "@language") {
        if (!value.is_string()) fail("invalid language-tagged string");
        expanded_value = to_lower(value.as_string());
      } else if (ep == "@direction") {
        if (!value.is_string() || (value.as_string() != "ltr" && value.as_string() != "rtl")) {
          fail("invalid base direction");
        }
        expanded_value = value;
      } else if (ep == "@index") {
        if (!value.is_string()) fail("invalid @index value");
        expanded_value = value;
      } else if (ep == "@list") {
        if (!active_property || *active_property == "@graph") continue;
        expanded_value = to_array(expand(active, active_property, value, base_url, false, depth + 1));
      } else if (ep == "@set") {
        expanded_value = expand(active, active_property, value, base_url, false, depth + 1);
      } else if (ep == "@reverse") {
        if (!value.is_object()) fail("invalid @reverse value");
        json::value ev = expand(active, std::string("@reverse"), value, base_url, false, depth + 1);
        if (!ev.is_object()) continue;
        json::object& expanded = ev.as_object();
        if (const auto* forward = expanded.if_contains("@reverse")) {
          for (const auto& [property, items] : forward->as_object()) append(result, property, to_array(items));
        }
        for (const auto& [property, items] : expanded) {
          if (property == "@reverse") continue;
          json::value& map = result["@reverse"];
          if (!map.is_object()) map = json::object{};
          for (const auto& item : to_array(items)) {
            if (is_value_object(item) || is_list_object(item)) fail("invalid reverse property value");
            append(map.as_object(), property, item);
          }
        }
        continue;
      } else if (ep == "@nest") {
        nests.push_back(key);
        continue;
      } else {
        continue;  // @context handled, framing keywords ignored
      }
      if (!(expanded_value.is_null() && ep == "@value" && !input_is_json)) result[ep] = std::move(expanded_value);
      continue;
    }
    const TermDefinition* d = active->find(key);  // 13.5
    const bool has = d != nullptr;
    json::value expanded_value;
    if (has && d->type && *d->type == "@json") {  // 13.6
      expanded_value = json::object{{"@value", value}, {"@type", "@json"}};
    } else if (has && d->has_container("@language") && value.is_object()) {  // 13.7
      json::array list;
      std::optional<std::string> direction = d->direction ? *d->direction : active->direction;
      for (const std::string& language : sorted_keys(value.as_object())) {
        for (const auto& item : to_array(value.as_object().at(language))) {
          if (item.is_null()) continue;
          if (!item.is_string()) fail("invalid language map value");
          json::object v{{"@value", item}};
          auto el = expand_iri(*active, language, false, true);
          if (!(el && *el == "@none")) v["@language"] = to_lower(language);
          if (direction) v["@direction"] = *direction;
          list.push_back(std::move(v));
        }
      }
      expanded_value = std::move(list);
    } else if (has && (d->has_container("@index") || d->has_container("@type") || d->has_container("@id")) &&
               value.is_object()) {  // 13.8
      json::array list;
      const std::string index_key = d->index ? *d->index : "@index";
      for (const std::string& index : sorted_keys(value.as_object())) {
        ContextPtr map_context = active;
        if (d->has_container("@id") || d->has_container("@type")) {
          map_context = active->previous ? active->previous : active;
        }
        if (const TermDefinition* id = map_context->find(index); d->has_container("@type") && id && id->context) {
          map_context = process_scoped_context(budget_, map_context, id->context, id->base_url);
        } else if (!d->has_container("@id") && !d->has_container("@type")) {
          map_context = active;
        }
        auto expanded_index = expand_iri(*active, index, false, true);
        const bool none = expanded_index && *expanded_index == "@none";
        json::value items = expand(map_context, key, to_array(value.as_object().at(index)), base_url, true, depth + 1);
        for (auto& item : to_array(items)) {
          if (d->has_container("@graph") && !is_graph_object(item)) item = json::object{{"@graph", to_array(item)}};
          if (d->has_container("@index") && index_key != "@index" && !none) {
            json::value re_expanded = expand_value(*active, index_key, json::value(index));
            auto expanded_index_key = expand_iri(*active, index_key, false, true);
            if (!expanded_index_key) continue;
            json::array values{re_expanded};
            if (const auto* existing = item.as_object().if_contains(*expanded_index_key)) {
              for (const auto& e : to_array(*existing)) values.push_back(e);
            }
            if (is_value_object(item)) fail("invalid value object");
            item.as_object()[*expanded_index_key] = std::move(values);
          } else if (d->has_container("@index") && !item.as_object().contains("@index") && !none) {
            item.as_object()["@index"] = index;
          } else if (d->has_container("@id") && !item.as_object().contains("@id") && !none) {
            auto iri = expand_iri(*active, index, true, false);
            item.as_object()["@id"] = iri ? json::value(*iri) : json::value(nullptr);
          } else if (d->has_container("@type") && !none) {
            json::array types{json::value(expanded_index ? *expanded_index : index)};
            if (const auto* existing = item.as_object().if_contains("@type")) {
              for (const auto& e : to_array(*existing)) types.push_back(e);
            }
            item.as_object()["@type"] = std::move(types);
          }
          list.push_back(std::move(item));
        }
      }
      expanded_value = std::move(list);
    } else {  // 13.9
      expanded_value = expand(active, key, value, base_url, false, depth + 1);
    }
    if (expanded_value.is_null()) continue;  // 13.10
    if (has && d->has_container("@list") && !is_list_object(expanded_value)) {  // 13.11
      expanded_value = json::object{{"@list", to_array(expanded_value)}};
    }
    if (has && d->has_container("@graph") && !d->has_container("@id") && !d->has_container("@index")) {  // 13.12
      json::array graphs;
      for (const auto& ev : to_array(expanded_value)) graphs.push_back(json::object{{"@graph", to_array(ev)}});
      expanded_value = std::move(graphs);
    }
    if (has && d->reverse) {  // 13.13
      json::value& map = result["@reverse"];
      if (!map.is_object()) map = json::object{};
      for (const auto& item : to_array(expanded_value)) {
        if (is_value_object(item) || is_list_object(item)) fail("invalid reverse property value");
        append(map.as_object(), ep, item);
      }
    } else {  // 13.14
      append(result, ep, to_array(expanded_value));
    }
  }
  for (const std::string& nesting_key : nests) {  // 14
    // A nesting key's own scoped context applies to what it nests (1.1 errata).
    ContextPtr nest_context = active;
    if (const TermDefinition* d = active->find(nesting_key); d && d->context) {
      ContextFlags f;
      f.override_protected = true;
      nest_context = process_scoped_context(budget_, active, d->context, d->base_url, f);
    }
    for (const auto& nested : to_array(element.at(nesting_key))) {
      if (!nested.is_object()) fail("invalid @nest value");
      for (const auto& [k, _] : nested.as_object()) {
        auto e = expand_iri(*nest_context, k, false, true);
        if (e && *e == "@value") fail("invalid @nest value");
      }
      expand_object(nest_context, type_scoped, active_property, nested.as_object(), result, input_type, base_url,
                    depth + 1);
    }
  }
}

}  // namespace

json::value expand_document(Budget& budget, const json::value& document) {
  const Options& options = budget.options;
  ContextPtr active = initial_context(options.base);
  if (options.expand_context) {
    const json::value* c = &*options.expand_context;
    if (c->is_object() && c->as_object().contains("@context")) c = &c->as_object().at("@context");
    active = process_context(budget, active, *c, options.base, {});
  }
  Expander expander(budget);
  json::value expanded = expander.expand(active, std::nullopt, document, options.base, false, 0);
  if (expanded.is_object() && expanded.as_object().size() == 1 && expanded.as_object().contains("@graph")) {
    expanded = expanded.as_object().at("@graph");
  }
  if (expanded.is_null()) return json::array{};
  return to_array(expanded);
}

}  // namespace detail

boost::json::value expand(const boost::json::value& document, const Options& options) {
  detail::Budget budget{options};
  return detail::expand_document(budget, document);
}

}  // namespace privstack::credentials::jsonld
