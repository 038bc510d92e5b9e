// The W3C JSON-LD 1.1 API test suite's toRdf manifest (tests/data/json-ld-api,
// README there names the source): every entry is one test here, run through
// the real expansion, toRdf and RDFC-1.0.
//   PositiveEvaluationTest  RDFC-1.0 of our dataset == RDFC-1.0 of the
//                           expected N-Quads (blank node labels differ)
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

// The toRdf manifest at the pinned commit lists 467 tests (README).
constexpr std::size_t kManifestSize = 467;

// Every test not run, with the reason.
const std::map<std::string, std::string>& excluded() {
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
      // Boost.JSON 1.81 (Debian 12) parses 333333333.33333333 one ulp off
      // (its parser is not correctly rounded for long mantissas; 1.83's
      // number_precision::precise is), so the JCS form differs in the last digit.
      {"tjs12", "Boost.JSON 1.81 number parsing is not correctly rounded"},
  };
  return kExcluded;
}

struct SuiteTest {
  std::string id;  // "te001"
  std::string type;
  std::string name;
  std::string input;
  std::string expect;
  std::string error_code;
  jsonld::Options options;
};

void PrintTo(const SuiteTest& t, std::ostream* os) { *os << t.id << " " << t.input; }

boost::json::array manifest_entries() {
  return boost::json::parse(read_file(kSuiteDir / "toRdf-manifest.jsonld")).as_object().at("sequence").as_array();
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

std::vector<SuiteTest> load_suite(bool with_excluded) {
  std::vector<SuiteTest> tests;
  for (const auto& entry_value : manifest_entries()) {
    const auto& entry = entry_value.as_object();
    SuiteTest t;
    t.id = std::string(entry.at("@id").as_string());
    if (t.id.starts_with("#")) t.id.erase(0, 1);
    if (!with_excluded && excluded().contains(t.id)) continue;
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

const std::vector<SuiteTest>& suite() {
  static const std::vector<SuiteTest> tests = load_suite(false);
  return tests;
}

std::atomic<std::size_t> tests_run{0};

class JsonLdToRdfSuite : public ::testing::TestWithParam<SuiteTest> {};

TEST_P(JsonLdToRdfSuite, Passes) {
  const SuiteTest& t = GetParam();
  SCOPED_TRACE(t.id + " (" + t.type + "): " + t.name);
  ++tests_run;
  const std::string input = read_file(kSuiteDir / t.input);
  if (t.type == "jld:NegativeEvaluationTest") {
    try {
      const Dataset dataset = jsonld::to_rdf(input, t.options);
      ADD_FAILURE() << "expected error " << t.error_code << ", got " << dataset.size() << " quads";
    } catch (const jsonld::JsonLdError& e) {
      EXPECT_EQ(e.jsonld_code(), t.error_code) << e.what();
    }
    return;
  }
  const Dataset dataset = jsonld::to_rdf(input, t.options);
  if (t.type == "jld:PositiveSyntaxTest") return;
  ASSERT_EQ(t.type, "jld:PositiveEvaluationTest");
  const std::string expected = rdfc::canonicalize(nquads::parse(read_file(kSuiteDir / t.expect)));
  EXPECT_EQ(rdfc::canonicalize(dataset), expected);
}

INSTANTIATE_TEST_SUITE_P(W3C, JsonLdToRdfSuite, ::testing::ValuesIn(suite()),
                         [](const ::testing::TestParamInfo<SuiteTest>& info) { return info.param.id; });

// The manifest is the whole suite, every exclusion names a test of it, and
// run + excluded is the manifest's count.
TEST(JsonLdToRdfSuiteManifest, EveryEntryIsRunOrExcluded) {
  EXPECT_EQ(manifest_entries().size(), kManifestSize);
  const auto all = load_suite(true);
  std::size_t matched = 0;
  for (const auto& t : all) matched += excluded().contains(t.id) ? 1 : 0;
  EXPECT_EQ(matched, excluded().size()) << "an exclusion names no test of the manifest";
  const auto* unit = ::testing::UnitTest::GetInstance();
  std::size_t registered = 0;
  for (int i = 0; i < unit->total_test_suite_count(); ++i) {
    const auto* test_suite = unit->GetTestSuite(i);
    if (std::string(test_suite->name()) == "W3C/JsonLdToRdfSuite") registered += test_suite->total_test_count();
  }
  EXPECT_EQ(registered + excluded().size(), kManifestSize);
}

class SuiteRunCount : public ::testing::Environment {
 public:
  void TearDown() override {
    if (::testing::GTEST_FLAG(filter) != "*") return;
    EXPECT_EQ(tests_run.load() + excluded().size(), kManifestSize) << "W3C toRdf tests run + excluded";
  }
};
const auto* const kSuiteRunCount = ::testing::AddGlobalTestEnvironment(new SuiteRunCount);

}  // namespace
}  // namespace privstack::credentials
