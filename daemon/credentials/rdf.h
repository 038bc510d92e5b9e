// The RDF data model the Linked Data credentials are made of (RDF 1.1
// Concepts, with RDF 1.2's base direction on language-tagged literals):
// terms, quads and a dataset. Plain data with no behaviour; N-Quads reads
// and writes it (nquads.h), RDFC-1.0 canonicalizes it (rdfc.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace privstack::credentials {

inline constexpr std::string_view kXsdString = "http://www.w3.org/2001/XMLSchema#string";
inline constexpr std::string_view kRdfLangString = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString";

enum class TermKind : std::uint8_t { iri, blank_node, literal };

// RDF 1.2 base direction of a language-tagged literal ("@en--rtl").
enum class Direction : std::uint8_t { none, ltr, rtl };

// One RDF term. `value` is an IRI (absolute, as its characters, no escapes),
// a blank node's label (without "_:"; two blank nodes of one dataset are the
// same node exactly when their labels are equal) or a literal's lexical form
// (UTF-8, unescaped). The other members are for literals only:
//   - `datatype`: the datatype IRI; empty means xsd:string, or
//     rdf:langString when `language` is set (the N-Quads parser stores a
//     written ^^xsd:string as empty, so that equal literals compare equal);
//   - `language`: the language tag as written (not case-folded: RDFC-1.0
//     hashes the tag as it is);
//   - `direction`: only with a language tag.
struct Term {
  TermKind kind = TermKind::iri;
  std::string value;
  std::string datatype;
  std::string language;
  Direction direction = Direction::none;

  bool is_blank_node() const { return kind == TermKind::blank_node; }
  bool operator==(const Term&) const = default;
};

inline Term iri(std::string value) { return {TermKind::iri, std::move(value), {}, {}, Direction::none}; }
inline Term blank_node(std::string label) {
  return {TermKind::blank_node, std::move(label), {}, {}, Direction::none};
}
// A literal: xsd:string unless `datatype` says otherwise.
inline Term literal(std::string lexical, std::string datatype = {}) {
  return {TermKind::literal, std::move(lexical), std::move(datatype), {}, Direction::none};
}
inline Term lang_literal(std::string lexical, std::string language, Direction direction = Direction::none) {
  return {TermKind::literal, std::move(lexical), {}, std::move(language), direction};
}

// A triple in the default graph (no graph), or in the named graph `graph`
// (an IRI or a blank node).
struct Quad {
  Term subject;
  Term predicate;
  Term object;
  std::optional<Term> graph;

  bool operator==(const Quad&) const = default;
};

// A dataset is a set of quads; duplicates in this list are one quad to the
// canonicalizer (it removes them), and their order does not matter.
using Dataset = std::vector<Quad>;

}  // namespace privstack::credentials
