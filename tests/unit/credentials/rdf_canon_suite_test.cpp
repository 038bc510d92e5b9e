// The W3C RDF Dataset Canonicalization test suite (tests/data/rdf-canon,
// README there names the source): every entry of its manifest is one test
// here, run through the real parser and canonicalizer.
//   RDFC10EvalTest          the canonical N-Quads, byte for byte
//   RDFC10MapTest           the issued identifiers map
//   RDFC10NegativeEvalTest  LimitExceeded (dataset poisoning), with the default limits
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
const std::filesystem::path& kSuiteDir = test::kRdfCanonDir;

// The manifest at the pinned commit lists 86 tests (README): a manifest that
// loses entries must not pass as a smaller suite.
constexpr std::size_t kSuiteSize = 86;

struct SuiteTest {
  std::string id;  // "test001c"
  std::string type;
  std::string name;
  std::string action;
  std::string result;
  rdfc::HashAlgorithm hash = rdfc::HashAlgorithm::sha256;
};

// gtest names a failing parameter by this (not by its bytes).
void PrintTo(const SuiteTest& t, std::ostream* os) { *os << t.id << " " << t.action; }

boost::json::array manifest_entries() {
  return boost::json::parse(read_file(kSuiteDir / "manifest.jsonld")).as_object().at("entries").as_array();
}

std::vector<SuiteTest> load_suite() {
  std::vector<SuiteTest> tests;
  for (const auto& entry_value : manifest_entries()) {
    const auto& entry = entry_value.as_object();
    SuiteTest t;
    t.id = std::string(entry.at("id").as_string());
    if (t.id.starts_with("#")) t.id.erase(0, 1);
    t.type = std::string(entry.at("type").as_string());
    t.name = std::string(entry.at("name").as_string());
    t.action = std::string(entry.at("action").as_string());
    if (const auto* result = entry.if_contains("result")) t.result = std::string(result->as_string());
    if (const auto* hash = entry.if_contains("hashAlgorithm")) {
      const std::string algorithm(hash->as_string());
      // Anything but the two the spec requires becomes a failing test below.
      t.hash = algorithm == "SHA384" ? rdfc::HashAlgorithm::sha384 : rdfc::HashAlgorithm::sha256;
      if (algorithm != "SHA384" && algorithm != "SHA256") t.type = "unsupported hashAlgorithm " + algorithm;
    }
    tests.push_back(std::move(t));
  }
  return tests;
}

const std::vector<SuiteTest>& suite() {
  static const std::vector<SuiteTest> tests = load_suite();
  return tests;
}

std::atomic<std::size_t> tests_run{0};

class RdfCanonSuite : public ::testing::TestWithParam<SuiteTest> {};

TEST_P(RdfCanonSuite, Passes) {
  const SuiteTest& t = GetParam();
  SCOPED_TRACE(t.id + " (" + t.type + "): " + t.name);
  ++tests_run;
  const Dataset input = nquads::parse(read_file(kSuiteDir / t.action));
  rdfc::Options options;
  options.hash = t.hash;
  if (t.type == "rdfc:RDFC10EvalTest") {
    EXPECT_EQ(rdfc::canonicalize(input, options), read_file(kSuiteDir / t.result));
  } else if (t.type == "rdfc:RDFC10MapTest") {
    std::map<std::string, std::string> expected;
    const boost::json::value map_file = boost::json::parse(read_file(kSuiteDir / t.result));
    for (const auto& [key, value] : map_file.as_object()) {
      expected.emplace(std::string(key), std::string(value.as_string()));
    }
    EXPECT_EQ(rdfc::canonicalize_with_map(input, options).issued, expected);
  } else if (t.type == "rdfc:RDFC10NegativeEvalTest") {
    EXPECT_THROW(rdfc::canonicalize(input, options), rdfc::LimitExceeded);
  } else {
    FAIL() << "test type this runner does not know: " << t.type;
  }
}

INSTANTIATE_TEST_SUITE_P(W3C, RdfCanonSuite, ::testing::ValuesIn(suite()),
                         [](const ::testing::TestParamInfo<SuiteTest>& info) { return info.param.id; });

// Every manifest entry is a registered test (none dropped by the loader),
// and the manifest is the whole suite.
TEST(RdfCanonSuiteManifest, EveryEntryIsATest) {
  EXPECT_EQ(manifest_entries().size(), kSuiteSize);
  const auto* unit = ::testing::UnitTest::GetInstance();
  std::size_t registered = 0;
  for (int i = 0; i < unit->total_test_suite_count(); ++i) {
    const auto* test_suite = unit->GetTestSuite(i);
    if (std::string(test_suite->name()) == "W3C/RdfCanonSuite") registered += test_suite->total_test_count();
  }
  EXPECT_EQ(registered, kSuiteSize);
  std::map<std::string, int> by_type;
  for (const auto& t : suite()) ++by_type[t.type];
  EXPECT_EQ(by_type, (std::map<std::string, int>{{"rdfc:RDFC10EvalTest", 64},
                                                 {"rdfc:RDFC10MapTest", 21},
                                                 {"rdfc:RDFC10NegativeEvalTest", 1}}));
}

// When the whole program runs unfiltered, every suite test must have run
// (ctest runs them one by one with a filter: EveryEntryIsATest covers that).
class SuiteRunCount : public ::testing::Environment {
 public:
  void TearDown() override {
    if (::testing::GTEST_FLAG(filter) != "*") return;
    EXPECT_EQ(tests_run.load(), kSuiteSize) << "W3C rdf-canon tests that ran";
  }
};
const auto* const kSuiteRunCount = ::testing::AddGlobalTestEnvironment(new SuiteRunCount);

}  // namespace
}  // namespace privstack::credentials
