// JSON-LD 1.1 Node Map Generation and Deserialize JSON-LD to RDF
// (https://www.w3.org/TR/json-ld11-api/ sections 7.2, 8.1), with the JSON
// Canonicalization Scheme (RFC 8785) for rdf:JSON literals.
#include "credentials/jsonld_context.h"
#include "core/encoding.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <regex>

#include <boost/json/basic_parser_impl.hpp>

namespace privstack::credentials::jsonld {

namespace detail {
json::value expand_document(Budget& budget, const json::value& document);
}

namespace {

using namespace detail;

constexpr std::string_view kRdf = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";
constexpr std::string_view kXsd = "http://www.w3.org/2001/XMLSchema#";

std::string rdf(std::string_view local) { return std::string(kRdf) + std::string(local); }
std::string xsd(std::string_view local) { return std::string(kXsd) + std::string(local); }

json::array to_array(const json::value& v) { return v.is_array() ? v.as_array() : json::array{v}; }

// Node Map Generation: graph name -> subject -> node object.
using NodeMap = std::map<std::string, std::map<std::string, json::object>>;

class NodeMapper {
 public:
  explicit NodeMapper(NodeMap& map) : map_(map) {}

  void generate(const json::value& element, const std::string& active_graph, const json::value& active_subject,
                const std::optional<std::string>& active_property, json::object* list);

