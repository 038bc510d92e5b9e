// The JSON-LD processor (credentials/jsonld.h) beyond the W3C suite: the
// static loader and its bundled contexts, the limits against hostile input,
// and the credential fixtures (tests/data/credentials) expanding and
// canonicalizing deterministically.
#include "credentials/jsonld.h"
#include "credentials/nquads.h"
#include "credentials/rdfc.h"
#include "suite_files.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <limits>
#include <string>

namespace privstack::credentials {
namespace {

using test::read_file;
const std::filesystem::path kFixtures = std::filesystem::path(PRIVSTACK_SOURCE_DIR) / "tests/data/credentials";

jsonld::Options bundled() {
  jsonld::Options o;
  o.loader = &jsonld::bundled_contexts();
  return o;
}

std::string canonical_fixture(const std::string& name, const jsonld::Options& options = bundled()) {
  return rdfc::canonicalize(jsonld::to_rdf(read_file(kFixtures / name), options));
}

TEST(JsonLdLoader, HoldsEveryBundledContextParsed) {
  const auto& loader = jsonld::bundled_contexts();
  for (const char* url : {"https://www.w3.org/ns/credentials/v2", "https://w3id.org/security/data-integrity/v2",
                          "https://w3id.org/security/multikey/v1", "https://www.w3.org/ns/did/v1",
                          "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
                          "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.2.json",
                          "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.1.json"}) {
    ASSERT_TRUE(loader.contains(url)) << url;
    EXPECT_TRUE(loader.load(url)->as_object().contains("@context")) << url;
  }
  EXPECT_EQ(jsonld::bundled_context_texts().size(), 11u);
}

TEST(JsonLdLoader, UnknownContextIsAClearErrorNamingTheUrl) {
  const std::string doc = R"({"@context": "https://evil.example/context.jsonld", "name": "x"})";
  try {
    jsonld::to_rdf(doc, bundled());
    FAIL() << "no error";
  } catch (const jsonld::JsonLdError& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    EXPECT_EQ(e.reason(), "unknown_context");
    EXPECT_EQ(e.jsonld_code(), "loading remote context failed");
    EXPECT_NE(e.message().find("https://evil.example/context.jsonld"), std::string::npos) << e.message();
  }
  // Without a loader every remote context is unknown.
  EXPECT_THROW(jsonld::to_rdf(read_file(kFixtures / "ob3-credential.json"), jsonld::Options{}), jsonld::JsonLdError);
}

TEST(JsonLdLimits, DocumentSizeAndDepth) {
  jsonld::Options o = bundled();
  o.limits.max_document_bytes = 64;
  EXPECT_THROW(jsonld::to_rdf(std::string(65, ' ') + "{}", o), jsonld::LimitExceeded);
  o = bundled();
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += R"({"http://example.org/p":)";
  deep += "1";
  for (int i = 0; i < 100; ++i) deep += "}";
  EXPECT_THROW(jsonld::to_rdf(deep, o), jsonld::LimitExceeded);
  // A document parsed elsewhere: the expansion's own depth count stops it.
  boost::json::parse_options deep_parse;
  deep_parse.max_depth = 1000;
  const auto parsed = boost::json::parse(deep, {}, deep_parse);
  o.limits.max_depth = 50;
  EXPECT_THROW(jsonld::to_rdf(parsed, o), jsonld::LimitExceeded);
  EXPECT_THROW(jsonld::to_rdf(std::string_view("{\"a\": "), o), jsonld::JsonLdError);
}

TEST(JsonLdLimits, ContextLoadsAndImportChains) {
  jsonld::StaticDocumentLoader loader;
  // Each context imports the next: a chain of 100.
  for (int i = 0; i < 100; ++i) {
    loader.add("https://ctx.example/" + std::to_string(i),
               R"({"@context": {"@import": "https://ctx.example/)" + std::to_string(i + 1) + R"("}})");
  }
  loader.add("https://ctx.example/100", R"({"@context": {"p": "http://example.org/p"}})");
  // A context that names itself.
  loader.add("https://ctx.example/self", R"({"@context": "https://ctx.example/self"})");
  jsonld::Options o;
  o.loader = &loader;
  // @import of a context that itself has @import is an error the spec names.
  EXPECT_THROW(jsonld::to_rdf(std::string_view(R"({"@context": "https://ctx.example/0", "p": 1})"), o),
               jsonld::JsonLdError);
  try {
    jsonld::to_rdf(std::string_view(R"({"@context": "https://ctx.example/self", "p": 1})"), o);
    FAIL() << "no error";
  } catch (const jsonld::JsonLdError& e) {
    EXPECT_EQ(e.jsonld_code(), "context overflow");
  } catch (const jsonld::LimitExceeded&) {
  }
  // Many contexts in one array: the loads are bounded (the total, and the
  // remote contexts list the spec's "context overflow" counts).
  std::string many = R"({"@context": [)";
  for (int i = 0; i < 80; ++i) many += std::string(i ? "," : "") + R"("https://ctx.example/100")";
  many += R"(], "p": 1})";
  EXPECT_THROW(jsonld::to_rdf(std::string_view(many), o), privstack::Error);
  o.limits.max_context_loads = 100;
  EXPECT_EQ(jsonld::to_rdf(std::string_view(many), o).size(), 1u);
}

TEST(JsonLdLimits, ExpansionOutputAndQuads) {
  std::string wide = R"({"@id": "http://example.org/s", "http://example.org/p": [)";
  for (int i = 0; i < 1000; ++i) wide += std::string(i ? "," : "") + std::to_string(i);
  wide += "]}";
  jsonld::Options o;
  EXPECT_EQ(jsonld::to_rdf(std::string_view(wide), o).size(), 1000u);
  o.limits.max_expanded_values = 500;
  EXPECT_THROW(jsonld::to_rdf(std::string_view(wide), o), jsonld::LimitExceeded);
  o = {};
  o.limits.max_quads = 999;
  EXPECT_THROW(jsonld::to_rdf(std::string_view(wide), o), jsonld::LimitExceeded);
  // Scoped contexts reprocessed on every node: the term definitions are counted.
  const std::string scoped =
      R"({"@context": {"@vocab": "http://example.org/", "n": {"@context": {"a": "http://example.org/a"}}},
          "n": [{"a": 1}, {"a": 2}, {"a": 3}, {"a": 4}]})";
  o = {};
  o.limits.max_term_definitions = 3;
  EXPECT_THROW(jsonld::to_rdf(std::string_view(scoped), o), jsonld::LimitExceeded);
}

TEST(JsonLdCredential, Ob3CredentialCanonicalizesDeterministically) {
  const std::string first = canonical_fixture("ob3-credential.json");
  EXPECT_EQ(canonical_fixture("ob3-credential.json"), first);
  // What the OB 3.0 context says these terms are.
  EXPECT_NE(first.find("<http://example.com/credentials/3527> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
                       "<https://purl.imsglobal.org/spec/vc/ob/vocab.html#OpenBadgeCredential> .\n"),
            std::string::npos)
      << first;
  EXPECT_NE(first.find("<http://example.com/credentials/3527> <https://www.w3.org/2018/credentials#validFrom> "
                       "\"2010-01-01T00:00:00Z\"^^<http://www.w3.org/2001/XMLSchema#dateTime> .\n"),
            std::string::npos)
      << first;
  EXPECT_NE(first.find("<https://example.com/achievements/21st-century-skills/teamwork> "
                       "<https://purl.imsglobal.org/spec/vc/ob/vocab.html#Criteria> _:c14n"),
            std::string::npos)
      << first;
  // Key order and whitespace of the JSON do not matter.
  auto doc = boost::json::parse(read_file(kFixtures / "ob3-credential.json")).as_object();
  boost::json::object reordered;
  std::vector<std::string> keys;
  for (const auto& [k, _] : doc) keys.emplace_back(k);
  for (auto it = keys.rbegin(); it != keys.rend(); ++it) reordered[*it] = doc.at(*it);
  EXPECT_EQ(rdfc::canonicalize(jsonld::to_rdf(boost::json::value(reordered), bundled())), first);
  // Every line is canonical N-Quads.
  EXPECT_EQ(rdfc::canonicalize(nquads::parse(first)), first);
}

TEST(JsonLdCredential, ChangingAFieldChangesTheCanonicalForm) {
  auto doc = boost::json::parse(read_file(kFixtures / "ob3-credential.json"));
  const std::string before = rdfc::canonicalize(jsonld::to_rdf(doc, bundled()));
  doc.as_object()["name"] = "Teamwork Badge!";
  EXPECT_NE(rdfc::canonicalize(jsonld::to_rdf(doc, bundled())), before);
}

TEST(JsonLdCredential, EveryFixtureCanonicalizes) {
  for (const char* name : {"ob3-credential-hashed-recipient.json", "vc2-with-proof.json", "did-document.json"}) {
    const std::string canonical = canonical_fixture(name);
    EXPECT_FALSE(canonical.empty()) << name;
    EXPECT_EQ(canonical_fixture(name), canonical) << name;
  }
  // The proof is a graph of its own (credentials v2 defines proof as @graph).
  EXPECT_NE(canonical_fixture("vc2-with-proof.json").find("<https://w3id.org/security#cryptosuite> "
                                                          "\"eddsa-rdfc-2022\"^^<https://w3id.org/security#cryptosuiteString> _:"),
            std::string::npos);
}

// The daemon's loader caches processed contexts across calls; a loader with
// the same documents that is not cached must give the same bytes, whatever
// was processed before.
TEST(JsonLdCredential, CachedContextsGiveTheSameResultAsUncached) {
  jsonld::StaticDocumentLoader uncached_loader;
  for (const auto& [url, text] : jsonld::bundled_context_texts()) uncached_loader.add(std::string(url), text);
  jsonld::Options uncached;
  uncached.loader = &uncached_loader;
  const char* names[] = {"ob3-credential.json", "ob3-credential-hashed-recipient.json", "vc2-with-proof.json",
                         "did-document.json"};
  for (int round = 0; round < 2; ++round) {
    for (const char* name : names) {
      EXPECT_EQ(canonical_fixture(name), canonical_fixture(name, uncached)) << name << " round " << round;
    }
  }
}

TEST(JsonLdCredential, ProtectedTermsOfTheCredentialContextCannotBeRedefined) {
  const std::string doc = R"({"@context": ["https://www.w3.org/ns/credentials/v2", {"name": "http://evil.example/name"}],
                              "type": "VerifiableCredential", "name": "x"})";
  try {
    jsonld::to_rdf(doc, bundled());
    FAIL() << "no error";
  } catch (const jsonld::JsonLdError& e) {
    EXPECT_EQ(e.jsonld_code(), "protected term redefinition");
  }
}

// Fuzz finding (tests/fuzz/corpus/jsonld_rdf/regression-type-map-around-value.json):
// a @type map around a value object gave the value an array of types, and
// toRdf threw Boost.JSON's std::invalid_argument on it.
TEST(JsonLdHostile, TypeMapAroundAValueIsAJsonLdError) {
  const std::string doc =
      R"({"@context": {"@vocab": "http://example/", "prop": {"@container": "@type"}}, "prop": {"T": {"@value": "x"}}})";
  try {
    jsonld::to_rdf(doc);
    FAIL() << "no error";
  } catch (const jsonld::JsonLdError& e) {
    EXPECT_EQ(e.jsonld_code(), "invalid value object");
  }
  EXPECT_THROW(jsonld::to_rdf(read_file(std::filesystem::path(PRIVSTACK_SOURCE_DIR) /
                                        "tests/fuzz/corpus/jsonld_rdf/regression-type-map-around-value.json"),
                              bundled()),
               jsonld::JsonLdError);
}

TEST(JsonLdCanonicalJson, IsRfc8785) {
  EXPECT_EQ(jsonld::canonical_json(boost::json::parse(R"({"b": [1, 2.5, 1e30, 1e-7, true, null], "a": "\u20ac\n"})")),
            "{\"a\":\"\xE2\x82\xAC\\n\",\"b\":[1,2.5,1e+30,1e-7,true,null]}");
  // Doubles are read correctly rounded (Boost.JSON 1.81's own parser is one ulp off here).
  EXPECT_EQ(jsonld::canonical_json(jsonld::parse_json("[333333333.33333333, 0.1, 1e-7]")),
            "[333333333.3333333,0.1,1e-7]");
  // A number JSON can write but no literal can carry is refused, not crashed on.
  EXPECT_THROW(jsonld::to_rdf(std::string_view(R"({"http://example.org/p": 1e400})")), jsonld::JsonLdError);
  boost::json::object infinite{{"http://example.org/p", std::numeric_limits<double>::infinity()}};
  EXPECT_THROW(jsonld::to_rdf(boost::json::value(infinite)), jsonld::JsonLdError);
  // Keys sort by UTF-16 code units: U+1F600 (surrogates D83D..) before U+FB01.
  EXPECT_EQ(jsonld::canonical_json(boost::json::parse("{\"\xEF\xAC\x81\": 1, \"\xF0\x9F\x98\x80\": 2}")),
            "{\"\xF0\x9F\x98\x80\":2,\"\xEF\xAC\x81\":1}");
}

}  // namespace
}  // namespace privstack::credentials
