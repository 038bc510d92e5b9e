// N-Quads: a strict parser of the W3C RDF 1.1 N-Quads grammar (plus RDF
// 1.2's "@lang--ltr" base direction), and the canonical N-Quads form that
// RDFC-1.0 hashes and outputs (rdf-canon appendix A, "A Canonical form of
// N-Quads").
//
// The parser is meant for untrusted input: bounded size, no recursion, every
// error a ParseError naming the line and column; it never accepts what the
// grammar does not (relative IRIs, characters outside IRIREF, escapes that
// are not Unicode scalar values, bytes that are not UTF-8).
#pragma once

#include "core/error.h"
#include "credentials/rdf.h"

#include <cstddef>
#include <string>
#include <string_view>

namespace privstack::credentials::nquads {

// An input the grammar refuses, or one over the size limit. message() (and
// what()) reads "N-Quads line L, column C: what is wrong"; L and C count
// from 1, C in characters. The code is invalid_argument, the reason "nquads_syntax".
class ParseError : public privstack::Error {
 public:
  ParseError(std::size_t line, std::size_t column, const std::string& what);
  std::size_t line() const { return line_; }
  std::size_t column() const { return column_; }

 private:
  std::size_t line_;
  std::size_t column_;
};

struct ParseLimits {
  // A larger document is refused before it is read (line 1, column 1).
  std::size_t max_bytes = 4 * 1024 * 1024;
};

// The quads of an N-Quads document, in document order (duplicates kept).
Dataset parse(std::string_view document, const ParseLimits& limits = {});

// The canonical N-Quads form of a term: <iri> (characters as they are),
// _:label, or "lexical" with only the characters the canonical form requires
// escaped (\b \t \n \f \r \" \\ as ECHAR; U+0000-U+001F other than those,
// U+007F, U+FFFE and U+FFFF as \uXXXX with uppercase hex), followed by
// @lang[--dir] or ^^<datatype> (xsd:string omitted).
void append_term(std::string& out, const Term& term);
// The quad's canonical line: terms separated by one space, " .\n" at the end.
void append_quad(std::string& out, const Quad& quad);
std::string to_line(const Quad& quad);

}  // namespace privstack::credentials::nquads
