// A text table that fits a width: columns that do not fit are dropped, least important first,
// and rows past a limit are folded into one "(N more)" line. Used by every human view of
// jobctl, and by top to fit the terminal.
#pragma once

#include <cstddef>
#include <limits>
#include <string>
#include <vector>

namespace jobd::jobctl {

inline constexpr size_t kUnlimited = std::numeric_limits<size_t>::max();

struct Column {
  std::string header;
  size_t width = 8;
  bool left = false;  // left-aligned (names), else right-aligned (numbers)
  int drop_order = 0;  // 0: always kept; otherwise higher numbers are dropped first
};

class Table {
 public:
  explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

  // One cell per column; a cell wider than its column is cut and ends in '~'.
  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  size_t rows() const { return rows_.size(); }

  // The header and the rows, each line at most `width` characters and ending in '\n'; at most
  // `max_lines` lines in all (header included): past it the last line says how many rows are
  // left out.
  std::string Render(size_t width = kUnlimited, size_t max_lines = kUnlimited) const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// `line` cut to `width` characters.
std::string Fit(const std::string& line, size_t width);

}  // namespace jobd::jobctl
