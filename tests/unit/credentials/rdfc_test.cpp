#include "credentials/rdfc.h"

#include "credentials/nquads.h"
#include "suite_files.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <limits>
#include <map>
#include <string>

namespace privstack::credentials {
namespace {

using test::read_file;
const std::filesystem::path& kSuiteDir = test::kRdfCanonTestsDir;

Dataset suite_input(const std::string& test) { return nquads::parse(read_file(kSuiteDir / (test + "-in.nq"))); }

// The spec's own examples (rdf-canon section 4.4.2, "Examples"): the issued
// identifiers it lists for them.
TEST(Rdfc, SpecExampleWithUniqueHashes) {
  const Dataset dataset = nquads::parse(
      "<http://example.com/#p> <http://example.com/#q> _:e0 .\n"
      "<http://example.com/#p> <http://example.com/#r> _:e1 .\n"
      "_:e0 <http://example.com/#s> <http://example.com/#u> .\n"
      "_:e1 <http://example.com/#t> <http://example.com/#u> .\n");
  const rdfc::Canonicalized result = rdfc::canonicalize_with_map(dataset);
  EXPECT_EQ(result.issued, (std::map<std::string, std::string>{{"e0", "c14n0"}, {"e1", "c14n1"}}));
  EXPECT_EQ(result.nquads,
            "<http://example.com/#p> <http://example.com/#q> _:c14n0 .\n"
            "<http://example.com/#p> <http://example.com/#r> _:c14n1 .\n"
            "_:c14n0 <http://example.com/#s> <http://example.com/#u> .\n"
            "_:c14n1 <http://example.com/#t> <http://example.com/#u> .\n");
}

TEST(Rdfc, SpecExampleWithSharedHashes) {
  const Dataset dataset = nquads::parse(
      "<http://example.com/#p> <http://example.com/#q> _:e0 .\n"
      "<http://example.com/#p> <http://example.com/#q> _:e1 .\n"
      "_:e0 <http://example.com/#p> _:e2 .\n"
      "_:e1 <http://example.com/#p> _:e3 .\n"
      "_:e2 <http://example.com/#r> _:e3 .\n");
  EXPECT_EQ(rdfc::canonicalize_with_map(dataset).issued,
            (std::map<std::string, std::string>{{"e0", "c14n3"}, {"e1", "c14n2"}, {"e2", "c14n0"}, {"e3", "c14n1"}}));
}

// Canonical output depends on the dataset only: renaming every blank node,
// reversing the quads and repeating them changes nothing, for every
// evaluation input of the W3C suite.
TEST(Rdfc, OutputIgnoresLabelsOrderAndDuplicates) {
  std::size_t checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kSuiteDir)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with("-rdfc10.nq")) continue;
    const std::string test = name.substr(0, name.size() - std::string("-rdfc10.nq").size());
    SCOPED_TRACE(test);
    rdfc::Options options;
    if (test == "test075") options.hash = rdfc::HashAlgorithm::sha384;  // the manifest's SHA-384 test
    Dataset dataset = suite_input(test);
    const auto rename = [](Term& t) {
      if (t.is_blank_node()) t.value = "renamed_" + std::string(t.value.rbegin(), t.value.rend());
    };
    for (Quad& quad : dataset) {
      rename(quad.subject);
      rename(quad.object);
      if (quad.graph) rename(*quad.graph);
    }
    std::reverse(dataset.begin(), dataset.end());
    const std::size_t n = dataset.size();
    for (std::size_t i = 0; i < n; ++i) dataset.push_back(dataset[i]);
    EXPECT_EQ(rdfc::canonicalize(dataset, options), read_file(entry.path()));
    ++checked;
  }
  EXPECT_EQ(checked, 64u);
}

TEST(Rdfc, EmptyAndGroundDatasets) {
  EXPECT_EQ(rdfc::canonicalize({}), "");
  const Dataset ground = {
      {iri("urn:b"), iri("urn:p"), literal("x", std::string(kXsdString)), {}},
      {iri("urn:a"), iri("urn:p"), literal("x"), iri("urn:g")},
      {iri("urn:b"), iri("urn:p"), literal("x"), {}},  // the same quad as the first
  };
  const rdfc::Canonicalized result = rdfc::canonicalize_with_map(ground);
  EXPECT_EQ(result.nquads, "<urn:a> <urn:p> \"x\" <urn:g> .\n<urn:b> <urn:p> \"x\" .\n");
  EXPECT_TRUE(result.issued.empty());
}

TEST(Rdfc, MapCoversEveryBlankNodeIncludingGraphNames) {
  const Dataset dataset = nquads::parse("_:s <urn:p> _:o _:g .\n_:s <urn:q> \"v\" .\n");
  const auto issued = rdfc::canonicalize_with_map(dataset).issued;
  ASSERT_EQ(issued.size(), 3u);
  EXPECT_TRUE(issued.contains("s") && issued.contains("o") && issued.contains("g"));
}

