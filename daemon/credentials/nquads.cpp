#include "credentials/nquads.h"

#include <cstdint>
#include <string>
#include <utility>

namespace privstack::credentials::nquads {

ParseError::ParseError(std::size_t line, std::size_t column, const std::string& what)
    : privstack::Error(ErrorCode::invalid_argument,
                       "N-Quads line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + what),
      line_(line),
      column_(column) {
  with_reason("nquads_syntax");
}

namespace {

constexpr char kHexUpper[] = "0123456789ABCDEF";

// ECHAR: each escape letter and the character it stands for, exactly the
// characters the canonical form writes as ECHAR (\' is read, never written).
constexpr std::pair<char, char> kEchars[] = {{'t', '\t'}, {'b', '\b'}, {'n', '\n'}, {'r', '\r'},
                                             {'f', '\f'}, {'"', '"'},  {'\\', '\\'}};

// The character an escape letter stands for (a pointer into kEchars), or null.
const char* echar_meaning(char letter) {
  for (const auto& [l, c] : kEchars) {
    if (l == letter) return &c;
  }
  return nullptr;
}
// The escape letter of a character the canonical form writes as ECHAR, or 0.
char echar_letter(char c) {
  for (const auto& [l, meaning] : kEchars) {
    if (meaning == c) return l;
  }
  return 0;
}

// Appends code point `cp` (a Unicode scalar value) as UTF-8.
void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_scalar_value(char32_t cp) { return cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF); }

// The code point of the well-formed UTF-8 sequence at `text[pos]` and its
// length in bytes; length 0 for anything else (overlong forms, surrogates,
// beyond U+10FFFF, truncated sequences, stray continuation bytes).
std::pair<char32_t, std::size_t> decode_utf8(std::string_view text, std::size_t pos) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80) return {lead, 1};
  std::size_t length;
  char32_t cp;
  char32_t min;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2, cp = lead & 0x1F, min = 0x80;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3, cp = lead & 0x0F, min = 0x800;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4, cp = lead & 0x07, min = 0x10000;
  } else {
    return {0, 0};
  }
  if (text.size() - pos < length) return {0, 0};
  for (std::size_t i = 1; i < length; ++i) {
    const unsigned char next = byte(pos + i);
    if ((next & 0xC0) != 0x80) return {0, 0};
    cp = (cp << 6) | (next & 0x3F);
  }
  if (cp < min || !is_scalar_value(cp)) return {0, 0};
  return {cp, length};
}

// IRIREF excludes these (and U+0000-U+0020), written or escaped: an escape
// must not smuggle in what the canonical form would then write raw.
bool allowed_in_iri(char32_t cp) {
  if (cp <= 0x20) return false;
  switch (cp) {
    case '<': case '>': case '"': case '{': case '}': case '|': case '^': case '`': case '\\':
      return false;
    default:
      return true;
  }
}

bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

// PN_CHARS_BASE, PN_CHARS_U and PN_CHARS of the N-Quads grammar.
bool is_pn_chars_base(char32_t c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= 0xC0 && c <= 0xD6) ||
         (c >= 0xD8 && c <= 0xF6) || (c >= 0xF8 && c <= 0x2FF) || (c >= 0x370 && c <= 0x37D) ||
         (c >= 0x37F && c <= 0x1FFF) || (c >= 0x200C && c <= 0x200D) || (c >= 0x2070 && c <= 0x218F) ||
         (c >= 0x2C00 && c <= 0x2FEF) || (c >= 0x3001 && c <= 0xD7FF) || (c >= 0xF900 && c <= 0xFDCF) ||
         (c >= 0xFDF0 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0xEFFFF);
}
bool is_pn_chars_u(char32_t c) { return is_pn_chars_base(c) || c == '_' || c == ':'; }
bool is_pn_chars(char32_t c) {
  return is_pn_chars_u(c) || c == '-' || (c >= '0' && c <= '9') || c == 0xB7 || (c >= 0x300 && c <= 0x36F) ||
         (c >= 0x203F && c <= 0x2040);
}

