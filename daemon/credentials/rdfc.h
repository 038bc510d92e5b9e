// RDF Dataset Canonicalization, RDFC-1.0 (W3C Recommendation,
// https://www.w3.org/TR/rdf-canon/): gives every blank node of a dataset a
// canonical label (c14n0, c14n1, ...) that depends only on the dataset's
// content, and writes the dataset as sorted canonical N-Quads. Two datasets
// give the same output exactly when they are isomorphic. It is what the
// Data Integrity cryptosuite eddsa-rdfc-2022 signs (docs/linked-data.md).
//
// Some datasets ("dataset poisoning", rdf-canon section 6.1) make the
// N-degree step's search grow factorially; canonicalize() counts its work and
// stops with LimitExceeded once it passes Options::max_work (or the
// recursion gets deeper than Options::max_depth), rather than running on.
#pragma once

#include "core/error.h"
#include "credentials/rdf.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

namespace privstack::credentials::rdfc {

enum class HashAlgorithm { sha256, sha384 };

struct Options {
  // The spec's default is SHA-256; SHA-384 is the other one it requires.
  HashAlgorithm hash = HashAlgorithm::sha256;
  // Work units allowed for the N-degree hashing of blank nodes whose first
  // degree hashes are shared: each call of Hash N-Degree Quads costs the
  // number of quads it looks at, each permutation it tries the number of
  // blank nodes it orders times one more than the temporary identifiers
  // issued so far. A dataset whose blank nodes are all told apart by their
  // own quads (the usual credential) needs none; the W3C suite's tests need
  // at most 171, except its computable "evil" poison graphs (test044-046),
  // 24,648 each. The default stops the suite's poison clique (test074)
  // after about 15 ms, and any input within well under a second.
  std::uint64_t max_work = 200'000;
  // Nesting of Hash N-Degree Quads (one level per blank node on a chain of
  // indistinguishable ones): the stack is the limit here, not time. A level
  // takes under 1 KiB of stack (under 8 KiB under AddressSanitizer), so the
  // default fits any thread's stack with room to spare.
  std::size_t max_depth = 256;
};

// The dataset is too complex to canonicalize within the limits (code
// invalid_argument, reason "canonicalization_limit").
class LimitExceeded : public privstack::Error {
 public:
  explicit LimitExceeded(const std::string& what);
};

// The dataset is not RDF: a literal or blank node as predicate, a literal as
// subject or graph name (code invalid_argument, reason "not_rdf").
class InvalidDataset : public privstack::Error {
 public:
  explicit InvalidDataset(const std::string& what);
};

struct Canonicalized {
  // The canonical N-Quads document: one line per distinct quad, blank nodes
  // relabelled, lines in code point order, each ending in "\n".
  std::string nquads;
  // The issued identifiers map: each input blank node label -> its canonical
  // label ("c14n0"), for every blank node of the dataset.
  std::map<std::string, std::string> issued;
};

// The serialized canonical form of `dataset`.
std::string canonicalize(const Dataset& dataset, const Options& options = {});
// The same, with the issued identifiers map.
Canonicalized canonicalize_with_map(const Dataset& dataset, const Options& options = {});

}  // namespace privstack::credentials::rdfc