 private:
  std::string blank_id(const std::string& old) {
    if (old.empty()) return "_:b" + std::to_string(counter_++);
    auto [it, inserted] = issued_.try_emplace(old);
    if (inserted) it->second = "_:b" + std::to_string(counter_++);
    return it->second;
  }
  static void add_unique(json::object& node, const std::string& property, const json::value& v) {
    json::value& slot = node[property];
    if (!slot.is_array()) slot = json::array{};
    auto& a = slot.as_array();
    if (std::find(a.begin(), a.end(), v) == a.end()) a.push_back(v);
  }
  NodeMap& map_;
  std::map<std::string, std::string> issued_;
  std::size_t counter_ = 0;
};

void NodeMapper::generate(const json::value& element_in, const std::string& active_graph,
                          const json::value& active_subject, const std::optional<std::string>& active_property,
                          json::object* list) {
  if (element_in.is_array()) {  // 1
    for (const auto& item : element_in.as_array()) generate(item, active_graph, active_subject, active_property, list);
    return;
  }
  if (!element_in.is_object()) return;
  json::object element = element_in.as_object();
  auto& graph = map_[active_graph];  // 2
  json::object* subject_node = nullptr;
  if (active_subject.is_string()) subject_node = &graph[std::string(active_subject.as_string())];
  if (auto* types = element.if_contains("@type"); types && !element.contains("@value")) {  // 3
    json::array relabelled;
    for (const auto& t : to_array(*types)) {
      relabelled.push_back(t.is_string() && is_blank_node_id(t.as_string())
                               ? json::value(blank_id(std::string(t.as_string())))
                               : t);
    }
    *types = relabelled;
  }
  if (element.contains("@value")) {  // 4
    if (list) {
      list->at("@list").as_array().push_back(element);
    } else if (subject_node && active_property) {
      add_unique(*subject_node, *active_property, element);
    }
    return;
  }
  if (element.contains("@list")) {  // 5
    json::object result{{"@list", json::array{}}};
    generate(element.at("@list"), active_graph, active_subject, active_property, &result);
    if (list) {
      list->at("@list").as_array().push_back(result);
    } else if (subject_node && active_property) {
      json::value& slot = (*subject_node)[*active_property];
      if (!slot.is_array()) slot = json::array{};
      slot.as_array().push_back(result);
    }
    return;
  }
  std::string id;  // 6
  if (const auto* given = element.if_contains("@id")) {
    if (given->is_null()) return;
    id = std::string(given->as_string());
    if (is_blank_node_id(id)) id = blank_id(id);
    element.erase("@id");
  } else {
    id = blank_id({});
  }
  {
    auto& node = graph[id];
    if (node.empty()) node["@id"] = id;
  }
  // graph may be rehashed by nested calls only when new graphs are added to
  // map_; graph itself is a std::map, so references into it stay valid.
  if (active_subject.is_object()) {  // 6.5 reverse
    add_unique(graph[id], *active_property, active_subject);
  } else if (active_property) {
    json::object reference{{"@id", id}};
    if (list) {
      list->at("@list").as_array().push_back(reference);
    } else if (subject_node) {
      add_unique(*subject_node, *active_property, reference);
    }
  }
  if (const auto* types = element.if_contains("@type")) {  // 6.7
    for (const auto& t : to_array(*types)) add_unique(graph[id], "@type", t);
    element.erase("@type");
  }
  if (const auto* index = element.if_contains("@index")) {  // 6.8
    auto& node = graph[id];
    if (const auto* existing = node.if_contains("@index"); existing && *existing != *index) {
      fail("conflicting indexes", id);
    }
    node["@index"] = *index;
    element.erase("@index");
  }
  if (const auto* reverse = element.if_contains("@reverse")) {  // 6.9
    const json::value referenced = json::object{{"@id", id}};
    for (const auto& [property, values] : reverse->as_object()) {
      for (const auto& v : to_array(values)) generate(v, active_graph, referenced, std::string(property), nullptr);
    }
    element.erase("@reverse");
  }
  if (const auto* g = element.if_contains("@graph")) {  // 6.10
    const json::value inner = *g;
    generate(inner, id, nullptr, std::nullopt, nullptr);
    element.erase("@graph");
  }
  if (const auto* included = element.if_contains("@included")) {  // 6.11
    const json::value inner = *included;
    generate(inner, active_graph, nullptr, std::nullopt, nullptr);
    element.erase("@included");
  }
  for (const auto& [key, value] : element) {  // 6.12
    std::string property(key);
    if (is_blank_node_id(property)) property = blank_id(property);
    auto& node = map_[active_graph][id];
    if (!node.contains(property)) node[property] = json::array{};
    generate(value, active_graph, json::value(id), property, nullptr);
  }
}

// An IRI N-Quads can carry: absolute, without the characters IRIREF excludes.
bool is_well_formed_iri(std::string_view s) {
  if (!is_absolute_iri(s) || std::count(s.begin(), s.end(), '#') > 1) return false;
  for (unsigned char c : s) {
    if (c <= 0x20 || c == '<' || c == '>' || c == '"' || c == '{' || c == '}' || c == '|' || c == '^' || c == '`' ||
        c == '\\') {
      return false;
    }
  }
  return true;
}

bool is_well_formed_language(std::string_view s) {
  static const std::regex kBcp47("^[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*$");
  return std::regex_match(s.begin(), s.end(), kBcp47);
}

std::optional<Term> node_term(std::string_view id) {
  if (is_blank_node_id(id)) return blank_node(std::string(id.substr(2)));
  if (is_well_formed_iri(id)) return iri(std::string(id));
  return std::nullopt;
}

// xsd:double's canonical form, as JSON-LD defines it: one digit before the
// point, at least one after, no trailing zeros, "E" and the exponent.
std::string canonical_double(double d) {
  if (d == 0) d = 0;  // -0 is 0
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.15E", d);
  std::string s(buffer);
  const auto e = s.find('E');
  std::string mantissa = s.substr(0, e);
  int exponent = std::stoi(s.substr(e + 1));
  while (mantissa.size() > 1 && mantissa.back() == '0' && mantissa[mantissa.size() - 2] != '.') mantissa.pop_back();
  return mantissa + "E" + std::to_string(exponent);
}

// ECMAScript Number::toString (what JCS writes for a number).
std::string ecmascript_number(double d) {
  if (d == 0) return "0";
  if (!std::isfinite(d)) fail("invalid JSON literal", "non-finite number");
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, d, std::chars_format::scientific);
  std::string s(buffer, end);
  std::string sign;
  if (s[0] == '-') {
    sign = "-";
    s.erase(0, 1);
  }
  const auto e = s.find('e');
  std::string digits = s.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int n = std::stoi(s.substr(e + 1)) + 1;
  const int k = static_cast<int>(digits.size());
  std::string out;
  if (k <= n && n <= 21) {
    out = digits + std::string(n - k, '0');
  } else if (0 < n && n <= 21) {
    out = digits.substr(0, n) + "." + digits.substr(n);
  } else if (-6 < n && n <= 0) {
    out = "0." + std::string(-n, '0') + digits;
  } else {
    out = digits.substr(0, 1);
    if (k > 1) out += "." + digits.substr(1);
    out += (n - 1 >= 0 ? "e+" : "e-") + std::to_string(std::abs(n - 1));
  }
  return sign + out;
}

std::u16string utf16(std::string_view s) {
  std::u16string out;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    char32_t cp = c;
    std::size_t len = 1;
    if (c >= 0xF0) {
      cp = c & 0x07, len = 4;
    } else if (c >= 0xE0) {
      cp = c & 0x0F, len = 3;
    } else if (c >= 0xC0) {
      cp = c & 0x1F, len = 2;
    }
    for (std::size_t j = 1; j < len && i + j < s.size(); ++j) cp = (cp << 6) | (s[i + j] & 0x3F);
    i += len;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xD800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 + (cp & 0x3FF)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
  }
  return out;
}

