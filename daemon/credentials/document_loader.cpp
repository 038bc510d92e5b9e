// The static document loader and the bundled contexts (document_loader.h).
#include "credentials/document_loader.h"

#include <boost/json/parse.hpp>

namespace privstack::credentials::jsonld {

namespace generated {
// bundled_contexts.cpp, generated from contexts/contexts.txt at build time.
extern const std::map<std::string_view, std::string_view> kBundledContexts;
}  // namespace generated

privstack::Error unknown_context(std::string_view url) {
  return privstack::Error(ErrorCode::invalid_argument,
                          "unknown JSON-LD context " + std::string(url) +
                              " (only the bundled contexts are loaded, never a network fetch)")
      .with_reason("unknown_context");
}

void StaticDocumentLoader::add(std::string url, std::string_view json_text) {
  boost::system::error_code ec;
  auto document = std::make_shared<boost::json::value>(boost::json::parse(json_text, ec));
  if (ec) throw privstack::Error(ErrorCode::invalid_argument, "document for " + url + " is not JSON");
  documents_[std::move(url)] = std::move(document);
}

std::shared_ptr<const boost::json::value> StaticDocumentLoader::load(const std::string& url) const {
  const auto it = documents_.find(url);
  if (it == documents_.end()) throw unknown_context(url);
  return it->second;
}

const std::map<std::string_view, std::string_view>& bundled_context_texts() { return generated::kBundledContexts; }

const StaticDocumentLoader& bundled_contexts() {
  static const StaticDocumentLoader loader = [] {
    StaticDocumentLoader l;
    for (const auto& [url, text] : generated::kBundledContexts) l.add(std::string(url), text);
    return l;
  }();
  return loader;
}

}  // namespace privstack::credentials::jsonld
