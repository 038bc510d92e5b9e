// RFC 4180 CSV, written and read the same way everywhere privstack exports
// or imports CSV (records, audit log).
//
// Writing: UTF-8, CRLF line ends, a cell is quoted when it contains a comma,
// a double quote, CR or LF (quotes doubled inside).
//
// Formula injection: a cell whose value starts with '=', '+', '-', '@',
// TAB or CR would be evaluated by spreadsheets. Such a cell is written with a
// single quote (') in front, which spreadsheets show as text. So that this
// stays reversible, a value that itself starts with a single quote gets one
// too. The rule, applied by our import and documented for other readers:
// if a cell starts with a single quote, drop exactly that one character.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace privstack::csv {

// The value as it is written into a cell (neutralised, not yet quoted).
std::string neutralise(std::string_view value);
// The inverse of neutralise(), for reading our own exports.
std::string_view unneutralise(std::string_view cell);

// Appends one cell (neutralised and quoted as needed) to `out`.
void append_cell(std::string& out, std::string_view value);
// Appends a row of cells and CRLF.
void append_row(std::string& out, std::span<const std::string_view> cells);
void append_row(std::string& out, std::initializer_list<std::string_view> cells);

// True when `text` is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool valid_utf8(std::string_view text);

// A strict RFC 4180 reader over a whole buffer. Accepts CRLF or LF line
// ends; rejects a quote inside an unquoted cell, text after a closing quote,
// an unterminated quoted cell, and NUL bytes.
class Reader {
 public:
  explicit Reader(std::string_view text);
  struct Record {
    std::size_t line = 0;  // 1-based physical line where the record starts
    std::vector<std::string> cells;  // raw cell text (not unneutralised)
  };
  // The next record; nullopt at the end or on an error (see error()).
  std::optional<Record> next();
  // The syntax error that stopped next(), with the line it was found on.
  const std::optional<std::string>& error() const { return error_; }
  std::size_t error_line() const { return error_line_; }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
  std::optional<std::string> error_;
  std::size_t error_line_ = 0;
};

}  // namespace privstack::csv