void append_canonical(std::string& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: out += "null"; break;
    case json::kind::bool_: out += v.as_bool() ? "true" : "false"; break;
    case json::kind::int64: out += std::to_string(v.as_int64()); break;
    case json::kind::uint64: out += std::to_string(v.as_uint64()); break;
    case json::kind::double_: out += ecmascript_number(v.as_double()); break;
    case json::kind::string: append_json_string(out, v.as_string()); break;
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v.as_array()) {
        if (!first) out += ',';
        first = false;
        append_canonical(out, e);
      }
      out += ']';
      break;
    }
    case json::kind::object: {
      std::vector<std::pair<std::u16string, std::string_view>> keys;
      for (const auto& [k, _] : v.as_object()) keys.emplace_back(utf16(k), k);
      std::sort(keys.begin(), keys.end());
      out += '{';
      bool first = true;
      for (const auto& [_, k] : keys) {
        if (!first) out += ',';
        first = false;
        append_json_string(out, k);
        out += ':';
        append_canonical(out, v.as_object().at(k));
      }
      out += '}';
      break;
    }
  }
}

class RdfWriter {
 public:
  RdfWriter(const Options& options, Dataset& out) : options_(options), out_(out) {}

  void write(const NodeMap& map);

 private:
  void emit(Term s, Term p, Term o, const std::optional<Term>& g) {
    if (out_.size() >= options_.limits.max_quads) throw LimitExceeded("too many quads");
    out_.push_back(Quad{std::move(s), std::move(p), std::move(o), g});
  }
  std::optional<Term> object(const json::value& item, const std::optional<Term>& graph);
  Term list(const json::array& items, const std::optional<Term>& graph);
  Term fresh() { return blank_node("l" + std::to_string(counter_++)); }

  const Options& options_;
  Dataset& out_;
  std::size_t counter_ = 0;
};

void RdfWriter::write(const NodeMap& map) {
  for (const auto& [graph_name, graph] : map) {
    std::optional<Term> g;
    if (graph_name != "@default") {
      g = node_term(graph_name);
      if (!g) continue;
    }
    for (const auto& [subject_id, node] : graph) {
      const auto subject = node_term(subject_id);
      if (!subject) continue;
      for (const auto& [property, values] : node) {
        if (property == "@type") {
          for (const auto& t : values.as_array()) {
            if (auto o = t.is_string() ? node_term(t.as_string()) : std::nullopt) emit(*subject, iri(rdf("type")), *o, g);
          }
          continue;
        }
        if (is_keyword(property) || is_blank_node_id(property) || !is_well_formed_iri(property)) continue;
        if (!values.is_array()) continue;
        for (const auto& item : values.as_array()) {
          if (auto o = object(item, g)) emit(*subject, iri(std::string(property)), *o, g);
        }
      }
    }
  }
}

