#include "tools/jobctl/table.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace jobd::jobctl {
namespace {

std::string Cell(const std::string& text, const Column& c) {
  std::string t = text.size() > c.width ? text.substr(0, c.width - 1) + "~" : text;
  const std::string pad(c.width - t.size(), ' ');
  return c.left ? t + pad : pad + t;
}

}  // namespace

std::string Fit(const std::string& line, size_t width) { return line.size() > width ? line.substr(0, width) : line; }

std::string Table::Render(size_t width, size_t max_lines) const {
  // Keep the columns in order, dropping the highest drop_order first until the line fits.
  std::vector<bool> keep(columns_.size(), true);
  auto line_width = [&] {
    size_t w = 0, n = 0;
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (keep[i]) w += columns_[i].width + (n++ > 0 ? 1 : 0);
    }
    return w;
  };
  while (line_width() > width) {
    size_t victim = columns_.size();
    for (size_t i = columns_.size(); i-- > 0;) {
      if (keep[i] && columns_[i].drop_order > 0 &&
          (victim == columns_.size() || columns_[i].drop_order > columns_[victim].drop_order)) {
        victim = i;
      }
    }
    if (victim == columns_.size()) break;  // only the essential ones are left: cut the lines
    keep[victim] = false;
  }
  auto render_row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (!keep[i]) continue;
      if (!line.empty()) line += ' ';
      line += Cell(i < cells.size() ? cells[i] : "", columns_[i]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    return Fit(line, width) + "\n";
  };
  if (max_lines == 0) return "";
  std::vector<std::string> header;
  for (const Column& c : columns_) header.push_back(c.header);
  std::string out = render_row(header);
  const size_t room = max_lines - 1;
  const bool folded = rows_.size() > room;
  const size_t shown = folded ? (room == 0 ? 0 : room - 1) : rows_.size();
  for (size_t r = 0; r < shown; ++r) out += render_row(rows_[r]);
  if (folded && room > 0) out += Fit(absl::StrCat("(", rows_.size() - shown, " more)"), width) + "\n";
  return out;
}

}  // namespace jobd::jobctl
