// The W3C rdf-canon test suite's files (tests/data/rdf-canon, its README
// names the source), for the credentials unit tests.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace privstack::credentials::test {

inline const std::filesystem::path kRdfCanonDir = std::filesystem::path(PRIVSTACK_SOURCE_DIR) / "tests/data/rdf-canon";
// The inputs and expected results: testNNN-in.nq, testNNN-rdfc10.nq, testNNN-rdfc10map.json.
inline const std::filesystem::path kRdfCanonTestsDir = kRdfCanonDir / "rdfc10";

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace privstack::credentials::test
