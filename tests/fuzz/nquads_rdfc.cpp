// The Linked Data canonicalizer (daemon/credentials) on hostile N-Quads:
// nquads::parse throws only ParseError; rdfc::canonicalize, with small
// limits so that poison inputs end fast, throws only LimitExceeded; and its
// output is canonical: it parses, and canonicalizing it again gives it back
// (an isomorphic dataset has the same canonical form), with an issued
// identifiers map naming every blank node.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "credentials/nquads.h"
#include "credentials/rdfc.h"

namespace {

using namespace privstack::credentials;

constexpr rdfc::Options kSmallLimits{.hash = rdfc::HashAlgorithm::sha256, .max_work = 5'000, .max_depth = 64};

std::size_t blank_nodes_in(const Dataset& dataset) {
  std::set<std::string_view> labels;
  for (const Quad& q : dataset) {
    for (const Term* t : {&q.subject, &q.object, q.graph ? &*q.graph : nullptr}) {
      if (t != nullptr && t->is_blank_node()) labels.insert(t->value);
    }
  }
  return labels.size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Dataset dataset;
  try {
    dataset = nquads::parse(text);
  } catch (const nquads::ParseError&) {
    return 0;
  }
  rdfc::Canonicalized first;
  try {
    first = rdfc::canonicalize_with_map(dataset, kSmallLimits);
  } catch (const rdfc::LimitExceeded&) {
    return 0;
  }
  if (first.issued.size() != blank_nodes_in(dataset)) std::abort();
  if (!first.nquads.empty() && first.nquads.back() != '\n') std::abort();
  // Parses (ParseError escapes and is reported if not) and is a fixed point.
  const Dataset canonical = nquads::parse(first.nquads);
  try {
    if (rdfc::canonicalize(canonical, kSmallLimits) != first.nquads) std::abort();
  } catch (const rdfc::LimitExceeded&) {
    // The search may take another path through a relabelled dataset.
  }
  return 0;
}
