#include "vulnscan/inventory.h"

#include <fstream>
#include <sstream>

namespace privstack::vulnscan {
namespace {

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

struct Stanza {
  std::string package, status, version, architecture, source;
  std::size_t line = 0;  // where it starts, for errors
  bool empty() const { return line == 0; }
};

bool installed(const std::string& status) {
  std::istringstream words(status);
  std::string want, flag, state;
  words >> want >> flag >> state;
  return state == "installed";
}

void finish(Stanza& s, std::vector<InstalledPackage>& out) {
  if (s.empty()) return;
  if (s.package.empty())
    throw InventoryError("dpkg status: the stanza at line " + std::to_string(s.line) + " has no Package field");
  if (installed(s.status)) {
    InstalledPackage p;
    p.name = s.package;
    p.version = s.version;
    p.architecture = s.architecture;
    p.status = s.status;
    p.source = s.package;
    p.source_version = s.version;
    if (!s.source.empty()) {
      // "name" or "name (version)"
      const auto paren = s.source.find('(');
      if (paren == std::string::npos) {
        p.source = s.source;
      } else {
        const auto close = s.source.find(')', paren);
        p.source = trim(std::string_view(s.source).substr(0, paren));
        if (close == std::string::npos || close + 1 != s.source.size() || p.source.empty())
          throw InventoryError("dpkg status: package " + s.package + " has a malformed Source field: " + s.source);
        p.source_version = trim(std::string_view(s.source).substr(paren + 1, close - paren - 1));
      }
    }
    out.push_back(std::move(p));
  }
  s = Stanza{};
}

}  // namespace

std::vector<InstalledPackage> parse_dpkg_status(std::istream& in) {
  std::vector<InstalledPackage> out;
  Stanza cur;
  std::string line;
  std::size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      finish(cur, out);
      continue;
    }
    // Continuation lines (Description, Conffiles) belong to fields we skip.
    if (line[0] == ' ' || line[0] == '\t') continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos)
      throw InventoryError("dpkg status: line " + std::to_string(lineno) + " is not a field");
    if (cur.empty()) cur.line = lineno;
    const std::string_view name(line.data(), colon);
    const std::string value = trim(std::string_view(line).substr(colon + 1));
    if (name == "Package") cur.package = value;
    else if (name == "Status") cur.status = value;
    else if (name == "Version") cur.version = value;
    else if (name == "Architecture") cur.architecture = value;
    else if (name == "Source") cur.source = value;
  }
  finish(cur, out);
  return out;
}

std::vector<InstalledPackage> read_dpkg_status(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw InventoryError("cannot read " + path.string());
  return parse_dpkg_status(in);
}

}  // namespace privstack::vulnscan