Term RdfWriter::list(const json::array& items, const std::optional<Term>& graph) {
  if (items.empty()) return iri(rdf("nil"));
  std::vector<Term> nodes;
  for (std::size_t i = 0; i < items.size(); ++i) nodes.push_back(fresh());
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (auto o = object(items[i], graph)) emit(nodes[i], iri(rdf("first")), *o, graph);
    emit(nodes[i], iri(rdf("rest")), i + 1 < items.size() ? nodes[i + 1] : iri(rdf("nil")), graph);
  }
  return nodes[0];
}

std::optional<Term> RdfWriter::object(const json::value& item_value, const std::optional<Term>& graph) {
  if (!item_value.is_object()) return std::nullopt;
  const json::object& item = item_value.as_object();
  if (!item.contains("@value")) {
    if (const auto* l = item.if_contains("@list")) return list(l->as_array(), graph);
    const auto* id = item.if_contains("@id");
    if (!id || !id->is_string()) return std::nullopt;
    return node_term(id->as_string());
  }
  const json::value& value = item.at("@value");
  // Expansion leaves these strings, except where a map container adds to a
  // value object afterwards (a @type map around values: fuzz finding).
  const json::value* type = item.if_contains("@type");
  const json::value* language_entry = item.if_contains("@language");
  const json::value* direction_entry = item.if_contains("@direction");
  if ((type && !type->is_string()) || (language_entry && !language_entry->is_string()) ||
      (direction_entry && !direction_entry->is_string())) {
    fail("invalid value object", "@type, @language and @direction of a value must be strings");
  }
  std::string datatype;
  if (type) datatype = std::string(type->as_string());
  if (!datatype.empty() && datatype != "@json" && !is_well_formed_iri(datatype)) return std::nullopt;
  const json::value* language = item.if_contains("@language");
  if (language && !is_well_formed_language(language->as_string())) return std::nullopt;
  std::string lexical;
  if (datatype == "@json") {
    lexical = canonical_json(value);
    datatype = rdf("JSON");
  } else if (value.is_bool()) {
    lexical = value.as_bool() ? "true" : "false";
    if (datatype.empty()) datatype = xsd("boolean");
  } else if (value.is_number()) {
    const double d = value.to_number<double>();
    if (!std::isfinite(d)) fail("invalid typed value", "not a finite number");
    const bool integral = value.is_int64() || value.is_uint64() || (std::floor(d) == d && std::abs(d) < 1e21);
    if (!integral || datatype == xsd("double")) {
      lexical = canonical_double(d);
      if (datatype.empty()) datatype = xsd("double");
    } else {
      if (value.is_int64()) {
        lexical = std::to_string(value.as_int64());
      } else if (value.is_uint64()) {
        lexical = std::to_string(value.as_uint64());
      } else {
        char buffer[64];
        std::snprintf(buffer, sizeof buffer, "%.0f", d + 0.0);  // -0 is 0
        lexical = buffer;
      }
      if (datatype.empty()) datatype = xsd("integer");
    }
  } else if (value.is_string()) {
    lexical = std::string(value.as_string());
  } else {
    return std::nullopt;
  }
  const json::value* direction = item.if_contains("@direction");
  if (direction && options_.rdf_direction != RdfDirection::none) {
    const std::string lang = language ? to_lower(language->as_string()) : "";
    const std::string dir(direction->as_string());
    if (options_.rdf_direction == RdfDirection::i18n_datatype) {
      return literal(lexical, "https://www.w3.org/ns/i18n#" + lang + "_" + dir);
    }
    Term node = fresh();
    emit(node, iri(rdf("value")), literal(lexical), graph);
    if (language) emit(node, iri(rdf("language")), literal(lang), graph);
    emit(node, iri(rdf("direction")), literal(dir), graph);
    return node;
  }
  if (language) return lang_literal(lexical, std::string(language->as_string()));
  if (datatype == kXsdString) datatype.clear();
  return literal(lexical, datatype);
}

}  // namespace