// An absolute IRI starts with a scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":".
bool has_scheme(std::string_view iri) {
  if (iri.empty() || !is_ascii_alpha(iri[0])) return false;
  for (std::size_t i = 1; i < iri.size(); ++i) {
    const char c = iri[i];
    if (c == ':') return true;
    if (!is_ascii_alpha(c) && !is_ascii_digit(c) && c != '+' && c != '-' && c != '.') return false;
  }
  return false;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Dataset document() {
    Dataset quads;
    while (true) {
      skip_spaces();
      if (at_end()) break;
      const char c = peek();
      if (c == '#') {
        skip_comment();
      } else if (c == '\n' || c == '\r') {
        ++pos_;
      } else {
        quads.push_back(statement());
      }
    }
    return quads;
  }

 private:
  [[noreturn]] void fail(std::size_t at, const std::string& what) const {
    // Line and column only when needed: EOL is any run of CR and LF.
    std::size_t line = 1;
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < at && i < text_.size(); ++i) {
      const char c = text_[i];
      if (c == '\n' || (c == '\r' && (i + 1 >= text_.size() || text_[i + 1] != '\n'))) {
        ++line;
        line_start = i + 1;
      }
    }
    std::size_t column = 1;
    for (std::size_t i = line_start; i < at && i < text_.size(); ++i) {
      if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) ++column;
    }
    throw ParseError(line, column, what);
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }

  void skip_spaces() {
    while (!at_end() && (peek() == ' ' || peek() == '\t')) ++pos_;
  }
  void skip_comment() {
    while (!at_end() && peek() != '\n' && peek() != '\r') ++pos_;
  }

  Quad statement() {
    Quad quad;
    quad.subject = subject_or_graph("a subject (an IRI or a blank node)");
    skip_spaces();
    if (at_end() || peek() != '<') fail(pos_, "expected a predicate (an IRI)");
    quad.predicate = iri_term();
    skip_spaces();
    quad.object = object();
    skip_spaces();
    if (!at_end() && (peek() == '<' || peek() == '_')) {
      quad.graph = subject_or_graph("a graph name");
      skip_spaces();
    }
    if (at_end() || peek() != '.') fail(pos_, "expected '.' at the end of the statement");
    ++pos_;
    skip_spaces();
    if (!at_end() && peek() != '\n' && peek() != '\r' && peek() != '#') {
      fail(pos_, "unexpected text after the statement's '.' (one statement per line)");
    }
    return quad;
  }

  Term subject_or_graph(const char* expected) {
    if (!at_end() && peek() == '<') return iri_term();
    if (!at_end() && peek() == '_') return blank_node_term();
    fail(pos_, std::string("expected ") + expected);
  }

  Term object() {
    if (at_end()) fail(pos_, "expected an object (an IRI, a blank node or a literal)");
    switch (peek()) {
      case '<': return iri_term();
      case '_': return blank_node_term();
      case '"': return literal_term();
      default: fail(pos_, "expected an object (an IRI, a blank node or a literal)");
    }
  }

  Term iri_term() { return credentials::iri(iri_ref()); }

  // IRIREF, checked to be absolute. At '<'.
  std::string iri_ref() {
    const std::size_t start = pos_++;
    std::string value;
    while (true) {
      if (at_end() || peek() == '\n' || peek() == '\r') fail(start, "unterminated IRI (no '>' on its line)");
      const char c = peek();
      if (c == '>') {
        ++pos_;
        break;
      }
      const std::size_t at = pos_;
      char32_t cp;
      if (c == '\\') {
        if (pos_ + 1 >= text_.size() || (text_[pos_ + 1] != 'u' && text_[pos_ + 1] != 'U')) {
          fail(at, "only \\u and \\U escapes are allowed in an IRI");
        }
        cp = uchar();
      } else {
        cp = utf8_char();
      }
      if (!allowed_in_iri(cp)) fail(at, "character " + code_point_name(cp) + " is not allowed in an IRI");
      append_utf8(value, cp);
    }
    if (!has_scheme(value)) fail(start, "relative IRI (an IRI needs a scheme, as in <urn:...> or <https://...>)");
    return value;
  }

  // BLANK_NODE_LABEL. At '_'.
  Term blank_node_term() {
    const std::size_t start = pos_;
    if (pos_ + 1 >= text_.size() || text_[pos_ + 1] != ':') fail(start, "expected '_:' and a blank node label");
    pos_ += 2;
    if (at_end()) fail(pos_, "expected a blank node label after '_:'");
    const auto [first, first_length] = decode_utf8(text_, pos_);
    if (first_length == 0) fail(pos_, "invalid UTF-8");
    if (!is_pn_chars_u(first) && !(first >= '0' && first <= '9')) {
      fail(pos_, "a blank node label starts with a letter, a digit, '_' or ':'");
    }
    pos_ += first_length;
    // (PN_CHARS | '.')* PN_CHARS: dots inside, never last (the last one ends the statement).
    std::size_t end = pos_;
    while (!at_end()) {
      const auto [cp, length] = decode_utf8(text_, pos_);
      if (length == 0) fail(pos_, "invalid UTF-8");
      if (cp == '.') {
        pos_ += length;
      } else if (is_pn_chars(cp)) {
        pos_ += length;
        end = pos_;
      } else {
        break;
      }
    }
    pos_ = end;
    return credentials::blank_node(std::string(text_.substr(start + 2, end - start - 2)));
  }

  // STRING_LITERAL_QUOTE with an optional ^^IRIREF or LANGTAG. At '"'.
  Term literal_term() {
    const std::size_t start = pos_++;
    std::string lexical;
    while (true) {
      if (at_end()) fail(start, "unterminated string literal");
      const char c = peek();
      if (c == '"') {
        ++pos_;
        break;
      }
      if (c == '\n' || c == '\r') fail(start, "unterminated string literal (a line break inside; write \\n or \\r)");
      if (c == '\\') {
        if (pos_ + 1 >= text_.size()) fail(pos_, "unterminated escape");
        const char e = text_[pos_ + 1];
        if (e == 'u' || e == 'U') {
          append_utf8(lexical, uchar());
          continue;
        }
        const char* const decoded = e == '\'' ? "'" : echar_meaning(e);
        if (decoded == nullptr) {
          fail(pos_, "unknown escape (use \\t \\b \\n \\r \\f \\\" \\' \\\\ \\uXXXX or \\UXXXXXXXX)");
        }
        lexical += *decoded;
        pos_ += 2;
        continue;
      }
      append_utf8(lexical, utf8_char());
    }
    skip_spaces();
    if (!at_end() && peek() == '@') {
      auto [language, direction] = language_tag();
      return credentials::lang_literal(std::move(lexical), std::move(language), direction);
    }
    if (pos_ + 1 < text_.size() && peek() == '^' && text_[pos_ + 1] == '^') {
      pos_ += 2;
      skip_spaces();
      if (at_end() || peek() != '<') fail(pos_, "expected a datatype IRI after '^^'");
      std::string datatype = iri_ref();
      if (datatype == kXsdString) datatype.clear();
      return credentials::literal(std::move(lexical), std::move(datatype));
    }
    return credentials::literal(std::move(lexical));
  }

  // LANGTAG: '@' [a-zA-Z]+ ('-' [a-zA-Z0-9]+)*, and RDF 1.2's '--ltr' or '--rtl'. At '@'.
  std::pair<std::string, Direction> language_tag() {
    const std::size_t start = ++pos_;
    if (at_end() || !is_ascii_alpha(peek())) fail(start - 1, "a language tag starts with a letter");
    while (!at_end() && is_ascii_alpha(peek())) ++pos_;
    while (pos_ + 1 < text_.size() && peek() == '-' && text_[pos_ + 1] != '-') {
      ++pos_;
      if (at_end() || !(is_ascii_alpha(peek()) || is_ascii_digit(peek()))) fail(pos_, "empty language subtag");
      while (!at_end() && (is_ascii_alpha(peek()) || is_ascii_digit(peek()))) ++pos_;
    }
    std::string language(text_.substr(start, pos_ - start));
    Direction direction = Direction::none;
    if (pos_ + 1 < text_.size() && peek() == '-' && text_[pos_ + 1] == '-') {
      const std::size_t dir_start = pos_ + 2;
      pos_ = dir_start;
      while (!at_end() && is_ascii_alpha(peek())) ++pos_;
      const std::string_view dir = text_.substr(dir_start, pos_ - dir_start);
      if (dir == "ltr") {
        direction = Direction::ltr;
      } else if (dir == "rtl") {
        direction = Direction::rtl;
      } else {
        fail(dir_start, "a base direction is --ltr or --rtl");
      }
    } else if (!at_end() && peek() == '-') {
      fail(pos_, "empty language subtag");
    }
    return {std::move(language), direction};
  }

  // UCHAR: \uXXXX or \UXXXXXXXX, a Unicode scalar value. At '\'.
  char32_t uchar() {
    const std::size_t start = pos_;
    const std::size_t digits = text_[pos_ + 1] == 'u' ? 4 : 8;
    pos_ += 2;
    if (text_.size() - pos_ < digits) fail(start, "truncated \\u or \\U escape");
    char32_t cp = 0;
    for (std::size_t i = 0; i < digits; ++i) {
      const char h = text_[pos_ + i];
      int value;
      if (h >= '0' && h <= '9') {
        value = h - '0';
      } else if (h >= 'a' && h <= 'f') {
        value = h - 'a' + 10;
      } else if (h >= 'A' && h <= 'F') {
        value = h - 'A' + 10;
      } else {
        fail(start, "a \\u escape has 4 hex digits, a \\U escape 8");
      }
      cp = (cp << 4) | static_cast<char32_t>(value);
    }
    if (!is_scalar_value(cp)) {
      fail(start, "escape " + std::string(text_.substr(start, digits + 2)) +
                      " is not a Unicode scalar value (a surrogate or beyond U+10FFFF), so not valid UTF-8");
    }
    pos_ += digits;
    return cp;
  }

  // One raw character, which must be well-formed UTF-8.
  char32_t utf8_char() {
    const auto [cp, length] = decode_utf8(text_, pos_);
    if (length == 0) fail(pos_, "invalid UTF-8");
    pos_ += length;
    return cp;
  }

  static std::string code_point_name(char32_t cp) {
    std::string name = "U+";
    for (int shift = cp > 0xFFFF ? 20 : 12; shift >= 0; shift -= 4) name += kHexUpper[(cp >> shift) & 0xF];
    return name;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

void append_escaped_lexical(std::string& out, std::string_view lexical) {
  std::size_t plain_from = 0;
  const auto flush = [&](std::size_t to) { out.append(lexical.substr(plain_from, to - plain_from)); };
  for (std::size_t i = 0; i < lexical.size(); ++i) {
    const auto c = static_cast<unsigned char>(lexical[i]);
    char echar = 0;
    char32_t uchar = 0;
    std::size_t length = 1;
    if (c < 0x20 || c == '"' || c == '\\' || c == 0x7F) {
      echar = echar_letter(static_cast<char>(c));
      if (echar == 0) uchar = c;
    } else if (c == 0xEF && i + 2 < lexical.size() && static_cast<unsigned char>(lexical[i + 1]) == 0xBF &&
               (static_cast<unsigned char>(lexical[i + 2]) & 0xFE) == 0xBE) {
      // U+FFFE and U+FFFF are not XML 1.1 Chars: the canonical form escapes them.
      uchar = 0xFFFE | (static_cast<unsigned char>(lexical[i + 2]) & 1);
      length = 3;
    } else {
      continue;
    }
    flush(i);
    if (echar != 0) {
      out += '\\';
      out += echar;
    } else {
      out += "\\u";
      for (int shift = 12; shift >= 0; shift -= 4) out += kHexUpper[(uchar >> shift) & 0xF];
    }
    i += length - 1;
    plain_from = i + 1;
  }
  flush(lexical.size());
}

}  // namespace

