// The W3C JSON-LD 1.1 API test suite's toRdf and expand manifests
// (tests/data/json-ld-api, README there names the source): every entry is
// one test here, run through the real expansion, toRdf and RDFC-1.0.
//   PositiveEvaluationTest  toRdf: RDFC-1.0 of our dataset == RDFC-1.0 of
//                           the expected N-Quads (blank node labels differ);
//                           expand: the expanded document == the expected
//                           one (as JSON values: member order aside)
//   PositiveSyntaxTest      toRdf succeeds
//   NegativeEvaluationTest  a JsonLdError with the expected error code
// The documents the tests name by URL (contexts, @import) are served from
// the copied files by a static loader under the suite's base IRI: the
// processor reads nothing from the network here either. Tests that need
// what this processor deliberately does not do are skipped only through
// kExcluded, one reason each; the count of run + excluded must be the
// manifest's.
#include "credentials/jsonld.h"
#include "credentials/nquads.h"
#include "credentials/rdfc.h"
#include "suite_files.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <atomic>
#include <map>
#include <string>
#include <vector>

namespace privstack::credentials {
namespace {

using test::read_file;
const std::filesystem::path kSuiteDir = std::filesystem::path(PRIVSTACK_SOURCE_DIR) / "tests/data/json-ld-api";
constexpr std::string_view kSuiteBase = "https://w3c.github.io/json-ld-api/tests/";

// The manifests at the pinned commit list 467 and 385 tests (README).
constexpr std::size_t kToRdfSize = 467;
constexpr std::size_t kExpandSize = 385;

// Every expand test not run, with the reason.
const std::map<std::string, std::string>& expand_excluded() {
  static const std::map<std::string, std::string> kExcluded = {
      // JSON-LD 1.0 processing mode: this processor is JSON-LD 1.1 only.
      {"t0075", "processingMode json-ld-1.0 (1.1 only)"},
      {"tc029", "processingMode json-ld-1.0 (1.1 only)"},
      {"tep02", "processingMode json-ld-1.0 (1.1 only)"},
      {"ter21", "processingMode json-ld-1.0 (1.1 only)"},
      {"ter42", "processingMode json-ld-1.0 (1.1 only)"},
      {"tes01", "processingMode json-ld-1.0 (1.1 only)"},
      {"tpi01", "processingMode json-ld-1.0 (1.1 only)"},
      {"tso01", "processingMode json-ld-1.0 (1.1 only)"},
      {"ttn01", "processingMode json-ld-1.0 (1.1 only)"},
      // specVersion json-ld-1.0: tests of JSON-LD 1.0 behaviour that 1.1 changed.
      {"t0026", "specVersion json-ld-1.0 only"},
      {"t0038", "specVersion json-ld-1.0 only"},
      {"t0071", "specVersion json-ld-1.0 only"},
      {"t0115", "specVersion json-ld-1.0 only"},
      {"t0116", "specVersion json-ld-1.0 only"},
      {"ter02", "specVersion json-ld-1.0 only"},
      {"ter03", "specVersion json-ld-1.0 only"},
      {"ter24", "specVersion json-ld-1.0 only"},
      {"ter32", "specVersion json-ld-1.0 only"},
  };
  return kExcluded;
}

// Every toRdf test not run, with the reason.
const std::map<std::string, std::string>& to_rdf_excluded() {
  static const std::map<std::string, std::string> kExcluded = {
      // JSON-LD 1.0 processing mode: this processor is JSON-LD 1.1 only
      // (credentials are 1.1 documents: VCDM 2.0 contexts use @protected).
      {"tc029", "processingMode json-ld-1.0 (1.1 only)"},
      {"te075", "processingMode json-ld-1.0 and produceGeneralizedRdf"},
      {"tep02", "processingMode json-ld-1.0 (1.1 only)"},
      {"ter21", "processingMode json-ld-1.0 (1.1 only)"},
      {"ter42", "processingMode json-ld-1.0 (1.1 only)"},
      {"tpi01", "processingMode json-ld-1.0 (1.1 only)"},
      {"tso01", "processingMode json-ld-1.0 (1.1 only)"},
      {"ttn01", "processingMode json-ld-1.0 (1.1 only)"},
      // specVersion json-ld-1.0: tests of JSON-LD 1.0 behaviour that 1.1 changed.
      {"te014", "specVersion json-ld-1.0 only"},
      {"te026", "specVersion json-ld-1.0 only"},
      {"te038", "specVersion json-ld-1.0 only"},
      {"te071", "specVersion json-ld-1.0 only"},
      {"te115", "specVersion json-ld-1.0 only"},
      {"te116", "specVersion json-ld-1.0 only"},
      {"ter02", "specVersion json-ld-1.0 only"},
      {"ter03", "specVersion json-ld-1.0 only"},
      {"ter24", "specVersion json-ld-1.0 only"},
      {"ter32", "specVersion json-ld-1.0 only"},
      {"t0118", "specVersion json-ld-1.0 and produceGeneralizedRdf (generalized RDF is not produced)"},
  };
  return kExcluded;
}

struct SuiteTest {
  std::string manifest;  // "toRdf" or "expand"
  std::string id;        // "te001"
  std::string type;
  std::string name;
  std::string input;
  std::string expect;
  std::string error_code;
  jsonld::Options options;
};

void PrintTo(const SuiteTest& t, std::ostream* os) { *os << t.id << " " << t.input; }

boost::json::array manifest_entries(const std::string& manifest) {
  return boost::json::parse(read_file(kSuiteDir / (manifest + "-manifest.jsonld"))).as_object().at("sequence").as_array();
}

const std::map<std::string, std::string>& excluded(const std::string& manifest) {
  return manifest == "expand" ? expand_excluded() : to_rdf_excluded();
}

// The suite's files under their URLs.
const jsonld::StaticDocumentLoader& suite_loader() {
  static const jsonld::StaticDocumentLoader loader = [] {
    jsonld::StaticDocumentLoader l;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(kSuiteDir)) {
      const std::string file = std::filesystem::relative(entry.path(), kSuiteDir).generic_string();
      if (!file.ends_with(".jsonld")) continue;
      try {
        l.add(std::string(kSuiteBase) + file, read_file(entry.path()));
      } catch (const Error&) {
        // Inputs that are not JSON are tests of that; they are read by the test.
      }
    }
    return l;
  }();
  return loader;
}

std::vector<SuiteTest> load_suite(const std::string& manifest, bool with_excluded) {
  std::vector<SuiteTest> tests;
  for (const auto& entry_value : manifest_entries(manifest)) {
    const auto& entry = entry_value.as_object();
    SuiteTest t;
    t.manifest = manifest;
    t.id = std::string(entry.at("@id").as_string());
    if (t.id.starts_with("#")) t.id.erase(0, 1);
    if (!with_excluded && excluded(manifest).contains(t.id)) continue;
    t.type = std::string(entry.at("@type").as_array()[0].as_string());
    t.name = std::string(entry.at("name").as_string());
    t.input = std::string(entry.at("input").as_string());
    if (const auto* e = entry.if_contains("expect")) t.expect = std::string(e->as_string());
    if (const auto* e = entry.if_contains("expectErrorCode")) t.error_code = std::string(e->as_string());
    t.options.base = std::string(kSuiteBase) + t.input;
    t.options.loader = &suite_loader();
    if (const auto* o = entry.if_contains("option")) {
      const auto& option = o->as_object();
      if (const auto* b = option.if_contains("base")) t.options.base = std::string(b->as_string());
      if (const auto* d = option.if_contains("rdfDirection")) {
        t.options.rdf_direction = d->as_string() == "i18n-datatype" ? jsonld::RdfDirection::i18n_datatype
                                                                     : jsonld::RdfDirection::compound_literal;
      }
      if (const auto* c = option.if_contains("expandContext")) {
        t.options.expand_context = boost::json::parse(read_file(kSuiteDir / std::string(c->as_string())));
      }
    }
    tests.push_back(std::move(t));
  }
  return tests;
}

const std::vector<SuiteTest>& to_rdf_suite() {
  static const std::vector<SuiteTest> tests = load_suite("toRdf", false);
  return tests;
}
const std::vector<SuiteTest>& expand_suite() {
  static const std::vector<SuiteTest> tests = load_suite("expand", false);
  return tests;
}

std::atomic<std::size_t> to_rdf_run{0};
std::atomic<std::size_t> expand_run{0};

// A negative test: the JsonLdError with the manifest's code.
template <typename Run>
void expect_error(const SuiteTest& t, Run run) {
  try {
    run();
    ADD_FAILURE() << "expected error " << t.error_code;
  } catch (const jsonld::JsonLdError& e) {
    EXPECT_EQ(e.jsonld_code(), t.error_code) << e.what();
  }
}

class JsonLdToRdfSuite : public ::testing::TestWithParam<SuiteTest> {};

TEST_P(JsonLdToRdfSuite, Passes) {
  const SuiteTest& t = GetParam();
  SCOPED_TRACE(t.id + " (" + t.type + "): " + t.name);
  ++to_rdf_run;
  const std::string input = read_file(kSuiteDir / t.input);
  if (t.type == "jld:NegativeEvaluationTest") {
    expect_error(t, [&] { jsonld::to_rdf(input, t.options); });
    return;
  }
  const Dataset dataset = jsonld::to_rdf(input, t.options);
  if (t.type == "jld:PositiveSyntaxTest") return;
  ASSERT_EQ(t.type, "jld:PositiveEvaluationTest");
  const std::string expected = rdfc::canonicalize(nquads::parse(read_file(kSuiteDir / t.expect)));
  EXPECT_EQ(rdfc::canonicalize(dataset), expected);
}

INSTANTIATE_TEST_SUITE_P(W3C, JsonLdToRdfSuite, ::testing::ValuesIn(to_rdf_suite()),
                         [](const ::testing::TestParamInfo<SuiteTest>& info) { return info.param.id; });

class JsonLdExpandSuite : public ::testing::TestWithParam<SuiteTest> {};

TEST_P(JsonLdExpandSuite, Passes) {
  const SuiteTest& t = GetParam();
  SCOPED_TRACE(t.id + " (" + t.type + "): " + t.name);
  ++expand_run;
  const std::string input = read_file(kSuiteDir / t.input);
  if (t.type == "jld:NegativeEvaluationTest") {
    expect_error(t, [&] { jsonld::expand(jsonld::parse_json(input), t.options); });
    return;
  }
  ASSERT_EQ(t.type, "jld:PositiveEvaluationTest");
  const boost::json::value expanded = jsonld::expand(jsonld::parse_json(input), t.options);
  // Read as the processor reads its input (correctly rounded doubles).
  const boost::json::value expected = jsonld::parse_json(read_file(kSuiteDir / t.expect));
  EXPECT_EQ(expanded, expected) << "got " << boost::json::serialize(expanded) << "\nexpected "
                                << boost::json::serialize(expected);
}

INSTANTIATE_TEST_SUITE_P(W3C, JsonLdExpandSuite, ::testing::ValuesIn(expand_suite()),
                         [](const ::testing::TestParamInfo<SuiteTest>& info) { return info.param.id; });

std::size_t registered_tests(const std::string& suite_name) {
  const auto* unit = ::testing::UnitTest::GetInstance();
  std::size_t registered = 0;
  for (int i = 0; i < unit->total_test_suite_count(); ++i) {
    const auto* test_suite = unit->GetTestSuite(i);
    if (std::string(test_suite->name()) == suite_name) registered += test_suite->total_test_count();
  }
  return registered;
}

// Each manifest is the whole suite, every exclusion names a test of it, and
// run + excluded is the manifest's count.
void expect_complete(const std::string& manifest, std::size_t size, const std::string& suite_name) {
  EXPECT_EQ(manifest_entries(manifest).size(), size);
  std::size_t matched = 0;
  for (const auto& t : load_suite(manifest, true)) matched += excluded(manifest).contains(t.id) ? 1 : 0;
  EXPECT_EQ(matched, excluded(manifest).size()) << "an exclusion names no test of the " << manifest << " manifest";
  EXPECT_EQ(registered_tests(suite_name) + excluded(manifest).size(), size);
}

TEST(JsonLdToRdfSuiteManifest, EveryEntryIsRunOrExcluded) { expect_complete("toRdf", kToRdfSize, "W3C/JsonLdToRdfSuite"); }
TEST(JsonLdExpandSuiteManifest, EveryEntryIsRunOrExcluded) {
  expect_complete("expand", kExpandSize, "W3C/JsonLdExpandSuite");
}

class SuiteRunCount : public ::testing::Environment {
 public:
  void TearDown() override {
    if (::testing::GTEST_FLAG(filter) != "*") return;
    EXPECT_EQ(to_rdf_run.load() + to_rdf_excluded().size(), kToRdfSize) << "W3C toRdf tests run + excluded";
    EXPECT_EQ(expand_run.load() + expand_excluded().size(), kExpandSize) << "W3C expand tests run + excluded";
  }
};
const auto* const kSuiteRunCount = ::testing::AddGlobalTestEnvironment(new SuiteRunCount);

}  // namespace
}  // namespace privstack::credentials