std::string canonical_json(const boost::json::value& value) {
  std::string out;
  append_canonical(out, value);
  return out;
}

namespace {

// Boost.JSON's own value builder (the one json::parse uses), except for
// doubles: Boost 1.81's conversion is not correctly rounded for long
// mantissas (333333333.33333333 comes out one ulp off, W3C test toRdf
// js12), so a double is converted again from its text with std::from_chars,
// which is.
class PreciseHandler {
 public:
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  json::value_stack st;

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code&) { return true; }
  bool on_object_end(std::size_t n, boost::system::error_code&) { return st.push_object(n), true; }
  bool on_array_begin(boost::system::error_code&) { return true; }
  bool on_array_end(std::size_t n, boost::system::error_code&) { return st.push_array(n), true; }
  bool on_key_part(json::string_view s, std::size_t, boost::system::error_code&) { return st.push_chars(s), true; }
  bool on_key(json::string_view s, std::size_t, boost::system::error_code&) { return st.push_key(s), true; }
  bool on_string_part(json::string_view s, std::size_t, boost::system::error_code&) {
    return st.push_chars(s), true;
  }
  bool on_string(json::string_view s, std::size_t, boost::system::error_code&) { return st.push_string(s), true; }
  bool on_number_part(json::string_view s, boost::system::error_code&) {
    number_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t i, json::string_view, boost::system::error_code&) {
    number_.clear();
    return st.push_int64(i), true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, boost::system::error_code&) {
    number_.clear();
    return st.push_uint64(u), true;
  }
  bool on_double(double d, json::string_view s, boost::system::error_code& ec) {
    number_.append(s.data(), s.size());
    double precise = 0;
    const auto [end, result] = std::from_chars(number_.data(), number_.data() + number_.size(), precise);
    if (result == std::errc{} && end == number_.data() + number_.size()) d = precise;
    number_.clear();
    // 1e400: no RDF literal (and no JCS form) for infinity.
    if (!std::isfinite(d)) {
      ec = json::error::exponent_overflow;
      return false;
    }
    return st.push_double(d), true;
  }
  bool on_bool(bool b, boost::system::error_code&) { return st.push_bool(b), true; }
  bool on_null(boost::system::error_code&) { return st.push_null(), true; }
  bool on_comment_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(json::string_view, boost::system::error_code&) { return true; }

 private:
  std::string number_;
};

}  // namespace

boost::json::value parse_json(std::string_view json_text, const Limits& limits) {
  if (json_text.size() > limits.max_document_bytes) throw LimitExceeded("JSON-LD document too large");
  json::parse_options po;
  po.max_depth = limits.max_depth;
  json::basic_parser<PreciseHandler> parser(po);
  parser.handler().st.reset();
  boost::system::error_code ec;
  parser.write_some(false, json_text.data(), json_text.size(), ec);
  if (ec == json::error::too_deep) throw LimitExceeded("JSON-LD document nested too deeply");
  if (ec) fail("loading document failed", "not JSON");
  return parser.handler().st.release();
}

Dataset to_rdf(const boost::json::value& document, const Options& options) {
  Budget budget{options};
  const json::value expanded = expand_document(budget, document);
  NodeMap map;
  map["@default"];
  NodeMapper(map).generate(expanded, "@default", nullptr, std::nullopt, nullptr);
  Dataset out;
  RdfWriter(options, out).write(map);
  return out;
}

Dataset to_rdf(std::string_view json_text, const Options& options) {
  return to_rdf(parse_json(json_text, options.limits), options);
}

}  // namespace privstack::credentials::jsonld
