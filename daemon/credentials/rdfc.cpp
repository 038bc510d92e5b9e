#include "credentials/rdfc.h"

#include "core/encoding.h"
#include "credentials/nquads.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace privstack::credentials::rdfc {

LimitExceeded::LimitExceeded(const std::string& what) : privstack::Error(ErrorCode::invalid_argument, what) {
  with_reason("canonicalization_limit");
}

InvalidDataset::InvalidDataset(const std::string& what) : privstack::Error(ErrorCode::invalid_argument, what) {
  with_reason("not_rdf");
}

namespace {

using Node = std::int32_t;  // a blank node, by its index in order of first mention
constexpr Node kNotBlank = -1;

// One component of a quad: a blank node, or any other term as its canonical
// N-Quads text (a slice of Canonicalizer::texts_), written once up front so
// that hashing only concatenates. (Interning equal texts was tried: for
// credential-sized datasets hashing them costs more than it saves.)
struct Component {
  Node blank = kNotBlank;
  std::uint32_t offset = 0;
  std::uint32_t length = 0;
};

struct IndexedQuad {
  std::array<Component, 4> components;  // subject, predicate, object, graph name
  bool has_graph = false;
};

constexpr std::size_t kSubject = 0, kObject = 2, kGraph = 3;

// A message digest as lowercase hex, with one OpenSSL context reused for
// every hash of a canonicalization.
class Hasher {
 public:
  explicit Hasher(HashAlgorithm algorithm)
      : md_(EVP_MD_fetch(nullptr, algorithm == HashAlgorithm::sha384 ? "SHA2-384" : "SHA2-256", nullptr)),
        ctx_(EVP_MD_CTX_new()) {
    if (md_ == nullptr || ctx_ == nullptr) {
      EVP_MD_free(md_);
      EVP_MD_CTX_free(ctx_);
      throw std::runtime_error("rdfc: OpenSSL has no SHA-2 digest");
    }
  }
  ~Hasher() {
    EVP_MD_CTX_free(ctx_);
    EVP_MD_free(md_);
  }
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void begin() { check(EVP_DigestInit_ex2(ctx_, md_, nullptr)); }
  void update(std::string_view data) { check(EVP_DigestUpdate(ctx_, data.data(), data.size())); }
  std::string finish_hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    check(EVP_DigestFinal_ex(ctx_, digest, &size));
    return hex_encode(ByteView(digest, size));
  }
  std::string hex(std::string_view data) {
    begin();
    update(data);
    return finish_hex();
  }

 private:
  static void check(int ok) {
    if (ok != 1) throw std::runtime_error("rdfc: OpenSSL digest failed");
  }
  EVP_MD* md_;
  EVP_MD_CTX* ctx_;
};

void append_number(std::string& out, std::size_t n) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
  out.append(digits, end);
}

// An identifier issuer of temporary identifiers ("b0", "b1", ...): the
// nodes in the order they were issued one, a node's number being its
// position. Copied for every permutation tried, so a flat vector (the
// number of nodes issued is what a permutation costs in work anyway).
struct TemporaryIssuer {
  std::vector<Node> issued;

  std::ptrdiff_t find(Node node) const {
    const auto it = std::find(issued.begin(), issued.end(), node);
    return it == issued.end() ? -1 : it - issued.begin();
  }
  std::size_t issue(Node node) {
    const std::ptrdiff_t existing = find(node);
    if (existing >= 0) return static_cast<std::size_t>(existing);
    issued.push_back(node);
    return issued.size() - 1;
  }
};

struct NDegreeResult {
  std::string hash;
  TemporaryIssuer issuer;
};

class Canonicalizer {
 public:
  Canonicalizer(const Dataset& dataset, const Options& options) : options_(options), hasher_(options.hash) {
    index(dataset);
  }

  Canonicalized run(bool with_map) {
    label_blank_nodes();
    Canonicalized out;
    out.nquads = serialize();
    if (with_map) {
      for (std::size_t node = 0; node < labels_.size(); ++node) {
        std::string label = "c14n";
        append_number(label, static_cast<std::size_t>(canonical_[node]));
        out.issued.emplace(std::string(labels_[node]), std::move(label));
      }
    }
    return out;
  }

 private:
  std::string_view text_of(const Component& c) const { return std::string_view(texts_).substr(c.offset, c.length); }

