#include "tools/jobctl/top_screen.h"

#include <algorithm>
#include <array>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tools/jobctl/tables.h"

namespace jobd::jobctl {

std::string FormatTopScreen(const v1::StatsReply& s, const std::string& title, size_t width, size_t height) {
  // Fixed lines: title, summary, three blank separators, the types and workers headers, and the
  // arena line and header of the slabs.
  constexpr size_t kFixed = 9;
  const std::array<size_t, 3> need = {std::max<size_t>(1, s.types_size()), static_cast<size_t>(s.workers_size()),
                                      static_cast<size_t>(s.slabs_size())};
  std::array<size_t, 3> rows = {0, 0, 0};
  size_t left = height > kFixed ? height - kFixed : 0;
  // Round robin, one row at a time, so that a long list cannot push the others off the screen.
  for (bool gave = true; left > 0 && gave;) {
    gave = false;
    for (size_t i = 0; i < rows.size() && left > 0; ++i) {
      if (rows[i] < need[i]) {
        ++rows[i];
        --left;
        gave = true;
      }
    }
  }
  std::string text = Fit(title, width) + "\n" + FormatSummary(s, width) + "\n" +
                     FormatTypes(s, width, 1 + rows[0]) + "\n" + FormatWorkers(s, width, 1 + rows[1]) + "\n" +
                     FormatSlabs(s, width, 2 + rows[2]);
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.size() > height) lines.resize(height);
  return absl::StrJoin(lines, "\n");
}

}  // namespace jobd::jobctl
