// Where the JSON-LD processor (jsonld.h) gets remote documents: contexts
// named by URL in @context and @import. The daemon never fetches them from
// the network; its loader is static, a map URL -> bundled context document
// (daemon/credentials/contexts/, compiled into the library; README there
// names each file's source, version and SHA-256).
#pragma once

#include "core/error.h"

#include <boost/json/value.hpp>

#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace privstack::credentials::jsonld {

class DocumentLoader {
 public:
  virtual ~DocumentLoader() = default;
  // The parsed document at `url`, or an Error: code invalid_argument, reason
  // "unknown_context", naming the URL, for a URL the loader does not hold.
  virtual std::shared_ptr<const boost::json::value> load(const std::string& url) const = 0;
};

// The error for a URL a loader does not hold.
privstack::Error unknown_context(std::string_view url);

// A fixed map URL -> document, parsed once when added.
class StaticDocumentLoader : public DocumentLoader {
 public:
  // Throws invalid_argument if `json_text` is not JSON.
  void add(std::string url, std::string_view json_text);
  std::shared_ptr<const boost::json::value> load(const std::string& url) const override;
  bool contains(const std::string& url) const { return documents_.contains(url); }

 private:
  std::map<std::string, std::shared_ptr<const boost::json::value>> documents_;
};

// Every context in daemon/credentials/contexts/ with the URLs it is known by.
const std::map<std::string_view, std::string_view>& bundled_context_texts();

// The daemon's loader: every bundled context, built once.
const StaticDocumentLoader& bundled_contexts();

}  // namespace privstack::credentials::jsonld