  // The quad's canonical N-Quads line, its blank nodes written by
  // label_blank(out, node): placeholders for hashing, or canonical labels.
  template <class LabelBlank>
  void append_line(std::string& out, const IndexedQuad& quad, const LabelBlank& label_blank) const {
    for (std::size_t c = 0; c < (quad.has_graph ? 4 : 3); ++c) {
      const Component& component = quad.components[c];
      if (component.blank == kNotBlank) {
        out += text_of(component);
      } else {
        label_blank(out, component.blank);
      }
      out += ' ';
    }
    out += ".\n";
  }

  // Step 1 and 2 of the canonicalization algorithm: the quads (each
  // distinct one once), the blank nodes in order of first mention, and the
  // blank node to quads map.
  void index(const Dataset& dataset) {
    std::unordered_map<std::string_view, Node> node_of_label;
    quads_.reserve(dataset.size());
    for (const Quad& quad : dataset) {
      if (quad.predicate.kind != TermKind::iri) throw InvalidDataset("a quad's predicate is not an IRI");
      if (quad.subject.kind == TermKind::literal) throw InvalidDataset("a quad's subject is a literal");
      if (quad.graph && quad.graph->kind == TermKind::literal) throw InvalidDataset("a quad's graph name is a literal");
      IndexedQuad indexed;
      indexed.has_graph = quad.graph.has_value();
      const Term* terms[4] = {&quad.subject, &quad.predicate, &quad.object, quad.graph ? &*quad.graph : nullptr};
      for (std::size_t i = 0; i < 4 && terms[i] != nullptr; ++i) {
        Component& c = indexed.components[i];
        if (terms[i]->is_blank_node()) {
          const auto [it, inserted] = node_of_label.try_emplace(terms[i]->value, static_cast<Node>(labels_.size()));
          if (inserted) labels_.push_back(terms[i]->value);
          c.blank = it->second;
          continue;
        }
        const std::size_t offset = texts_.size();
        nquads::append_term(texts_, *terms[i]);
        if (texts_.size() > UINT32_MAX) throw LimitExceeded("dataset too large to canonicalize");
        c.offset = static_cast<std::uint32_t>(offset);
        c.length = static_cast<std::uint32_t>(texts_.size() - offset);
      }
      quads_.push_back(indexed);
    }
    remove_duplicate_quads();
    mentions_.resize(labels_.size());
    for (std::uint32_t q = 0; q < quads_.size(); ++q) {
      for (const Component& c : quads_[q].components) {
        if (c.blank == kNotBlank) continue;
        auto& list = mentions_[static_cast<std::size_t>(c.blank)];
        if (list.empty() || list.back() != q) list.push_back(q);  // a set: once per quad
      }
    }
  }

  // A dataset is a set. Sorting changes nothing the algorithm computes: the
  // blank nodes are already numbered, and every use of a node's quads sorts
  // what it derives from them. Other terms compare by canonical text, which
  // is one-to-one with the term.
  void remove_duplicate_quads() {
    std::sort(quads_.begin(), quads_.end(),
              [this](const IndexedQuad& a, const IndexedQuad& b) { return compare(a, b) < 0; });
    quads_.erase(std::unique(quads_.begin(), quads_.end(),
                             [this](const IndexedQuad& a, const IndexedQuad& b) { return compare(a, b) == 0; }),
                 quads_.end());
  }
  int compare(const IndexedQuad& a, const IndexedQuad& b) const {
    if (a.has_graph != b.has_graph) return a.has_graph ? 1 : -1;
    for (std::size_t i = 0; i < 4; ++i) {
      const Component& x = a.components[i];
      const Component& y = b.components[i];
      if (x.blank != y.blank) return x.blank < y.blank ? -1 : 1;
      if (x.blank == kNotBlank) {
        if (const int order = text_of(x).compare(text_of(y)); order != 0) return order;
      }
    }
    return 0;
  }

