// privstack's side of the jsonld.js interop check
// (tests/integration/test_jsonld_interop.py): the RDFC-1.0 canonical N-Quads
// of a JSON-LD file, through the daemon's JSON-LD processor and its bundled
// contexts, written to stdout. Exit 1 with the error on stderr.
#include "credentials/jsonld.h"
#include "credentials/rdfc.h"

#include <fstream>
#include <iostream>
#include <sstream>

int main(int argc, char** argv) {
  using namespace privstack::credentials;
  if (argc != 2) {
    std::cerr << "usage: jsonld_canonize FILE\n";
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  if (!in) {
    std::cerr << "cannot read " << argv[1] << "\n";
    return 2;
  }
  std::ostringstream text;
  text << in.rdbuf();
  try {
    jsonld::Options options;
    options.loader = &jsonld::bundled_contexts();
    std::cout << rdfc::canonicalize(jsonld::to_rdf(text.str(), options));
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
