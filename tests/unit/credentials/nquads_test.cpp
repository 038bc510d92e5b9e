#include "credentials/nquads.h"
#include "suite_files.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace privstack::credentials {
namespace {

Quad one_quad(std::string_view document) {
  const Dataset quads = nquads::parse(document);
  if (quads.size() != 1) throw std::runtime_error("expected one quad, got " + std::to_string(quads.size()));
  return quads.front();
}

Term object_of(std::string_view document) { return one_quad(document).object; }

// The ParseError of `document`, which must not parse.
nquads::ParseError error_of(std::string_view document) {
  try {
    nquads::parse(document);
  } catch (const nquads::ParseError& e) {
    return e;
  }
  throw std::runtime_error("parsed, but should not have: " + std::string(document));
}

TEST(NQuadsParse, TermsOfEveryKind) {
  const Dataset quads = nquads::parse(
      "<http://example.com/s> <http://example.com/p> <http://example.com/o> .\n"
      "_:b0 <urn:p> \"plain\" <urn:graph> .\n"
      "_:b0 <urn:p> \"1\"^^<http://www.w3.org/2001/XMLSchema#integer> _:g .\n"
      "_:b0 <urn:p> \"chat\"@fr-CA .\n"
      "_:b0 <urn:p> \"salam\"@ar--rtl .\n");
  ASSERT_EQ(quads.size(), 5u);
  EXPECT_EQ(quads[0], (Quad{iri("http://example.com/s"), iri("http://example.com/p"), iri("http://example.com/o"), {}}));
  EXPECT_EQ(quads[1], (Quad{blank_node("b0"), iri("urn:p"), literal("plain"), iri("urn:graph")}));
  EXPECT_EQ(quads[2].object, literal("1", "http://www.w3.org/2001/XMLSchema#integer"));
  EXPECT_EQ(quads[2].graph, blank_node("g"));
  EXPECT_EQ(quads[3].object, lang_literal("chat", "fr-CA"));
  EXPECT_EQ(quads[4].object, lang_literal("salam", "ar", Direction::rtl));
  EXPECT_EQ(object_of("<urn:s> <urn:p> \"x\"@en--ltr ."), lang_literal("x", "en", Direction::ltr));
}

TEST(NQuadsParse, LayoutCommentsAndBlankLines) {
  const Dataset quads = nquads::parse(
      "# a comment\n"
      "\n"
      "  \t<urn:s>\t<urn:p>   <urn:o>\t.  # trailing comment\r\n"
      "\r\n"
      "<urn:s><urn:p>\"no spaces\"<urn:g>.\r"
      "_:a.b <urn:p> _:c.\n"
      "# last line without EOL\n"
      "<urn:s> <urn:p> \"x\" .");
  ASSERT_EQ(quads.size(), 4u);
  EXPECT_EQ(quads[0], (Quad{iri("urn:s"), iri("urn:p"), iri("urn:o"), {}}));
  EXPECT_EQ(quads[1], (Quad{iri("urn:s"), iri("urn:p"), literal("no spaces"), iri("urn:g")}));
  // A label may contain dots but not end in one: "_:c." is _:c and the statement's '.'.
  EXPECT_EQ(quads[2].subject, blank_node("a.b"));
  EXPECT_EQ(quads[2].object, blank_node("c"));
  EXPECT_TRUE(nquads::parse("").empty());
  EXPECT_TRUE(nquads::parse("\n\n# only a comment").empty());
}

TEST(NQuadsParse, EveryEscapeForm) {
  EXPECT_EQ(object_of(R"(<urn:s> <urn:p> "\t\b\n\r\f\"\'\\" .)").value, "\t\b\n\r\f\"'\\");
  EXPECT_EQ(object_of(R"(<urn:s> <urn:p> "\u0041\u00e9\u20AC" .)").value, "A\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(object_of(R"(<urn:s> <urn:p> "\U0001F303\U00000041" .)").value, "\xF0\x9F\x8C\x83" "A");
  EXPECT_EQ(object_of(R"(<urn:s> <urn:p> "\u0000" .)").value, std::string(1, '\0'));
  // In IRIs only UCHAR, decoded.
  EXPECT_EQ(object_of(R"(<urn:s> <urn:p> <urn:ex:\u0065\U00000078> .)"), iri("urn:ex:ex"));
  EXPECT_EQ(object_of(R"(<urn:s> <urn:p> "d"^^<urn:\u221e> .)").datatype, "urn:\xE2\x88\x9E");
  // Raw UTF-8 is kept as it is.
  EXPECT_EQ(object_of("<urn:s> <urn:p> \"\xE2\x88\x9E\" .").value, "\xE2\x88\x9E");
}

TEST(NQuadsParse, XsdStringIsThePlainLiteral) {
  EXPECT_EQ(object_of("<urn:s> <urn:p> \"x\"^^<http://www.w3.org/2001/XMLSchema#string> ."), literal("x"));
}

TEST(NQuadsParse, ErrorsNameTheLineAndColumn) {
  struct Case {
    const char* document;
    std::size_t line;
    std::size_t column;
    const char* message_part;
  };
  const Case cases[] = {
      {"<urn:s> <urn:p> <urn:o> .\n<urn:s> <urn:p> \"open .\n", 2, 17, "unterminated string literal"},
      {"<urn:s> <urn:p> \"open", 1, 17, "unterminated string literal"},
      {"<urn:s> <urn:p> <urn:o\n<urn:x> .\n", 1, 17, "unterminated IRI"},
      {"<urn:s> <urn:p> <urn:o", 1, 17, "unterminated IRI"},
      {"<urn:s> <urn:p> <urn:a b> .", 1, 23, "U+0020 is not allowed in an IRI"},
      {"<urn:s> <urn:p> <urn:{x}> .", 1, 22, "U+007B is not allowed in an IRI"},
      {"<urn:s> <urn:p> <urn:\\u0020> .", 1, 22, "U+0020 is not allowed in an IRI"},
      {"<urn:s> <urn:p> <urn:\\n> .", 1, 22, "only \\u and \\U escapes"},
      {"\n\n<urn:s> <urn:p> <relative/path> .", 3, 17, "relative IRI"},
      {"<urn:s> <urn:p> <#fragment> .", 1, 17, "relative IRI"},
      {"<urn:s> <urn:p> <urn:o>\n", 1, 24, "expected '.'"},
      {"<urn:s> <urn:p> <urn:o> <urn:g>", 1, 32, "expected '.'"},
      {"<urn:s> <urn:p> \"\\uD800\" .", 1, 18, "not a Unicode scalar value"},
      {"<urn:s> <urn:p> \"\\U00110000\" .", 1, 18, "not a Unicode scalar value"},
      {"<urn:s> <urn:p> \"\\u00\" .", 1, 18, "4 hex digits"},
      {"<urn:s> <urn:p> \"\\u12", 1, 18, "truncated"},
      {"<urn:s> <urn:p> \"\\x\" .", 1, 18, "unknown escape"},
      {"<urn:s> <urn:p> \"\xC3\x28\" .", 1, 18, "invalid UTF-8"},
      {"<urn:s> <urn:p> \"\xE0\x80\xAF\" .", 1, 18, "invalid UTF-8"},   // overlong '/'
      {"<urn:s> <urn:p> \"\xED\xA0\x80\" .", 1, 18, "invalid UTF-8"},   // a surrogate
      {"<urn:\xFF> <urn:p> <urn:o> .", 1, 6, "invalid UTF-8"},
      {"<urn:s> <urn:p> <urn:o> . <urn:s> <urn:p> <urn:o> .", 1, 27, "one statement per line"},
      {"<urn:s> \"p\" <urn:o> .", 1, 9, "expected a predicate"},
      {"\"s\" <urn:p> <urn:o> .", 1, 1, "expected a subject"},
      {"<urn:s> <urn:p> .", 1, 17, "expected an object"},
      {"<urn:s> <urn:p> \"x\" \"g\" .", 1, 21, "expected '.'"},
      {"<urn:s> <urn:p> _x .", 1, 17, "expected '_:'"},
      {"<urn:s> <urn:p> _:-a .", 1, 19, "a blank node label starts with"},
      {"<urn:s> <urn:p> \"x\"@ .", 1, 20, "a language tag starts with a letter"},
      {"<urn:s> <urn:p> \"x\"@en- .", 1, 24, "empty language subtag"},
      {"<urn:s> <urn:p> \"x\"@en--up .", 1, 25, "--ltr or --rtl"},
      {"<urn:s> <urn:p> \"x\"^^\"y\" .", 1, 22, "datatype IRI"},
      {"<urn:\xC3\xA9> <urn:p> <urn:o> x", 1, 25, "expected '.'"},  // columns count characters
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.document);
    const nquads::ParseError e = error_of(c.document);
    EXPECT_EQ(e.line(), c.line);
    EXPECT_EQ(e.column(), c.column);
    EXPECT_NE(e.message().find(c.message_part), std::string::npos) << e.message();
    EXPECT_TRUE(e.message().starts_with("N-Quads line " + std::to_string(c.line) + ", column " +
                                        std::to_string(c.column) + ": "))
        << e.message();
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    EXPECT_EQ(e.reason(), "nquads_syntax");
  }
}

TEST(NQuadsParse, LineNumbersCountEveryEndOfLineForm) {
  EXPECT_EQ(error_of("<urn:s> <urn:p> <urn:o> .\r\n\r\nbad").line(), 3u);
  EXPECT_EQ(error_of("<urn:s> <urn:p> <urn:o> .\rbad").line(), 2u);
  EXPECT_EQ(error_of("# c\n# c\n# c\n  bad").column(), 3u);
}

TEST(NQuadsParse, RefusesADocumentOverTheSizeLimit) {
  const std::string document = "<urn:s> <urn:p> <urn:o> .\n";
  EXPECT_EQ(nquads::parse(document, {.max_bytes = document.size()}).size(), 1u);
  try {
    nquads::parse(document, {.max_bytes = document.size() - 1});
    FAIL() << "parsed over the limit";
  } catch (const nquads::ParseError& e) {
    EXPECT_EQ(e.line(), 1u);
    EXPECT_NE(e.message().find("too large"), std::string::npos) << e.message();
  }
}

TEST(NQuadsSerialize, CanonicalEscapes) {
  std::string all_controls;
  for (int c = 0; c < 0x20; ++c) all_controls += static_cast<char>(c);
  all_controls += '\x7F';
  const Quad quad{iri("urn:s"), iri("urn:p"), literal(all_controls), {}};
  EXPECT_EQ(nquads::to_line(quad),
            "<urn:s> <urn:p> \"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000B\\f\\r"
            "\\u000E\\u000F\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001A\\u001B"
            "\\u001C\\u001D\\u001E\\u001F\\u007F\" .\n");
  std::string text;
  // '"' and '\' as ECHAR; ' and everything from U+0080 raw; U+FFFE/U+FFFF (not XML 1.1 Chars) as UCHAR.
  nquads::append_term(text, literal("\"\\' \xC2\x80\xE2\x88\x9E\xEF\xBF\xBD\xEF\xBF\xBE\xEF\xBF\xBF\xF0\x9F\x8C\x83"));
  EXPECT_EQ(text, "\"\\\"\\\\' \xC2\x80\xE2\x88\x9E\xEF\xBF\xBD\\uFFFE\\uFFFF\xF0\x9F\x8C\x83\"");
}

TEST(NQuadsSerialize, TermsAndGraph) {
  EXPECT_EQ(nquads::to_line({blank_node("x"), iri("urn:p"), lang_literal("hi", "en-GB", Direction::rtl), iri("urn:g")}),
            "_:x <urn:p> \"hi\"@en-GB--rtl <urn:g> .\n");
  EXPECT_EQ(nquads::to_line({iri("urn:s"), iri("urn:p"), literal("1", "urn:int"), blank_node("g")}),
            "<urn:s> <urn:p> \"1\"^^<urn:int> _:g .\n");
  // xsd:string is never written, whether empty or spelled out.
  EXPECT_EQ(nquads::to_line({iri("urn:s"), iri("urn:p"), literal("v", std::string(kXsdString)), {}}),
            "<urn:s> <urn:p> \"v\" .\n");
}

// Every input of the W3C suite reads back from its own canonical lines, and
// every prefix of it (a truncated upload) either parses the same way or is a
// ParseError: never another exception, never a crash.
TEST(NQuadsParse, SuiteInputsRoundTripAndTruncationsFailCleanly) {
  const auto& dir = test::kRdfCanonTestsDir;
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.path().string().ends_with("-in.nq")) continue;
    ++files;
    SCOPED_TRACE(entry.path().filename().string());
    const std::string document = test::read_file(entry.path());
    const Dataset quads = nquads::parse(document);
    std::string written;
    for (const Quad& quad : quads) nquads::append_quad(written, quad);
    EXPECT_EQ(nquads::parse(written), quads);
    for (std::size_t cut = 0; cut < document.size() && cut < 4096; ++cut) {
      try {
        const Dataset prefix = nquads::parse(document.substr(0, cut));
        std::string again;
        for (const Quad& quad : prefix) nquads::append_quad(again, quad);
        EXPECT_EQ(nquads::parse(again), prefix);
      } catch (const nquads::ParseError&) {
        // expected for most cuts
      }
    }
  }
  EXPECT_EQ(files, 65u);
}

}  // namespace
}  // namespace privstack::credentials