  // Steps 3 to 6: first degree hashes, canonical labels for the unique ones
  // in hash order, then the N-degree hashes of the shared ones.
  void label_blank_nodes() {
    canonical_.assign(labels_.size(), -1);
    first_degree_.resize(labels_.size());
    std::map<std::string, std::vector<Node>> nodes_by_hash;
    for (std::size_t node = 0; node < labels_.size(); ++node) {
      first_degree_[node] = first_degree_hash(static_cast<Node>(node));
      nodes_by_hash[first_degree_[node]].push_back(static_cast<Node>(node));
    }
    for (const auto& [hash, nodes] : nodes_by_hash) {
      if (nodes.size() == 1) issue_canonical(nodes.front());
    }
    for (const auto& [hash, nodes] : nodes_by_hash) {
      if (nodes.size() == 1) continue;
      std::vector<NDegreeResult> hash_path_list;
      for (const Node node : nodes) {
        if (has_canonical(node)) continue;
        TemporaryIssuer issuer;
        issuer.issue(node);
        hash_path_list.push_back(n_degree_hash(node, issuer, 1));
      }
      // Stable: nodes whose N-degree hashes are equal are isomorphic, so
      // their order changes no output; first-mention order keeps the map
      // reproducible.
      std::stable_sort(hash_path_list.begin(), hash_path_list.end(),
                       [](const NDegreeResult& a, const NDegreeResult& b) { return a.hash < b.hash; });
      for (const NDegreeResult& result : hash_path_list) {
        for (const Node node : result.issuer.issued) issue_canonical(node);
      }
    }
  }

  bool has_canonical(Node node) const { return canonical_[static_cast<std::size_t>(node)] >= 0; }
  void issue_canonical(Node node) {
    if (!has_canonical(node)) canonical_[static_cast<std::size_t>(node)] = next_canonical_++;
  }
  void append_canonical_label(std::string& out, Node node) const {
    out += "_:c14n";
    append_number(out, static_cast<std::size_t>(canonical_[static_cast<std::size_t>(node)]));
  }

  // Hash First Degree Quads: the node's quads with itself as _:a and every
  // other blank node as _:z, sorted and hashed.
  std::string first_degree_hash(Node node) {
    const auto& mentions = mentions_[static_cast<std::size_t>(node)];
    clear_lines();
    for (const std::uint32_t q : mentions) {
      add_line(quads_[q], [node](std::string& out, Node blank) { out += blank == node ? "_:a" : "_:z"; });
    }
    hasher_.begin();
    for (const std::string_view line : sorted_lines()) hasher_.update(line);
    return hasher_.finish_hex();
  }

  // Hash Related Blank Node: how `related` appears next to the node being
  // hashed (position, predicate) and what it is known as so far.
  std::string related_hash(Node related, const IndexedQuad& quad, const TemporaryIssuer& issuer, char position) {
    std::string input(1, position);
    if (position != 'g') input += text_of(quad.components[1]);  // "<predicate>"
    if (has_canonical(related)) {
      append_canonical_label(input, related);
    } else if (const std::ptrdiff_t temporary = issuer.find(related); temporary >= 0) {
      input += "_:b";
      append_number(input, static_cast<std::size_t>(temporary));
    } else {
      input += first_degree_[static_cast<std::size_t>(related)];
    }
    return hasher_.hex(input);
  }

  void charge(std::uint64_t units) {
    work_ += units;
    if (work_ > options_.max_work) {
      throw LimitExceeded("dataset too complex to canonicalize: its blank nodes need more than " +
                          std::to_string(options_.max_work) + " units of RDFC-1.0 N-degree hashing work");
    }
  }