Dataset parse(std::string_view document, const ParseLimits& limits) {
  if (document.size() > limits.max_bytes) {
    throw ParseError(1, 1, "document too large (" + std::to_string(document.size()) + " bytes, the limit is " +
                               std::to_string(limits.max_bytes) + ")");
  }
  return Parser(document).document();
}

void append_term(std::string& out, const Term& term) {
  switch (term.kind) {
    case TermKind::iri:
      out += '<';
      out += term.value;
      out += '>';
      return;
    case TermKind::blank_node:
      out += "_:";
      out += term.value;
      return;
    case TermKind::literal:
      out += '"';
      append_escaped_lexical(out, term.value);
      out += '"';
      if (!term.language.empty()) {
        out += '@';
        out += term.language;
        if (term.direction == Direction::ltr) out += "--ltr";
        if (term.direction == Direction::rtl) out += "--rtl";
      } else if (!term.datatype.empty() && term.datatype != kXsdString) {
        out += "^^<";
        out += term.datatype;
        out += '>';
      }
      return;
  }
}

void append_quad(std::string& out, const Quad& quad) {
  append_term(out, quad.subject);
  out += ' ';
  append_term(out, quad.predicate);
  out += ' ';
  append_term(out, quad.object);
  out += ' ';
  if (quad.graph) {
    append_term(out, *quad.graph);
    out += ' ';
  }
  out += ".\n";
}

std::string to_line(const Quad& quad) {
  std::string line;
  append_quad(line, quad);
  return line;
}

}  // namespace privstack::credentials::nquads