TEST(Rdfc, HashAlgorithmChangesLabellingOfSymmetricNodes) {
  // test075 is test020 with SHA-384: the same dataset, another labelling.
  const Dataset dataset = suite_input("test020");
  EXPECT_NE(rdfc::canonicalize(dataset, {.hash = rdfc::HashAlgorithm::sha384}), rdfc::canonicalize(dataset));
  EXPECT_EQ(rdfc::canonicalize(dataset, {.hash = rdfc::HashAlgorithm::sha384}),
            read_file(kSuiteDir / "test075-rdfc10.nq"));
}

TEST(Rdfc, RefusesWhatIsNotRdf) {
  const Dataset literal_predicate = {{iri("urn:s"), literal("p"), iri("urn:o"), {}}};
  const Dataset blank_predicate = {{iri("urn:s"), blank_node("p"), iri("urn:o"), {}}};
  const Dataset literal_subject = {{literal("s"), iri("urn:p"), iri("urn:o"), {}}};
  const Dataset literal_graph = {{iri("urn:s"), iri("urn:p"), iri("urn:o"), literal("g")}};
  for (const Dataset* dataset : {&literal_predicate, &blank_predicate, &literal_subject, &literal_graph}) {
    try {
      rdfc::canonicalize(*dataset);
      ADD_FAILURE() << "canonicalized " << nquads::to_line(dataset->front());
    } catch (const rdfc::InvalidDataset& e) {
      EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
      EXPECT_EQ(e.reason(), "not_rdf");
    }
  }
}

// rdf-canon section 6.1: the poison clique (test074) ends with the limit's
// error, quickly, with the default options.
TEST(RdfcLimits, PoisonCliqueStopsWithLimitExceeded) {
  const Dataset clique = suite_input("test074");
  const auto start = std::chrono::steady_clock::now();
  try {
    rdfc::canonicalize(clique);
    FAIL() << "the poison dataset was canonicalized";
  } catch (const rdfc::LimitExceeded& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    EXPECT_EQ(e.reason(), "canonicalization_limit");
    EXPECT_NE(e.message().find("more than 200000 units"), std::string::npos) << e.message();
  }
  // Milliseconds in practice; the bound only catches a search that runs on.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(RdfcLimits, WorkLimitIsConfigurable) {
  // The suite's "evil" poison graphs are computable within the default limit (about 25,000 units)...
  const Dataset evil = suite_input("test044");
  EXPECT_EQ(rdfc::canonicalize(evil), read_file(kSuiteDir / "test044-rdfc10.nq"));
  // ...and not within a smaller one.
  EXPECT_THROW(rdfc::canonicalize(evil, {.max_work = 10'000}), rdfc::LimitExceeded);
  // A dataset with no shared first degree hashes needs no N-degree work at all.
  EXPECT_NO_THROW(rdfc::canonicalize(suite_input("test003"), {.max_work = 0}));
}

TEST(RdfcLimits, DeepChainsStopAtTheDepthLimitNotTheStack) {
  // A ring of indistinguishable blank nodes: Hash N-Degree Quads recurses
  // once per node along it.
  std::string ring;
  constexpr int kNodes = 3000;
  for (int i = 0; i < kNodes; ++i) {
    ring += "_:n" + std::to_string(i) + " <urn:p> _:n" + std::to_string((i + 1) % kNodes) + " .\n";
  }
  const Dataset dataset = nquads::parse(ring);
  try {
    rdfc::canonicalize(dataset, {.max_work = std::numeric_limits<std::uint64_t>::max()});
    FAIL() << "the ring was canonicalized";
  } catch (const rdfc::LimitExceeded& e) {
    EXPECT_NE(e.message().find("more than 256 levels deep"), std::string::npos) << e.message();
  }
  // Within a deeper limit the ring is still refused, on depth, a little later.
  try {
    rdfc::canonicalize(dataset, {.max_work = std::numeric_limits<std::uint64_t>::max(), .max_depth = 300});
    FAIL() << "the ring was canonicalized";
  } catch (const rdfc::LimitExceeded& e) {
    EXPECT_NE(e.message().find("more than 300 levels deep"), std::string::npos) << e.message();
  }
  // The same ring within the default work limit fails on work first.
  EXPECT_THROW(rdfc::canonicalize(dataset), rdfc::LimitExceeded);
  // A short ring is fine. Its nodes are isomorphic: whichever is c14n0, the
  // next label goes to the node before it on the ring, as the related hash
  // of a subject position ("s<urn:p>" + first degree hash) sorts before the
  // object position's for this ring's shared first degree hash.
  const Dataset small = nquads::parse("_:x <urn:p> _:y .\n_:y <urn:p> _:z .\n_:z <urn:p> _:x .\n");
  EXPECT_EQ(rdfc::canonicalize(small),
            "_:c14n0 <urn:p> _:c14n2 .\n_:c14n1 <urn:p> _:c14n0 .\n_:c14n2 <urn:p> _:c14n1 .\n");
}

}  // namespace
}  // namespace privstack::credentials