  // Hash N-Degree Quads: explores every order of the related blank nodes
  // that share a related hash (the gossip paths), recursing into the ones
  // not yet labelled, and keeps the least path.
  NDegreeResult n_degree_hash(Node node, const TemporaryIssuer& issuer, std::size_t depth) {
    if (depth > options_.max_depth) {
      throw LimitExceeded("dataset too complex to canonicalize: its blank nodes nest more than " +
                          std::to_string(options_.max_depth) + " levels deep in RDFC-1.0 N-degree hashing");
    }
    const auto& mentions = mentions_[static_cast<std::size_t>(node)];
    charge(mentions.size());
    std::map<std::string, std::vector<Node>> related_by_hash;
    for (const std::uint32_t q : mentions) {
      const IndexedQuad& quad = quads_[q];
      constexpr std::pair<std::size_t, char> kPositions[] = {{kSubject, 's'}, {kObject, 'o'}, {kGraph, 'g'}};
      for (const auto& [index, position] : kPositions) {
        if (index == kGraph && !quad.has_graph) continue;
        const Node related = quad.components[index].blank;
        if (related == kNotBlank || related == node) continue;
        related_by_hash[related_hash(related, quad, issuer, position)].push_back(related);
      }
    }

    std::string data_to_hash;
    TemporaryIssuer current = issuer;
    for (auto& [related_hash_hex, related_nodes] : related_by_hash) {
      data_to_hash += related_hash_hex;
      std::string chosen_path;
      TemporaryIssuer chosen_issuer;
      bool chosen = false;
      // The least path must not depend on which order is tried first.
      std::sort(related_nodes.begin(), related_nodes.end());
      do {
        charge(related_nodes.size() * (current.issued.size() + 1));
        TemporaryIssuer copy = current;
        std::string path;
        std::vector<Node> recursion_list;
        const auto worse_than_chosen = [&] {
          return chosen && path.size() >= chosen_path.size() && path > chosen_path;
        };
        bool skip = false;
        for (const Node related : related_nodes) {
          if (has_canonical(related)) {
            append_canonical_label(path, related);
          } else {
            if (copy.find(related) < 0) recursion_list.push_back(related);
            path += "_:b";
            append_number(path, copy.issue(related));
          }
          if (worse_than_chosen()) {
            skip = true;
            break;
          }
        }
        for (std::size_t i = 0; !skip && i < recursion_list.size(); ++i) {
          const Node related = recursion_list[i];
          NDegreeResult result = n_degree_hash(related, copy, depth + 1);
          path += "_:b";
          append_number(path, copy.issue(related));
          path += '<';
          path += result.hash;
          path += '>';
          copy = std::move(result.issuer);
          skip = worse_than_chosen();
        }
        if (skip) continue;
        if (!chosen || path < chosen_path) {
          chosen_path = std::move(path);
          chosen_issuer = std::move(copy);
          chosen = true;
        }
      } while (std::next_permutation(related_nodes.begin(), related_nodes.end()));
      data_to_hash += chosen_path;
      current = std::move(chosen_issuer);
    }
    return {hasher_.hex(data_to_hash), std::move(current)};
  }

  // Step 7: every quad with its blank nodes' canonical labels, sorted.
  std::string serialize() {
    clear_lines();
    for (const IndexedQuad& quad : quads_) {
      add_line(quad, [this](std::string& out, Node blank) { append_canonical_label(out, blank); });
    }
    std::string out;
    out.reserve(lines_.size());
    for (const std::string_view line : sorted_lines()) out += line;
    return out;
  }

  void clear_lines() {
    lines_.clear();
    line_ends_.clear();
  }
  template <class LabelBlank>
  void add_line(const IndexedQuad& quad, const LabelBlank& label_blank) {
    append_line(lines_, quad, label_blank);
    line_ends_.push_back(lines_.size());
  }
  // The lines added since clear_lines(), in code point order (UTF-8 byte
  // order is code point order).
  const std::vector<std::string_view>& sorted_lines() {
    line_views_.clear();
    std::size_t begin = 0;
    for (const std::size_t end : line_ends_) {
      line_views_.push_back(std::string_view(lines_).substr(begin, end - begin));
      begin = end;
    }
    std::sort(line_views_.begin(), line_views_.end());
    return line_views_;
  }

  const Options& options_;
  Hasher hasher_;
  std::string texts_;                  // canonical text of every non-blank component
  std::vector<IndexedQuad> quads_;     // the distinct quads
  std::vector<std::string_view> labels_;  // input label of each blank node (views into the dataset)
  std::vector<std::vector<std::uint32_t>> mentions_;  // blank node -> its quads
  std::vector<std::string> first_degree_;             // blank node -> its first degree hash
  std::vector<std::int32_t> canonical_;               // blank node -> canonical number, or -1
  std::int32_t next_canonical_ = 0;
  std::string lines_;                        // scratch: canonical lines being hashed or written
  std::vector<std::size_t> line_ends_;       // scratch: where each of them ends
  std::vector<std::string_view> line_views_;  // scratch: the same, sorted
  std::uint64_t work_ = 0;
};

}  // namespace

std::string canonicalize(const Dataset& dataset, const Options& options) {
  return Canonicalizer(dataset, options).run(false).nquads;
}

Canonicalized canonicalize_with_map(const Dataset& dataset, const Options& options) {
  return Canonicalizer(dataset, options).run(true);
}

}  // namespace privstack::credentials::rdfc
