#include "audit/csv.h"

namespace privstack::csv {

namespace {
bool dangerous_first(char c) { return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r' || c == '\''; }
}  // namespace

std::string neutralise(std::string_view value) {
  if (!value.empty() && dangerous_first(value.front())) {
    std::string out;
    out.reserve(value.size() + 1);
    out.push_back('\'');
    out.append(value);
    return out;
  }
  return std::string(value);
}

std::string_view unneutralise(std::string_view cell) {
  if (!cell.empty() && cell.front() == '\'') cell.remove_prefix(1);
  return cell;
}

void append_cell(std::string& out, std::string_view value) {
  bool prefix = !value.empty() && dangerous_first(value.front());
  bool quote = value.find_first_of(",\"\r\n") != std::string_view::npos;
  if (quote) out.push_back('"');
  if (prefix) out.push_back('\'');
  if (quote) {
    for (char c : value) {
      if (c == '"') out.push_back('"');
      out.push_back(c);
    }
    out.push_back('"');
  } else {
    out.append(value);
  }
}

void append_row(std::string& out, std::span<const std::string_view> cells) {
  bool first = true;
  for (auto cell : cells) {
    if (!first) out.push_back(',');
    first = false;
    append_cell(out, cell);
  }
  out.append("\r\n");
}

void append_row(std::string& out, std::initializer_list<std::string_view> cells) {
  append_row(out, std::span<const std::string_view>(cells.begin(), cells.size()));
}

bool valid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t n = text.size(), i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return false;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

Reader::Reader(std::string_view text) : text_(text) {}

std::optional<Reader::Record> Reader::next() {
  if (error_ || pos_ >= text_.size()) return std::nullopt;
  Record rec;
  rec.line = line_;
  std::string cell;
  auto fail = [&](std::string message) -> std::optional<Record> {
    error_ = std::move(message);
    error_line_ = line_;
    return std::nullopt;
  };
  for (;;) {
    // Start of a cell.
    cell.clear();
    if (pos_ < text_.size() && text_[pos_] == '"') {
      ++pos_;
      for (;;) {
        if (pos_ >= text_.size()) return fail("unterminated quoted cell (starts on line " + std::to_string(rec.line) + ")");
        char c = text_[pos_++];
        if (c == '\0') return fail("NUL byte");
        if (c == '"') {
          if (pos_ < text_.size() && text_[pos_] == '"') {
            cell.push_back('"');
            ++pos_;
            continue;
          }
          break;
        }
        if (c == '\n') ++line_;
        cell.push_back(c);
      }
      if (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\r' && text_[pos_] != '\n') {
        return fail("text after a closing quote");
      }
    } else {
      while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\r' && text_[pos_] != '\n') {
        char c = text_[pos_++];
        if (c == '"') return fail("a double quote inside an unquoted cell");
        if (c == '\0') return fail("NUL byte");
        cell.push_back(c);
      }
    }
    rec.cells.push_back(std::move(cell));
    if (pos_ >= text_.size()) return rec;
    char c = text_[pos_];
    if (c == ',') {
      ++pos_;
      continue;
    }
    if (c == '\r') {
      if (pos_ + 1 >= text_.size() || text_[pos_ + 1] != '\n') return fail("a bare CR outside quotes");
      pos_ += 2;
    } else {
      ++pos_;
    }
    ++line_;
    return rec;
  }
}

}  // namespace privstack::csv
